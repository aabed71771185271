"""Ingest benchmark (not a test): a generated area, ingested by rootdb, beside the floor
(every file read into DuckDB with no cleaning: DuckDB's read_csv for CSV, calamine through
fastexcel for workbooks) and DuckDB's own read_csv of the CSV files, in one run.

    python bench/ingest_bench.py --persons 500000            # a city
    python bench/ingest_bench.py --persons 100000            # a street
    python bench/ingest_bench.py --persons 100000 --serial   # also ingest in one process

Each measured step runs in a fresh Python process so that its wall time and peak
memory (max RSS; for rootdb also the largest worker process's) are its own. Prints a
table and writes bench/out/ingest_<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _step_floor(data: Path, db: Path) -> dict:
    """Every file rootdb reads, read into a DuckDB table with no cleaning: the floor."""
    import duckdb
    import fastexcel
    import polars as pl

    from rootdb.ingest.readers import decode_csv_bytes

    rows = 0
    con = duckdb.connect(str(db))
    for i, path in enumerate(_files(data)):
        if path.suffix == ".csv" and _is_utf8_csv(path):
            con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv(?, all_varchar=true, header=true, "
                        "null_padding=true)", [str(path)])
            rows += con.execute(f"SELECT count(*) FROM t{i}").fetchall()[0][0]
            continue
        if path.suffix == ".csv":  # GB18030: decoded by Python
            frames = [pl.read_csv(decode_csv_bytes(path, path.read_bytes())[0].encode(), infer_schema=False)]
        else:  # every sheet of a workbook, by calamine
            book = fastexcel.read_excel(str(path))
            frames = [pl.from_arrow(book.load_sheet(n, header_row=None).to_arrow()) for n in book.sheet_names]
        for k, frame in enumerate(frames):
            con.register("_sheet", frame)
            con.execute(f"CREATE TABLE t{i}_{k} AS SELECT * FROM _sheet")
            con.unregister("_sheet")
            rows += frame.height
    con.close()
    return {"rows": rows}


def _files(data: Path) -> list[Path]:
    return sorted(p for p in data.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))


def _step_rootdb(data: Path, db: Path, only_csv: bool) -> dict:
    from rootdb import ingest

    files = _files(data)
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
    if step == "floor":
        info = _step_floor(data, db)
    elif step == "raw_csv":
        info = _step_raw_csv(data, db)
    elif step == "rootdb_csv":
        info = _step_rootdb(data, db, only_csv=True)
    else:
        if step == "rootdb_serial":
            os.environ["ROOTDB_INGEST_WORKERS"] = "0"
        info = _step_rootdb(data, db, only_csv=False)
    info["seconds"] = round(time.perf_counter() - started, 2)
    info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    info["worker_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print(json.dumps(info))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=20261101)
    parser.add_argument("--serial", action="store_true", help="also ingest every file in one process")
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
    steps = {"floor": "floor: every file read, no cleaning", "raw_csv": "DuckDB read_csv, UTF-8 CSV feeds",
             "rootdb_csv": "rootdb ingest, same CSV files", "rootdb_all": "rootdb ingest, every file"}
    if args.serial:
        steps["rootdb_serial"] = "rootdb ingest, every file, 1 process"
    figures = {name: run_step(__file__, name, *data_args) for name in steps}
    floor, raw = figures["floor"], figures["raw_csv"]
    report = {
        "persons": args.persons,
        **figures,
        "ratio_to_floor": round(figures["rootdb_all"]["seconds"] / floor["seconds"], 2),
        "csv_ratio_to_duckdb": round(figures["rootdb_csv"]["seconds"] / raw["seconds"], 2),
    }
    print(f"{'step':<40}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}{'worker MB':>11}")
    for name, label in steps.items():
        r = figures[name]
        print(f"{label:<40}{r['rows']:>12,}{r['seconds']:>10.2f}{r['rows'] / r['seconds']:>12,.0f}"
              f"{r['peak_rss_mb']:>10,}{r.get('worker_peak_rss_mb', 0):>11,}")
    print(f"rootdb ingest / floor: {report['ratio_to_floor']:.1f}x (goal ≤ 3x); "
          f"on the CSV files / DuckDB's read_csv: {report['csv_ratio_to_duckdb']:.1f}x")
    OUT.mkdir(exist_ok=True)
    (OUT / f"ingest_{args.persons}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
