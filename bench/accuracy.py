"""Accuracy benchmark (not a test): rootdb on an area it has never seen, scored against
that area's ground truth.

    python bench/accuracy.py                               # 20,000 residents, seed 20270415
    python bench/accuracy.py --persons 5000 --seed 7

Generates an independent area (`python -m samplegen.generate --styles all`: other
names, compounds with doorplates, every way of writing an address, feeds delivered one
file per community, GB18030 / UTF-8 with BOM / UTF-8 CSVs, more ID and name defects) once,
cached under bench/out/area_all_<N>_<seed> (`--fresh` generates it again, e.g. after the
generator changed). Then runs `rootdb ingest` and `rootdb link` as a data office runs
them, each its own process, and prints:

- files rejected (no file a department would call normal may be) and rows quarantined,
  beside the number the truth expects; deliveries that did not become current (a part
  of a feed that replaced another part);
- pairwise precision / recall / F1 for people, houses and places
  (`rootdb.link.evaluate.pairwise_scores`, as tests/test_link.py scores the sample);
- registry recall (the share of records whose true entity is in the registry that got
  the right registry key: ID number, 地址编码, 场所编码) and registry precision (the share
  of registry keys assigned that are right), as tests/test_link.py and
  tests/test_link_houses_places.py score them;
- house registry recall by the way the address was written (defects.csv codes);
- the truth-checked report tests (tests/test_reports*.py, REPORT_TESTS) run on this area
  and the database just built (a copy: unmasked reports write the audit log): passed /
  failed per report, and what the tests print for R04, R10, R20 and R36 (the reports
  issue 11 found wrong on an unseen street).

Writes bench/out/accuracy_<N>_<seed>.json; the report tests' output goes to
bench/out/accuracy_<N>_<seed>/report_tests.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from common import OUT, ensure_area

DEFAULT_PERSONS = 20_000
DEFAULT_SEED = 20270415            # not the bundled sample's 20261101
KEYS = ["file", "source_row", "role"]
REPO = Path(__file__).resolve().parent.parent
# The tests that check reports against an area's truth (tests/conftest.py: ROOTDB_TEST_AREA).
REPORT_TESTS = ["tests/test_reports_civil_health.py", "tests/test_reports_family_housing.py",
                "tests/test_reports_work_people.py", "tests/test_reports.py", "tests/test_reports_unmatched.py",
                "tests/test_reports_grid.py", "tests/test_report_r41.py"]
WATCHED_REPORTS = ("R04", "R10", "R20", "R36")  # wrong on the independent street of issue 11
TRUE_KEY = {  # entity -> (truth file, uid column, registry key column, "in registry" filter column)
    "person": ("persons.csv", "person_uid", "id_number", "in_registry"),
    "house": ("houses.csv", "house_uid", "address_code", None),
    "place": ("places.csv", "place_uid", "place_code", None),
}


def _timed(args: list[str], save: Path | None = None) -> dict:
    """`rootdb args` in a child process of its own: wall time, peak memory, exit code."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--run", *args], capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    lines = proc.stderr.strip().splitlines()
    if not lines or not lines[-1].startswith("peak_rss_kb="):
        raise SystemExit(f"rootdb {' '.join(args)} crashed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    if save:
        save.write_text(proc.stdout)
    return {"seconds": seconds, "peak_rss_mb": round(int(lines[-1].split("=")[1]) / 1024),
            "exit_code": proc.returncode}


def _run_command(args: list[str]) -> None:
    from rootdb.cli.main import app

    try:
        result = app(args, standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    print(f"peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
    raise SystemExit(code)


def score(db: Path, truth_dir: Path) -> dict:
    """Pairwise and registry scores of the crosswalk in `db` against `truth_dir`."""
    import duckdb
    import polars as pl

    from rootdb.link.evaluate import pairwise_scores

    con = duckdb.connect(str(db), read_only=True)
    crosswalk = con.sql("SELECT source_file AS file, source_row::BIGINT AS source_row, role, entity_type, "
                        "entity_id::VARCHAR AS entity_id, registry_key::VARCHAR AS registry_key FROM crosswalk").pl()
    con.close()
    records = pl.read_csv(truth_dir / "records.csv", infer_schema=False).with_columns(
        pl.col("source_row").cast(pl.Int64))
    linked_files = set(crosswalk["file"].unique().to_list())
    out: dict = {"files_not_linked": sorted(set(records["file"].unique().to_list()) - linked_files)}
    for entity, (fname, uid, key, only) in TRUE_KEY.items():
        truth = records.filter(pl.col("entity_type") == entity)
        predicted = crosswalk.filter(pl.col("entity_type") == entity)
        pw = pairwise_scores(predicted, truth, KEYS)
        # the same on the records that reached the link: linking alone, without lost deliveries
        pw_linked = pairwise_scores(predicted, truth.join(predicted.select(KEYS), on=KEYS, how="semi"), KEYS)
        ents = pl.read_csv(truth_dir / fname, infer_schema=False)
        true_key = pl.col(key) if only is None else pl.when(pl.col(only) == "true").then(pl.col(key))
        ents = ents.select(pl.col(uid).alias("entity_uid"), true_key.alias("true_key"))
        both = truth.join(ents, on="entity_uid", how="left").join(
            predicted.select(*KEYS, "entity_id", "registry_key"), on=KEYS, how="full", coalesce=True)
        both = both.with_columns(pl.col("true_key").replace("", None), pl.col("registry_key").replace("", None))
        keyed = both.filter(pl.col("true_key").is_not_null())
        hit = (pl.col("registry_key") == pl.col("true_key")).fill_null(False)
        claimed = both.filter(pl.col("registry_key").is_not_null())
        out[entity] = {
            "precision": pw["precision"], "recall": pw["recall"], "f1": pw["f1"], "f1_linked": pw_linked["f1"],
            "records": truth.height,
            "records_linked": truth.join(predicted.select(KEYS), on=KEYS, how="semi").height,
            "registry_records": keyed.height, "registry_claimed": claimed.height,
            "registry_recall": keyed.select(hit.mean()).item() if keyed.height else 1.0,
            "registry_precision": claimed.select(hit.mean()).item() if claimed.height else 1.0,
        }
        if entity == "house":
            out["house_by_style"] = _house_recall_by_style(keyed, truth_dir)
    return out


def _house_recall_by_style(keyed, truth_dir: Path) -> dict:
    """House registry recall by how the row wrote its address (defects.csv address_*
    codes; "as the standard" = none)."""
    import polars as pl

    defects = pl.read_csv(truth_dir / "defects.csv", infer_schema=False).filter(
        pl.col("defect").str.starts_with("address_")).with_columns(pl.col("source_row").cast(pl.Int64))
    rows = keyed.select("file", "source_row", (pl.col("registry_key") == pl.col("true_key")).fill_null(False)
                        .alias("hit"))
    styled = rows.join(defects.select("file", "source_row", "defect").unique(), on=["file", "source_row"], how="left")
    styled = styled.with_columns(pl.col("defect").fill_null("as the standard"))
    table = styled.group_by("defect").agg(pl.len().alias("records"), pl.col("hit").mean().alias("registry_recall"))
    return {r["defect"]: {"records": r["records"], "registry_recall": round(r["registry_recall"], 4)}
            for r in table.sort("registry_recall").iter_rows(named=True)}


def check_reports(data: Path, db: Path, log: Path) -> dict:
    """REPORT_TESTS in a child pytest on the area `data` and a copy of `db` (the tests'
    unmasked reports write audit rows). The output each test prints ("R04: expected 81,
    got 81 rows; missing 0, extra 0, unidentified 0") is kept per test in a JUnit file;
    all of it goes to `log`. Returns the counts, passed / failed per report (the code in
    the test's name; "other" for the engine's tests) and the failed tests."""
    with tempfile.TemporaryDirectory(dir=db.parent) as scratch:
        copy, junit = Path(scratch) / db.name, Path(scratch) / "report_tests.xml"
        shutil.copy(db, copy)
        env = {**os.environ, "ROOTDB_TEST_AREA": str(data), "ROOTDB_TEST_DB": str(copy)}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE",
                               f"--junitxml={junit}", "-o", "junit_logging=system-out", *REPORT_TESTS],
                              cwd=REPO, env=env, capture_output=True, text=True)
        if not junit.exists():
            raise SystemExit(f"the report tests did not run ({proc.returncode}):\n{proc.stdout[-3000:]}"
                             f"\n{proc.stderr[-3000:]}")
        cases = ET.parse(junit).getroot().iter("testcase")
        tests = [_test_outcome(case) for case in cases]
    log.write_text(proc.stdout + proc.stderr + "".join(f"\n--- {t['test']} ({t['outcome']})\n{t['output']}"
                                                       for t in tests if t["output"]))
    by_report: dict[str, dict[str, int]] = {}
    for t in tests:
        for code in [f"R{n}" for n in re.findall(r"(?i)(?<![a-z0-9])r(\d\d)(?=[_\]])", t["test"])] or ["other"]:
            counts = by_report.setdefault(code, {"passed": 0, "failed": 0, "skipped": 0})
            counts[t["outcome"]] += 1
    # "R04: expected …", "R36 id15: …"; not the bare "R04 0 []" of the all-workbooks test
    lines = {code: [line for t in tests for line in t["output"].splitlines() if re.match(rf"{code}(:| \D)", line)]
             for code in WATCHED_REPORTS}
    return {
        **{k: sum(t["outcome"] == k for t in tests) for k in ("passed", "failed", "skipped")},
        "by_report": dict(sorted(by_report.items())),
        "failed_tests": [{"test": t["test"], "message": t["message"]} for t in tests if t["outcome"] == "failed"],
        "watched": lines,
    }


def _test_outcome(case: ET.Element) -> dict:
    """One JUnit testcase: its name (file::test[param]), outcome, first line of the
    failure and what it printed."""
    failed = case.find("failure") if case.find("failure") is not None else case.find("error")
    outcome = "failed" if failed is not None else "skipped" if case.find("skipped") is not None else "passed"
    message = (failed.get("message") or "").splitlines()[0][:300] if failed is not None else None
    module = case.get("classname", "").rsplit(".", 1)[-1]
    return {"test": f"{module}::{case.get('name')}", "outcome": outcome, "message": message,
            "output": "".join(node.text or "" for node in case.iter("system-out"))}


def _ingest_summary(ingest: dict, truth_dir: Path) -> dict:
    import csv

    with open(truth_dir / "files.csv", encoding="utf-8", newline="") as fh:
        expected = list(csv.DictReader(fh))
    files = ingest.get("files", [])
    return {
        "files": len(files),
        "files_expected": len(expected),
        "rejected": [{"file": f["file"], "message": f.get("message")} for f in files if f["status"] == "failed"],
        "not_current": [f["file"] for f in files if f.get("current") is False],
        "rows_read": ingest["totals"]["rows_read"],
        "rows_read_expected": sum(int(f["rows_read"]) for f in expected),
        "rows_quarantined": ingest["totals"]["rows_quarantined"],
        "rows_quarantined_expected": sum(int(f["rows_quarantined"]) for f in expected),
        "rows_failed": ingest["totals"].get("rows_failed", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=DEFAULT_PERSONS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--fresh", action="store_true", help="generate the area again even if cached")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        _run_command(sys.argv[2:])
    args = parser.parse_args()
    data = ensure_area(args.persons, args.seed, styles="all", fresh=args.fresh)
    truth_dir = data / "_truth"
    if args.step == "score":   # the crosswalk of an existing database, scored again
        print(json.dumps(score(args.db, truth_dir), indent=2))
        return
    if args.step == "reports":  # the report tests on an existing database of this area
        started = time.perf_counter()
        reports = check_reports(data, args.db, args.db.parent / "report_tests.txt")
        reports["seconds"] = round(time.perf_counter() - started, 1)
        _print_report_tests(reports, args.db.parent / "report_tests.txt")
        return
    work = OUT / f"accuracy_{args.persons}_{args.seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "rootdb.duckdb"
    files = sorted(str(p) for p in data.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
    steps = {
        "ingest": _timed(["ingest", *files, "--db", str(db), "--json"], save=work / "ingest.json"),
        "link": _timed(["link", "--db", str(db)], save=work / "link.txt"),
    }
    try:
        ingest = json.loads((work / "ingest.json").read_text())
    except ValueError:
        raise SystemExit(f"rootdb ingest printed no JSON:\n{(work / 'ingest.json').read_text()[-3000:]}")
    if steps["link"]["exit_code"] != 0:
        raise SystemExit(f"rootdb link failed ({steps['link']['exit_code']}):\n{(work / 'link.txt').read_text()[-3000:]}")
    summary = _ingest_summary(ingest, truth_dir)
    scores = score(db, truth_dir)
    started = time.perf_counter()
    reports = check_reports(data, db, work / "report_tests.txt")
    reports["seconds"] = round(time.perf_counter() - started, 1)
    report = {"persons": args.persons, "seed": args.seed, "area": str(data), "steps": steps, "ingest": summary,
              "scores": scores, "report_tests": reports}
    (OUT / f"accuracy_{args.persons}_{args.seed}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))

    print(f"area: {data.name} ({args.persons:,} residents, seed {args.seed}); "
          f"ingest {steps['ingest']['seconds']} s, link {steps['link']['seconds']} s")
    print(f"files: {summary['files']} read of {summary['files_expected']}, rejected {len(summary['rejected'])}"
          + "".join(f"\n  rejected: {r['file']}: {r['message']}" for r in summary["rejected"]))
    if summary["not_current"]:
        print(f"  deliveries not current after the ingest: {', '.join(summary['not_current'])}")
    if scores["files_not_linked"]:
        print(f"  files loaded whose rows never reached the link (replaced by another delivery): "
              f"{', '.join(scores['files_not_linked'])}")
    print(f"rows: read {summary['rows_read']:,} (truth {summary['rows_read_expected']:,}), quarantined "
          f"{summary['rows_quarantined']:,} (truth {summary['rows_quarantined_expected']:,}), "
          f"in rejected files {summary['rows_failed']:,}")
    print()
    print(f"{'entity':<8}{'records':>9}{'linked':>9}{'precision':>11}{'recall':>9}{'F1':>9}{'F1 linked':>11}"
          f"{'registry recall':>17}{'registry precision':>20}")
    for entity in ("person", "house", "place"):
        s = scores[entity]
        print(f"{entity:<8}{s['records']:>9,}{s['records_linked']:>9,}{s['precision']:>11.4f}{s['recall']:>9.4f}"
              f"{s['f1']:>9.4f}{s['f1_linked']:>11.4f}{s['registry_recall']:>17.4f}{s['registry_precision']:>20.4f}")
    print("(records: in the truth; linked: of those, in the crosswalk; a record left out counts as a "
          "singleton and as a miss; F1 linked: scored on the linked records only)")
    print("\nhouse registry recall by how the address was written (a row may count under several):")
    for style, s in scores["house_by_style"].items():
        print(f"  {style:<28}{s['records']:>8,}{s['registry_recall']:>9.4f}")
    _print_report_tests(reports, work / "report_tests.txt")


def _print_report_tests(reports: dict, log: Path) -> None:
    print(f"\nreport tests on this area ({reports['seconds']} s; output in {log}): {reports['passed']} passed, "
          f"{reports['failed']} failed, {reports['skipped']} skipped")
    failing = {code: n for code, n in reports["by_report"].items() if n["failed"]}
    print("  reports with a failing test: " + (", ".join(f"{code} ({n['failed']} of {n['passed'] + n['failed']})"
                                                          for code, n in failing.items()) or "none"))
    for code in WATCHED_REPORTS:
        n = reports["by_report"].get(code, {"passed": 0, "failed": 0})
        print(f"  {code}: {n['passed']} passed, {n['failed']} failed" + "".join(
            f"\n    {line}" for line in reports["watched"][code]))
    for t in reports["failed_tests"]:
        print(f"  FAILED {t['test']}: {t['message']}")


if __name__ == "__main__":
    main()
