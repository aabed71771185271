"""The grid worker's page and its JSON (`rootdb serve`): a Starlette app rendering
jinja2 templates on the server, phone first, everything served from the package.

Who sees what: every read goes through a cursor prepared for the user's `Scope`
(`rootdb.serve.prepared`), so a person outside it is not in the tables read at all; a
`grid` / `community` in the query string can narrow the scope (`Scope.apply`), never
widen it; another grid's entity id is a 404 with the same body as an unknown one.
Sessions, visits and the audit are the serve store's (`rootdb.serve.store`): every
view of a person's data is written there with the user's name.

Security: the session cookie is HttpOnly, SameSite=Strict (Secure over https); every
form the pages post carries the session's CSRF token, compared in constant time; a
JSON body (which a browser cannot send across sites without asking) needs none, and
POST /login takes none (scripts post it). Every answer carries the security headers
(`SECURITY_HEADERS`); data is never cached.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import functools
import inspect
import hmac
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from rootdb.commands import Scope, parse_date
from rootdb.commands.card import NotFound, card_on
from rootdb.errors import RootdbError, UsageError
from rootdb.masking import mask_text
from rootdb.reports import floorplans
from rootdb.reports.query import PersonQuery, all_groups, resolve_area, where_clauses
from rootdb.serve import store, views
from rootdb.serve.prepared import NotPublished, PreparedCache
from rootdb.serve.published import PublishedReader
from rootdb.serve.store import User
from rootdb.store import ENTITY_ID
from rootdb.workspace import Workspace

HERE = Path(__file__).resolve().parent
COOKIE = "rootdb_session"
PAGE_SIZE = 50
MAX_BODY = 64 * 1024  # a visit or a form: no request needs more
MAX_OFFSET = 10_000_000  # beyond any city's residents; DuckDB's OFFSET is an INT64
MAX_PAGE = MAX_OFFSET // PAGE_SIZE
VISIT_BACK = dt.timedelta(days=365)  # a visit recorded late: at most a year after it
LOGIN_FAILED = "用户名或密码不正确，或因多次输错已被暂时锁定（15 分钟后再试）"
LOGIN_BUSY = "登录的人太多，请稍后再试"
BAD_AREA = "账号的社区/网格设置与标准地址库不符，请管理员核对（rootdb user list）"
LOGIN_TOO_OFTEN = "本机登录尝试过于频繁，请一分钟后再试"
NOT_FOUND = "没有找到此人或房屋（或不在您的查看范围内）"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
ROLE_WORDS = store.ROLES
_log = logging.getLogger("rootdb.serve")


def scope_of(user: User) -> Scope:
    """What a user may read: their grid, their community, or (street) everything."""
    if user.role == "street":
        return Scope()
    return Scope(user.community, user.grid if user.role == "grid" else None)


class SecurityHeaders:
    """ASGI middleware, the outermost of the app's: the security headers on every answer
    (errors too); no-store on all but the package's static files. An error nothing else
    answered is logged and answered 500 here, so that answer has them as well."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in {h.lower() for h in SECURITY_HEADERS}]
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                headers.append((b"cache-control", b"private, max-age=3600" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        started = False

        async def send_tracked(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            _log.exception("rootdb serve: %s %s", scope.get("method"), scope["path"])
            if started:
                raise
            await PlainTextResponse("服务器内部错误，请稍后再试；如一再出现，请告诉数据专员", status_code=500)(
                scope, receive, send_with_headers)


class LoginGate:
    """What keeps a flood of logins from stopping the page: a password check (argon2,
    64 MiB and a core for a while each) runs `slots` at a time, a login waiting longer
    than `wait` seconds for one is turned away (503), and an address may try `per_address`
    times in `window` seconds (429; a login that succeeds, or was turned away before its
    password was checked, does not count: an office behind one address logs in at eight
    together). A waiting login holds no worker thread, so logged-in users keep being
    answered. In memory: a restart forgets the counts."""

    def __init__(self, slots: int = 2, wait: float = 2.0, per_address: int = 10, window: float = 60.0) -> None:
        self.wait, self.per_address, self.window = wait, per_address, window
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._tries: dict[str, collections.deque[float]] = {}

    def try_address(self, address: str) -> float | None:
        """Count a try from `address`; the seconds to wait instead when it has used its tries."""
        moment = time.monotonic()
        with self._lock:
            if len(self._tries) > 10_000:  # forget addresses with no try in the window
                self._tries = {a: t for a, t in self._tries.items() if t and t[-1] > moment - self.window}
            tries = self._tries.setdefault(address, collections.deque())
            while tries and tries[0] <= moment - self.window:
                tries.popleft()
            if len(tries) >= self.per_address:
                return tries[0] + self.window - moment
            tries.append(moment)
            return None

    def refund(self, address: str) -> None:
        """Take back the last try of `address` (it succeeded, or no password was checked)."""
        with self._lock:
            tries = self._tries.get(address)
            if tries:
                tries.pop()

    @contextlib.asynccontextmanager
    async def slot(self):
        """Hold one of the password-check slots; TimeoutError after `wait` seconds
        without one (polled: the event loop is never blocked, no thread is held)."""
        deadline = time.monotonic() + self.wait
        while not self._slots.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise TimeoutError
            await anyio.sleep(0.02)
        try:
            yield
        finally:
            self._slots.release()


class Site:
    """The app's state and its endpoints: the workspace (for the store), the prepared
    cursors of the published copy, the clock (the as-of date is its day)."""

    def __init__(self, ws: Workspace, reader: PublishedReader, now: Callable[[], dt.datetime]) -> None:
        self.ws = ws
        self.cache = PreparedCache(reader)
        self.now = now
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.logins = LoginGate()

    # ------------------------------------------------------------ plumbing

    def as_of(self) -> dt.date:
        return self.now().date()

    def session(self, request: Request) -> tuple[User, str] | None:
        """The session's user (their area checked: `checked_user`) and CSRF token; None
        without a live session."""
        session = store.session_user(self.ws, request.cookies.get(COOKIE), now=self.now())
        return None if session is None else (self.checked_user(session[0]), session[1])

    def checked_user(self, user: User) -> User:
        """`user` with their grid as the published copy's registry names it (a grid
        stored without its community, saved before the first link: the community its
        name is unique in). A grid worker whose community and grid the registry does
        not hold both is refused (`BadArea`): filtering by the grid name alone would
        show that grid of every community."""
        if user.role != "grid":
            return user
        area = self.cache.grid_area(user.community, user.grid)
        if area is None:
            raise BadArea(BAD_AREA)
        return dataclasses.replace(user, community=area.community, grid=area.grid)

    def audit(self, user: User, action: str, entity_id: str | None, detail: str) -> None:
        store.record_page_audit(self.ws, user, action, entity_id, detail, now=self.now())

    def render(self, request: Request, name: str, user: User | None, csrf: str | None, status: int = 200,
               **context) -> Response:
        return self.templates.TemplateResponse(
            request, name, {"user": user, "csrf": csrf, "role_words": ROLE_WORDS, **context}, status_code=status)

    def error_page(self, request: Request, user: User | None, status: int, message: str) -> Response:
        return self.render(request, "error.html", user, None, status=status, code=status, message=message)

    def scope_of(self, user: User, community: str | None, grid: str | None) -> Scope | None:
        """The user's scope narrowed by a community / grid asked for, as the registry names
        them; None when what is asked lies outside it (another community or grid: nobody
        to list). Never wider than the user's own."""
        own = scope_of(user)
        community, grid = (community or "").strip() or None, (grid or "").strip() or None
        if not (community or grid):
            return own
        with self.cache.use(own, self.as_of()) as con:
            try:
                community, grid = resolve_area(con, community or own.community, grid)
            except UsageError:  # a name the registry lacks (or lacks in the user's community)
                return None
        if (own.community and community != own.community) or (own.grid and grid != own.grid):
            return None
        return Scope(community, grid or own.grid)

    # ------------------------------------------------------------ login

    async def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", None, None)

    async def login(self, request: Request) -> Response:
        address = request.client.host if request.client else "-"
        retry = self.logins.try_address(address)
        if retry is not None:
            return self.login_refused(request, 429, LOGIN_TOO_OFTEN, retry)
        form = await request.form()
        try:
            async with self.logins.slot():
                user = await run_in_threadpool(store.check_login, self.ws, str(form.get("username") or ""),
                                               str(form.get("password") or ""), self.now())
        except TimeoutError:
            self.logins.refund(address)
            return self.login_refused(request, 503, LOGIN_BUSY, self.logins.wait)
        if user is None:
            return self.render(request, "login.html", None, None, status=401, error=LOGIN_FAILED)
        self.logins.refund(address)
        try:
            user = await run_in_threadpool(self.checked_user, user)
        except (BadArea, NotPublished) as exc:
            return self.render(request, "login.html", None, None, status=403 if isinstance(exc, BadArea) else 503,
                               error=str(exc))
        token, _ = await run_in_threadpool(store.new_session, self.ws, user, self.now())
        self.cache.warm(scope_of(user), self.as_of())
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response

    def login_refused(self, request: Request, status: int, message: str, retry: float) -> Response:
        """A login turned away before its password was checked: the login page (JSON for
        a script asking for it) with Retry-After."""
        if "application/json" in request.headers.get("accept", ""):
            response = JSONResponse({"error": message}, status_code=status)
        else:
            response = self.render(request, "login.html", None, None, status=status, error=message)
        response.headers["Retry-After"] = str(max(1, round(retry)))
        return response

    async def logout(self, request: Request, user: User, csrf: str) -> Response:
        await _checked_form(request, csrf)
        await run_in_threadpool(store.end_session, self.ws, request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # ------------------------------------------------------------ JSON

    def api_residents(self, request: Request, user: User, csrf: str) -> Response:
        params = request.query_params
        limit = _number(params.get("limit"), views.DEFAULT_LIMIT, 1, views.MAX_LIMIT, "limit")
        offset = _number(params.get("offset"), 0, 0, MAX_OFFSET, "offset")
        rows, total, scope = self.find_residents(user, params, limit, offset)
        return JSONResponse({"residents": rows, "total": total})

    def find_residents(self, user: User, params, limit: int, offset: int) -> tuple[list[dict], int, Scope]:
        """A page of the residents the query string asks for within the user's scope; audited."""
        asked = self.scope_of(user, params.get("community"), params.get("grid"))
        scope = asked or scope_of(user)
        query = PersonQuery(age=params.get("age") or None, groups=_many(params, "group"),
                            tags=_many(params, "tag"), family_tags=_many(params, "family_tag"))
        query = scope.apply(query)
        where_clauses(query)  # bad conditions are a usage error before anything is read
        if asked is None:  # another grid or community than the user's: nobody
            rows, total = [], 0
            query = dataclasses.replace(query, community=params.get("community"), grid=params.get("grid"))
        else:
            with self.cache.use(scope, self.as_of()) as con:
                rows, total = views.residents(con, query, params.get("name"), limit, offset)
        name = (params.get("name") or "").strip()
        words = query.describe() + (f"，姓名含 {name}" if name else "")
        self.audit(user, "residents", None, f"{words}；共 {total} 人，列出 {len(rows)} 人："
                   + "、".join(r["entity_id"] for r in rows))
        return rows, total, scope

    def api_card(self, request: Request, user: User, csrf: str) -> Response:
        return JSONResponse(self.read_card(user, request.path_params["entity_id"]).to_dict())

    def read_card(self, user: User, entity_id: str):
        """The household card of an entity id in the user's scope (NotFound otherwise); audited."""
        as_of = self.as_of()
        try:
            if not ENTITY_ID.fullmatch(entity_id.strip().upper()):
                raise NotFound(NOT_FOUND)
            with self.cache.use(scope_of(user), as_of) as con:
                result = card_on(con, entity_id, scope_of(user), as_of)
        except NotFound:
            self.audit_denied(user, "card-denied", entity_id, "户卡")
            raise
        shown = [m["entity_id"] for m in (*result.members, *result.former)]
        house = result.house["entity_id"] if result.house else "无"
        self.audit(user, "card", result.focus or house,
                   f"户卡：人员 {result.focus or '-'}，房屋 {house}，列出 {'、'.join(shown) or '无'}")
        return result

    def audit_denied(self, user: User, action: str, asked: str, what: str) -> None:
        """A lookup of an id that is unknown or outside the user's scope (answered 404):
        who asked for what."""
        asked = asked.strip()[:64]  # an entity id stays in clear; anything else only masked, in the detail
        self.audit(user, action, asked.upper() or None,
                   f"{what}：编号 {mask_text(asked) or '（空）'} 不存在或不在查看范围内，已拒绝")

    async def api_visit(self, request: Request, user: User, csrf: str) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return JSONResponse({"error": "请以 JSON 提交（Content-Type: application/json）"}, status_code=415)
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # nested past Python's limit is no visit either
            raise UsageError("请求体不是有效的 JSON") from None
        if not isinstance(body, dict):
            raise UsageError("请求体应为 JSON 对象")
        visit = await run_in_threadpool(self.record_visit, user, str(body.get("entity_id") or ""),
                                        body.get("走访类型"), body.get("发现问题"), body.get("走访日期"))
        return JSONResponse(visit, status_code=201)

    def record_visit(self, user: User, entity_id: str, visit_type, problems, visit_date) -> dict:
        """Record a visit to a person (or house) of the user's scope; NotFound outside it."""
        if not entity_id.strip():
            raise UsageError("缺少 entity_id（人员或房屋编号）")
        if not isinstance(visit_type, str) or visit_type.strip() not in views.visit_types():
            raise UsageError(f"走访类型应为：{'、'.join(views.visit_types())}")
        if not isinstance(problems, str):  # the form's empty box is ""
            raise UsageError("请填写发现问题（文字；没有发现问题可填“无”或空文字）")
        if len(problems) > MAX_PROBLEMS:
            raise UsageError(f"发现问题最多 {MAX_PROBLEMS} 个字")
        as_of = self.as_of()
        if visit_date is not None and not isinstance(visit_date, str):
            raise UsageError("走访日期应为文字，如 2026-11-01")
        day = parse_date(visit_date, "走访日期") if visit_date else as_of
        if day > as_of:
            raise UsageError("走访日期不能晚于今天")
        if day < as_of - VISIT_BACK:
            raise UsageError("走访日期不能早于一年前")
        key = entity_id.strip().upper()
        with self.cache.use(scope_of(user), as_of) as con:
            rows = con.execute(
                "SELECT person_id, house_id, community, grid, living AND status IS DISTINCT FROM '迁出' "
                "FROM r_persons WHERE person_id = $id "
                "UNION ALL SELECT NULL, house_id, community, grid, true FROM r_houses WHERE house_id = $id",
                {"id": key}).fetchall() if ENTITY_ID.fullmatch(key) else []
        if not rows:
            self.audit_denied(user, "visit-denied", entity_id, "登记走访")
            raise NotFound(NOT_FOUND)
        row = rows[0]
        if not row[4]:
            raise UsageError("此人已死亡或已迁出，不能登记走访")
        visit_no = store.record_visit(self.ws, user, row[0], row[1], visit_type.strip(),
                                      problems.strip() or None, day, row[2], row[3], now=self.now())
        self.cache.stale(row[2], row[3])
        return {"visit_no": visit_no, "entity_id": key, "走访类型": visit_type.strip(), "走访日期": day.isoformat()}

    # ------------------------------------------------------------ pages

    async def home(self, request: Request, user: User, csrf: str) -> Response:
        return RedirectResponse("/search", status_code=303)

    def search(self, request: Request, user: User, csrf: str) -> Response:
        params = request.query_params
        page = _number(params.get("page"), 1, 1, MAX_PAGE, "page")
        asked = any(params.get(k) for k in ("name", "age", "group", "tag", "family_tag", "grid"))
        rows, total = [], 0
        if asked:
            rows, total, _ = self.find_residents(user, params, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        return self.render(request, "search.html", user, csrf, active="search", params=params, rows=rows,
                           total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)), asked=asked,
                           groups=all_groups(), grids=self.user_grids(user), query_string=_without_page(params))

    def user_grids(self, user: User) -> list[tuple[str, str]]:
        if user.role == "grid":
            return []
        with self.cache.use(scope_of(user), self.as_of()) as con:
            return views.grids(con)

    def card_page(self, request: Request, user: User, csrf: str) -> Response:
        result = self.read_card(user, request.path_params["entity_id"])
        return self.render(request, "card.html", user, csrf, active="search", card=result)

    def buildings(self, request: Request, user: User, csrf: str) -> Response:
        as_of = self.as_of()
        with self.cache.use(scope_of(user), as_of) as con:
            figures = floorplans.building_figures(con, as_of)
        self.audit(user, "buildings", None, "我的楼栋（各户红黄蓝）：" + "；".join(
            f"{community} {len(buildings)} 栋" for community, buildings in figures))
        return self.render(request, "buildings.html", user, csrf, active="buildings", figures=figures,
                           as_of=as_of)

    def due(self, request: Request, user: User, csrf: str) -> Response:
        as_of = self.as_of()
        with self.cache.use(scope_of(user), as_of) as con:
            rows = views.due_visits(con, as_of)
        self.audit(user, "due", None, f"待走访名单 {len(rows)} 人：" + "、".join(r["entity_id"] for r in rows))
        return self.render(request, "due.html", user, csrf, active="due", rows=rows, as_of=as_of,
                           visit_types=views.visit_types(), done=request.query_params.get("done"),
                           max_problems=MAX_PROBLEMS)

    async def due_visit(self, request: Request, user: User, csrf: str) -> Response:
        form = await _checked_form(request, csrf)
        visit = await run_in_threadpool(self.record_visit, user, str(form.get("entity_id") or ""),
                                        form.get("visit_type"), form.get("problems", ""), form.get("visit_date"))
        return RedirectResponse(f"/due?done={visit['visit_no']}", status_code=303)

    def events(self, request: Request, user: User, csrf: str) -> Response:
        as_of = self.as_of()
        with self.cache.use(scope_of(user), as_of) as con:
            rows = views.open_events(con)
        people = [r["person_id"] for r in rows if r["person_id"]]
        self.audit(user, "events", None, f"事件 {len(rows)} 件，涉及人员：{'、'.join(people) or '无'}")
        return self.render(request, "events.html", user, csrf, active="events", rows=rows, as_of=as_of,
                           overdue=sum(1 for r in rows if r["days_overdue"] is not None))

    def notify_form(self, request: Request, user: User, csrf: str) -> Response:
        return self.render(request, "notify.html", user, csrf, active="notify", form={}, result=None,
                           **self._notify_choices(user))

    async def notify(self, request: Request, user: User, csrf: str) -> Response:
        form = await _checked_form(request, csrf)
        return await run_in_threadpool(self._notify, request, user, csrf, form)

    def _notify(self, request: Request, user: User, csrf: str, form) -> Response:
        unmasked = form.get("unmasked") == "1" and user.role in ("street", "community")
        scope = self.scope_of(user, None, form.get("grid"))
        if scope is None:
            raise UsageError("所选网格不在您的查看范围内")
        query = scope.apply(PersonQuery(age=form.get("age") or None, groups=_many(form, "group"),
                                        tags=_many(form, "tag"), family_tags=_many(form, "family_tag")))
        where_clauses(query)
        template = str(form.get("template") or "")
        as_of = self.as_of()
        with self.cache.use(scope, as_of) as con:
            people, messages, no_phone, about = views.notify_draft(con, query, template, as_of, unmasked)
        self.audit(user, "notify --unmasked" if unmasked else "notify", None,
                   f"{query.describe()}；模板 {template}；{messages.height} 条短信，关于："
                   + "、".join(about["人员编号"].to_list()))
        result = {"people": people, "messages": messages.to_dicts(), "no_phone": no_phone.to_dicts(),
                  "unmasked": unmasked}
        return self.render(request, "notify.html", user, csrf, active="notify", form=form, result=result,
                           **self._notify_choices(user))

    def _notify_choices(self, user: User) -> dict:
        return {"templates": views.message_templates(), "groups": all_groups(), "grids": self.user_grids(user),
                "may_unmask": user.role in ("street", "community")}

    async def floorplan_css(self, request: Request) -> Response:
        return Response(floorplans.STYLE, media_type="text/css")


# ------------------------------------------------------------------ helpers

FOLLOW_SECONDS = 20  # how often the page looks for a newly published copy


def _follow(site: Site, stop: threading.Event) -> None:
    """Until the page stops: a new published copy's scopes built ahead of their users
    (`PreparedCache.follow`), so the first requests after a nightly are not the ones
    that wait."""
    while not stop.wait(FOLLOW_SECONDS):
        try:
            site.cache.follow(site.as_of())
        except Exception:  # noqa: BLE001 (the next request meets the same problem and says it)
            _log.warning("未能预先读取新发布的数据副本", exc_info=True)


MAX_PROBLEMS = 2000  # characters of 发现问题 (the visit form's maxlength too)
_HTTP_WORDS = {404: "页面不存在", 405: "不支持这种请求方式", 413: "提交的内容太大"}


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own answers (no such path, wrong method, too large) in Chinese: JSON
    under /api/, text elsewhere."""
    words = _HTTP_WORDS.get(exc.status_code, "请求无法处理")
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": words}, status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(words, status_code=exc.status_code, headers=exc.headers)


def _number(text: str | None, default: int, low: int, high: int, name: str) -> int:
    """The whole number `text` in [low, high] (`default` when empty); a usage error otherwise
    (ASCII digits only: '²' is a digit to str.isdigit, not to int)."""
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise UsageError(f"{name} 应为 {low}–{high} 的整数")
    return int(text)


def _many(params, key: str) -> list[str]:
    """Every value of a repeated field (group=低保&group=残疾), blanks left out."""
    return [v.strip() for v in params.getlist(key) if v and v.strip()]


def _without_page(params) -> str:
    from urllib.parse import urlencode

    return urlencode([(k, v) for k, v in params.multi_items() if k != "page"])


async def _checked_form(request: Request, csrf: str):
    """The posted form once its CSRF token is the session's (403 otherwise)."""
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf") or "").encode(), csrf.encode()):
        raise _Forbidden()
    return form


class _Forbidden(Exception):
    """A form without the session's CSRF token."""


class BadArea(Exception):
    """A grid worker whose stored community / grid the registry does not hold."""


def _endpoint(site: Site, method: Callable, answer: Callable, no_session: Callable) -> Callable:
    """`method(request, user, csrf)` for a logged-in user; `no_session(request)` without a
    session; every refusal as `answer(request, user, status, message)` (a person out of
    scope: the same 404 as an unknown one)."""
    @functools.wraps(method)
    async def endpoint(request: Request) -> Response:
        try:
            session = await run_in_threadpool(site.session, request)
        except BadArea as exc:
            return answer(request, None, 403, str(exc))
        except NotPublished as exc:
            return answer(request, None, 503, str(exc))
        if session is None:
            return no_session(request)
        user, csrf = session
        try:
            if _is_async(method):
                return await method(request, user, csrf)
            return await run_in_threadpool(method, request, user, csrf)
        except NotFound:
            return answer(request, user, 404, NOT_FOUND)
        except _Forbidden:
            return answer(request, user, 403, "表单已失效，请返回重新打开页面后再提交")
        except NotPublished as exc:
            return answer(request, user, 503, str(exc))
        except RootdbError as exc:
            return answer(request, user, 400, _page_words(str(exc)))
    return endpoint


# The command line's option names in the messages of the query layer, as the page's
# fields and the API's parameters call them.
_OPTION_WORDS = {"--age": "年龄（age）", "--group": "群体（group）", "--family-tag": "家庭标签（family_tag）",
                 "--tag": "标签（tag）", "--grid": "网格（grid）", "--community": "社区（community）",
                 "--sex": "性别"}


def _page_words(message: str) -> str:
    return re.sub(r"(--[a-z-]+) ?", lambda m: _OPTION_WORDS.get(m.group(1), m.group(0)), message)


def _page(site: Site, method: Callable) -> Callable:
    """A page: no session goes to the login page; errors are pages in Chinese."""
    return _endpoint(site, method, site.error_page, lambda request: RedirectResponse("/login", status_code=303))


def _api(site: Site, method: Callable) -> Callable:
    """A JSON endpoint: 401 without a session; errors as {"error": …}."""
    return _endpoint(site, method, lambda request, user, status, message: JSONResponse({"error": message},
                                                                                       status_code=status),
                     lambda request: JSONResponse({"error": "请先登录"}, status_code=401))


def _is_async(method: Callable) -> bool:
    return inspect.iscoroutinefunction(method)


def create_app(ws: Workspace, reader: PublishedReader | None = None,
               now: Callable[[], dt.datetime] | None = None) -> Starlette:
    """The page and its JSON for workspace `ws`, reading the published copies `reader`
    names (by default the workspace's); `now` is the clock (tests set the day)."""
    site = Site(ws, reader or PublishedReader(ws), now or dt.datetime.now)
    page, api = functools.partial(_page, site), functools.partial(_api, site)
    routes = [
        Route("/login", site.login_form, methods=["GET"]),
        Route("/login", site.login, methods=["POST"]),
        Route("/logout", page(site.logout), methods=["POST"]),
        Route("/", page(site.home)),
        Route("/search", page(site.search)),
        Route("/card/{entity_id}", page(site.card_page)),
        Route("/buildings", page(site.buildings)),
        Route("/due", page(site.due)),
        Route("/due/visit", page(site.due_visit), methods=["POST"]),
        Route("/events", page(site.events)),
        Route("/notify", page(site.notify_form), methods=["GET"]),
        Route("/notify", page(site.notify), methods=["POST"]),
        Route("/api/residents", api(site.api_residents)),
        Route("/api/residents/{entity_id}", api(site.api_card)),
        Route("/api/visits", api(site.api_visit), methods=["POST"]),
        Route("/static/floorplans.css", site.floorplan_css),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        stop = threading.Event()
        threading.Thread(target=_follow, args=(site, stop), daemon=True, name="rootdb-serve-follow").start()
        try:
            yield
        finally:
            stop.set()
            site.cache.close()

    # The body limit inside the headers: its 413 has them too.
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}, middleware=[
        Middleware(SecurityHeaders), Middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY)])
    app.state.site = site
    return app
