"""Where splink's person model runs: the `Engine` every engine implements, and
`engine(name)` to choose one (`rootdb link --engine`).

- `duckdb` (`engines/duckdb.py`): in process, on DuckDB connections of its own beside
  the workspace's;
- `spark` (`engines/spark.py`): splink's Spark backend, in local mode or on a cluster.

Engines take and give polars frames and models in the workspace's form (the DuckDB
dialect of `rootdb.link.model`: a model saved by either engine runs on both); each
builds the model's SQL for its own dialect. They read and write no workspace table:
`rootdb.link.people` gives them records and stores what they find.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl

from rootdb.errors import UsageError

NAMES = ("duckdb", "spark")


class Engine(Protocol):
    """Training, prediction and clustering of the person model. `workspace` is the
    workspace's connection: an engine that can keeps its scratch data inside its
    temporary folder (encrypted with the workspace). `registry` and `feed` are the
    model's records (`people._splink_inputs`)."""

    timings: dict[str, float]  # what starting the engine took, by stage

    def train(self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame,
              training: pl.DataFrame) -> tuple[dict, bool]:
        """The model trained by `model.fit`, in the workspace's form, and whether its
        training was complete (`fit`'s answer)."""

    def predict(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        threshold: float,
    ) -> pl.DataFrame:
        """The pairs at or above `threshold`, as splink's `linker.inference.predict` gives them."""

    def cluster(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        pairs: pl.DataFrame, threshold: float,
    ) -> pl.DataFrame:
        """splink's single-best-links clustering of `pairs` (at most one registry record
        per cluster): unique_id (Int64), source_dataset, cluster_id (String)."""

    def write_charts(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        pairs: pl.DataFrame, clusters: pl.DataFrame, out: Path,
    ) -> None:
        """splink's charts of the model, the pairs and the clusters (`model.CHARTS`) in `out`."""


def require_known(name: str) -> None:
    if name not in NAMES:
        raise UsageError(f"未知的比对引擎 {name!r}：可选 {' / '.join(NAMES)}")


def engine(name: str) -> Engine:
    """The engine called `name`, started: Spark's session starts here, so that a
    missing Spark is said before any work is done."""
    require_known(name)
    if name == "spark":
        from rootdb.link.engines.spark import SparkEngine

        return SparkEngine()
    from rootdb.link.engines.duckdb import DuckDBEngine

    return DuckDBEngine()
