"""The splink model for people: comparisons that work on Chinese names, training on
the data itself, prediction and clustering.

Names are compared by pinyin and by character lists (`substr`/`length` count
characters), never by DuckDB's string distances: DuckDB 2.0.0's `levenshtein` and
`jaro_winkler` counted UTF-8 bytes, 2.0.1's count characters (PITFALLS), so their
meaning on Chinese text has changed once already. IDs (digits and X) are compared by
`levenshtein`, which counts characters on the locked DuckDB (tests/test_link.py pins it).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path

import duckdb
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import And, CustomRule

from rootdb.store import frame_to_table
from rootdb.workspace import KEY_ENV, side_connection

SPLINK_MEMORY_LIMIT = os.environ.get("ROOTDB_SPLINK_MEMORY_LIMIT", "1500MB")

ONE_CHAR_OFF = (
    'length("name_l") = length("name_r") AND list_sum(list_transform(range(1, length("name_l") + 1), '
    'lambda i: (substr("name_l", i, 1) <> substr("name_r", i, 1))::INT)) = 1'
)
SHARE_TWO_CHARS = "len(list_intersect(string_split(\"name_l\", ''), string_split(\"name_r\", ''))) >= 2"
DAY_MONTH_SWAPPED = (
    'year("birth_date_l") = year("birth_date_r") AND month("birth_date_l") = day("birth_date_r") '
    'AND day("birth_date_l") = month("birth_date_r")'
)


def settings() -> SettingsCreator:
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_description="姓名：相同 / 同音 / 一字之差 / 两字相同",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name", term_frequency_adjustments=True),
            {"sql_condition": '"name_pinyin_l" = "name_pinyin_r"', "label_for_charts": "same pinyin"},
            cll.CustomLevel(ONE_CHAR_OFF, label_for_charts="one character off"),
            cll.CustomLevel(SHARE_TWO_CHARS, label_for_charts="two characters shared"),
            cll.ElseLevel(),
        ],
    )
    birth = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(DAY_MONTH_SWAPPED, label_for_charts="day/month swapped"),
            cll.AbsoluteDateDifferenceLevel("birth_date", input_is_string=False, threshold=31, metric="day"),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="link_and_dedupe",
        unique_id_column_name="unique_id",
        source_dataset_column_name="source_dataset",
        comparisons=[
            name,
            birth,
            cl.LevenshteinAtThresholds("id_number", [2]),  # cleaned IDs: digits and X
            cl.ExactMatch("sex"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("house_key"),
        ],
        # Two registry people are never one (the registry is keyed by ID and a cluster
        # holds at most one of them): comparing them would be 60% of the work on a city.
        blocking_rules_to_generate_predictions=[
            And(rule, CustomRule("NOT (l.is_registry AND r.is_registry)"))
            for rule in (
                block_on("id_number"),
                block_on("phone"),
                block_on("house_key"),
                block_on("birth_date", "sex", "substr(name_pinyin, 1, 1)"),
                block_on("name_pinyin", "birth_date"),
            )
        ],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
    )


_SPILL: ContextVar[tuple[duckdb.DuckDBPyConnection, ExitStack] | None] = ContextVar("spill", default=None)


@contextmanager
def spill_inside(workspace_con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """splink's connections opened inside spill into the workspace's temporary folder
    (encrypted when the workspace has a key) and are closed and removed at the end."""
    with ExitStack() as stack:
        token = _SPILL.set((workspace_con, stack))
        try:
            yield
        finally:
            _SPILL.reset(token)


def _connection() -> duckdb.DuckDBPyConnection:
    spill = _SPILL.get()
    if spill is None:
        if os.environ.get(KEY_ENV):
            raise RuntimeError("splink connection outside spill_inside() while the workspace is encrypted")
        return duckdb.connect(config={"memory_limit": SPLINK_MEMORY_LIMIT, "temp_directory": tempfile.gettempdir()})
    workspace_con, stack = spill
    return stack.enter_context(side_connection(workspace_con, SPLINK_MEMORY_LIMIT))


def _linker(registry: pl.DataFrame, feed: pl.DataFrame, model) -> tuple[Linker, duckdb.DuckDBPyConnection]:
    """A linker on its own in-memory DuckDB: splink probes with statements that may
    fail, which would abort the workspace's open transaction."""
    con = _connection()
    con.register("registry_records", registry.to_arrow())
    con.register("feed_records", feed.to_arrow())
    api = DuckDBAPI(connection=con)
    tables = [
        api.register("registry_records", dataset_display_name="registry"),
        api.register("feed_records", dataset_display_name="feed"),
    ]
    return Linker(tables, model, log_level=logging.WARNING), con


def _fit(linker: Linker) -> None:
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number", "name"), block_on("id_number", "birth_date")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=20261101)
    linker.training.estimate_m_from_label_column("label")
    for rule in (block_on("name_pinyin"), block_on("house_key")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, fix_u_probabilities=True, max_pairs=2e6
        )


def train(registry: pl.DataFrame, feed: pl.DataFrame, model_path: Path, engine: str = "duckdb") -> dict:
    """Train on the data: u by random sampling, m from the label column (registry
    records carry their own key, deterministically matched records the registry key),
    then EM for the levels labels never show. Saves the model as JSON (in the DuckDB
    dialect whatever the engine: see `rootdb.link.spark`)."""
    if engine == "spark":
        from rootdb.link import spark

        model = spark.train(registry, feed, settings(), _fit)
    else:
        linker, con = _linker(registry, feed, settings())
        _fit(linker)
        model = linker.misc.save_model_to_json()  # no path: the dict only, written below
        con.close()
    # As splink's save_model_to_json writes it, but atomically.
    _save_atomically(model_path, lambda path: path.write_text(json.dumps(model, indent=4), encoding="utf-8"))
    return model


def _apply_decisions(pairs: pl.DataFrame, decisions: pl.DataFrame, registry_ids: pl.Series) -> pl.DataFrame:
    """An officer's 是 makes a pair certain (added if the model did not propose it),
    否 rules it out."""
    both_ways = pl.concat([
        decisions,
        decisions.select(pl.col("unique_id_r").alias("unique_id_l"), pl.col("unique_id_l").alias("unique_id_r"), "decision"),
    ])
    pairs = pairs.join(both_ways, on=["unique_id_l", "unique_id_r"], how="left").with_columns(
        pl.when(pl.col("decision")).then(1.0).when(~pl.col("decision")).then(0.0)
        .otherwise(pl.col("match_probability")).alias("match_probability"),
        pl.when(pl.col("decision")).then(50.0).when(~pl.col("decision")).then(-50.0)
        .otherwise(pl.col("match_weight")).alias("match_weight"),
    )
    missing = decisions.filter(pl.col("decision")).join(pairs, on=["unique_id_l", "unique_id_r"], how="anti").join(
        pairs, left_on=["unique_id_r", "unique_id_l"], right_on=["unique_id_l", "unique_id_r"], how="anti"
    )
    source = lambda col: pl.when(pl.col(col).is_in(registry_ids.implode())).then(pl.lit("registry")).otherwise(pl.lit("feed"))  # noqa: E731
    added = missing.select(
        "unique_id_l", "unique_id_r", source("unique_id_l").alias("source_dataset_l"),
        source("unique_id_r").alias("source_dataset_r"), pl.lit(1.0).alias("match_probability"),
        pl.lit(50.0).alias("match_weight"), pl.lit(True).alias("decision"),
    )
    return pl.concat([pairs, added], how="diagonal_relaxed")


def _single_best_links(
    registry: pl.DataFrame, feed: pl.DataFrame, model: dict, pairs: pl.DataFrame, threshold: float,
    engine: str = "duckdb",
) -> pl.DataFrame:
    """Clusters holding at most one registry record. Only records with a pair above
    the threshold can join anyone, so splink clusters just those (its clustering
    visits every input record: on a city this is several times faster) and every
    other feed record is a cluster of its own."""
    strong = pairs.filter(pl.col("match_probability") >= threshold)
    nodes = pl.concat([strong["unique_id_l"], strong["unique_id_r"]]).unique().implode()
    clusters = pl.DataFrame(schema={"unique_id": pl.Int64, "source_dataset": pl.String, "cluster_id": pl.String})
    if strong.height and engine == "spark":
        from rootdb.link import spark

        found = spark.single_best_links(
            registry.filter(pl.col("unique_id").is_in(nodes)), feed.filter(pl.col("unique_id").is_in(nodes)), model,
            strong.drop("decision"), threshold,
        )
        clusters = found.select(
            pl.col("unique_id").cast(pl.Int64), "source_dataset", pl.col("cluster_id").cast(pl.String)
        )
    elif strong.height:
        clusterer, con = _linker(
            registry.filter(pl.col("unique_id").is_in(nodes)), feed.filter(pl.col("unique_id").is_in(nodes)), model
        )
        decided = DuckDBAPI(connection=con).register(strong.drop("decision").to_arrow(), table_name="decided_predictions")
        # PITFALLS: on small inputs duckdb 2 may plan this clustering as a nested loop
        # unless join reordering is off; on a city's pairs the reordering is faster.
        small = strong.height < 200_000
        if small:
            con.execute("SET disabled_optimizers = 'join_order'")
        try:
            found = clusterer.clustering.cluster_using_single_best_links(
                decided, duplicate_free_datasets=["registry"], threshold_match_probability=threshold
            )
            clusters = pl.from_arrow(found.as_pyarrow_table()).select(
                pl.col("unique_id").cast(pl.Int64), "source_dataset", pl.col("cluster_id").cast(pl.String)
            )
        finally:
            con.close()
    alone = feed.filter(~pl.col("unique_id").is_in(clusters["unique_id"].implode())).select(
        pl.col("unique_id").cast(pl.Int64), pl.lit("feed").alias("source_dataset"),
        pl.col("unique_id").cast(pl.String).alias("cluster_id"),
    )
    return pl.concat([clusters, alone])


def predict_clusters(
    registry: pl.DataFrame,
    feed: pl.DataFrame,
    model: dict,
    threshold: float,
    review_from: float,
    decisions: pl.DataFrame | None = None,
    charts_dir: Path | None = None,
    engine: str = "duckdb",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(clusters: unique_id, source_dataset, cluster_id, best match probability,
    manual; review pairs: probability between `review_from` and `threshold`, not yet
    decided). `decisions`: unique_id_l, unique_id_r, decision (an officer's 是/否).
    `engine` "spark": prediction and clustering run on Spark (`rootdb.link.spark`);
    the charts are drawn by a DuckDB linker on the same model and pairs."""
    if engine == "spark":
        from rootdb.link import spark

        pairs = spark.predict(registry, feed, model, review_from)
        linker, con = _linker(registry, feed, model) if charts_dir is not None else (None, None)
    else:
        linker, con = _linker(registry, feed, model)
        predictions = linker.inference.predict(threshold_match_probability=review_from, warning_mode="never")
        pairs = pl.from_arrow(predictions.as_pyarrow_table())
    # Two people named in one row (a child and its guardian) are not one person unless
    # the row names them alike (a dibao head is also listed as a member). Record ids
    # carry (file, row) in their upper bits (see records.py).
    same_row = pl.col("unique_id_l").cast(pl.Int64) // 16 == pl.col("unique_id_r").cast(pl.Int64) // 16
    pairs = pairs.filter(~same_row | (pl.col("name_l") == pl.col("name_r")).fill_null(False))
    if decisions is None or decisions.is_empty():
        decisions = pl.DataFrame(schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64, "decision": pl.Boolean})
    pairs = _apply_decisions(pairs.with_columns(pl.col("unique_id_l", "unique_id_r").cast(pl.Int64)),
                             decisions, registry["unique_id"])
    clustered = _single_best_links(registry, feed, model, pairs, threshold, engine)
    if charts_dir is not None:
        write_charts(linker, con, pairs, clustered, charts_dir)
    manual = pairs.filter(pl.col("decision").fill_null(False))
    manual_ids = pl.concat([manual["unique_id_l"], manual["unique_id_r"]]).unique()
    clustered = clustered.with_columns(pl.col("unique_id").is_in(manual_ids.implode()).alias("manual"))
    review = pairs.filter((pl.col("match_probability") < threshold) & pl.col("decision").is_null()).select(
        "unique_id_l", "source_dataset_l", "unique_id_r", "source_dataset_r", "match_probability", "match_weight"
    )
    best = pl.concat(
        [
            pairs.select(pl.col("unique_id_l").alias("unique_id"), "match_probability"),
            pairs.select(pl.col("unique_id_r").alias("unique_id"), "match_probability"),
        ]
    ).group_by("unique_id").agg(pl.col("match_probability").max())
    clustered = clustered.join(best, on="unique_id", how="left")
    if con is not None:
        con.close()
    return clustered, review


# What the charts join records and pairs on: rootdb's and splink's own numbers, kept
# whole (an 18-digit record id may look like an ID number; it is none).
_CHART_KEYS = ("unique_id", "unique_id_l", "unique_id_r", "cluster_id", "source_dataset", "source_dataset_l",
               "source_dataset_r")


def _masked(frame: pl.DataFrame) -> pl.DataFrame:
    """ID numbers and phones masked in every column that holds them (…_l / …_r too), and
    by content in every other text: a registry record's training `label` is its ID."""
    from rootdb.privacy import mask_frame, mask_id, mask_phone

    frame = frame.with_columns(
        *[mask_id(pl.col(c)).alias(c) for c in frame.columns if c.startswith(("id_number", "label"))
          and frame[c].dtype == pl.String],
        *[mask_phone(pl.col(c)).alias(c) for c in frame.columns if c.startswith("phone") and frame[c].dtype == pl.String],
    )
    return mask_frame(frame, keep=[c for c in frame.columns if c in _CHART_KEYS])


CHARTS = ("match_weights.html", "m_u_parameters.html", "comparison_viewer.html", "cluster_studio.html")


def write_charts(
    linker: Linker, con: duckdb.DuckDBPyConnection, pairs: pl.DataFrame, clusters: pl.DataFrame, out: Path
) -> None:
    """splink's charts as self-contained HTML (no network needed to open them), with
    ID numbers and phones masked in the record values they show."""
    out.mkdir(parents=True, exist_ok=True)
    api = DuckDBAPI(connection=con)
    linker.visualisations.match_weights_chart().save(str(out / CHARTS[0]), inline=True)
    linker.visualisations.m_u_parameters_chart().save(str(out / CHARTS[1]), inline=True)
    # Real tables, not views: the dashboards' SQL needs rowid, and the predictions
    # under the name splink's templates use.
    records = pl.concat(
        [pl.from_arrow(con.sql(f"SELECT * FROM {t}").to_arrow_table()) for t in ("registry_records", "feed_records")],
        how="diagonal_relaxed",
    )
    chart_clusters = clusters.join(records.with_columns(pl.col("unique_id").cast(pl.Int64)), on="unique_id")
    for name, frame in (("__splink__df_predict", pairs.drop("decision")), ("chart_clusters", chart_clusters)):
        frame_to_table(con, name, _masked(frame))
    shown_pairs = api.register("__splink__df_predict")
    shown_clusters = api.register("chart_clusters")
    linker.visualisations.comparison_viewer_dashboard(shown_pairs, str(out / CHARTS[2]), overwrite=True,
                                                      num_example_rows=2)
    linker.visualisations.cluster_studio_dashboard(shown_pairs, shown_clusters, str(out / CHARTS[3]),
                                                   sampling_method="by_cluster_size", sample_size=20, overwrite=True)


def load_model(model_path: Path) -> dict | None:
    if not model_path.is_file():
        return None
    return json.loads(model_path.read_text(encoding="utf-8"))


def model_problem(model_path: Path) -> str | None:
    """Why a saved model cannot be used (a file cut short, edited by hand), in Chinese;
    None when it is fine or absent. Such a model is trained again."""
    if not model_path.is_file():
        return None
    try:
        model = json.loads(model_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"比对模型文件 {model_path.name} 已损坏（{type(exc).__name__}），本次重新训练模型"
    if not isinstance(model, dict) or not isinstance(model.get("comparisons"), list):
        return f"比对模型文件 {model_path.name} 不是 rootdb 的模型，本次重新训练模型"
    if _levels(model) != _levels(settings().create_settings_dict("duckdb")):
        return f"比对模型文件 {model_path.name} 的比较项与本版本 rootdb 不一致（被改动过，或来自旧版本），本次重新训练模型"
    levels = [level for c in model["comparisons"] for level in c["comparison_levels"]]
    estimated = [level.get(key) for level in levels for key in ("m_probability", "u_probability")]
    if not _is_probability(model.get("probability_two_random_records_match"), allow_none=False) or \
            not all(_is_probability(p) for p in estimated):
        return f"比对模型文件 {model_path.name} 中有不是概率的参数，本次重新训练模型"
    return None


def _levels(model: dict) -> list:
    """Each comparison's name and its levels' conditions, in order: what a saved model
    must share with `settings()` to be applied to today's records."""
    try:
        return [(c["output_column_name"], [level["sql_condition"] for level in c["comparison_levels"]])
                for c in model["comparisons"]]
    except (KeyError, TypeError):
        return []


def _is_probability(value, allow_none: bool = True) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _save_atomically(model_path: Path, write) -> None:
    """`write(path)` writes the model to a temporary file beside it, renamed into place
    only when complete: a run killed while saving leaves the old model whole."""
    model_path.parent.mkdir(parents=True, exist_ok=True)
    partial = model_path.with_name(f".{model_path.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, model_path)
    finally:
        partial.unlink(missing_ok=True)
