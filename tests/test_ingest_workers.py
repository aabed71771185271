"""Files read and cleaned in worker processes (`rootdb.ingest.workers`) store exactly what
one process stores, report failures the same way, and leave no process behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import polars as pl
import pytest

from rootdb.ingest import ingest
from rootdb.ingest.workers import WORKER_MAX_BYTES, WORKERS_ENV, Preparer, worker_count
from rootdb.store import fetch_frame
from rootdb.workspace import connect
from conftest import DIBAO_HEADER, SAMPLE, alive, descendants, dibao_row, write_csv, write_xlsx


INGEST_TABLES = ("files", "quarantine", "row_issues", "raw_", "rec_")


def _tables(db: Path) -> dict[str, pl.DataFrame]:
    """What ingest stores, rows in a fixed order, load times left out."""
    with connect(db) as con:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1").fetchall()
            if r[0].startswith(INGEST_TABLES)]
        out = {}
        for name in names:
            frame = fetch_frame(con, f'SELECT * FROM "{name}"')
            frame = frame.drop([c for c in frame.columns if c in ("loaded_at", "batch_id")])
            out[name] = frame.sort(frame.columns, nulls_last=True)
        return out


def _ingest_with(workers: str, paths: list[Path], db: Path, monkeypatch) -> list[dict]:
    monkeypatch.setenv(WORKERS_ENV, workers)
    result = ingest(paths, db=db)
    files = [{k: v for k, v in f.to_dict().items() if k not in ("seconds", "path")} for f in result.files]
    for f in files:  # "与 2026-12-03 15:09 已导入的 … 内容相同": the minute of each run's own load
        f["message"] = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "<time>", f["message"] or "")
    return files


def test_workers_store_exactly_what_one_process_stores(sample_db, tmp_path, monkeypatch):
    """The sample read and cleaned by two workers: every table ingest writes equals the
    shared sample's, which one process ingested (the sample is under the size the pool is
    used from by default)."""
    _ingest_with("2", [SAMPLE], tmp_path / "spread.duckdb", monkeypatch)
    first, second = _tables(sample_db), _tables(tmp_path / "spread.duckdb")
    assert first.keys() == second.keys() and "rec_registry_persons" in first
    for name in first:
        assert first[name].equals(second[name]), name


def test_workers_report_each_file_as_one_process_does(tmp_path, monkeypatch):
    area = tmp_path / "area"
    area.mkdir()
    # a file no feed fits, a file that fails whole, one delivered twice, a good one
    write_csv(area / "notes.csv", [["备注", "内容"], ["1", "无关"]])
    (area / "dibao_broken_2026-11.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    write_xlsx(area / "dibao_2026-10.xlsx", [DIBAO_HEADER, dibao_row(cert="DB900"), dibao_row(cert="")])
    shutil.copy(area / "dibao_2026-10.xlsx", area / "dibao_copy_2026-10.xlsx")
    shutil.copy(SAMPLE / "registry_places_2026-11.csv", area)

    alone = _ingest_with("0", [area], tmp_path / "alone.duckdb", monkeypatch)
    spread = _ingest_with("2", [area], tmp_path / "spread.duckdb", monkeypatch)

    assert spread == alone
    statuses = {f["file"]: f["status"] for f in spread}
    assert statuses["dibao_broken_2026-11.xlsx"] == statuses["notes.csv"] == "failed"
    assert statuses["dibao_copy_2026-10.xlsx"] == "unchanged"
    assert statuses["dibao_2026-10.xlsx"] == statuses["registry_places_2026-11.csv"] == "loaded"
    assert "notes.csv" in next(f["message"] for f in spread if f["file"] == "notes.csv")
    assert _tables(tmp_path / "alone.duckdb").keys() == _tables(tmp_path / "spread.duckdb").keys()


def test_the_pool_is_used_only_where_it_pays(tmp_path, monkeypatch):
    small = [write_csv(tmp_path / f"dibao_{i}.csv", [DIBAO_HEADER, dibao_row()]) for i in range(3)]
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert worker_count(small) == 0  # a few kilobytes: not worth starting a process
    monkeypatch.setenv(WORKERS_ENV, "2")
    assert worker_count(small) == 2 and worker_count(small[:1]) == 0
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert worker_count(small) == 0
    # the largest of the first few (here the first) and a very large one are read by the
    # main process, the rest handed out
    huge = tmp_path / "yibao_2026-11.csv"
    with huge.open("wb") as fh:
        fh.truncate(WORKER_MAX_BYTES + 1)  # sparse: no disk used
    monkeypatch.setenv(WORKERS_ENV, "2")
    assert Preparer(print, print, [*small, huge], ()).pending == small[1:]
    # the main process reads the largest of the first few itself: it would wait for it otherwise
    larger = write_csv(tmp_path / "yibao_2026-12.csv", [DIBAO_HEADER, *[dibao_row()] * 50])
    preparer = Preparer(print, print, [small[0], larger, *small[1:]], ())
    assert preparer.mine == larger and preparer.pending == small
    # but never a very large one ahead of its turn: it would hold it while storing the
    # files before it
    preparer = Preparer(print, print, [larger, huge, *small], ())
    assert preparer.mine == larger and preparer.pending == small
    # nor a file after a very large first one: that one is begun at once
    preparer = Preparer(print, print, [huge, larger, *small], ())
    assert preparer.mine is None and preparer.pending == [larger, *small]


def test_large_files_are_handed_out_one_per_worker_and_small_ones_further_ahead(tmp_path, monkeypatch):
    """What a worker has done waits in the main process until its turn: large files are
    handed out no further ahead than one per worker; small ones up to AHEAD_BYTES."""
    class Submitted:  # records what would be handed to a worker
        def __init__(self):
            self.paths = []

        def submit(self, fn, path, *args):
            self.paths.append(path)
            return Future()

    def sized(name: str, size: int) -> Path:
        path = tmp_path / name
        with path.open("wb") as fh:
            fh.truncate(size)  # sparse: no disk used
        return path

    monkeypatch.setenv(WORKERS_ENV, "2")
    first = sized("a_first.csv", 200 << 20)  # the largest of the first few: the main process's own
    large = [sized(f"large_{i}.csv", 100 << 20) for i in range(3)]
    small = [sized(f"small_{i}.csv", 1 << 20) for i in range(3)]
    preparer = Preparer(print, print, [first, *large, *small], ())
    preparer.pool = Submitted()
    preparer._fill()
    assert preparer.pool.paths == large[:2]  # the third large one waits for a worker
    preparer = Preparer(print, print, [first, large[0], *small, large[1]], ())
    preparer.pool = Submitted()
    preparer._fill()
    assert preparer.pool.paths == [large[0], small[0]]
    assert preparer.mine == first
    preparer.take(large[0])  # its turn: the small ones are handed out, the large one waits
    assert preparer.pool.paths == [large[0], *small]


def test_more_workers_than_cores_are_not_started(tmp_path, monkeypatch):
    small = [write_csv(tmp_path / f"dibao_{i}.csv", [DIBAO_HEADER, dibao_row()]) for i in range(5)]
    monkeypatch.setenv(WORKERS_ENV, "64")
    assert worker_count(small) == min(len(os.sched_getaffinity(0)), 5)


@pytest.mark.parametrize("setting", ["两个", "²", "٣", "-1", "2.5"])
def test_a_bad_worker_setting_is_a_chinese_usage_error_before_anything_is_written(tmp_path, db_path, monkeypatch,
                                                                                 setting):
    from rootdb.errors import UsageError

    path = write_csv(tmp_path / "dibao_2026-11.csv", [DIBAO_HEADER, dibao_row()])
    monkeypatch.setenv(WORKERS_ENV, setting)
    with pytest.raises(UsageError, match=WORKERS_ENV):
        ingest([path], db=db_path)
    assert not db_path.exists()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_ingest_leaves_no_worker_behind(tmp_path, db_path):
    files = [write_xlsx(tmp_path / f"dibao_2026-{m:02d}.xlsx", [DIBAO_HEADER, dibao_row(cert=f"DB{m}")])
             for m in (9, 10, 11)]
    marker = tmp_path / "paused"
    env = {**os.environ, WORKERS_ENV: "2", "ROOTDB_PAUSE_AT": "ingest.before_commit", "ROOTDB_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "rootdb", "ingest", *map(str, files), "--db", str(db_path)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists()
        workers = descendants(proc.pid)
        assert workers, "the pool's processes were started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers)
    assert ingest(files, db=db_path).ok  # and the database is as it was: all three load


def test_a_worker_killed_mid_run_leaves_the_files_to_the_main_process(tmp_path, db_path):
    """The kernel's out-of-memory killer or an operator may end a worker: the run goes on
    reading the files in the main process, and every file loads."""
    files = [write_xlsx(tmp_path / f"dibao_2026-{m:02d}.xlsx", [DIBAO_HEADER, dibao_row(cert=f"DB{m}")])
             for m in (8, 9, 10, 11)]
    marker = tmp_path / "worker"
    env = {**os.environ, WORKERS_ENV: "2", "ROOTDB_PAUSE_AT": "ingest.worker", "ROOTDB_PAUSE_FILE": str(marker),
           "ROOTDB_PAUSE_SECONDS": "60"}
    proc = subprocess.Popen([sys.executable, "-m", "rootdb", "ingest", *map(str, files), "--db", str(db_path),
                             "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(int(marker.read_text()), signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    import json

    summary = json.loads(out)
    assert proc.returncode == 0, err
    assert [f["status"] for f in summary["files"]] == ["loaded"] * 4
    from conftest import query

    assert query(db_path, "SELECT count(*) FROM rec_dibao") == [(4,)]


def test_the_largest_feeds_load_first_after_the_registries_and_results_keep_the_given_order(tmp_path, db_path):
    """Workers clean the longest files while the main process stores the short ones: the
    registries first, then feeds by their largest file; a file whose name tells no feed,
    or two, keeps its place (its feed is known only once read), and two files of one feed
    keep their order (of two deliveries with the same date, the later one loaded is current)."""
    import importlib

    from rootdb.specs import load_specs

    pipeline = importlib.import_module("rootdb.ingest.pipeline")
    files = [write_xlsx(tmp_path / "民政所名单_2026-11.xlsx", [DIBAO_HEADER, dibao_row(cert="DB3")]),  # dibao by header
             write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()]),
             write_xlsx(tmp_path / "dibao_2026-11_补报.xlsx", [DIBAO_HEADER, dibao_row(cert="DB2")]),
             write_csv(tmp_path / "jiuzhu_2026-11.csv", [["救助编号", "姓名"], *[[f"J{k}", "李四"] for k in range(5000)]]),
             write_xlsx(tmp_path / "低保户高龄津贴_2026-11.xlsx", [DIBAO_HEADER, dibao_row(cert="DB4")]),  # two feeds' names
             write_csv(tmp_path / "yanglao_2026-11.csv", [["姓名"], *[["王五"]] * 3000]),
             write_csv(tmp_path / "registry_addresses_2026-11.csv", [["地址编码"], ["A1"]])]
    order = [files[i].name for i in pipeline._load_order(files, load_specs())]
    assert order == ["registry_addresses_2026-11.csv", "民政所名单_2026-11.xlsx", "jiuzhu_2026-11.csv",
                     "dibao_2026-11.xlsx", "dibao_2026-11_补报.xlsx", "低保户高龄津贴_2026-11.xlsx",
                     "yanglao_2026-11.csv"]
    forced = [files[i].name for i in pipeline._load_order(files, load_specs(), sort=False)]  # --feed
    assert forced == [files[-1].name] + [p.name for p in files[:-1]]
    result = ingest(files[:3], db=db_path)
    assert [f.file for f in result.files] == [p.name for p in files[:3]]
    with connect(db_path) as con:  # of three deliveries of the same date, the last one given is current
        assert con.execute("SELECT file_name FROM files WHERE is_current").fetchall() == [("dibao_2026-11_补报.xlsx",)]


_CTRL_C_AT_START = """
import os, signal, sys, time
from rootdb.processes import worker_pool

if __name__ == "__main__":
    pool = worker_pool(2)
    try:
        futures = [pool.submit(time.sleep, 0.2) for _ in range(2)]
        time.sleep(float(sys.argv[1]))
        os.killpg(0, signal.SIGINT)  # Ctrl+C while the workers are still starting
        time.sleep(5)
    except KeyboardInterrupt:
        print("stopped")
    pool.shutdown(wait=True, cancel_futures=True)
"""


def test_ctrl_c_while_workers_start_stops_the_run_without_their_tracebacks(tmp_path):
    """Pressed at several moments of the workers' start (before it, a worker imports for
    about 0.3 s here; at 0.05–0.15 s each used to print its KeyboardInterrupt)."""
    script = tmp_path / "start.py"
    script.write_text(_CTRL_C_AT_START, encoding="utf-8")
    for delay in ("0", "0.05", "0.1", "0.15", "0.2"):
        done = subprocess.run([sys.executable, str(script), delay], capture_output=True, text=True, timeout=60,
                              start_new_session=True, cwd=Path(__file__).resolve().parents[1])
        assert done.stdout.strip() == "stopped"
        assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, (delay, done.stderr)
