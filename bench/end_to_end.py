"""End-to-end benchmark (not a test): a generated area through `rootdb ingest`,
`rootdb link` and `rootdb report --all`, as a data office runs them, in one run.

    python bench/end_to_end.py --persons 100000      # a street
    python bench/end_to_end.py --persons 500000      # a city (goal: under 2 minutes, 4 GB)
    python bench/end_to_end.py --persons 5000000     # a region (goal: under 30 minutes)

Generates the area first when bench/out/area_<N> does not hold it (the generation is
not timed). Each command runs as its own process, as a nightly script would run it;
prints wall time and peak memory (max RSS of the process and its children) per step
and in all, and writes bench/out/end_to_end_<N>.json.

In the same run, two yardsticks on the same area: the floor (`ingest_bench.py`'s floor
step: every file read into DuckDB with no cleaning) and the plain splink pipeline of
`link_bench.py` on the same person records (time and F1 beside rootdb's); the whole
job is compared with the floor + the plain pipeline (its read and link). `--no-plain`
skips the latter, which needs more memory than the machine has for a region.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import OUT, ensure_area, run_step
AS_OF = "2026-11-01"


def _timed(args: list[str], save: Path | None = None) -> dict:
    """`rootdb args` in a child process of its own; its wall time and peak memory (its
    own and its largest worker's, added: an upper bound) and its output saved to `save`."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--run", *args], capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("peak_rss_kb="):
        raise SystemExit(f"rootdb {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    if save:
        save.write_text(proc.stdout)
    return {"seconds": seconds, "peak_rss_mb": round(int(lines[-1].split("=")[1]) / 1024)}


def _run_command(args: list[str]) -> None:
    from rootdb.cli.main import app

    try:
        result = app(args, standalone_mode=False)  # click returns an Exit's code here
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    # the command's own peak plus its largest worker's (ingest and reports use worker processes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak_rss_kb={peak}", file=sys.stderr)
    raise SystemExit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=20261101)
    parser.add_argument("--no-plain", action="store_true", help="skip the plain splink pipeline baseline")
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        _run_command(sys.argv[2:])
    args = parser.parse_args()
    data = ensure_area(args.persons, args.seed)
    work = OUT / f"end_to_end_{args.persons}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = str(work / "rootdb.duckdb")
    files = sorted(str(p) for p in data.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
    steps = {
        "ingest": _timed(["ingest", *files, "--db", db, "--json"], save=work / "ingest.json"),
        "link": _timed(["link", "--db", db]),
        "report --all": _timed(["report", "--all", "--as-of", AS_OF, "--out", str(work / "reports"), "--db", db]),
    }
    total = round(sum(s["seconds"] for s in steps.values()), 1)
    peak = max(s["peak_rss_mb"] for s in steps.values())
    for name, s in steps.items():
        print(f"rootdb {name:<14}{s['seconds']:>8} s{s['peak_rss_mb']:>8} MB")
    print(f"{'end to end':<21}{total:>8} s{peak:>8} MB  ({args.persons:,} residents)")
    report = {"persons": args.persons, "steps": steps, "seconds": total, "peak_rss_mb": peak}

    # Baselines, same area, same run.
    bench = Path(__file__).resolve().parent
    size = ("--persons", str(args.persons))
    floor = run_step(str(bench / "ingest_bench.py"), "floor", *size, "--data", str(data))
    ratio = steps["ingest"]["seconds"] / floor["seconds"]
    print(f"ingest: {steps['ingest']['seconds']} s; the floor (every file read into DuckDB, no cleaning): "
          f"{floor['seconds']} s; ingest {ratio:.1f}x the floor (goal ≤ 3x)")
    report["floor"] = floor
    report["ingest_ratio_to_floor"] = round(ratio, 2)
    ours = run_step(str(bench / "link_bench.py"), "score", *size, "--db", db)
    report["link_f1"] = ours["f1"]
    line = f"link: {steps['link']['seconds']} s, person F1 {ours['f1']['f1']}"
    if not args.no_plain:
        plain = run_step(str(bench / "link_bench.py"), "plain", *size, "--db", db)
        report["plain_splink"] = plain
        yardstick = floor["seconds"] + plain["seconds"]
        report["whole_job_to_plain_read_and_link"] = round(total / yardstick, 2)
        line += (f"; plain splink pipeline {plain['seconds']} s, {plain['peak_rss_mb']} MB, F1 {plain['f1']['f1']} "
                 f"(rootdb's link {plain['seconds'] / steps['link']['seconds']:.1f}x its speed); "
                 f"whole job {total} s against its read + link {yardstick:.1f} s (goal ≤ 1x: "
                 f"{total / yardstick:.2f}x)")
    print(line)
    (OUT / f"end_to_end_{args.persons}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
