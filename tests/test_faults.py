"""Killed runs (kill -9 of a real child process) in the middle of an ingest, a link,
a report run and a nightly run: the database opens afterwards, holds the state from
before the killed run, and the next run completes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import SAMPLE

ROOTDB = [sys.executable, "-m", "rootdb"]


def _kill_after(args: list[str], seconds: float, cwd: Path | None = None) -> None:
    """Start `rootdb args`, kill -9 it after `seconds`; it must still be running then."""
    env = {**os.environ, "ROOTDB_LOCK_WAIT": "5"}
    proc = subprocess.Popen(ROOTDB + args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(seconds)
    still_running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert still_running, f"the run ended before it could be killed: {proc.stderr.read().decode()[-500:]}"


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(ROOTDB + args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 3), done.stdout[-2000:] + done.stderr[-2000:]
    return done


def _state(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE'"
            " ORDER BY 1").fetchall()]
        return {t: con.execute(f'SELECT count(*), hash(list(t ORDER BY ALL)::VARCHAR) FROM "{t}" t').fetchall()[0]
                for t in tables if t not in ("audit_log",)}


@pytest.fixture()
def workspace(sample_db, tmp_path) -> Path:
    """A copy of the linked sample as a workspace of its own."""
    (tmp_path / "rootdb.toml").write_text('[workspace]\ndatabase = "rootdb.duckdb"\ninbox = "inbox"\n',
                                          encoding="utf-8")
    shutil.copy(sample_db, tmp_path / "rootdb.duckdb")
    return tmp_path


def test_killed_ingest_leaves_the_database_as_it_was(workspace, tmp_path):
    rows = pl.read_csv(SAMPLE / "yibao_2026-11.csv", infer_schema=False)
    big = tmp_path / "yibao_2026-12.csv"
    pl.concat([rows] * 120).write_csv(big)  # about 330,000 rows: several seconds to load
    db = workspace / "rootdb.duckdb"
    before = _state(db)
    _kill_after(["ingest", str(big), "--db", str(db)], 3.0)
    assert _state(db) == before
    _run(["ingest", str(big), "--db", str(db)])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM yibao").fetchall()[0][0] > rows.height * 100


def test_killed_link_leaves_the_previous_link(workspace):
    db = workspace / "rootdb.duckdb"
    before = _state(db)
    _kill_after(["link", "--retrain", "--db", str(db)], 5.0)
    assert _state(db) == before
    _run(["link", "--db", str(db)])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM crosswalk").fetchall()[0][0] == before["crosswalk"][0]


def test_killed_report_run_leaves_the_previous_reports(workspace):
    db = workspace / "rootdb.duckdb"
    out = workspace / "reports"
    _run(["report", "--all", "--as-of", "2026-11-01", "--out", str(out), "--db", str(db)])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _kill_after(["report", "--all", "--as-of", "2026-10-01", "--out", str(out), "--db", str(db)], 2.5)
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")} == before
    _run(["report", "--all", "--as-of", "2026-10-01", "--out", str(out), "--db", str(db)])
    after = {p.name: p.read_bytes() for p in out.iterdir()}  # the killed run's staging folder is gone too
    assert set(after) == set(before) and after != before


def test_killed_nightly_run_is_completed_by_the_next(workspace):
    inbox = workspace / "inbox"
    inbox.mkdir()
    rows = pl.read_csv(SAMPLE / "yibao_2026-11.csv", infer_schema=False)
    rows.with_columns(pl.when(pl.int_range(pl.len()) < 5).then(pl.lit("终止参保")).otherwise(pl.col("参保状态"))
                      .alias("参保状态")).write_csv(inbox / "yibao_2026-12.csv")
    env_settle = {"ROOTDB_INBOX_SETTLE": "0"}
    os.environ.update(env_settle)
    try:
        _run(["nightly", "--as-of", "2026-11-01"], cwd=workspace)  # yesterday's complete run
        first = {p.name: p.read_bytes() for p in (workspace / "reports").iterdir()}
        shutil.copy(SAMPLE / "binzang_2026-11.csv", inbox / "binzang_2026-12.csv")
        db_before = _state(workspace / "rootdb.duckdb")
        _kill_after(["nightly", "--as-of", "2026-11-02"], 4.0, cwd=workspace)
        reports = {p.name: p.read_bytes() for p in (workspace / "reports").iterdir()}
        assert reports == first  # yesterday's reports, complete
        assert (inbox / "binzang_2026-12.csv").exists()  # not filed away by the killed run
        assert _state(workspace / "rootdb.duckdb").keys() >= db_before.keys()
        _run(["nightly", "--as-of", "2026-11-02"], cwd=workspace)
        assert not (inbox / "binzang_2026-12.csv").exists()
        assert not list(workspace.glob(".reports-*"))
        assert len(list((workspace / "reports").glob("R*.xlsx"))) == sum(1 for n in first if n.startswith("R"))
        assert list((workspace / "reports").glob("变动情况_2026-11-02.xlsx"))
    finally:
        for key in env_settle:
            os.environ.pop(key, None)
