"""The serve store: what the page itself writes — its users, their sessions, failed
logins, the visits recorded on the page and the page's audit trail.

DuckDB lets one process write a database or several read it, so the page writes
nothing into the workspace's database (a nightly run may hold it): its writes go to
`rootdb-serve.sqlite` beside the database, an SQLite file in WAL mode that the server,
the `rootdb user` commands and the report engine (page visits count in R39/R40) open
at the same time; a writer waits up to `BUSY_TIMEOUT_MS` for another. The file is
created on first open, readable by its owner only (0600).

Passwords are kept as argon2id hashes (argon2-cffi), session tokens as their SHA-256:
neither a password nor a usable token is ever in the file. With ROOTDB_KEY set, the
free text that may hold personal data (a visit's `problems`, an audit row's `detail`)
is stored encrypted with AES-GCM under a key derived from ROOTDB_KEY (argon2id, with a
salt kept in `meta`); entity ids are rootdb's pseudonymous keys and stay plain.

Every function takes the workspace (or the store file's path) and an optional `now`,
so that tests move the clock instead of sleeping. Nothing here prints.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import os
import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rootdb.errors import UsageError, WorkspaceError
from rootdb.store import ENTITY_ID
from rootdb.workspace import KEY_ENV, Workspace

STORE_NAME = "rootdb-serve.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000
ROLES = {"grid": "网格员", "community": "社区", "street": "街道"}
PASSWORD_MIN_LENGTH = 8
SESSION_IDLE = dt.timedelta(hours=8)
SESSION_MAX = dt.timedelta(hours=24)
SESSION_TOUCH = dt.timedelta(minutes=1)  # last_seen is rewritten at most this often
LOCK_FAILURES = 5  # failed logins of one name within LOCK_WINDOW lock it for LOCK_TIME
LOCK_WINDOW = dt.timedelta(minutes=15)
LOCK_TIME = dt.timedelta(minutes=15)

_ENCRYPTED = "\x01enc1:"  # prefix of an encrypted value (control characters never reach a stored text)
# Dropped from stored text: control characters but tab and newline, lone surrogates (no
# UTF-8 for them), and the bidirectional overrides that make a line read otherwise.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")

_hasher = PasswordHasher()  # argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('grid', 'community', 'street')),
    community TEXT, grid TEXT, password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at TEXT NOT NULL, last_seen TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user);
CREATE TABLE IF NOT EXISTS login_failures (name TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_name ON login_failures (name, at);
CREATE TABLE IF NOT EXISTS visits (
    visit_no TEXT PRIMARY KEY, person_entity_id TEXT, house_entity_id TEXT, visit_date TEXT NOT NULL,
    visit_type TEXT NOT NULL, problems TEXT, grid_worker TEXT NOT NULL, community TEXT, grid TEXT,
    recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    at TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL, entity_id TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
"""

# A page visit's columns, a part of golden_visits' (the report engine inserts them by name
# beside the delivered visits; the columns only a delivered file fills stay NULL).
PAGE_VISITS_SCHEMA = {
    "visit_no": pl.String, "visit_date": pl.Date, "house_entity_id": pl.String, "person_entity_id": pl.String,
    "community": pl.String, "grid": pl.String, "grid_worker": pl.String, "visit_type": pl.String,
    "problems": pl.String, "feed": pl.String,
}
PAGE_FEED = "page"


@dataclass(frozen=True)
class User:
    """A user of the page and the part of the area they see (`rootdb.serve.app.scope_of`)."""

    name: str
    role: str
    community: str | None = None
    grid: str | None = None


# ------------------------------------------------------------------ the file

def store_path(ws: Workspace | Path) -> Path:
    """The store of workspace `ws`, beside its database (a Path is the store itself)."""
    return ws.db_path.parent / STORE_NAME if isinstance(ws, Workspace) else Path(ws)


def open_store(ws: Workspace | Path) -> sqlite3.Connection:
    """A connection to the store, created (0600, with its tables) when missing. In
    autocommit mode: writes that belong together run in `BEGIN IMMEDIATE`."""
    path = store_path(ws)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # SQLite's -wal/-shm take its mode
    try:
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as exc:
        raise WorkspaceError(f"无法打开页面数据库 {path}：{exc}") from None
    try:
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA journal_mode = WAL")
        _ensure_schema(con, path)
    except sqlite3.DatabaseError as exc:
        con.close()
        raise WorkspaceError(f"无法打开页面数据库 {path}：{exc}（不是 rootdb 的页面数据库？）") from None
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def _store(ws: Workspace | Path) -> Iterator[sqlite3.Connection]:
    with closing(open_store(ws)) as con:
        yield con


@contextmanager
def _writing(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taking the write lock at its start (a deferred one that
    reads first could not wait for another writer)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _ensure_schema(con: sqlite3.Connection, path: Path) -> None:
    version = _meta(con, "schema_version") if _has_meta(con) else None
    if version is None:
        with _writing(con):
            for statement in filter(str.strip, _SCHEMA.split(";")):
                con.execute(statement)
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            con.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", [secrets.token_hex(16)])
        version = _meta(con, "schema_version")
    if int(version) > SCHEMA_VERSION:
        raise WorkspaceError(f"页面数据库 {path} 由更新版本的 rootdb 创建（版本 {version}）：请升级 rootdb")


def _has_meta(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is not None


def _meta(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now()).replace(microsecond=0)


def _stamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


# ------------------------------------------------------------------ encryption

@functools.lru_cache(maxsize=4)
def _derived_key(secret: str, salt: str) -> bytes:
    return hash_secret_raw(secret.encode("utf-8"), bytes.fromhex(salt), time_cost=3, memory_cost=65536,
                           parallelism=4, hash_len=32, type=Type.ID)


def _cipher(con: sqlite3.Connection) -> AESGCM | None:
    """AES-GCM under ROOTDB_KEY's derived key; None without a key (texts stay plain)."""
    secret = os.environ.get(KEY_ENV)
    return AESGCM(_derived_key(secret, _meta(con, "salt"))) if secret else None


def _seal(cipher: AESGCM | None, text: str | None, column: str) -> str | None:
    """`text` as stored: control characters dropped, encrypted when there is a key."""
    if text is None:
        return None
    text = _CONTROL.sub("", text)
    if cipher is None:
        return text
    nonce = secrets.token_bytes(12)
    sealed = cipher.encrypt(nonce, text.encode("utf-8"), column.encode())
    return _ENCRYPTED + base64.b64encode(nonce + sealed).decode("ascii")


def _open_text(cipher: AESGCM | None, stored: str | None, column: str) -> str | None:
    if stored is None or not stored.startswith(_ENCRYPTED):
        return stored  # written without a key
    if cipher is None:
        raise WorkspaceError(f"页面数据库中的走访记录和审计日志已加密：请在环境变量 {KEY_ENV} 中提供密钥")
    raw = base64.b64decode(stored[len(_ENCRYPTED):])
    try:
        return cipher.decrypt(raw[:12], raw[12:], column.encode()).decode("utf-8")
    except InvalidTag:
        raise WorkspaceError(f"无法读取页面数据库中的加密记录：环境变量 {KEY_ENV} 中的密钥不对") from None


# ------------------------------------------------------------------ users

def _clean_name(name: str) -> str:
    return (name or "").strip()


def add_user(ws: Workspace | Path, name: str, role: str, community: str | None, grid: str | None,
             password: str, now: dt.datetime | None = None) -> User:
    """A new user; an existing name is an error (nothing is overwritten). A grid user
    has a grid (and its community), a community user a community, a street user neither."""
    user = User(_clean_name(name), role, community or None, grid or None)
    check_user(user, password)
    password_hash = _hasher.hash(password)
    with _store(ws) as con, _writing(con):
        if con.execute("SELECT 1 FROM users WHERE name = ?", [user.name]).fetchone():
            raise UsageError(f"用户“{user.name}”已存在：不会覆盖；要换人或换范围，请先停用再用新用户名添加")
        con.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, 0, ?)",
                    [user.name, user.role, user.community, user.grid, password_hash, _stamp(_now(now))])
    return user


def check_user(user: User, password: str) -> None:
    """A usage error unless `user` can be added with `password`: a name without spaces,
    a known role with the scope it needs, a password of `PASSWORD_MIN_LENGTH` or more."""
    if not user.name or _CONTROL.search(user.name) or any(c.isspace() for c in user.name):
        raise UsageError("用户名不能为空，也不能含空格或控制字符")
    if user.role not in ROLES:
        raise UsageError(f"--role 应为 grid（网格员）、community（社区）或 street（街道），而不是 {user.role!r}")
    if user.role == "grid" and not user.grid:
        raise UsageError("网格员用户要用 --grid 指定网格（网格名不止一个社区有时，再加 --community）")
    if user.role == "community" and (not user.community or user.grid):
        raise UsageError("社区用户要用 --community 指定社区，不给 --grid（看整个社区）")
    if user.role == "street" and (user.community or user.grid):
        raise UsageError("街道用户看全部，不给 --community 或 --grid")
    if len(password or "") < PASSWORD_MIN_LENGTH:
        raise UsageError(f"密码至少 {PASSWORD_MIN_LENGTH} 个字符")


def list_users(ws: Workspace | Path) -> list[dict]:
    """Every user, by name: name, role, community, grid, disabled, created_at (no hashes).
    No store yet: none (and no file is made)."""
    if not store_path(ws).exists():
        return []
    with _store(ws) as con:
        rows = con.execute("SELECT name, role, community, grid, disabled, created_at FROM users ORDER BY name")
        keys = ("name", "role", "community", "grid", "disabled", "created_at")
        return [dict(zip(keys, row), disabled=bool(row[4])) for row in rows]


def disable_user(ws: Workspace | Path, name: str) -> bool:
    """Disable `name` and end their sessions at once; False when already disabled."""
    with _store(ws) as con, _writing(con):
        row = con.execute("SELECT disabled FROM users WHERE name = ?", [_clean_name(name)]).fetchone()
        if row is None:
            raise UsageError(f"没有用户“{_clean_name(name)}”；rootdb user list 列出全部用户")
        con.execute("UPDATE users SET disabled = 1 WHERE name = ?", [_clean_name(name)])
        con.execute("DELETE FROM sessions WHERE user = ?", [_clean_name(name)])
    return not row[0]


def check_login(ws: Workspace | Path, name: str, password: str, now: dt.datetime | None = None) -> User | None:
    """The user when `name` may log in with `password`; None otherwise — an unknown
    name, a wrong password, a disabled user and a locked name alike (the caller's
    message must not tell them apart). A failure is recorded against the name, known or
    not; `LOCK_FAILURES` of them within `LOCK_WINDOW` lock it for `LOCK_TIME`, during
    which even the right password is refused. The hash is checked in every case, so the
    time taken does not tell either."""
    moment, name = _now(now), _clean_name(name)
    with _store(ws) as con:
        row = con.execute("SELECT role, community, grid, password_hash, disabled FROM users WHERE name = ?",
                          [name]).fetchone()
        locked = _locked(con, name, moment)
        right = _verify(row[3] if row else None, password or "")
        if locked:
            return None
        if not right or row[4]:
            with _writing(con):
                con.execute("INSERT INTO login_failures VALUES (?, ?)", [name, _stamp(moment)])
                con.execute("DELETE FROM login_failures WHERE at < ?", [_stamp(moment - dt.timedelta(days=1))])
            return None
        with _writing(con):
            con.execute("DELETE FROM login_failures WHERE name = ?", [name])
            if _hasher.check_needs_rehash(row[3]):
                con.execute("UPDATE users SET password_hash = ? WHERE name = ?", [_hasher.hash(password), name])
    return User(name, row[0], row[1], row[2])


@functools.cache
def _decoy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _decoy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):  # a mismatch is a VerificationError
        return False


def _locked(con: sqlite3.Connection, name: str, moment: dt.datetime) -> bool:
    """Whether some failure in the last LOCK_TIME was the LOCK_FAILURES-th within LOCK_WINDOW."""
    since = moment - LOCK_TIME - LOCK_WINDOW
    times = [dt.datetime.fromisoformat(at) for (at,) in con.execute(
        "SELECT at FROM login_failures WHERE name = ? AND at > ? ORDER BY at", [name, _stamp(since)])]
    return any(times[i] - times[i - LOCK_FAILURES + 1] <= LOCK_WINDOW and moment < times[i] + LOCK_TIME
               for i in range(LOCK_FAILURES - 1, len(times)))


# ------------------------------------------------------------------ sessions

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_session(ws: Workspace | Path, user: User, now: dt.datetime | None = None) -> tuple[str, str]:
    """A session of `user`: (token for the cookie, CSRF token for its forms). Only the
    token's SHA-256 is stored."""
    token, csrf, stamp = secrets.token_urlsafe(32), secrets.token_urlsafe(32), _stamp(_now(now))
    with _store(ws) as con, _writing(con):
        con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", [_token_hash(token), user.name, csrf, stamp, stamp])
        con.execute("DELETE FROM sessions WHERE created_at < ?", [_stamp(_now(now) - SESSION_MAX)])
    return token, csrf


def session_user(ws: Workspace | Path, token: str | None,
                 now: dt.datetime | None = None) -> tuple[User, str] | None:
    """(user, CSRF token) of a live session; None for an unknown, forged or expired
    token (idle `SESSION_IDLE`, older than `SESSION_MAX`) and for a disabled user."""
    if not token:
        return None
    moment, key = _now(now), _token_hash(token)
    with _store(ws) as con:
        row = con.execute(
            "SELECT u.name, u.role, u.community, u.grid, u.disabled, s.csrf, s.created_at, s.last_seen "
            "FROM sessions s JOIN users u ON u.name = s.user WHERE s.token_hash = ?", [key]).fetchone()
        if row is None:
            return None
        created, seen = dt.datetime.fromisoformat(row[6]), dt.datetime.fromisoformat(row[7])
        if row[4] or moment - seen > SESSION_IDLE or moment - created > SESSION_MAX:
            con.execute("DELETE FROM sessions WHERE token_hash = ?", [key])
            return None
        if moment - seen >= SESSION_TOUCH:
            con.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", [_stamp(moment), key])
    return User(*row[:4]), row[5]


def end_session(ws: Workspace | Path, token: str | None) -> None:
    """Log out: the session is gone (an unknown token: nothing to do)."""
    if token:
        with _store(ws) as con:
            con.execute("DELETE FROM sessions WHERE token_hash = ?", [_token_hash(token)])


# ------------------------------------------------------------------ visits and audit

def record_visit(ws: Workspace | Path, user: User, person_entity_id: str | None, house_entity_id: str | None,
                 visit_type: str, problems: str | None, visit_date: dt.date | None, community: str | None,
                 grid: str | None, now: dt.datetime | None = None) -> str:
    """Record a visit `user` made (the visit date defaults to today) and its audit row,
    in one transaction; the new visit number, WY + yyyymmdd + the visit's place among that
    day's recorded on the page (000001, …: the latest sorts last, as the card lists them)."""
    if not (person_entity_id or house_entity_id):
        raise UsageError("走访记录要有走访的人或房屋")
    if not (visit_type or "").strip():
        raise UsageError("请填写走访类型")
    moment = _now(now)
    day = visit_date or moment.date()
    with _store(ws) as con, _writing(con):
        cipher = _cipher(con)
        prefix = f"WY{day:%Y%m%d}"
        last = con.execute("SELECT max(visit_no) FROM visits WHERE visit_no LIKE ? AND length(visit_no) = 16",
                           [prefix + "%"]).fetchone()[0]
        visit_no = f"{prefix}{int(last[len(prefix):]) + 1 if last else 1:06d}"  # in the writing transaction
        con.execute("INSERT INTO visits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [visit_no, person_entity_id, house_entity_id, day.isoformat(), visit_type.strip(),
                     _seal(cipher, problems, "visits.problems"), user.name, community, grid, _stamp(moment)])
        _insert_audit(con, cipher, moment, user, "visit", person_entity_id or house_entity_id,
                      f"{visit_no} {visit_type.strip()}")
    return visit_no


def page_visits(ws: Workspace | Path) -> pl.DataFrame:
    """The visits recorded on the page (PAGE_VISITS_SCHEMA; feed 'page'). No store: empty."""
    if not store_path(ws).exists():
        return pl.DataFrame(schema=PAGE_VISITS_SCHEMA)
    with _store(ws) as con:
        cipher = _cipher(con)
        rows = con.execute("SELECT visit_no, visit_date, house_entity_id, person_entity_id, community, grid, "
                           "grid_worker, visit_type, problems FROM visits ORDER BY visit_date, visit_no").fetchall()
    frame = pl.DataFrame([(*r[:8], _open_text(cipher, r[8], "visits.problems"), PAGE_FEED) for r in rows],
                         orient="row", schema={**PAGE_VISITS_SCHEMA, "visit_date": pl.String})
    return frame.with_columns(pl.col("visit_date").str.to_date("%Y-%m-%d"))


def record_page_audit(ws: Workspace | Path, user: User, action: str, entity_id: str | None,
                      detail: str | None, now: dt.datetime | None = None) -> None:
    """One view of a person's data on the page (list, card, notify draft…), with the user's name."""
    with _store(ws) as con, _writing(con):
        _insert_audit(con, _cipher(con), _now(now), user, action, entity_id, detail)


def _insert_audit(con: sqlite3.Connection, cipher: AESGCM | None, moment: dt.datetime, user: User, action: str,
                  entity_id: str | None, detail: str | None) -> None:
    # Only an entity id stays in clear; what a user typed otherwise (an ID, a name, in
    # pinyin too: no digit) is in the sealed detail alone.
    if not (entity_id and ENTITY_ID.fullmatch(entity_id.upper()) and re.search(r"\d", entity_id)):
        entity_id = None
    con.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?)",
                [_stamp(moment), user.name, action, entity_id, _seal(cipher, detail, "audit.detail")])


def page_audit(ws: Workspace | Path, limit: int | None = None) -> list[dict]:
    """The page's audit rows, newest first (at, user, action, entity_id, detail); the
    latest `limit` when given. No store: none."""
    if not store_path(ws).exists():
        return []
    with _store(ws) as con:
        cipher = _cipher(con)
        rows = con.execute("SELECT at, user, action, entity_id, detail FROM audit ORDER BY at DESC, rowid DESC "
                           "LIMIT ?", [limit or -1]).fetchall()
    keys = ("at", "user", "action", "entity_id", "detail")
    return [dict(zip(keys, (*r[:4], _open_text(cipher, r[4], "audit.detail")))) for r in rows]
