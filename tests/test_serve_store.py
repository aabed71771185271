"""The serve store (rootdb.serve.store) and `rootdb user`: real SQLite files, real argon2
hashes, real DuckDB files for the registry the user commands resolve names against."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from rootdb.commands import Scope
from rootdb.errors import UsageError, WorkspaceError
from rootdb.serve import store
from rootdb.serve.store import User
from rootdb.workspace import KEY_ENV, Workspace

T0 = dt.datetime(2026, 11, 2, 9, 0, 0)
GRID_USER = User("wangfang", "grid", "建设社区", "第三网格")


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace(root=tmp_path, db_path=tmp_path / "rootdb.duckdb", config_path=None)


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


def _add(ws, user=GRID_USER, password="secret-123", now=T0) -> User:
    return store.add_user(ws, user.name, user.role, user.community, user.grid, password, now=now)


def _visit(ws, problems="楼道漏水", user=GRID_USER) -> str:
    return store.record_visit(ws, user, "P00000001", "H00000001", "入户走访", problems, dt.date(2026, 11, 1),
                              user.community, user.grid, now=T0)


# ------------------------------------------------------------------ users

def test_users_added_listed_disabled_and_the_file_is_private(ws):
    _add(ws)
    _add(ws, User("jianshe", "community", "建设社区", None))
    _add(ws, User("jiedao", "street"))
    path = store.store_path(ws)
    assert path == ws.db_path.parent / "rootdb-serve.sqlite"
    assert path.stat().st_mode & 0o777 == 0o600
    users = store.list_users(ws)
    assert [u["name"] for u in users] == ["jianshe", "jiedao", "wangfang"]
    assert users[2] == {"name": "wangfang", "role": "grid", "community": "建设社区", "grid": "第三网格",
                        "disabled": False, "created_at": "2026-11-02T09:00:00"}
    assert store.disable_user(ws, "wangfang") is True
    assert store.disable_user(ws, "wangfang") is False
    assert [u["disabled"] for u in store.list_users(ws)] == [False, False, True]
    with pytest.raises(UsageError, match="没有用户"):
        store.disable_user(ws, "nobody")


def test_an_existing_name_is_never_overwritten(ws):
    _add(ws)
    with pytest.raises(UsageError, match="已存在"):
        _add(ws, User("wangfang", "street"), password="another-pass")
    assert store.check_login(ws, "wangfang", "secret-123", now=T0) == GRID_USER
    assert store.list_users(ws)[0]["role"] == "grid"


@pytest.mark.parametrize("user, password, message", [
    (User("a", "grid", "建设社区", None), "secret-123", "--grid"),
    (User("a", "community", None, None), "secret-123", "--community"),
    (User("a", "street", "建设社区", None), "secret-123", "街道用户"),
    (User("a", "admin"), "secret-123", "--role"),
    (User("a b", "street"), "secret-123", "空格"),
    (User("a", "street"), "1234567", "至少 8"),
])
def test_bad_users_are_refused(ws, user, password, message):
    with pytest.raises(UsageError, match=message):
        _add(ws, user, password)
    assert store.list_users(ws) == []


def test_scope_of_each_role():
    from rootdb.serve.app import scope_of

    assert scope_of(GRID_USER) == Scope("建设社区", "第三网格")
    assert scope_of(User("c", "community", "建设社区")) == Scope("建设社区")
    assert not scope_of(User("s", "street"))


def test_password_hashed_with_argon2id_never_stored_plain(ws):
    _add(ws)
    with sqlite3.connect(store.store_path(ws)) as con:
        (stored,) = con.execute("SELECT password_hash FROM users").fetchone()
    assert stored.startswith("$argon2id$")
    assert b"secret-123" not in store.store_path(ws).read_bytes()


# ------------------------------------------------------------------ logins

def test_login_right_and_wrong(ws):
    _add(ws)
    assert store.check_login(ws, "wangfang", "secret-123", now=T0) == GRID_USER
    assert store.check_login(ws, " wangfang ", "secret-123", now=T0) == GRID_USER
    assert store.check_login(ws, "wangfang", "secret-124", now=T0) is None
    assert store.check_login(ws, "nobody", "secret-123", now=T0) is None
    assert store.check_login(ws, "wangfang", "", now=T0) is None


def test_five_failures_lock_the_name_for_fifteen_minutes(ws):
    _add(ws)
    for minute in range(5):
        assert store.check_login(ws, "wangfang", "wrong-pass", now=T0 + dt.timedelta(minutes=minute)) is None
    fifth = T0 + dt.timedelta(minutes=4)
    # Locked: even the right password is refused, until 15 minutes after the fifth failure.
    for later in (1, 10, 14 * 60 + 59):
        assert store.check_login(ws, "wangfang", "secret-123", now=fifth + dt.timedelta(seconds=later)) is None
    assert store.check_login(ws, "wangfang", "secret-123", now=fifth + dt.timedelta(minutes=15)) == GRID_USER
    # The success cleared the failures: one more wrong password does not lock again.
    assert store.check_login(ws, "wangfang", "wrong-pass", now=fifth + dt.timedelta(minutes=16)) is None
    assert store.check_login(ws, "wangfang", "secret-123", now=fifth + dt.timedelta(minutes=16)) == GRID_USER


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(ws):
    _add(ws)
    for minute in (0, 4, 8, 12, 16):  # never five within 15 minutes
        assert store.check_login(ws, "wangfang", "wrong-pass", now=T0 + dt.timedelta(minutes=minute)) is None
    assert store.check_login(ws, "wangfang", "secret-123", now=T0 + dt.timedelta(minutes=17)) == GRID_USER


def test_an_unknown_name_locks_like_a_known_one(ws):
    """The lock does not tell whether a name exists: failures of any name count."""
    for minute in range(5):
        store.check_login(ws, "ghost", "wrong-pass", now=T0 + dt.timedelta(minutes=minute))
    _add(ws, User("ghost", "street"))
    assert store.check_login(ws, "ghost", "secret-123", now=T0 + dt.timedelta(minutes=5)) is None
    assert store.check_login(ws, "ghost", "secret-123", now=T0 + dt.timedelta(minutes=19)) == User("ghost", "street")


def test_a_disabled_user_cannot_log_in(ws):
    _add(ws)
    store.disable_user(ws, "wangfang")
    assert store.check_login(ws, "wangfang", "secret-123", now=T0) is None


# ------------------------------------------------------------------ sessions

def test_session_token_stored_only_as_its_hash(ws):
    user = _add(ws)
    token, csrf = store.new_session(ws, user, now=T0)
    assert len(token) >= 40 and token != csrf
    assert store.session_user(ws, token, now=T0) == (GRID_USER, csrf)
    with sqlite3.connect(store.store_path(ws)) as con:
        (stored,) = con.execute("SELECT token_hash FROM sessions").fetchone()
    assert stored != token and len(stored) == 64
    files = [p for p in ws.root.iterdir() if p.name.startswith("rootdb-serve")]
    assert files and not any(token.encode() in p.read_bytes() for p in files)


def test_forged_ended_and_expired_sessions_are_refused(ws):
    user = _add(ws)
    token, _ = store.new_session(ws, user, now=T0)
    assert store.session_user(ws, token + "x", now=T0) is None
    assert store.session_user(ws, "", now=T0) is None
    assert store.session_user(ws, None, now=T0) is None
    # Idle: used every 7 hours it lives, until 24 hours after it began.
    for hours in (7, 14, 21):
        assert store.session_user(ws, token, now=T0 + dt.timedelta(hours=hours)) is not None
    assert store.session_user(ws, token, now=T0 + dt.timedelta(hours=24, seconds=1)) is None
    assert store.session_user(ws, token, now=T0 + dt.timedelta(hours=21)) is None  # deleted, not only refused
    idle, _ = store.new_session(ws, user, now=T0)
    assert store.session_user(ws, idle, now=T0 + dt.timedelta(hours=8, seconds=1)) is None
    ended, _ = store.new_session(ws, user, now=T0)
    store.end_session(ws, ended)
    assert store.session_user(ws, ended, now=T0) is None


def test_a_disabled_users_open_session_ends_at_once(ws):
    user = _add(ws)
    token, _ = store.new_session(ws, user, now=T0)
    other, _ = store.new_session(ws, _add(ws, User("jiedao", "street")), now=T0)
    store.disable_user(ws, "wangfang")
    assert store.session_user(ws, token, now=T0) is None
    assert store.session_user(ws, other, now=T0)[0].name == "jiedao"


# ------------------------------------------------------------------ visits, audit, encryption

def test_page_visits_are_read_back(ws):
    """What the page records of a visit, read back as the report engine takes it (beside
    golden_visits: tests/test_page_visits.py)."""
    assert store.page_visits(ws).height == 0
    assert not store.store_path(ws).exists()  # reading creates no store
    visit_no = _visit(ws)
    frame = store.page_visits(ws)
    assert dict(frame.schema) == store.PAGE_VISITS_SCHEMA
    row = frame.row(0, named=True)
    assert row["visit_no"] == visit_no and visit_no.startswith("WY20261101") and len(visit_no) == 16
    assert row | {"visit_no": None} == {
        "visit_no": None, "visit_date": dt.date(2026, 11, 1), "house_entity_id": "H00000001",
        "person_entity_id": "P00000001", "community": "建设社区", "grid": "第三网格",
        "grid_worker": "wangfang", "visit_type": "入户走访", "problems": "楼道漏水", "feed": "page"}
    # The visit is audited with the user's name.
    assert store.page_audit(ws) == [{"at": "2026-11-02T09:00:00", "user": "wangfang", "action": "visit",
                                     "entity_id": "P00000001", "detail": f"{visit_no} 入户走访"}]


def test_page_audit_newest_first_and_limited(ws):
    for minute, entity in enumerate(("P1", "P2", "P3")):
        store.record_page_audit(ws, GRID_USER, "card", entity, f"户卡 {entity}", now=T0 + dt.timedelta(minutes=minute))
    assert [r["entity_id"] for r in store.page_audit(ws)] == ["P3", "P2", "P1"]
    assert [r["entity_id"] for r in store.page_audit(ws, limit=2)] == ["P3", "P2"]


def test_the_audit_keeps_every_kind_of_entity_id_in_clear_and_nothing_typed(ws):
    """Entity ids as link makes them (a person, a registry house, an unregistered house's
    lower-case hash, a place) stay in clear; an ID number or a name someone typed does not."""
    kept = ["P00000001", "H15060200100100000396", "HN007e1c54ef98", "SN1a2b3c4d5e6f"]
    typed = ["130102193801068445", "付桂琳", "HUANG", "\x1b[31mP1"]
    for minute, entity in enumerate(kept + typed):
        store.record_page_audit(ws, GRID_USER, "card", entity, "户卡", now=T0 + dt.timedelta(minutes=minute))
    assert [r["entity_id"] for r in store.page_audit(ws)][::-1] == kept + [None] * len(typed)


def _store_bytes(ws) -> bytes:
    return b"".join(p.read_bytes() for p in ws.root.iterdir() if p.name.startswith("rootdb-serve"))


def test_with_a_key_problems_and_details_are_encrypted(ws, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "街道的密钥 2026")
    _visit(ws, problems="独居老人血压偏高")
    store.record_page_audit(ws, GRID_USER, "card", "P00000001", "查看户卡 张秀英", now=T0)
    data = _store_bytes(ws)
    assert "独居老人".encode() not in data and "张秀英".encode() not in data
    assert b"P00000001" in data  # entity ids stay plain
    assert store.page_visits(ws)["problems"].to_list() == ["独居老人血压偏高"]
    assert store.page_audit(ws)[0]["detail"] == "查看户卡 张秀英"
    monkeypatch.setenv(KEY_ENV, "另一个密钥")
    with pytest.raises(WorkspaceError, match="密钥不对"):
        store.page_visits(ws)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(WorkspaceError, match=KEY_ENV):
        store.page_audit(ws)


def test_without_a_key_texts_read_back_plain(ws):
    _visit(ws, problems="独居老人血压偏高")
    assert "独居老人".encode() in _store_bytes(ws)
    assert store.page_visits(ws)["problems"].to_list() == ["独居老人血压偏高"]


def test_control_characters_never_reach_the_store(ws):
    _visit(ws, problems="\x01enc1:AAAA\x1b[31m漏水")
    assert store.page_visits(ws)["problems"].to_list() == ["enc1:AAAA[31m漏水"]


_WRITER = """
import datetime as dt, sys
from pathlib import Path
from rootdb.serve import store
user = store.User(sys.argv[2], "grid", "建设社区", "第三网格")
for i in range(int(sys.argv[3])):
    store.record_visit(Path(sys.argv[1]), user, f"P{i:08d}", None, "入户走访", f"第{i}次", dt.date(2026, 11, 1),
                       "建设社区", "第三网格")
"""


def test_two_processes_write_visits_at_once(ws):
    path = store.store_path(ws)
    store.open_store(ws).close()
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name, "60"])
               for name in ("wangfang", "lihua")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    frame = store.page_visits(ws)
    assert frame.height == 120
    assert frame["visit_no"].n_unique() == 120
    assert sorted(frame.group_by("grid_worker").len().rows()) == [("lihua", 60), ("wangfang", 60)]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# ------------------------------------------------------------------ rootdb user

def _registry_db(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A database holding only the golden_houses columns names are resolved against."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE golden_houses (registry_key VARCHAR, community VARCHAR, grid VARCHAR)")
        con.executemany("INSERT INTO golden_houses VALUES (?, ?, ?)",
                        [(f"K{i:03d}", c, g) for i, (c, g) in enumerate(rows)])
    return path


def _ws(db: Path) -> Workspace:
    return Workspace(root=db.parent, db_path=db, config_path=None)


def _rootdb(db: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, "ROOTDB_DB")}
    return subprocess.run([sys.executable, "-m", "rootdb", *args, "--db", str(db)], input=password,
                          capture_output=True, text=True, env=env | {"COLUMNS": "200"}, timeout=120)


@pytest.fixture()
def registry(tmp_path) -> Path:
    return _registry_db(tmp_path / "rootdb.duckdb", [("建设社区", "第一网格"), ("建设社区", "第三网格"),
                                                     ("和平社区", "第三网格"), ("和平社区", "第五网格")])


def test_user_add_list_disable(registry):
    added = _rootdb(registry, "user", "add", "wangfang", "--role", "grid", "--grid", "第五", "--password-stdin",
                    "--json", password="secret-123\n")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"name": "wangfang", "role": "grid", "community": "和平社区",
                                        "grid": "第五网格", "warnings": []}
    assert "secret-123" not in added.stdout + added.stderr
    community = _rootdb(registry, "user", "add", "jianshe", "--role", "community", "--community", "建设",
                        "--password-stdin", password="another-pass\n")
    assert community.returncode == 0, community.stderr
    assert "已添加用户 jianshe（社区，范围：建设社区）" in community.stdout
    assert _rootdb(registry, "user", "disable", "wangfang").returncode == 0
    listed = _rootdb(registry, "user", "list")
    assert listed.returncode == 0
    assert "已停用" in listed.stdout and "和平社区 第五网格" in listed.stdout and "$argon2" not in listed.stdout
    users = json.loads(_rootdb(registry, "user", "list", "--json").stdout)["users"]
    assert [(u["name"], u["disabled"]) for u in users] == [("jianshe", False), ("wangfang", True)]
    assert set(users[0]) == {"name", "role", "community", "grid", "disabled", "created_at"}
    login = store.check_login(_ws(registry), "jianshe", "another-pass")
    assert login == User("jianshe", "community", "建设社区", None)


def test_user_add_refusals_in_chinese(registry):
    def add(*args, password="secret-123\n"):
        return _rootdb(registry, "user", "add", *args, "--password-stdin", password=password)

    assert add("wangfang", "--role", "grid", "--grid", "第一").returncode == 0
    again = add("wangfang", "--role", "street")
    assert again.returncode == 2 and "已存在" in again.stderr
    no_grid = add("lihua", "--role", "grid")
    assert no_grid.returncode == 2 and "--grid" in no_grid.stderr and "网格员" in no_grid.stderr
    shared = add("lihua", "--role", "grid", "--grid", "第三")
    assert shared.returncode == 2 and "--community" in shared.stderr and "和平社区" in shared.stderr
    assert add("lihua", "--role", "grid", "--grid", "第三", "--community", "和平").returncode == 0
    unknown = add("zhao", "--role", "grid", "--grid", "第九")
    assert unknown.returncode == 2 and "没有网格“第九”" in unknown.stderr
    short = add("zhao", "--role", "street", password="short\n")
    assert short.returncode == 2 and "至少 8" in short.stderr
    no_stdin = _rootdb(registry, "user", "add", "zhao", "--role", "street")
    assert no_stdin.returncode == 2 and "--password-stdin" in no_stdin.stderr
    assert [u["name"] for u in store.list_users(_ws(registry))] == ["lihua", "wangfang"]
    assert store.list_users(_ws(registry))[0]["community"] == "和平社区"


def test_user_add_while_a_run_holds_the_database_keeps_names_as_typed(registry):
    with duckdb.connect(str(registry)):  # a writer in this process: the command cannot open it
        added = _rootdb(registry, "user", "add", "wangfang", "--role", "grid", "--grid", "第三",
                        "--password-stdin", password="secret-123\n")
    assert added.returncode == 0, added.stderr
    assert "注意" in added.stdout and "按输入保存" in added.stdout
    assert store.list_users(_ws(registry))[0]["grid"] == "第三"


def test_user_add_reads_the_registry_of_the_published_copy(registry, tmp_path):
    """Nothing is read from the database when a copy is published (a run may hold it)."""
    folder = registry.parent / "published"
    folder.mkdir()
    _registry_db(folder / "rootdb-1.duckdb", [("幸福社区", "第八网格")])
    (folder / "CURRENT").write_text("rootdb-1.duckdb\n", encoding="utf-8")
    added = _rootdb(registry, "user", "add", "wangfang", "--role", "grid", "--grid", "第八", "--password-stdin",
                    "--json", password="secret-123\n")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["community"] == "幸福社区"


def test_user_commands_need_a_workspace(tmp_path):
    missing = _rootdb(tmp_path / "none.duckdb", "user", "list")
    assert missing.returncode == 2 and "rootdb init" in missing.stderr
    assert not (tmp_path / "rootdb-serve.sqlite").exists()


def test_rootdb_audit_lists_the_page_beside_the_command_line(sample_copy):
    """A card viewed on the page and a query on the command line: `rootdb audit` lists
    both, newest first, each with its user and where it came from."""
    from rootdb.commands.audit import audit
    from rootdb.commands.query import PersonQuery, query
    from rootdb.workspace import locate

    ws = locate(sample_copy)
    query(PersonQuery(age="80-"), db=sample_copy)
    store.record_page_audit(ws, GRID_USER, "card", "P00000001", "户卡", now=dt.datetime.now() + dt.timedelta(hours=1))
    entries = audit(limit=0, db=sample_copy).entries
    assert entries[0]["source"] == "页面" and entries[0]["user"] == "wangfang" and entries[0]["os_user"] is None
    assert all(e["user"] == e["os_user"] for e in entries if e["source"] == "命令行")
    assert entries[0]["command"] == "页面：card" and "P00000001" in entries[0]["detail"]
    assert any(e["source"] == "命令行" and e["command"].startswith("query") for e in entries)
    assert [e["happened_at"] for e in entries] == sorted((e["happened_at"] for e in entries), reverse=True)
