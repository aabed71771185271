"""Encryption at rest: with ROOTDB_KEY the workspace database is written encrypted
(DuckDB's own encryption); without the key, or with a wrong one, nothing opens and the
message says why."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import DIBAO_HEADER, dibao_row, write_xlsx

from rootdb import ingest
from rootdb.errors import WorkspaceError
from rootdb.workspace import BUILTIN_CRYPTO_ENV, KEY_ENV, connect, init_workspace


def _httpfs_loadable() -> bool:
    try:
        duckdb.connect().execute("LOAD httpfs")
        return True
    except duckdb.Error:
        return False


@pytest.fixture()
def encrypted(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "社区-2026-secret")
    monkeypatch.setenv(BUILTIN_CRYPTO_ENV, "1")  # this machine is offline: no httpfs
    ws = init_workspace(tmp_path / "ws")
    source = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(name="欧阳娜娜")])
    result = ingest([source], db=ws.db_path)
    assert result.ok
    return ws


def test_the_file_holds_no_readable_data(encrypted):
    data = encrypted.db_path.read_bytes()
    assert "欧阳娜娜".encode() not in data and b"DB001" not in data
    with connect(encrypted.db_path, read_only=True) as con:
        assert con.execute("SELECT member_name FROM dibao").fetchall() == [("欧阳娜娜",)]


def test_without_the_key_nothing_opens(encrypted, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(WorkspaceError, match=f"已加密.*{KEY_ENV}"):
        connect(encrypted.db_path, read_only=True)
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(encrypted.db_path), read_only=True)


def test_a_wrong_key_is_named_as_such(encrypted, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "wrong")
    with pytest.raises(WorkspaceError, match="密钥不对"):
        connect(encrypted.db_path, read_only=True)


def test_a_key_for_an_unencrypted_database_is_refused(tmp_path, monkeypatch):
    ws = init_workspace(tmp_path / "plain")
    monkeypatch.setenv(KEY_ENV, "k")
    with pytest.raises(WorkspaceError, match="没有加密"):
        connect(ws.db_path, read_only=True)


@pytest.mark.skipif(_httpfs_loadable(), reason="httpfs is installed here: DuckDB writes with OpenSSL")
def test_writing_without_openssl_asks_before_using_the_builtin_crypto(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "k")
    monkeypatch.delenv(BUILTIN_CRYPTO_ENV, raising=False)
    with pytest.raises(WorkspaceError, match="httpfs") as info:
        connect(tmp_path / "new.duckdb")
    assert BUILTIN_CRYPTO_ENV in str(info.value)


@pytest.mark.sample  # the whole sample ingested and linked with a key
def test_a_link_with_a_key_leaves_no_plain_text_anywhere(tmp_path, monkeypatch):
    """The whole sample ingested and linked with a key and small memory limits: every
    file written meanwhile, inside the workspace and in the system temp folder, is read
    while the link runs and after it, and holds none of the registry's IDs or names in
    plain text; the spill folders are gone afterwards. (Whether the link spills depends
    on the data and the machine; that spills themselves are encrypted is pinned by the
    test below, which always spills.)"""
    import tempfile
    import threading

    import polars as pl
    from conftest import SAMPLE

    from rootdb import workspace
    from rootdb.link import link
    from rootdb.link import model as splink_model

    monkeypatch.setenv(KEY_ENV, "社区-2026-secret")
    monkeypatch.setenv(BUILTIN_CRYPTO_ENV, "1")
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    monkeypatch.setattr(workspace, "MEMORY_LIMIT", "200MB")
    monkeypatch.setattr(splink_model, "SPLINK_MEMORY_LIMIT", "150MB")
    ws = init_workspace(tmp_path / "ws")
    assert ingest([SAMPLE], db=ws.db_path).ok

    registry = pl.read_csv(next(SAMPLE.glob("registry_persons*.csv")), infer_schema=False)
    secrets = [v.encode() for v in registry.to_series(0).head(300).to_list() if v]  # 公民身份号码
    secrets += [v.encode() for v in registry.to_series(1).head(300).to_list() if v and len(v) >= 3]  # 姓名
    assert len(secrets) > 100
    seen: dict[str, bool] = {}
    stop = threading.Event()

    def scan() -> None:
        for path in [*tmp_path.rglob("*"), *system_temp.rglob("*")]:
            if not path.is_file() or path == ws.db_path or path.suffix in {".toml"}:
                continue
            try:
                data = path.read_bytes()
            except OSError:  # removed while read
                continue
            seen[str(path)] = seen.get(str(path), False) or any(s in data for s in secrets)

    def watch() -> None:
        while not stop.is_set():
            scan()
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        link(db=ws.db_path)
    finally:
        stop.set()
        watcher.join()
    scan()
    assert seen, "no file was written beside the database during the link: the scan saw nothing"
    assert not [p for p, leaked in seen.items() if leaked]
    assert not list(Path(f"{ws.db_path}.tmp").glob("side-*"))


@pytest.mark.sample  # the whole sample ingested and linked with a key
def test_workbooks_written_with_a_key_put_nothing_in_the_system_temp_folder(tmp_path, monkeypatch):
    """xlsxwriter writes every part of a workbook as a plain temporary file in the system
    temp folder unless told otherwise: with a key, the reports (masked and unmasked, xlsx
    and csv), notify --unmasked, query and the exports are written while a thread watches
    that folder, and nothing at all appears in it."""
    import json
    import tempfile
    import threading

    from conftest import SAMPLE
    from typer.testing import CliRunner

    from rootdb.cli.main import app
    from rootdb.commands.demo import SAMPLE_AS_OF
    from rootdb.link import link

    monkeypatch.setenv(KEY_ENV, "社区-2026-secret")
    monkeypatch.setenv(BUILTIN_CRYPTO_ENV, "1")
    ws = init_workspace(tmp_path / "ws")
    assert ingest([SAMPLE], db=ws.db_path).ok
    link(db=ws.db_path)

    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    monkeypatch.setenv("TMPDIR", str(system_temp))  # worker processes too
    seen: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.update(str(p) for p in system_temp.rglob("*"))
            stop.wait(0.002)

    out, as_of, db = tmp_path / "out", SAMPLE_AS_OF.isoformat(), str(ws.db_path)
    runs = [
        ["report", "--all", "--as-of", as_of, "--out", out / "masked"],
        ["report", "R01", "R09", "R19", "--unmasked", "--as-of", as_of, "--out", out / "unmasked"],
        ["report", "R09", "--format", "csv", "--unmasked", "--as-of", as_of, "--out", out / "csv"],
        ["notify", "--age", "80+", "--template", "托育服务通知", "--unmasked", "--as-of", as_of,
         "--out", out / "短信.xlsx"],
        ["query", "--age", "0-", "--unmasked", "--as-of", as_of, "--out", out / "名单.xlsx"],
        ["export", "persons", "--out", out / "persons.xlsx"],
        ["review", "export", "--out", out / "review.xlsx"],
    ]
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for args in runs:
            result = CliRunner().invoke(app, [str(a) for a in [*args, "--db", db]], catch_exceptions=False)
            assert result.exit_code in (0, 3), (args, result.output)
    finally:
        stop.set()
        watcher.join()
    seen.update(str(p) for p in system_temp.rglob("*"))
    assert len(list((out / "masked").glob("*.xlsx"))) == 41
    assert (out / "短信.xlsx").is_file() and (out / "unmasked").is_dir()
    assert not seen, f"{len(seen)} files, such as {json.dumps(sorted(seen)[:5], ensure_ascii=False)}"


def test_a_side_connection_spills_encrypted_inside_the_workspace(tmp_path, monkeypatch):
    """splink's side connection, made to spill (a table far over its memory limit): the
    spill files are inside the workspace's temporary folder, none holds the data in
    plain text, and the folder is gone once the connection is closed."""
    import threading

    from rootdb.workspace import side_connection

    monkeypatch.setenv(KEY_ENV, "社区-2026-secret")
    monkeypatch.setenv(BUILTIN_CRYPTO_ENV, "1")
    ws = init_workspace(tmp_path / "ws")
    tmp = Path(f"{ws.db_path}.tmp")
    seen: dict[str, bool] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for path in tmp.rglob("*"):
                try:
                    data = path.read_bytes() if path.is_file() else None
                except OSError:
                    continue
                if data is not None:
                    seen[str(path)] = seen.get(str(path), False) or b"SECRET-150602" in data
            stop.wait(0.02)

    with connect(ws.db_path) as workspace_con, side_connection(workspace_con, "20MB") as con:
        con.execute("SET threads = 1")
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            con.execute("CREATE TABLE big AS SELECT 'SECRET-150602' || i::VARCHAR || repeat('x', 40) AS s "
                        "FROM range(700000) t(i)")  # ~40 MB in a 20 MB connection: it must spill
            rows = con.execute("SELECT count(DISTINCT s) FROM big").fetchall()
        finally:
            stop.set()
            watcher.join()
        folder = next(tmp.glob("side-*"))
    assert rows == [(700_000,)]
    assert seen, "the sort did not spill: the test would mean nothing"
    assert all(str(folder) in path for path in seen)
    assert not any(seen.values())
    assert not folder.exists()


def test_a_killed_runs_side_folder_is_removed_by_the_next_side_connection(tmp_path):
    """kill -9 skips a side connection's clean-up; the next one removes the folder of a
    process that no longer runs, and leaves a live process's folder alone."""
    import os
    import subprocess

    from rootdb.workspace import side_connection

    ws = init_workspace(tmp_path / "ws")
    tmp = Path(f"{ws.db_path}.tmp")
    dead = subprocess.Popen(["true"])
    dead.wait()
    killed, live = tmp / f"side-{dead.pid}-1", tmp / f"side-{os.getppid()}-1"
    for folder in (killed, live):
        folder.mkdir(parents=True)
        (folder / "duckdb_temp_block-1.block").write_bytes(b"spilled")
    with connect(ws.db_path) as workspace_con, side_connection(workspace_con, "20MB"):
        pass
    assert not killed.exists() and live.exists()


def test_what_the_command_line_writes_is_the_owners_alone_whatever_the_umask(tmp_path):
    """A shell's umask 022 would leave the database and the reports readable by every
    account of the machine; rootdb writes them owner-only."""
    import os
    import subprocess
    import sys

    ws = tmp_path / "ws"

    def rootdb(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "rootdb", *args], check=True, capture_output=True, timeout=300,
                       preexec_fn=lambda: os.umask(0o022))

    rootdb("init", str(ws))
    source = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    rootdb("ingest", str(source), "--db", str(ws / "rootdb.duckdb"))
    written = [p for p in ws.rglob("*")]
    assert any(p.suffix == ".duckdb" for p in written)
    assert [str(p) for p in written if p.stat().st_mode & 0o077] == []
