"""The published copy the page reads (rootdb.serve.published): written by the link after
its commit, complete before CURRENT names it, read while another process holds the
database, encrypted like the database, and never a reason for a link to fail."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from conftest import DIBAO_HEADER, dibao_row, write_xlsx
from test_faults import _kill_at

from rootdb import ingest
from rootdb.errors import WorkspaceError
from rootdb.link import link
from rootdb.serve.published import CURRENT, PublishedReader, publish, published_folder
from rootdb.workspace import BUILTIN_CRYPTO_ENV, KEY_ENV, connect, init_workspace, locate

ROOTDB = [sys.executable, "-m", "rootdb"]
PEOPLE = "SELECT count(*) FROM golden_persons"


def _count(con: duckdb.DuckDBPyConnection, sql: str = PEOPLE) -> int:
    return con.execute(sql).fetchall()[0][0]


def _links(con: duckdb.DuckDBPyConnection) -> int:
    return _count(con, "SELECT count(*) FROM batches WHERE command = 'link' AND status = 'ok'")


def test_link_publishes_a_complete_copy_that_opens_read_only(sample_copy):
    result = link(db=sample_copy)
    folder = published_folder(sample_copy)
    assert (folder / CURRENT).read_text(encoding="utf-8") == "rootdb-1.duckdb\n"
    assert sorted(p.name for p in folder.iterdir()) == [CURRENT, "rootdb-1.duckdb"]  # no partial left
    assert "publish" in result.timings and not result.warnings
    reader = PublishedReader(locate(sample_copy))
    version, path = reader.current()
    assert (version, path) == (1, folder / "rootdb-1.duckdb")
    with reader.connect(path) as copy, connect(sample_copy, read_only=True) as main:
        assert _count(copy) == _count(main) > 0
        assert _links(copy) == _links(main)  # the link's own run record is in the copy
        with pytest.raises(duckdb.Error, match="read-only"):
            copy.execute("CREATE TABLE t (x INTEGER)")


def test_the_reader_sees_a_new_copy_while_it_holds_the_old_one(sample_copy):
    reader = PublishedReader(locate(sample_copy))
    assert reader.current() is None
    with connect(sample_copy) as writer:
        publish(writer, sample_copy)
        first, path = reader.current()
        old = reader.connect(path)
        writer.execute("CREATE TABLE published_marker AS SELECT 42 AS answer")
        publish(writer, sample_copy)
        assert reader.current()[0] == first + 1
        publish(writer, sample_copy)  # removes the first copy from the folder
    assert not path.exists()
    assert _count(old) > 0  # the open connection keeps reading the removed file
    old.close()
    version, newest = reader.current()
    assert version == first + 2
    kept = sorted(p.name for p in newest.parent.iterdir())
    assert kept == [CURRENT, f"rootdb-{first + 1}.duckdb", newest.name]
    with reader.connect(newest) as new:
        assert _count(new, "SELECT answer FROM published_marker") == 42


def test_a_killed_publish_leaves_current_on_the_previous_copy(sample_copy, tmp_path):
    with connect(sample_copy) as writer:
        previous = publish(writer, sample_copy)
    _kill_at("publish.copying", ["link", "--db", str(sample_copy)], tmp_path)
    folder = published_folder(sample_copy)
    assert list(folder.glob(".rootdb-*.partial"))  # killed while writing the next copy
    reader = PublishedReader(locate(sample_copy))
    assert reader.current() == (1, previous)
    with reader.connect(previous) as copy, connect(sample_copy, read_only=True) as main:
        assert _count(copy) == _count(main)
        assert _links(copy) == _links(main) - 1  # the killed link had committed; the copy is before it
    assert not link(db=sample_copy).warnings
    assert reader.current()[0] == 2 and not list(folder.glob(".rootdb-*.partial"))


def test_a_failed_publish_is_a_warning_and_the_link_stands(sample_copy):
    with connect(sample_copy, read_only=True) as main:
        before = _links(main)
    published_folder(sample_copy).write_text("not a folder", encoding="utf-8")  # the copy cannot be written
    result = link(db=sample_copy)
    assert any("未能发布页面用的只读副本" in w for w in result.warnings)
    with connect(sample_copy, read_only=True) as main:
        assert _links(main) == before + 1


def test_an_encrypted_database_gives_a_copy_that_opens_only_with_its_key(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "社区-2026-secret")
    monkeypatch.setenv(BUILTIN_CRYPTO_ENV, "1")  # this machine is offline: no httpfs
    ws = init_workspace(tmp_path / "ws")
    source = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(name="欧阳娜娜")])
    assert ingest([source], db=ws.db_path).ok
    with connect(ws.db_path) as writer:
        path = publish(writer, ws.db_path)
    assert "欧阳娜娜".encode() not in path.read_bytes()
    reader = PublishedReader(ws)
    with reader.connect(reader.current()[1]) as copy:
        assert copy.execute("SELECT member_name FROM dibao").fetchall() == [("欧阳娜娜",)]
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(WorkspaceError, match="已加密"):
        reader.connect(path)
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(path), read_only=True)


class _Page(threading.Thread):
    """What the page does, in a loop: read CURRENT, switch to a newer copy (closing the
    old connection), answer a query; every answer and every failure kept."""

    def __init__(self, reader: PublishedReader) -> None:
        super().__init__(daemon=True)
        self.reader = reader
        self.stop = threading.Event()
        self.answers: list[tuple[float, int, int]] = []  # (when, version, people)
        self.failures: list[BaseException] = []

    def run(self) -> None:
        held, con = None, None
        while not self.stop.is_set():
            try:
                version, path = self.reader.current()
                if version != held:
                    new = self.reader.connect(path)
                    if con is not None:
                        con.close()
                    held, con = version, new
                self.answers.append((time.monotonic(), held, _count(con)))
            except Exception as exc:  # noqa: BLE001 (a failed query is what the test looks for)
                self.failures.append(exc)
            time.sleep(0.01)
        if con is not None:
            con.close()


def test_the_page_keeps_answering_while_a_link_holds_the_database(sample_copy, tmp_path):
    """`rootdb link` in another process, paused for two seconds inside its transaction
    (it holds the database: not even a reader can open it), while this process answers
    queries from the published copy; afterwards the page reads the link's new copy."""
    with connect(sample_copy) as writer:
        publish(writer, sample_copy)
        people = _count(writer)
    page = _Page(PublishedReader(locate(sample_copy)))
    page.start()
    marker = tmp_path / "paused"
    env = {**os.environ, "ROOTDB_PAUSE_AT": "link.before_commit", "ROOTDB_PAUSE_FILE": str(marker),
           "ROOTDB_PAUSE_SECONDS": "2"}
    try:
        linking = subprocess.Popen([*ROOTDB, "link", "--db", str(sample_copy)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not marker.exists() and linking.poll() is None:
            time.sleep(0.05)
        with pytest.raises(WorkspaceError, match="正被另一个 rootdb 进程使用"):
            connect(sample_copy, read_only=True, wait=0)
        held_from = time.monotonic()
        assert linking.wait(timeout=300) == 0, linking.stderr.read().decode()[-2000:]
        held_until = time.monotonic()
        deadline = time.monotonic() + 10
        while not any(version == 2 for _, version, _ in page.answers) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        page.stop.set()
        page.join(timeout=30)
    assert not page.failures, page.failures[:3]
    during = [a for a in page.answers if held_from <= a[0] <= held_until]
    assert len(during) >= 50 and during[0][1] == 1  # the link publishes its copy before it ends
    versions = [v for _, v, _ in page.answers]
    assert versions == sorted(versions) and versions[-1] == 2
    assert {n for _, _, n in page.answers} == {people}


def test_the_copy_and_current_are_the_owners_alone_whatever_the_umask(sample_copy):
    folder = published_folder(sample_copy)
    folder.mkdir(mode=0o755)  # made before by someone else, open to all
    old = os.umask(0o022)
    try:
        with connect(sample_copy) as writer:
            copy = publish(writer, sample_copy)
            copy = publish(writer, sample_copy)
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert copy.stat().st_mode & 0o777 == 0o600 and (folder / CURRENT).stat().st_mode & 0o777 == 0o600
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir())
