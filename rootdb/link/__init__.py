"""Link: who is who. Resolves every person, house and place named by the current
snapshots against the reference registry and each other.

Reads the `<feed>` views; writes the `link_*` tables, `crosswalk` (one row per
record and role, as contract/outputs.md defines it) and, through `rootdb.golden`, the
golden records and corrections. The STAGES, in order: `records` (entity records from
the schemas' roles) → `houses` → `places` → people (deterministic, then the splink
`model`, with the officers' `review` decisions, then entities) → the crosswalk → golden
records, each timed (`LinkResult.timings`). One transaction: a failed link leaves the
previous results in place. After the commit the database is published for the page
(`rootdb.serve.published`; a failure to publish is a warning, not a failed link).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rootdb.errors import UsageError, WorkspaceError, out_of_memory
from rootdb.faults import pause_point
from rootdb.privacy import os_user
from rootdb.specs import load_specs
from rootdb.store import record_run, table_exists
from rootdb.store.sql import Stage, Stopwatch, run_stages, scalar
from rootdb.workspace import connect, locate, out_of_memory_message, require_existing

MODEL_FILE = "person_model.json"


@dataclass
class LinkResult:
    records: dict[str, int]
    people: dict = field(default_factory=dict)
    houses: dict = field(default_factory=dict)
    places: dict = field(default_factory=dict)
    entities: dict[str, int] = field(default_factory=dict)
    matched_registry: dict[str, int] = field(default_factory=dict)
    golden: dict = field(default_factory=dict)
    review_pairs: int = 0
    model_trained: bool = False
    model_saved: bool = False  # trained, and complete enough to be kept for later links
    model_path: str = ""
    charts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def headline(self) -> str:
        people, houses, places = (self.entities.get(e, 0) for e in ("person", "house", "place"))
        return f"人员 {people:,}（公安库内 {self.matched_registry.get('person', 0):,}），房屋 {houses:,}，单位 {places:,}，待复核 {self.review_pairs:,} 对"


def _crosswalk(con) -> None:
    """`crosswalk`: a view of the records joined to their matches, not a table — reading
    it (the export) costs no more than reading a table of its 5 M rows on a city would,
    and the link neither writes nor commits nor publishes them (a city: ~4 s less).
    A database linked before holds it as a table: that one is dropped first."""
    if con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = 'main' "
                   "AND table_name = 'crosswalk' AND table_type <> 'VIEW'").fetchone():
        con.execute("DROP TABLE crosswalk")
    parts = []
    for entity, records, matches in (
        ("person", "link_person_records", "link_person_matches"),
        ("house", "link_house_records", "link_house_matches"),
        ("place", "link_place_records", "link_place_matches"),
    ):
        if table_exists(con, matches):
            parts.append(
                f"SELECT r.feed, r.source_file, r.source_row, r.role, '{entity}' AS entity_type, m.entity_id, "
                f"m.registry_key, m.match_method, m.match_probability "
                f"FROM {records} r JOIN {matches} m USING (record_id)"
            )
    con.execute("CREATE OR REPLACE VIEW crosswalk AS " + " UNION ALL ".join(parts))


# The link's stages, in order: each is a method of `_LinkRun` and a key of LinkResult.timings.
STAGES = ("records", "houses", "places", "people_deterministic", "people_probabilistic", "people_entities",
          "crosswalk", "golden")


class _LinkRun:
    """One link's stages: each writes its tables and fills its part of `result`."""

    def __init__(self, result: LinkResult, person_engine, model_path: Path, incremental: bool, retrain: bool,
                 threshold: float, review_from: float, charts: str | Path | None) -> None:
        self.result = result
        self.person_engine = person_engine
        self.model_path = model_path
        # A nightly run reads only the files delivered since; training reads all.
        self.incremental = incremental
        self.retrain = retrain
        self.threshold = threshold
        self.review_from = review_from
        self.charts = Path(charts) if charts else None
        self.trained_model: dict | None = None  # saved by `link` after its commit
        self.specs = load_specs()  # the records' roles and the golden records' sources

    def stages(self) -> list[Stage]:
        return [Stage(name, getattr(self, name)) for name in STAGES]

    def records(self, con) -> None:
        from rootdb.link.records import build_record_tables

        self.result.records = build_record_tables(con, self.specs, self.result.timings, self.incremental)

    def houses(self, con) -> None:
        from rootdb.link import houses

        self.result.houses = houses.link_houses(con, self.result.timings)

    def places(self, con) -> None:
        from rootdb.link import places

        self.result.places = places.link_places(con)

    def people_deterministic(self, con) -> None:
        from rootdb.link import people

        self.result.people = {"deterministic": people.deterministic(con)}

    def people_probabilistic(self, con) -> None:
        from rootdb.link import people

        outcome = people.probabilistic(con, self.person_engine, self.model_path, self.retrain, self.threshold,
                                       self.review_from, charts_dir=self.charts)
        self.result.model_trained = outcome["model_trained"]
        self.result.review_pairs = outcome["review_pairs"]
        self.trained_model = outcome["model"]
        if not outcome["training_complete"]:
            self.result.warnings.append(
                "已导入的记录还太少（或没有与公安库身份证号相同的记录），比对模型未能完整训练："
                + ("本次照常比对，模型不保存，以后的比对会在数据更多时重新训练" if self.result.model_trained
                   else "本次沿用已保存的模型"))

    def people_entities(self, con) -> None:
        from rootdb.link import people

        self.result.people["by_method"] = people.assign_entities(con)

    def crosswalk(self, con) -> None:
        _crosswalk(con)
        for entity, n_entities, n_registry in con.execute(
            "SELECT entity_type, count(DISTINCT entity_id), count(DISTINCT registry_key) "
            "FROM crosswalk GROUP BY 1"
        ).fetchall():
            self.result.entities[entity] = n_entities
            self.result.matched_registry[entity] = n_registry

    def golden(self, con) -> None:
        from rootdb.golden import build_golden

        self.result.golden = build_golden(con, self.specs, self.result.timings)


def _publish(con, db_path: Path, result: LinkResult) -> None:
    """The committed database published for the page (`rootdb.serve.published`), timed
    as `publish`. A failure (a full disk) does not fail the link: the page keeps the
    previous copy and the link's result says so."""
    from rootdb.serve.published import publish

    started = time.perf_counter()
    try:
        publish(con, db_path)
    except Exception as exc:  # noqa: BLE001 (whatever stops the copy, the link's work is committed)
        result.warnings.append(f"比对已完成，但未能发布页面用的只读副本（{exc}）：rootdb serve 仍显示上一次发布的数据；"
                               "腾出磁盘空间后再运行一次 rootdb link 即可")
    result.timings["publish"] = round(time.perf_counter() - started, 2)


def link(
    db: str | Path | None = None,
    retrain: bool = False,
    threshold: float = 0.9,
    review_from: float = 0.5,
    charts: str | Path | None = None,
    engine: str = "duckdb",
) -> LinkResult:
    """Resolve people, houses and places by the STAGES, in one transaction; see
    `LinkResult` (its `timings`: seconds per stage, the engine's start and `commit`).
    `engine`: where the splink person model runs (`rootdb.link.engines`) — "duckdb" (in
    process) or "spark" (local mode, or the cluster ROOTDB_SPARK_MASTER names); the rest
    runs in DuckDB."""
    from rootdb.link import engines
    from rootdb.link.model import model_problem, save_model

    if not 0 < review_from <= threshold < 1:
        raise UsageError("阈值须满足 0 < --review-from ≤ --threshold < 1")
    engines.require_known(engine)
    started = time.perf_counter()
    ws = locate(db)
    require_existing(ws)
    person_engine = engines.engine(engine)  # started before the database is opened: no Spark, no run
    model_path = ws.db_path.parent / "models" / MODEL_FILE
    with connect(ws.db_path) as con:
        if not table_exists(con, "files") or not scalar(
            con, "SELECT count(*) FROM files WHERE is_current AND feed = 'registry_persons'"
        ):
            raise UsageError("还没有导入公安实有人口库（registry_persons），无法比对；请先 rootdb ingest 导入")
        run_started = dt.datetime.now()
        con.begin()
        try:
            result = LinkResult(records={}, model_path=str(model_path), timings=dict(person_engine.timings))
            problem = model_problem(model_path)
            if problem:
                result.warnings.append(problem)
                retrain = True
            run = _LinkRun(result, person_engine, model_path, not retrain and model_path.exists(), retrain,
                           threshold, review_from, charts)
            run_stages(con, run.stages(), result.timings)
            watch = Stopwatch(result.timings)
            record_run(con, "link", os_user(), run_started, "ok", result.to_dict(), result.headline())
            pause_point("link.before_commit")
            con.commit()
            watch.lap("commit")
            if run.trained_model is not None:  # only now: a killed run keeps the model that matches the database
                save_model(run.trained_model, model_path)
                result.model_saved = True
        except BaseException as exc:
            con.rollback()
            if out_of_memory(exc):
                from rootdb.link import model

                raise WorkspaceError(
                    f"比对时{out_of_memory_message()}。比对另用 ROOTDB_SPLINK_MEMORY_LIMIT（现为 "
                    f"{model.SPLINK_MEMORY_LIMIT}），请一并调高，例如 ROOTDB_SPLINK_MEMORY_LIMIT=3GB"
                ) from exc  # the cause shows with --debug
            raise  # a full disk is told where every command's failures are (cli.main._run, nightly)
        _publish(con, ws.db_path, result)
    if charts:
        from rootdb.link.model import CHARTS

        result.charts = [str(Path(charts) / name) for name in CHARTS]
    result.seconds = time.perf_counter() - started
    return result
