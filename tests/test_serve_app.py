"""The grid worker's page (rootdb.serve.app) over a real published copy of the linked
sample: Starlette's TestClient, real users in the serve store (argon2), real DuckDB."""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from rootdb.commands import Scope
from rootdb.commands.demo import SAMPLE_AS_OF
from rootdb.reports.engine import prepare, report_frame
from rootdb.reports.templates import load_templates
from rootdb.serve import store
from rootdb.serve.app import BAD_AREA, COOKIE, NOT_FOUND, create_app
from rootdb.serve.published import PublishedReader, publish
from rootdb.workspace import KEY_ENV, connect, locate

NOW = dt.datetime.combine(SAMPLE_AS_OF, dt.time(10, 0))
PASSWORD = "网格-secret-1"
USERS = {  # name: (role, community, grid)
    "grid1": ("grid", "建设社区", "第一网格"),
    "grid3": ("grid", "建设社区", "第三网格"),
    "comm": ("community", "建设社区", None),
    "street": ("street", None, None),
}
PAGES = ["/search", "/search?age=80-", "/buildings", "/due", "/events", "/notify"]


class Clock:
    """The app's clock; a test moves it."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture()
def site(sample_copy: Path):
    """(workspace, clock, app) over a published copy of the sample, with the USERS."""
    ws = locate(sample_copy)
    con = connect(ws.db_path)
    try:
        publish(con, ws.db_path)
    finally:
        con.close()
    for name, (role, community, grid) in USERS.items():
        store.add_user(ws, name, role, community, grid, PASSWORD, now=NOW)
    clock = Clock()
    return ws, clock, create_app(ws, PublishedReader(ws), now=clock)


def _client(app, name: str | None = None) -> TestClient:
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    if name:
        answer = client.post("/login", data={"username": name, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
    return client


def _csrf(client: TestClient, path: str = "/notify") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def _people(ws, scope: Scope) -> set[str]:
    """Living residents of `scope` as the published copy has them."""
    con = connect(ws.db_path, read_only=True)
    try:
        prepare(con, SAMPLE_AS_OF, scope.community, scope.grid)
        return {r[0] for r in con.execute(
            "SELECT person_id FROM r_persons WHERE living AND status IS DISTINCT FROM '迁出'").fetchall()}
    finally:
        con.close()


# ------------------------------------------------------------------ login

def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(site):
    ws, _, app = site
    client = _client(app)
    answer = client.post("/login", data={"username": "grid1", "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
        "samesite", "SameSite")
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert client.get("/api/residents").status_code == 200
    client.post("/logout", data={"csrf": _csrf(client)})
    assert client.get("/api/residents").status_code == 401
    assert client.get("/search").status_code == 303


def test_the_cookie_is_secure_over_https(site):
    _, _, app = site
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    answer = client.post("/login", data={"username": "grid1", "password": PASSWORD})
    assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]


def test_a_wrong_password_an_unknown_name_and_a_locked_name_get_one_answer(site):
    _, _, app = site
    client = _client(app)
    wrong = client.post("/login", data={"username": "grid1", "password": "nope-nope"})
    unknown = client.post("/login", data={"username": "nobody", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401 and wrong.text == unknown.text
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    for _ in range(4):
        client.post("/login", data={"username": "grid1", "password": "nope-nope"})
    locked = client.post("/login", data={"username": "grid1", "password": PASSWORD})
    assert locked.status_code == 401 and locked.text == wrong.text
    assert client.get("/api/residents").status_code == 401


# ------------------------------------------------------------------ pages

@pytest.mark.parametrize("name", list(USERS))
def test_every_page_renders_for_every_role(site, name):
    _, _, app = site
    client = _client(app, name)
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert '<html lang="zh-CN">' in answer.text and "居民查询" in answer.text
    assert "<svg" in client.get("/buildings").text
    assert client.get("/").headers["location"] == "/search"


def test_pages_without_a_session_go_to_the_login_and_the_api_answers_401(site):
    _, _, app = site
    client = _client(app)
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path
    for path in ("/api/residents", "/api/residents/P00000001"):
        assert client.get(path).status_code == 401
    assert client.post("/api/visits", json={"entity_id": "P00000001", "走访类型": "常规走访", "发现问题": "无"}).status_code == 401
    assert client.get("/login").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_a_forged_or_expired_session_is_no_session(site):
    _, clock, app = site
    forged = _client(app)
    forged.cookies.set(COOKIE, "x" * 43)
    assert forged.get("/search").status_code == 303 and forged.get("/api/residents").status_code == 401
    client = _client(app, "grid1")
    clock.now = NOW + store.SESSION_IDLE + dt.timedelta(minutes=1)
    assert client.get("/search").status_code == 303 and client.get("/api/residents").status_code == 401


def test_a_disabled_users_open_session_is_refused_at_once(site):
    ws, _, app = site
    client = _client(app, "grid1")
    assert client.get("/api/residents").status_code == 200
    store.disable_user(ws, "grid1")
    assert client.get("/api/residents").status_code == 401 and client.get("/due").status_code == 303


def test_security_headers_on_every_answer(site):
    _, _, app = site
    client = _client(app, "grid1")
    for path in ("/login", "/search", "/api/residents", "/static/app.css", "/api/residents/NOPE"):
        headers = client.get(path).headers
        assert "default-src 'self'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    assert client.get("/api/residents").headers["cache-control"] == "no-store"
    assert "no-store" in client.get("/search").headers["cache-control"]


def test_pages_load_nothing_from_outside(site):
    _, _, app = site
    client = _client(app, "street")
    for path in PAGES:
        text = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', text), path
        assert "<script" not in text and "style=" not in text, path  # the CSP allows no inline style


# ------------------------------------------------------------------ JSON and scope

def test_api_residents_answers_as_the_contract_says_within_the_scope(site):
    ws, _, app = site
    client = _client(app, "grid1")
    answer = client.get("/api/residents")
    body = answer.json()
    grid1 = _people(ws, Scope("建设社区", "第一网格"))
    assert body["total"] == len(grid1) and len(body["residents"]) == 50
    assert set(body["residents"][0]) == {"entity_id", "姓名", "身份证号", "性别", "年龄", "社区", "网格", "住址", "联系电话"}
    assert {r["网格"] for r in body["residents"]} == {"第一网格"}
    ids = [r["身份证号"] for r in body["residents"] if r["身份证号"]]
    assert ids and all("*" in i for i in ids) and not any(re.search(r"\d{17}[\dX]", i) for i in ids)
    phones = [r["联系电话"] for r in body["residents"] if r["联系电话"]]
    assert phones and not any(re.fullmatch(r"1\d{10}", p) for p in phones)
    everyone = client.get("/api/residents", params={"limit": 1000}).json()["residents"]
    assert {r["entity_id"] for r in everyone} == grid1
    page2 = client.get("/api/residents", params={"limit": 10, "offset": 10}).json()["residents"]
    assert [r["entity_id"] for r in page2] == [r["entity_id"] for r in everyone[10:20]]
    for bad in ({"limit": 1001}, {"limit": 0}, {"offset": -1}, {"age": "abc"}, {"group": "不存在的人群"}):
        assert client.get("/api/residents", params=bad).status_code == 400, bad
    # The query layer's messages name the command line's options; the page names its own fields.
    said = client.get("/api/residents", params={"age": "abc"}).json()["error"]
    assert said.startswith("年龄（age）应写成") and "--" not in said
    old = client.get("/api/residents", params={"age": "80-", "limit": 1000}).json()
    assert old["total"] == len(old["residents"]) > 0 and all(r["年龄"] >= 80 for r in old["residents"])


def test_another_grid_in_the_query_string_never_widens_the_scope(site):
    """A community or grid asked for narrows the user's scope; one outside it (or unknown)
    matches nobody, as a filter does."""
    ws, _, app = site
    grid1 = _client(app, "grid1")
    mine = grid1.get("/api/residents", params={"limit": 1000}).json()
    assert mine["total"] == len(_people(ws, Scope("建设社区", "第一网格"))) > 0
    assert grid1.get("/api/residents", params={"limit": 1000, "grid": "第一"}).json() == mine
    for asked in ({"grid": "第三网格"}, {"grid": "第三网格", "community": "别的社区"}, {"community": "别的社区"},
                  {"grid": "第九十九网格"}):
        assert grid1.get("/api/residents", params={"limit": 1000, **asked}).json() == {"residents": [], "total": 0}
    page = grid1.get("/search", params={"age": "0-", "grid": "第三网格"}).text
    assert "第三网格" not in page.split("</form>", 1)[1]
    community = _client(app, "comm")
    narrowed = community.get("/api/residents", params={"limit": 1000, "grid": "第三网格"}).json()
    assert {r["网格"] for r in narrowed["residents"]} == {"第三网格"}
    assert narrowed["total"] == len(_people(ws, Scope("建设社区", "第三网格")))
    assert community.get("/api/residents", params={"community": "别的社区"}).json()["total"] == 0


def test_another_grids_person_is_a_404_like_an_unknown_one(site):
    ws, _, app = site
    client = _client(app, "grid1")
    mine = sorted(_people(ws, Scope("建设社区", "第一网格")))[0]
    theirs = sorted(_people(ws, Scope("建设社区", "第三网格")))[0]
    card = client.get(f"/api/residents/{mine}")
    assert card.status_code == 200 and card.json()["focus"] == mine and card.json()["masked"] is True
    assert re.search(r"(?<![0-9A-Z])\d{17}[\dX](?!\d)", card.text) is None
    other, unknown = client.get(f"/api/residents/{theirs}"), client.get("/api/residents/P99999999")
    assert other.status_code == unknown.status_code == 404 and other.content == unknown.content
    assert NOT_FOUND in other.json()["error"]
    for path in (f"/card/{theirs}", "/card/P99999999"):
        assert client.get(path).status_code == 404
    assert client.get(f"/card/{theirs}").text == client.get("/card/P99999999").text
    street = _client(app, "street")
    assert street.get(f"/api/residents/{theirs}").status_code == 200
    assert street.get("/card/" + theirs).status_code == 200


def test_a_visit_is_recorded_counts_at_once_and_is_audited(site):
    ws, _, app = site
    client = _client(app, "grid1")
    due = client.get("/due").text
    person = re.search(r'name="entity_id" value="(P[0-9A-Z]+)"', due).group(1)
    answer = client.post("/api/visits", json={"entity_id": person, "走访类型": "特殊群体关爱", "发现问题": "楼道灯坏"})
    assert answer.status_code == 201, answer.text
    visit_no = answer.json()["visit_no"]
    assert visit_no.startswith(f"WY{SAMPLE_AS_OF:%Y%m%d}")
    assert f'value="{person}"' not in client.get("/due").text
    visits = store.page_visits(ws)
    row = visits.filter(visits["visit_no"] == visit_no).to_dicts()[0]
    assert (row["person_entity_id"], row["grid_worker"], row["grid"], row["problems"]) == (
        person, "grid1", "第一网格", "楼道灯坏")
    # Another grid's person, an unknown one: 404 alike, nothing recorded.
    theirs = sorted(_people(ws, Scope("建设社区", "第三网格")))[0]
    other = client.post("/api/visits", json={"entity_id": theirs, "走访类型": "常规走访", "发现问题": "无"})
    unknown = client.post("/api/visits", json={"entity_id": "P99999999", "走访类型": "常规走访", "发现问题": "无"})
    assert other.status_code == unknown.status_code == 404 and other.content == unknown.content
    assert store.page_visits(ws).height == 1
    bad = [{"entity_id": person, "走访类型": "喝茶", "发现问题": "无"},
           {"entity_id": person, "走访类型": "常规走访", "发现问题": "无", "走访日期": "2099-01-01"},
           {"entity_id": person, "走访类型": "常规走访"}, {"entity_id": person, "走访类型": "常规走访", "发现问题": 3}]
    assert all(client.post("/api/visits", json=b).status_code == 400 for b in bad)
    assert client.post("/api/visits", data={"entity_id": person, "走访类型": "常规走访", "发现问题": "无"}).status_code == 415


def test_the_visit_form_needs_the_csrf_token(site):
    ws, _, app = site
    client = _client(app, "grid1")
    due = client.get("/due").text
    person = re.search(r'name="entity_id" value="(P[0-9A-Z]+)"', due).group(1)
    form = {"entity_id": person, "visit_type": "常规走访", "visit_date": SAMPLE_AS_OF.isoformat(), "problems": ""}
    assert client.post("/due/visit", data=form).status_code == 403
    assert client.post("/due/visit", data=form | {"csrf": "wrong"}).status_code == 403
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    assert client.post("/notify", data={"template": "托育服务通知", "age": "0-3"}).status_code == 403
    assert store.page_visits(ws).is_empty()
    done = client.post("/due/visit", data=form | {"csrf": _csrf(client, "/due")})
    assert done.status_code == 303 and done.headers["location"].startswith("/due?done=WY")
    assert store.page_visits(ws)["grid_worker"].to_list() == ["grid1"]


def test_the_due_list_is_r40_of_the_scope(site):
    ws, _, app = site
    client = _client(app, "grid3")
    shown = re.findall(r'name="entity_id" value="(P[0-9A-Z]+)"', client.get("/due").text)
    con = connect(ws.db_path, read_only=True)
    try:
        params = prepare(con, SAMPLE_AS_OF, "建设社区", "第三网格")
        r40 = report_frame(con, load_templates()["R40"], params)
    finally:
        con.close()
    assert len(shown) == r40.height > 0 and len(set(shown)) == len(shown)


def test_views_of_people_are_audited_with_the_users_name(site):
    ws, _, app = site
    client = _client(app, "comm")
    person = client.get("/api/residents", params={"limit": 5}).json()["residents"][0]["entity_id"]
    client.get(f"/api/residents/{person}")
    client.get("/due")
    client.get("/events")
    client.post("/notify", data={"csrf": _csrf(client), "template": "托育服务通知", "age": "0-3", "unmasked": "1"})
    rows = store.page_audit(ws)
    actions = {r["action"] for r in rows}
    assert {"residents", "card", "due", "events", "notify --unmasked"} <= actions
    assert {r["user"] for r in rows} == {"comm"}
    assert any(r["entity_id"] == person for r in rows if r["action"] == "card")
    assert any(person in (r["detail"] or "") for r in rows if r["action"] == "residents")


def test_the_notify_draft_is_masked_for_a_grid_worker_whatever_is_posted(site):
    ws, _, app = site
    form = {"template": "托育服务通知", "age": "0-3", "unmasked": "1"}
    grid = _client(app, "grid1")
    page = grid.post("/notify", data=form | {"csrf": _csrf(grid)}).text
    assert "条短信" in page and "显示完整手机号" not in page
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", page)
    street = _client(app, "street")
    shown = street.post("/notify", data=form | {"csrf": _csrf(street)}).text
    assert re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", shown)
    masked = street.post("/notify", data={"template": "托育服务通知", "age": "0-3", "csrf": _csrf(street)}).text
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", masked)
    assert [r["action"] for r in store.page_audit(ws) if r["user"] == "grid1"] == ["notify"]


def test_a_new_published_copy_is_read_by_the_next_request(site):
    ws, _, app = site
    client = _client(app, "grid1")
    before = client.get("/api/residents", params={"limit": 1000}).json()
    gone = before["residents"][0]["entity_id"]
    con = connect(ws.db_path)
    try:
        con.execute("UPDATE golden_persons SET status = '死亡', death_date = DATE '2026-01-01' WHERE entity_id = ?",
                    [gone])
        publish(con, ws.db_path)
    finally:
        con.close()
    after = client.get("/api/residents", params={"limit": 1000}).json()
    assert after["total"] == before["total"] - 1 and gone not in {r["entity_id"] for r in after["residents"]}


# ------------------------------------------------------------------ attacks (the review of issue 14)

def test_a_masked_card_holds_no_birth_date_that_would_give_the_id_back(site):
    ws, _, app = site
    client = _client(app, "street")
    person = client.get("/api/residents", params={"limit": 1}).json()["residents"][0]
    card = client.get(f"/api/residents/{person['entity_id']}").json()
    people = card["members"] + card["former"]
    assert people and all("birth_date" not in m and m["age"] is not None for m in people)
    assert all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", m["id_number"]) for m in people if m["id_number"])
    page = client.get(f"/card/{person['entity_id']}").text
    con = connect(ws.db_path, read_only=True)
    try:
        births = [b for (b,) in con.execute(
            "SELECT strftime(birth_date, '%Y-%m-%d') FROM golden_persons WHERE entity_id IN "
            "(SELECT unnest($ids)) AND birth_date IS NOT NULL", {"ids": [m["entity_id"] for m in people]}).fetchall()]
    finally:
        con.close()
    assert births and not [b for b in births if b in page or b in json.dumps(card)]
    found = client.get("/search", params={"name": person["姓名"]}).text
    assert person["身份证号"] in found and not [b for b in births if b in found]


def test_one_address_may_try_ten_logins_a_minute(site):
    _, _, app = site
    client = _client(app, "grid1")  # a login that succeeds does not count
    for i in range(10):
        assert client.post("/login", data={"username": f"who{i}", "password": "x"}).status_code == 401
    refused = client.post("/login", data={"username": "grid3", "password": PASSWORD})
    assert refused.status_code == 429 and "请一分钟后再试" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-frame-options"] == "DENY" and COOKIE not in refused.headers.get("set-cookie", "")
    assert client.get("/api/residents").status_code == 200  # the session goes on


@pytest.fixture()
def served(site):
    """(workspace, base URL) of the app on a real uvicorn (its own thread pool of 40, as
    `rootdb serve` runs it, the client's address from X-Forwarded-For of 127.0.0.1)."""
    import socket
    import threading
    import time

    import uvicorn

    ws, _, app = site
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                          proxy_headers=True, forwarded_allow_ips="127.0.0.1"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield ws, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_login_flood_is_turned_away_and_a_logged_in_user_is_still_answered(served):
    import concurrent.futures
    import secrets
    import time

    import httpx

    _, base = served
    user = httpx.Client(base_url=base, timeout=30)
    assert user.post("/login", data={"username": "grid1", "password": PASSWORD}).status_code == 303
    assert user.get("/api/residents", params={"limit": 5}).status_code == 200  # its tables built

    def attack(i: int) -> httpx.Response:
        return httpx.post(f"{base}/login", data={"username": secrets.token_hex(6), "password": "guess"},
                          headers={"X-Forwarded-For": f"10.{i // 250}.{i % 250}.1", "Accept": "application/json"},
                          timeout=60)

    with concurrent.futures.ThreadPoolExecutor(120) as pool:
        flood = [pool.submit(attack, i) for i in range(120)]
        time.sleep(0.5)
        took = []
        for _ in range(3):
            start = time.monotonic()
            assert user.get("/api/residents", params={"limit": 5}).status_code == 200
            took.append(time.monotonic() - start)
        answers = [f.result() for f in flood]
    assert max(took) < 2, took
    statuses = collections.Counter(a.status_code for a in answers)
    assert set(statuses) <= {401, 503} and statuses[503] > 0, statuses
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.json() == {"error": "登录的人太多，请稍后再试"} and int(busy.headers["retry-after"]) >= 1
    assert busy.headers["x-content-type-options"] == "nosniff"


def test_denied_lookups_and_the_buildings_page_are_audited_and_the_404_is_unchanged(site):
    ws, _, app = site
    client = _client(app, "grid1")
    theirs = sorted(_people(ws, Scope("建设社区", "第三网格")))[0]
    answers = [client.get(f"/api/residents/{theirs}"), client.get("/api/residents/P99999999"),
               client.get(f"/card/{theirs}"), client.get("/card/not-an-id"),
               client.post("/api/visits", json={"entity_id": theirs, "走访类型": "常规走访", "发现问题": "无"})]
    assert [a.status_code for a in answers] == [404] * 5
    assert answers[0].content == answers[1].content and answers[4].json()["error"] == NOT_FOUND
    client.get("/buildings")
    rows = store.page_audit(ws)
    denied = [(r["action"], r["entity_id"]) for r in rows if r["action"].endswith("-denied")]
    assert sorted(denied, key=str) == sorted([("card-denied", theirs), ("card-denied", "P99999999"),
                                             ("card-denied", theirs), ("card-denied", None),  # not-an-id: in the detail
                                             ("visit-denied", theirs)], key=str)
    assert all(r["user"] == "grid1" for r in rows)
    buildings = [r for r in rows if r["action"] == "buildings"]
    assert len(buildings) == 1 and "栋" in buildings[0]["detail"]


def test_odd_input_is_a_400_never_a_500_and_every_error_has_the_headers(site):
    ws, _, app = site
    client = TestClient(app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False)
    assert client.post("/login", data={"username": "grid1", "password": PASSWORD}).status_code == 303
    person = sorted(_people(ws, Scope("建设社区", "第一网格")))[0]
    answers = {
        "limit²": client.get("/api/residents", params={"limit": "²"}),
        "offset huge": client.get("/api/residents", params={"offset": "99999999999999999999999"}),
        "offset big": client.get("/api/residents", params={"offset": "9223372036854775807"}),
        "page²": client.get("/search", params={"page": "²", "name": "张"}),
        "page huge": client.get("/search", params={"page": "99999999999999999999", "name": "张"}),
        "name NUL": client.get("/api/residents", params={"name": "\x00"}),
    }
    for date in (20260101, True, {}, [], "2026-02-30"):
        answers[f"date {date!r}"] = client.post("/api/visits", json={"entity_id": person, "走访类型": "常规走访", "发现问题": "无",
                                                                      "走访日期": date})
    for name, answer in answers.items():
        assert answer.status_code in (200, 400), (name, answer.status_code, answer.text[:200])
        assert answer.status_code == 400 or name == "name NUL", name
    errors = [client.post("/api/visits", content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"}),
              client.get("/no/such/page"), client.delete("/api/residents"), client.put("/login")]
    assert [e.status_code for e in errors] == [413, 404, 405, 405]
    assert (errors[1].text, errors[2].json()["error"]) == ("页面不存在", "不支持这种请求方式")
    for answer in [*answers.values(), *errors]:
        assert "default-src 'self'" in answer.headers["content-security-policy"], answer.request.url
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
    assert store.page_visits(ws).is_empty()


def test_an_unexpected_error_is_a_500_with_the_headers(site):
    ws, _, app = site
    client = TestClient(app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False)
    assert client.post("/login", data={"username": "grid1", "password": PASSWORD}).status_code == 303
    path = store.store_path(ws)
    for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        extra.unlink(missing_ok=True)
    path.write_bytes(b"not a database" * 1000)  # the store broken under the running page
    answer = client.get("/api/residents")
    assert answer.status_code >= 500 and "Traceback" not in answer.text
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"


def test_a_grid_worker_whose_area_the_registry_lacks_is_refused(sample_copy):
    """Two communities with a 第一网格: a grid worker stored without the community (saved
    before the first link) would see both; fail closed. A grid name one community has
    fills the community."""
    ws = locate(sample_copy)
    con = connect(ws.db_path)
    try:
        for i in range(3):
            con.execute("INSERT INTO golden_houses (entity_id, registry_key, community, grid, compound, building, room, "
                        "standard_address, usage) VALUES (?, ?, '和平社区', '第一网格', '和平小区', '1', ?, ?, '住宅')",
                        [f"HPEACE{i}", f"97{i}", f"10{i}", f"和平社区和平小区1号楼10{i}室"])
        publish(con, ws.db_path)
    finally:
        con.close()
    users = {"loose1": (None, "第一网格"), "loose3": (None, "第三网格"), "ghost": ("建设社区", "第九网格"),
             "grid1": ("建设社区", "第一网格")}
    for name, (community, grid) in users.items():
        store.add_user(ws, name, "grid", community, grid, PASSWORD, now=NOW)
    app = create_app(ws, PublishedReader(ws), now=Clock())
    for name in ("loose1", "ghost"):
        refused = _client(app).post("/login", data={"username": name, "password": PASSWORD})
        assert refused.status_code == 403 and "与标准地址库不符" in refused.text
        assert COOKIE not in refused.headers.get("set-cookie", "")
    loose3 = _client(app, "loose3").get("/api/residents", params={"limit": 1000}).json()
    assert {(r["社区"], r["网格"]) for r in loose3["residents"]} == {("建设社区", "第三网格")}
    assert loose3["total"] == len(_people(ws, Scope("建设社区", "第三网格")))
    grid1 = _client(app, "grid1")
    assert grid1.get("/api/residents").status_code == 200
    with store.open_store(ws) as db:  # the community emptied under an open session
        db.execute("UPDATE users SET community = '' WHERE name = 'grid1'")
    answer = grid1.get("/api/residents")
    assert answer.status_code == 403 and answer.json() == {"error": BAD_AREA}
    page = grid1.get("/search")
    assert page.status_code == 403 and BAD_AREA in page.text


def test_no_visit_to_the_dead_or_moved_out_nor_dated_over_a_year_back(site):
    ws, _, app = site
    con = connect(ws.db_path, read_only=True)
    try:
        prepare(con, SAMPLE_AS_OF, "建设社区", "第一网格")
        gone = con.execute("SELECT person_id FROM r_persons WHERE dead OR status = '迁出' "
                           "ORDER BY dead DESC, person_id").fetchall()
    finally:
        con.close()
    assert gone
    client = _client(app, "grid1")
    for (person,) in gone[:2]:
        answer = client.post("/api/visits", json={"entity_id": person, "走访类型": "常规走访", "发现问题": "无"})
        assert answer.status_code == 400 and "死亡或已迁出" in answer.json()["error"], person
    living = sorted(_people(ws, Scope("建设社区", "第一网格")))[0]
    old = client.post("/api/visits", json={"entity_id": living, "走访类型": "常规走访", "发现问题": "无",
                                           "走访日期": (SAMPLE_AS_OF - dt.timedelta(days=400)).isoformat()})
    assert old.status_code == 400 and "一年" in old.json()["error"]
    assert store.page_visits(ws).is_empty()
    late = client.post("/api/visits", json={"entity_id": living, "走访类型": "常规走访", "发现问题": "无",
                                            "走访日期": (SAMPLE_AS_OF - dt.timedelta(days=300)).isoformat()})
    assert late.status_code == 201


def test_a_second_serve_on_one_workspace_is_refused_naming_the_first(sample_copy):
    import os

    from rootdb.commands.serve import LOCK_FILE, plan
    from rootdb.errors import ExitCode, WorkspaceError

    first = plan(sample_copy)
    try:
        with pytest.raises(WorkspaceError, match=f"已有一个 rootdb serve 在运行（进程 {os.getpid()}）") as refused:
            plan(sample_copy)
        assert refused.value.exit_code == ExitCode.FAILED == 1
        assert (sample_copy.parent / LOCK_FILE).stat().st_mode & 0o777 == 0o600
    finally:
        first.release()
    again = plan(sample_copy)  # the first one ended: the next may start
    again.release()


def test_a_port_in_use_is_said_before_the_page_claims_to_start(sample_copy):
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = subprocess.run([sys.executable, "-m", "rootdb", "serve", "--db", str(sample_copy), "--port", str(port)],
                                capture_output=True, text=True, timeout=120)
    assert answer.returncode == 2 and f"端口 {port} 已被占用" in answer.stderr, answer.stderr
    assert "页面已启动" not in answer.stdout and "Errno" not in answer.stdout + answer.stderr


def test_what_a_user_types_stays_out_of_the_audits_clear_columns(site):
    """A lookup by 身份证号 or name (the card command takes both) is refused like an unknown
    id; the audit keeps an entity id in clear and what was typed only masked, in its detail
    (encrypted with a key), without control characters."""
    ws, _, app = site
    client = _client(app, "grid1")
    typed = ["130102193801068445", "付桂琳", "\x1b[31mP1\x1b[0m"]
    answers = [client.get(f"/api/residents/{t}") for t in typed[:2]]
    answers.append(client.post("/api/visits", json={"entity_id": typed[2], "走访类型": "常规走访", "发现问题": "无"}))
    assert [a.status_code for a in answers] == [404, 404, 404]
    rows = store.page_audit(ws)[:3]
    assert [r["entity_id"] for r in rows] == [None, None, None]
    text = repr(rows)
    assert "130102193801068445" not in text and "\x1b" not in text and "130102********8445" in text
    bad = [client.post("/api/visits", content=b"[" * 30000, headers={"content-type": "application/json"}),
           client.post("/api/visits", json={"entity_id": "P00000001", "走访类型": "常规走访", "发现问题": "x" * 2001})]
    assert [b.status_code for b in bad] == [400, 400]
    living = sorted(_people(ws, Scope("建设社区", "第一网格")))[0]
    odd = client.post("/api/visits", content='{"entity_id": "%s", "走访类型": "常规走访", "发现问题": "灯\\ud800坏\\u202e了"}'
                      .replace("%s", living).encode(), headers={"content-type": "application/json"})
    assert odd.status_code == 201, odd.text
    assert store.page_visits(ws)["problems"].to_list() == ["灯坏了"]
