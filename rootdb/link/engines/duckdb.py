"""The person model on DuckDB (the default engine): splink's `DuckDBAPI` on an in-memory
DuckDB of its own beside the workspace's — splink probes with statements that may fail,
which would abort the workspace's open transaction. Each such connection spills into the
workspace's temporary folder (encrypted when the workspace has a key) within
`model.SPLINK_MEMORY_LIMIT`, and is closed and removed when its work is done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
from splink import DuckDBAPI, Linker, SettingsCreator

from rootdb.link import model as person_model
from rootdb.store.sql import arrow_view
from rootdb.workspace import memory_limit, side_connection

DIALECT = "duckdb"
# PITFALLS: on small inputs duckdb 2 may plan the clustering as a nested loop unless
# join reordering is off; on a city's pairs the reordering is faster.
SMALL_CLUSTERING = 200_000


@contextmanager
def _linker(
    workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict | SettingsCreator
) -> Iterator[tuple[Linker, duckdb.DuckDBPyConnection]]:
    """A linker on the registry and feed records, on a connection of its own."""
    limit = memory_limit("ROOTDB_SPLINK_MEMORY_LIMIT", person_model.SPLINK_MEMORY_LIMIT)
    with side_connection(workspace, limit) as con:
        con.register("registry_records", arrow_view(registry))
        con.register("feed_records", arrow_view(feed))
        api = DuckDBAPI(connection=con)
        tables = [
            api.register("registry_records", dataset_display_name="registry"),
            api.register("feed_records", dataset_display_name="feed"),
        ]
        yield Linker(tables, model, log_level=logging.WARNING), con


class DuckDBEngine:
    """See `rootdb.link.engines.Engine`. The workspace's model file is in this engine's
    dialect: models go in and out as they are."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def train(self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame,
              training: pl.DataFrame) -> tuple[dict, bool]:
        with _linker(workspace, registry, training, person_model.settings(DIALECT)) as (linker, _):
            complete = person_model.fit(linker)
            return linker.misc.save_model_to_json(), complete  # no path: the dict only

    def predict(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        threshold: float,
    ) -> pl.DataFrame:
        with _linker(workspace, registry, feed, model) as (linker, _):
            predictions = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
            return pl.from_arrow(predictions.as_pyarrow_table())

    def cluster(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        pairs: pl.DataFrame, threshold: float,
    ) -> pl.DataFrame:
        with _linker(workspace, registry, feed, model) as (linker, con):
            decided = DuckDBAPI(connection=con).register(arrow_view(pairs), table_name="decided_predictions")
            if pairs.height < SMALL_CLUSTERING:
                con.execute("SET disabled_optimizers = 'join_order'")
            found = linker.clustering.cluster_using_single_best_links(
                decided, duplicate_free_datasets=["registry"], threshold_match_probability=threshold
            )
            return pl.from_arrow(found.as_pyarrow_table()).select(
                pl.col("unique_id").cast(pl.Int64), "source_dataset", pl.col("cluster_id").cast(pl.String)
            )

    def write_charts(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        pairs: pl.DataFrame, clusters: pl.DataFrame, out: Path,
    ) -> None:
        with _linker(workspace, registry, feed, model) as (linker, con):
            person_model.write_charts(linker, con, pairs, clusters, out)
