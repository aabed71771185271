"""Ingest benchmark (not a test): a generated area, ingested by rootdb, beside DuckDB's
own read_csv of the same CSV files, in one run.

    python bench/ingest_bench.py --persons 500000

Each measured step runs in a fresh Python process so that its wall time and peak
memory (max RSS) are its own. Prints a table and writes bench/out/ingest_<N>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from common import OUT, ensure_area, run_step


def _is_utf8_csv(path: Path) -> bool:
    from rootdb.ingest.readers import decode_csv_bytes

    return path.suffix == ".csv" and decode_csv_bytes(path, path.read_bytes())[1] != "gb18030"


def _step_raw_csv(data: Path, db: Path) -> dict:
    """DuckDB reading every UTF-8 CSV feed into a table, all columns as text."""
    import duckdb

    rows = 0
    con = duckdb.connect(str(db))
    # GB18030 files are left out: DuckDB needs its online-only encodings extension.
    for i, path in enumerate(p for p in sorted(data.glob("*.csv")) if _is_utf8_csv(p)):
        con.execute(
            f"CREATE TABLE t{i} AS SELECT * FROM read_csv(?, all_varchar=true, header=true, null_padding=true)",
            [str(path)],
        )
        rows += con.execute(f"SELECT count(*) FROM t{i}").fetchall()[0][0]
    con.close()
    return {"rows": rows}


def _step_rootdb(data: Path, db: Path, only_csv: bool) -> dict:
    from rootdb import ingest

    files = sorted(p for p in data.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
    if only_csv:
        files = [p for p in files if _is_utf8_csv(p)]
    result = ingest(files, db=db)
    if not result.ok:
        raise SystemExit(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    totals = result.to_dict()["totals"]
    return {"rows": totals["rows_read"], "files": len(files), "quarantined": totals["rows_quarantined"]}


def _child(step: str, data: Path, db: Path) -> None:
    if db.exists():
        db.unlink()
    started = time.perf_counter()
    if step == "raw_csv":
        info = _step_raw_csv(data, db)
    elif step == "rootdb_csv":
        info = _step_rootdb(data, db, only_csv=True)
    else:
        info = _step_rootdb(data, db, only_csv=False)
    info["seconds"] = round(time.perf_counter() - started, 2)
    info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(info))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=20261101)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = args.data or OUT / f"area_{args.persons}"
    if args.step:
        _child(args.step, data, OUT / f"{args.step}_{args.persons}.duckdb")
        return

    if args.data is None:
        ensure_area(args.persons, args.seed)
    print(f"area: {args.persons:,} residents in {data}")
    data_args = ("--persons", str(args.persons), "--data", str(data))
    raw = run_step(__file__, "raw_csv", *data_args)
    ours_csv = run_step(__file__, "rootdb_csv", *data_args)
    ours_all = run_step(__file__, "rootdb_all", *data_args)
    ratio = ours_csv["seconds"] / raw["seconds"] if raw["seconds"] else float("nan")
    report = {
        "persons": args.persons,
        "duckdb_read_csv": raw,
        "rootdb_ingest_csv": ours_csv,
        "rootdb_ingest_all": ours_all,
        "csv_ratio_to_duckdb": round(ratio, 2),
        "all_rows_per_second": round(ours_all["rows"] / ours_all["seconds"]),
    }
    print(f"{'step':<34}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}")
    for label, r in (("DuckDB read_csv, UTF-8 CSV feeds", raw), ("rootdb ingest, same CSV files", ours_csv),
                     ("rootdb ingest, all 22 files", ours_all)):
        print(f"{label:<34}{r['rows']:>12,}{r['seconds']:>10.2f}{r['rows'] / r['seconds']:>12,.0f}{r['peak_rss_mb']:>10,}")
    print(f"rootdb / DuckDB on the same CSV files: {ratio:.1f}x (goal ≤ 3x); peak memory goal < 4096 MB")
    OUT.mkdir(exist_ok=True)
    (OUT / f"ingest_{args.persons}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
