"""Nightly benchmark (not a test): `rootdb nightly` on a linked city with nothing new in
the inbox — the night the reports are written again for a new date and nothing else.

    python bench/nightly_bench.py --persons 500000

Needs the linked area from `bench/link_bench.py` (bench/out/link_<N>/rootdb.duckdb,
left as it is, and its saved model in models/ beside it: made by one `rootdb link` there
when missing). Copies it into a fresh workspace (bench/out/nightly_<N>/ws/, an empty
inbox/ beside the database), runs `rootdb nightly` once (a workspace's first run has no
state to compare with: not counted), then `--runs` more times, each a child process of its own
and each a day later than the one before (a real next night: ages, "this month", 超期
and the changes since the last run move on; `--as-of`: the first run's date, default
today); then one night more with the yibao file (460 k rows on a city, the largest feed
after the registry) re-delivered with one phone number changed: ingest, link, reports
and changes (goal 30 s). For each: wall seconds, CPU seconds (user + system, the report workers
included), the peak RSS of the largest process (what `/usr/bin/time -v` shows) and of
the whole process tree (the workers' memory added, sampled every 0.1 s), and the
machine's load average before it (another job on the same cores slows it). Prints them
and writes bench/out/nightly_<N>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import OUT, redelivered_yibao

ROOTDB = Path(sys.executable).with_name("rootdb")


def _tree(pid: int) -> list[int]:
    """The process and its descendants, from /proc."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            children = Path(f"/proc/{pids[i]}/task/{pids[i]}/children").read_text().split()
        except OSError:
            children = []
        pids += [int(c) for c in children]
        i += 1
    return pids


def _rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def run_nightly(db: Path, as_of: dt.date) -> dict:
    """One `rootdb nightly` in a child process: its figures (see the module's docstring)."""
    load = os.getloadavg()[0]
    command = [str(ROOTDB), "nightly", "--db", str(db), "--json", "--as-of", as_of.isoformat()]
    output, errors = db.parent / "nightly_bench.out", db.parent / "nightly_bench.err"
    started = time.perf_counter()
    with output.open("w") as out, errors.open("w") as err:
        # the inbox's files count at once (they were just put there, not still being written)
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True,
                                env={**os.environ, "ROOTDB_INBOX_SETTLE": "0"})
    tree_peak = 0
    while True:  # wait4: this run's own CPU time and peak memory, its workers' included
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        tree_peak = max(tree_peak, sum(_rss_kb(p) for p in _tree(proc.pid)))
        time.sleep(0.1)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"rootdb nightly failed ({proc.returncode}):\n{output.read_text()[-3000:]}\n"
                         f"{errors.read_text()[-3000:]}")
    run = json.loads(output.read_text())
    return {"as_of": as_of.isoformat(), "wall_seconds": round(wall, 2),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024),  # its largest process (Linux: KB)
            "tree_peak_rss_mb": round(tree_peak / 1024),
            "load_before": round(load, 2),
            "steps": {s["name"]: {"status": s["status"], "seconds": s["seconds"]} for s in run["steps"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=2, help="measured runs after the first")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date.today(),
                        help="the first run's reporting date (default: today); each next run a day later")
    args = parser.parse_args()
    source = OUT / f"link_{args.persons}" / "rootdb.duckdb"
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/ingest_bench.py and bench/link_bench.py --persons "
                         f"{args.persons} first")
    ws = OUT / f"nightly_{args.persons}" / "ws"
    shutil.rmtree(ws.parent, ignore_errors=True)
    (ws / "inbox").mkdir(parents=True)
    shutil.copyfile(source, ws / "rootdb.duckdb")
    # The saved model a linked workspace keeps beside its database (a night with a new
    # file links with it, as nightly does): copied, or made once by a link (not timed).
    models = source.parent / "models"
    if not models.is_dir():
        subprocess.run([str(ROOTDB), "link", "--db", str(source)], check=True, capture_output=True)
    shutil.copytree(models, ws / "models")
    first = run_nightly(ws / "rootdb.duckdb", args.as_of)
    print(f"first run (no state to compare with): {first['wall_seconds']} s")
    runs = []
    for i in range(args.runs):
        runs.append(run_nightly(ws / "rootdb.duckdb", args.as_of + dt.timedelta(days=i + 1)))
        r = runs[-1]
        print(f"nothing-new night {r['as_of']}: {r['wall_seconds']} s wall, {r['cpu_seconds']} s CPU, "
              f"peak RSS {r['peak_rss_mb']} MB (process tree {r['tree_peak_rss_mb']} MB), "
              f"load before {r['load_before']}; reports {r['steps']['reports']['seconds']} s "
              f"(goal: 10 s, 2 GB)")
    # A night with one large feed re-delivered: ingest, link, reports and changes.
    redelivered_yibao(OUT / f"area_{args.persons}", ws / "inbox", "13700000000")
    redelivered = run_nightly(ws / "rootdb.duckdb", args.as_of + dt.timedelta(days=args.runs + 1))
    steps = ", ".join(f"{name} {step['seconds']} s" for name, step in redelivered["steps"].items())
    print(f"yibao re-delivered {redelivered['as_of']}: {redelivered['wall_seconds']} s wall, "
          f"{redelivered['cpu_seconds']} s CPU, peak RSS {redelivered['peak_rss_mb']} MB (process tree "
          f"{redelivered['tree_peak_rss_mb']} MB); {steps} (goal: 30 s, 2 GB)")
    result = {"persons": args.persons, "cores": os.cpu_count(), "first": first,
              "runs": runs, "redelivered": redelivered}
    (OUT / f"nightly_{args.persons}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
