"""Link benchmark (not a test): `rootdb link` on a generated city beside a plain splink
pipeline on the same person records, in one run, each step in its own process.

    python bench/link_bench.py --persons 500000

Needs the ingested area from `bench/ingest_bench.py` (bench/out/rootdb_all_<N>.duckdb).
Steps:
1. `rootdb link` with training (no saved model);
2. a nightly run: the medical insurance feed (yibao, the largest after the registry)
   delivered again with one row changed and ingested (not timed), then `rootdb link`
   with the saved model;
3. a plain splink pipeline as an analyst would build it: every person record through
   splink with the same comparisons and blocking rules, no deterministic pass, u by
   random sampling, m by EM, clusters at the same threshold.
Prints wall time, peak memory and person pairwise F1 of each; writes
bench/out/link_<N>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

from common import OUT, redelivered_yibao, run_step
KEYS = ["file", "source_row", "role"]


def _score(crosswalk, truth_dir: Path) -> dict:
    import polars as pl

    from rootdb.link.evaluate import pairwise_scores

    truth = pl.read_csv(truth_dir / "records.csv", schema_overrides={"source_row": pl.Int64})
    truth = truth.filter(pl.col("entity_type") == "person")
    scores = pairwise_scores(crosswalk, truth, KEYS)
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in scores.items()}


def _step_score(db: Path, truth_dir: Path) -> dict:
    """The person crosswalk already in the database, scored."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    crosswalk = con.sql(
        "SELECT source_file AS file, source_row, role, entity_id FROM crosswalk WHERE entity_type = 'person'"
    ).pl()
    con.close()
    return {"f1": _score(crosswalk, truth_dir)}


def _step_rootdb(db: Path, truth_dir: Path) -> dict:
    from rootdb.link import link

    result = link(db=db)
    return {"model_trained": result.model_trained, "timings": result.timings, **_step_score(db, truth_dir)}


def _step_plain(db: Path, truth_dir: Path) -> dict:
    """Every person record through splink, as the records table holds them."""
    import logging

    import duckdb
    import polars as pl
    from splink import DuckDBAPI, Linker, block_on

    from rootdb.link.model import settings

    con = duckdb.connect(str(db), read_only=True)
    records = con.sql(
        """SELECT record_id AS unique_id, source_file AS file, source_row, role, name, name_pinyin,
                  CASE WHEN id_valid THEN id_number END AS id_number,
                  coalesce(birth_date, id_birth) AS birth_date, coalesce(sex, id_sex) AS sex, phone, house_key,
                  feed = 'registry_persons' AS is_registry  -- the same blocking rules as rootdb's
           FROM link_person_records"""
    ).pl()
    con.close()
    work = duckdb.connect(config={"memory_limit": "3GB", "temp_directory": str(OUT)})
    work.register("people", records.drop("file", "source_row", "role").to_arrow())
    api = DuckDBAPI(connection=work)
    plain = settings()
    plain.link_type = "dedupe_only"
    linker = Linker(api.register("people", dataset_display_name="people"), plain, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match([block_on("id_number")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=20261101)
    for rule in (block_on("name_pinyin"), block_on("birth_date")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=2e6)
    predictions = linker.inference.predict(threshold_match_probability=0.9, warning_mode="never")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=0.9)
    clustered = pl.from_arrow(clusters.as_pyarrow_table()).select("unique_id", pl.col("cluster_id").cast(pl.String))
    crosswalk = records.select("unique_id", *KEYS).join(clustered, on="unique_id").rename({"cluster_id": "entity_id"})
    return {"f1": _score(crosswalk, truth_dir)}


def _step_redeliver(db: Path, truth_dir: Path) -> dict:
    """The yibao file again, same name and rows, one phone number changed: a new
    delivery that replaces the old one (the ground truth still holds)."""
    from rootdb import ingest

    target = redelivered_yibao(truth_dir.parent, db.parent / "redelivered", "13800000000")
    result = ingest([target], db=db)
    if not result.ok:
        raise SystemExit(f"re-delivery failed: {result.to_dict()}")
    return result.to_dict()["totals"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=500_000)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    truth_dir = OUT / f"area_{args.persons}" / "_truth"
    if args.step:
        started = time.perf_counter()
        step = {"plain": _step_plain, "redeliver": _step_redeliver, "score": _step_score}.get(args.step, _step_rootdb)
        info = step(args.db, truth_dir)
        info["seconds"] = round(time.perf_counter() - started, 1)
        info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(info))
        return
    source = OUT / f"rootdb_all_{args.persons}.duckdb"
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/ingest_bench.py --persons {args.persons} first")
    work = OUT / f"link_{args.persons}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "rootdb.duckdb"
    shutil.copy(source, db)
    trained = run_step(__file__, "rootdb", "--persons", str(args.persons), "--db", str(db))
    run_step(__file__, "redeliver", "--persons", str(args.persons), "--db", str(db))
    nightly = run_step(__file__, "rootdb", "--persons", str(args.persons), "--db", str(db))
    plain = run_step(__file__, "plain", "--persons", str(args.persons), "--db", str(db))
    report = {"persons": args.persons, "rootdb_link_train": trained, "rootdb_link_nightly": nightly, "plain_splink": plain}
    print(f"{'step':<38}{'seconds':>9}{'peak MB':>9}{'precision':>11}{'recall':>9}{'F1':>9}")
    for label, r in (("rootdb link (trains the model)", trained), ("rootdb link (saved model, nightly)", nightly),
                     ("plain splink pipeline", plain)):
        f = r["f1"]
        print(f"{label:<38}{r['seconds']:>9}{r['peak_rss_mb']:>9}{f['precision']:>11}{f['recall']:>9}{f['f1']:>9}")
    timings = nightly["timings"]
    people = timings.get("records_person", timings["records"]) + sum(
        v for k, v in timings.items() if k.startswith("people"))
    print(f"nightly speed-up over the plain pipeline: whole link {plain['seconds'] / nightly['seconds']:.1f}x, "
          f"people only ({people:.1f} s: person records, deterministic, model, entities) "
          f"{plain['seconds'] / people:.1f}x (goal ≥ 3x)")
    print("nightly stages:", nightly["timings"])
    report["nightly_people_seconds"] = round(people, 1)
    (OUT / f"link_{args.persons}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
