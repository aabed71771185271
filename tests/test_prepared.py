"""The page's prepared report tables (rootdb.serve.prepared): the part no area, day or
visit changes is built once per published copy and read by every scope, and what each
scope then holds is exactly what `prepare` builds for that scope alone — for the whole
area, a community and a grid, with or without the workspace's key."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import SAMPLE_AS_OF

from rootdb.commands import Scope
from rootdb.commands.serve import plan
from rootdb.errors import WorkspaceError
from rootdb.reports.engine import ONCE, _base_statements, prepare
from rootdb.reports.query import guardian_phones
from rootdb.reports.templates import REPORTS_ENV
from rootdb.serve.prepared import PreparedCache
from rootdb.serve.published import PublishedReader, publish
from rootdb.store import fetch_frame
from rootdb.workspace import BUILTIN_CRYPTO_ENV, KEY_ENV, connect, locate

REPORT_TABLES = ("SELECT table_name FROM duckdb_tables() WHERE temporary "
                 "UNION SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal ORDER BY 1")


def _tables(con) -> dict[str, pl.DataFrame]:
    """Every report table and view of the connection, rows in one order."""
    names = [name for (name,) in con.execute(REPORT_TABLES).fetchall()]
    frames = {name: fetch_frame(con, f'SELECT * FROM "{name}"') for name in names}
    return {name: frame.sort(frame.columns, nulls_last=True) for name, frame in frames.items()}


def _scopes(db) -> list[Scope]:
    with connect(db, read_only=True) as con:
        community, grid = con.execute("SELECT community, grid FROM golden_houses WHERE grid IS NOT NULL "
                                      "ORDER BY registry_key LIMIT 1").fetchone()
    return [Scope(), Scope(community), Scope(community, grid)]


def _same_as_alone(db) -> None:
    with connect(db) as writer:
        publish(writer, db)
    cache = PreparedCache(PublishedReader(locate(db)))
    try:
        for scope in _scopes(db):
            with cache.use(scope, SAMPLE_AS_OF) as cursor:
                page = _tables(cursor)
            with connect(db, read_only=True) as con:
                prepare(con, SAMPLE_AS_OF, scope.community, scope.grid)
                guardian_phones(con)
                alone = _tables(con)
            assert page.keys() == alone.keys(), scope
            for name, frame in alone.items():
                assert page[name].equals(frame), (scope, name)
    finally:
        cache.close()


def test_each_scope_reads_what_it_would_build_alone(sample_copy):
    shared = [s for _, s, where in _base_statements() if where == ONCE]
    assert any("r_feed_persons" in s.split("AS")[0] for s in shared)  # the costly part is shared
    assert not any("$" in s for s in shared)
    _same_as_alone(sample_copy)


def test_with_a_key_the_page_reads_the_encrypted_copy(sample_db, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "社区-2026-secret")
    monkeypatch.setenv(BUILTIN_CRYPTO_ENV, "1")  # this machine is offline: no httpfs
    ws = locate(tmp_path / "ws" / "rootdb.duckdb")
    with connect(ws.db_path) as con:  # the linked sample, encrypted (as ingest and link with the key make it)
        con.execute("ATTACH ? AS plain (READ_ONLY)", [str(sample_db)])
        con.execute(f"COPY FROM DATABASE plain TO {con.execute('SELECT current_database()').fetchone()[0]}")
        con.execute("DETACH plain")
    assert b"golden_persons" not in ws.db_path.read_bytes()
    _same_as_alone(ws.db_path)
    monkeypatch.delenv(KEY_ENV)  # `rootdb serve` without the key says so at start, not at each login
    with pytest.raises(WorkspaceError, match=f"已加密.*{KEY_ENV}"):
        plan(ws.db_path)
    monkeypatch.setenv(KEY_ENV, "社区-2026-secret")
    plan(ws.db_path).release()  # the failed start held nothing


@pytest.mark.parametrize("statement, where, then", [
    ("CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM golden_persons", "once", "once"),
    ("CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM golden_persons WHERE birth_date <= $as_of",
     "per scope", "per scope"),
    ("CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM _r_page_visits", "per scope", "per scope"),
    ("CREATE OR REPLACE TEMP MACRO m(x) AS x + 1", "both", "once"),
    ("CREATE OR REPLACE TEMP VIEW t AS SELECT 1", "per scope", "per scope"),
])
def test_what_a_custom_base_shares(tmp_path, monkeypatch, statement, where, then):
    """A custom _base.sql: a statement that binds a parameter or reads a table built per
    scope is per scope, and so is every later statement that reads what it built."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "_base.sql").write_text(
        f"{statement};\nCREATE OR REPLACE TEMP TABLE u AS SELECT * FROM t;\n"
        "CREATE OR REPLACE TEMP TABLE v AS SELECT 1 AS x;\n", encoding="utf-8")
    monkeypatch.setenv(REPORTS_ENV, str(folder))
    wheres = [w for _, _, w in _base_statements()]
    assert wheres == [where, then, "once"]


def test_a_visit_recorded_while_a_scope_builds_counts_at_its_next_use(sample_copy, tmp_path, monkeypatch):
    """stale() during a build (a visit recorded by another user meanwhile) leaves the
    scope to be built again: the build it overtook is not taken as current."""
    import datetime as dt
    import threading
    import time

    from rootdb.serve.store import User, record_visit

    with connect(sample_copy) as writer:
        publish(writer, sample_copy)
    with connect(sample_copy, read_only=True) as con:
        prepare(con, SAMPLE_AS_OF, None, None)
        person, community, grid = con.execute(
            "SELECT s.person_id, p.community, p.grid FROM r_special_visits s JOIN r_persons p USING (person_id) "
            "WHERE NOT s.visited_90d AND p.grid IS NOT NULL ORDER BY s.person_id LIMIT 1").fetchone()
    cache = PreparedCache(PublishedReader(locate(sample_copy)))
    paused = tmp_path / "paused"
    monkeypatch.setenv("ROOTDB_PAUSE_AT", "serve.prepared")
    monkeypatch.setenv("ROOTDB_PAUSE_FILE", str(paused))
    monkeypatch.setenv("ROOTDB_PAUSE_SECONDS", "3")
    visited = "SELECT visited_90d FROM r_special_visits WHERE person_id = ?"
    try:
        def street() -> None:
            with cache.use(Scope(), SAMPLE_AS_OF):
                pass
        builder = threading.Thread(target=street)
        builder.start()
        while not paused.exists():  # its tables are built, not yet marked ready
            time.sleep(0.05)
        record_visit(locate(sample_copy), User("王网格", "grid", community, grid), person, None, "常规走访", "无",
                     SAMPLE_AS_OF - dt.timedelta(days=1), community, grid)
        cache.stale(community, grid)
        builder.join()
        monkeypatch.delenv("ROOTDB_PAUSE_AT")
        with cache.use(Scope(), SAMPLE_AS_OF) as cursor:
            assert cursor.execute(visited, [person]).fetchall() == [(True,)]
    finally:
        cache.close()


def test_a_name_a_custom_base_makes_twice_is_made_per_scope(tmp_path, monkeypatch):
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "_base.sql").write_text(
        "CREATE OR REPLACE TEMP TABLE t AS SELECT 1 AS x;\nCREATE OR REPLACE TEMP TABLE u AS SELECT * FROM t;\n"
        "CREATE OR REPLACE TEMP TABLE t AS SELECT 2 AS x;\n", encoding="utf-8")
    monkeypatch.setenv(REPORTS_ENV, str(folder))
    assert [w for _, _, w in _base_statements()] == ["per scope"] * 3


def test_a_new_copy_is_followed_and_the_scopes_in_use_are_built_before_anyone_asks(sample_copy):
    cache = PreparedCache(PublishedReader(locate(sample_copy)))
    scopes = _scopes(sample_copy)[1:]
    try:
        with connect(sample_copy) as writer:
            publish(writer, sample_copy)
        assert not cache.follow(SAMPLE_AS_OF)  # nothing read yet: nothing to follow
        for scope in scopes:
            with cache.use(scope, SAMPLE_AS_OF):
                pass
        first = cache.version()
        assert not cache.follow(SAMPLE_AS_OF)  # no new copy
        with connect(sample_copy) as writer:  # what a nightly's link does
            publish(writer, sample_copy)
        assert cache.follow(SAMPLE_AS_OF)
        assert cache._copy.version == cache.version() > first
        assert {key: entry.ready for key, entry in cache._entries.items()} == {
            (scope, SAMPLE_AS_OF): True for scope in scopes}
    finally:
        cache.close()
