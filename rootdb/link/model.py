"""The splink model for people: comparisons that work on Chinese names, training on
the data itself, prediction and clustering.

DuckDB's levenshtein / jaro_winkler count UTF-8 bytes, so names are compared by
pinyin and by character lists (`substr`/`length` count characters).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import duckdb
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

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
            cl.LevenshteinAtThresholds("id_number", [2]),  # ASCII digits: bytes are characters
            cl.ExactMatch("sex"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("house_key"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("phone"),
            block_on("house_key"),
            block_on("birth_date", "sex"),
            block_on("name_pinyin", "birth_date"),
        ],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
    )


def _linker(registry: pl.DataFrame, feed: pl.DataFrame, model) -> tuple[Linker, duckdb.DuckDBPyConnection]:
    """A linker on its own in-memory DuckDB: splink probes with statements that may
    fail, which would abort the workspace's open transaction."""
    con = duckdb.connect(config={"memory_limit": SPLINK_MEMORY_LIMIT, "temp_directory": tempfile.gettempdir()})
    con.register("registry_records", registry.to_arrow())
    con.register("feed_records", feed.to_arrow())
    api = DuckDBAPI(connection=con)
    tables = [
        api.register("registry_records", dataset_display_name="registry"),
        api.register("feed_records", dataset_display_name="feed"),
    ]
    return Linker(tables, model, log_level=logging.WARNING), con


def train(registry: pl.DataFrame, feed: pl.DataFrame, model_path: Path) -> dict:
    """Train on the data: u by random sampling, m from the label column (registry
    records carry their own key, deterministically matched records the registry key),
    then EM for the levels labels never show. Saves the model as JSON."""
    linker, con = _linker(registry, feed, settings())
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number", "name"), block_on("id_number", "birth_date")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=20261101)
    linker.training.estimate_m_from_label_column("label")
    for rule in (block_on("name_pinyin"), block_on("house_key")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, fix_u_probabilities=True, max_pairs=2e6
        )
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model = linker.misc.save_model_to_json(str(model_path), overwrite=True)
    con.close()
    return model


def predict_clusters(
    registry: pl.DataFrame, feed: pl.DataFrame, model: dict, threshold: float, review_from: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(clusters: unique_id, source_dataset, cluster_id, best match probability;
    review pairs: probability between `review_from` and `threshold`)."""
    linker, con = _linker(registry, feed, model)
    predictions = linker.inference.predict(threshold_match_probability=review_from, warning_mode="never")
    con.execute("SET disabled_optimizers = 'join_order'")  # PITFALLS: nested-loop plan otherwise
    try:
        clusters = linker.clustering.cluster_using_single_best_links(
            predictions, duplicate_free_datasets=["registry"], threshold_match_probability=threshold
        )
    finally:
        con.execute("RESET disabled_optimizers")
    pairs = pl.from_arrow(predictions.as_pyarrow_table())
    clustered = pl.from_arrow(clusters.as_pyarrow_table()).select("unique_id", "source_dataset", "cluster_id")
    review = pairs.filter(pl.col("match_probability") < threshold).select(
        "unique_id_l", "source_dataset_l", "unique_id_r", "source_dataset_r", "match_probability", "match_weight"
    )
    best = pl.concat(
        [
            pairs.select(pl.col("unique_id_l").alias("unique_id"), "match_probability"),
            pairs.select(pl.col("unique_id_r").alias("unique_id"), "match_probability"),
        ]
    ).group_by("unique_id").agg(pl.col("match_probability").max())
    clustered = clustered.join(best, on="unique_id", how="left")
    con.close()
    return clustered, review


def load_model(model_path: Path) -> dict | None:
    if not model_path.is_file():
        return None
    return json.loads(model_path.read_text(encoding="utf-8"))
