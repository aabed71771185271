"""Killed runs (kill -9 of a real child process) in the middle of an ingest, a link,
a report run and a nightly run: the database opens afterwards, holds the state from
before the killed run, and the next run completes."""

from __future__ import annotations

import json
import re
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
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import SAMPLE, copy_sample

ROOTDB = [sys.executable, "-m", "rootdb"]


def _kill_at(point: str, args: list[str], tmp_path: Path, cwd: Path | None = None) -> None:
    """Start `rootdb args`, wait until it reaches the named pause point (see
    rootdb/faults.py: inside its transaction, or with reports half written), kill -9."""
    marker = tmp_path / f"paused-{point}"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "ROOTDB_LOCK_WAIT": "5", "ROOTDB_PAUSE_AT": point, "ROOTDB_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen(ROOTDB + args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    reached = marker.exists() and proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert reached, f"the run never reached {point}: {proc.stderr.read().decode()[-500:]}"


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(ROOTDB + args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 3), done.stdout[-2000:] + done.stderr[-2000:]
    return done


def _tree(folder: Path) -> dict:
    """Every file under `folder` (R41's pictures are a folder beside the workbooks) by its
    path there, with its bytes; the hidden staging folders of a run left out."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.relative_to(folder).parts[0].startswith(".")}


def _state(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            " ORDER BY 1").fetchall()]
        return {t: con.execute(f'SELECT count(*), hash(list(t ORDER BY ALL)::VARCHAR) FROM "{t}" t').fetchall()[0]
                for t in tables if t not in ("audit_log",)}


@pytest.fixture()
def workspace(sample_db, tmp_path) -> Path:
    """A copy of the linked sample (with its model) as a workspace of its own."""
    (tmp_path / "rootdb.toml").write_text('[workspace]\ndatabase = "rootdb.duckdb"\ninbox = "inbox"\n',
                                          encoding="utf-8")
    copy_sample(sample_db, tmp_path)
    return tmp_path


def test_killed_ingest_leaves_the_database_as_it_was(workspace, tmp_path):
    rows = pl.read_csv(SAMPLE / "yibao_2026-11.csv", infer_schema=False)
    big = tmp_path / "yibao_2026-12.csv"
    pl.concat([rows] * 20).write_csv(big)
    db = workspace / "rootdb.duckdb"
    before = _state(db)
    _kill_at("ingest.before_commit", ["ingest", str(big), "--db", str(db)], tmp_path)
    after = _state(db)
    # The killed run is recorded (as running when it began): status lists it as unfinished.
    assert {k: v for k, v in after.items() if k != "batches"} == {k: v for k, v in before.items() if k != "batches"}
    assert after["batches"][0] == before["batches"][0] + 1
    from rootdb.commands.status import status

    assert status(db=str(db)).batches[0]["status"] == "interrupted"
    _run(["ingest", str(big), "--db", str(db)])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM yibao").fetchall()[0][0] > rows.height * 19


def test_killed_link_leaves_the_previous_link(workspace, tmp_path):
    db = workspace / "rootdb.duckdb"
    before = _state(db)
    model = workspace / "models" / "person_model.json"
    saved = json.dumps(json.loads(model.read_text(encoding="utf-8")), indent=1)  # bytes a retrain never writes
    model.write_text(saved, encoding="utf-8")
    _kill_at("link.before_commit", ["link", "--retrain", "--db", str(db)], tmp_path)
    assert _state(db) == before
    assert model.read_text(encoding="utf-8") == saved, "the retrained model replaced the one the database was linked with"
    _run(["link", "--db", str(db)])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM crosswalk").fetchall()[0][0] == before["crosswalk"][0]


def test_killed_report_run_leaves_the_previous_reports(workspace, tmp_path):
    db = workspace / "rootdb.duckdb"
    out = workspace / "reports"
    _run(["report", "--all", "--as-of", "2026-11-01", "--out", str(out), "--db", str(db)])
    before = _tree(out)
    assert any(name.endswith(".svg") for name in before)
    _kill_at("report.written_one", ["report", "--all", "--as-of", "2026-10-01", "--out", str(out), "--db", str(db)],
             tmp_path)
    assert _tree(out) == before
    _run(["report", "--all", "--as-of", "2026-10-01", "--out", str(out), "--db", str(db)])
    after = _tree(out)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the killed run's staging folder is gone too
    assert set(after) == set(before) and after != before


def test_killed_nightly_run_is_completed_by_the_next(workspace, tmp_path):
    inbox = workspace / "inbox"
    inbox.mkdir()
    rows = pl.read_csv(SAMPLE / "yibao_2026-11.csv", infer_schema=False)
    rows.with_columns(pl.when(pl.int_range(pl.len()) < 5).then(pl.lit("终止参保")).otherwise(pl.col("参保状态"))
                      .alias("参保状态")).write_csv(inbox / "yibao_2026-12.csv")
    env_settle = {"ROOTDB_INBOX_SETTLE": "0"}
    os.environ.update(env_settle)
    try:
        _run(["nightly", "--as-of", "2026-11-01"], cwd=workspace)  # yesterday's complete run
        first = _tree(workspace / "reports")
        shutil.copy(SAMPLE / "binzang_2026-11.csv", inbox / "binzang_2026-12.csv")
        db_before = _state(workspace / "rootdb.duckdb")
        _kill_at("nightly.before_swap", ["nightly", "--as-of", "2026-11-02"], tmp_path, cwd=workspace)
        assert _tree(workspace / "reports") == first  # yesterday's reports, complete
        assert (inbox / "binzang_2026-12.csv").exists()  # not filed away by the killed run
        after_kill = _state(workspace / "rootdb.duckdb")  # opens; the link of the killed run committed or not
        assert after_kill["crosswalk"][0] > 0 and after_kill["files"][0] >= db_before["files"][0]
        done = json.loads(_run(["nightly", "--as-of", "2026-11-02", "--json"], cwd=workspace).stdout)
        # the killed run's link was committed, with the file it loaded: not linked again
        assert {s["name"]: s["status"] for s in done["steps"]}["link"] == "skipped"
        assert not (inbox / "binzang_2026-12.csv").exists()
        assert not list(workspace.glob(".reports-*"))
        assert len(list((workspace / "reports").glob("R*.xlsx"))) == sum(1 for n in first if re.fullmatch(r"R\d\d_[^/]*\.xlsx", n))
        assert _tree(workspace / "reports").keys() - {n for n in first if n.startswith("变动情况")} >= {n for n in first if n.endswith(".svg")}
        assert list((workspace / "reports").glob("变动情况_2026-11-02.xlsx"))
    finally:
        for key in env_settle:
            os.environ.pop(key, None)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_is_told_as_such_however_deep_it_is_wrapped():
    """The kernel's own ENOSPC (writing to /dev/full), raised bare and wrapped the way
    splink wraps DuckDB's errors, is told apart from other failures and from memory."""
    from rootdb.errors import disk_full, out_of_memory

    with pytest.raises(OSError) as full:
        with open("/dev/full", "wb") as sink:
            sink.write(b"x" * 65536)
            sink.flush()
    try:
        try:
            raise duckdb.IOException(f'Could not write file "x.tmp": {full.value.strerror}')
        except duckdb.IOException as inner:
            raise RuntimeError("splink failed") from inner
    except RuntimeError as wrapped:
        chained = wrapped
    assert disk_full(full.value) and disk_full(chained)
    assert not out_of_memory(chained)
    assert not disk_full(OSError(13, "Permission denied")) and not disk_full(ValueError("x"))
    assert out_of_memory(RuntimeError("wrapped")) is False
    assert out_of_memory(duckdb.OutOfMemoryException("Out of Memory Error: could not allocate"))


def test_a_file_that_does_not_fit_duckdbs_memory_is_not_loaded_and_says_which_limit_to_raise(tmp_path):
    """Storing one file reaches ROOTDB_MEMORY_LIMIT: that file is not loaded, with the
    Chinese message naming the variable; the next file is loaded."""
    header, *rows = (SAMPLE / "yibao_2026-11.csv").read_text(encoding="utf-8-sig").splitlines()
    big = tmp_path / "yibao_2026-11.csv"
    big.write_text("\n".join([header, *rows * 40]) + "\n", encoding="utf-8")  # ~110,000 rows
    small = tmp_path / "binzang_2026-11.csv"
    shutil.copy(SAMPLE / "binzang_2026-11.csv", small)
    db = tmp_path / "ws" / "rootdb.duckdb"
    subprocess.run(ROOTDB + ["init", str(db.parent)], check=True, capture_output=True)
    env = {**os.environ, "ROOTDB_MEMORY_LIMIT": "5MB", "ROOTDB_INGEST_WORKERS": "0"}
    proc = subprocess.run(ROOTDB + ["ingest", str(big), str(small), "--db", str(db), "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    files = {f["file"]: f for f in json.loads(proc.stdout)["files"]}
    assert files[big.name]["status"] == "failed"
    assert re.search("本文件未导入。内存不够.*5MB.*ROOTDB_MEMORY_LIMIT", files[big.name]["message"]), files[big.name]["message"]
    assert files[small.name]["status"] == "loaded"


@given(number=st.one_of(st.integers(0, 10**6).map(str), st.floats(0, 4096).map(lambda f: f"{f:.2f}"),
                        st.text("0123456789.-４", min_size=1, max_size=6)),
       unit=st.sampled_from(["MB", "mb", "GB", "G", "GiB", "gib", "MiB", "TB", "KB", "%", "", "gigabytes", "ＧＢ"]),
       space=st.sampled_from(["", " ", "\t", "\u3000", "\n"]))
@settings(max_examples=150, deadline=None)
def test_a_memory_limit_rootdb_takes_is_one_duckdb_takes_and_opens_with(number, unit, space):
    """However a data officer writes the limit, rootdb either refuses it in Chinese or
    DuckDB takes it and opens a database with it — never DuckDB's English error."""
    from rootdb.errors import UsageError
    from rootdb.workspace import memory_limit

    value = f"{number}{space}{unit}{space}"
    try:
        accepted = memory_limit("ROOTDB_MEMORY_LIMIT", value)
    except UsageError as refused:
        assert "ROOTDB_MEMORY_LIMIT" in str(refused)
        return
    with duckdb.connect(config={"memory_limit": accepted}) as con:
        assert con.execute("SELECT count(*) FROM range(1000)").fetchall() == [(1000,)]


@pytest.mark.parametrize("variable, value, words, command", [
    ("ROOTDB_MEMORY_LIMIT", "abc", "无法识别", "status"),
    ("ROOTDB_MEMORY_LIMIT", "-5MB", "无法识别", "status"),  # DuckDB would take it as no limit at all
    ("ROOTDB_MEMORY_LIMIT", "4", "无法识别", "status"),
    ("ROOTDB_MEMORY_LIMIT", "256KB", "太小", "status"),
    ("ROOTDB_MEMORY_LIMIT", "150%", "百分比", "status"),
    ("ROOTDB_MEMORY_LIMIT", "４GB", "无法识别", "status"),  # full-width digits
    ("ROOTDB_SPLINK_MEMORY_LIMIT", "4 gigabytes", "无法识别", "link"),
    ("ROOTDB_SPLINK_MEMORY_LIMIT", "abc", "无法识别", "nightly"),  # before the night's ingest, not at its link
])
def test_a_memory_limit_that_cannot_be_read_is_bad_usage_named_in_chinese(workspace, variable, value, words, command):
    """A value DuckDB would refuse in its own words, take as no limit, or cannot open the
    database with: exit 2, the variable and its value named, the database untouched."""
    db = workspace / "rootdb.duckdb"
    before = _state(db)
    command = [command, "--db", str(db)]
    done = subprocess.run(ROOTDB + command, env={**os.environ, variable: value}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 2, done.stdout[-1000:] + done.stderr[-1000:]
    message = re.sub(r"[\s│╭╮╰╯─]", "", done.stderr)  # the panel's frame and wrapping gone
    assert f"{variable}={value}".replace(" ", "") in message and words in message, message
    assert "Error" not in message, message
    assert _state(db) == before
    if command[0] == "nightly":  # the night refused is on record, for `rootdb status` and whoever reads runs/
        record = json.loads(max((workspace / "runs").glob("nightly_*.json")).read_text(encoding="utf-8"))
        assert (record["status"], record["exit_code"]) == ("failed", 2) and f"{variable}={value}" in record["message"]
        status = subprocess.run(ROOTDB + ["status", "--db", str(db)], capture_output=True, text=True, timeout=600)
        assert f"{variable}={value}" in re.sub(r"[\s│]", "", status.stdout), status.stdout
