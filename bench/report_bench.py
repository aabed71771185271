"""Report benchmark (not a test): `rootdb report --all` on a generated, linked city.

    python bench/report_bench.py --persons 500000

Needs the linked area from `bench/link_bench.py` (bench/out/link_<N>/rootdb.duckdb).
Runs all reports as workbooks and then as CSV, each in a fresh process (wall time and
peak memory of its own), prints the slowest reports and writes
bench/out/report_<N>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
from pathlib import Path

from common import OUT, run_step
AS_OF = dt.date(2026, 11, 1)  # the generator's reference date


def _step(db: Path, out: Path, fmt: str) -> dict:
    from rootdb.reports import run_reports, select_templates

    result = run_reports(select_templates([], True), as_of=AS_OF, out=out, fmt=fmt, db=str(db))
    return {"reports": [{"code": r.code, "rows": r.rows, "seconds": r.seconds} for r in result.reports],
            "engine_seconds": result.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=500_000)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        info = _step(args.db, args.out, args.step)
        info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(info))
        return
    db = OUT / f"link_{args.persons}" / "rootdb.duckdb"
    if not db.exists():
        raise SystemExit(f"{db} is missing: run bench/ingest_bench.py and bench/link_bench.py --persons "
                         f"{args.persons} first")
    report = {"persons": args.persons}
    for fmt in ("xlsx", "csv"):
        out = OUT / f"reports_{args.persons}_{fmt}"
        shutil.rmtree(out, ignore_errors=True)
        report[fmt] = run_step(__file__, fmt, "--db", str(db), "--out", str(out))
        r = report[fmt]
        rows = sum(x["rows"] for x in r["reports"])
        print(f"rootdb report --all --format {fmt}: {len(r['reports'])} reports, {rows:,} rows, "
              f"{r['wall_seconds']} s wall, {r['peak_rss_mb']} MB peak (goal: under 60 s)")
    slowest = sorted(report["xlsx"]["reports"], key=lambda x: -x["seconds"])[:8]
    print("slowest (xlsx):", ", ".join(f"{x['code']} {x['seconds']} s ({x['rows']:,} rows)" for x in slowest))
    (OUT / f"report_{args.persons}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
