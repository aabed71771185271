"""The shapes SQL work takes in rootdb: one value of a query (`scalar`), the temporary
tables of one run (`scratch`), a polars frame seen as a table for a few statements
(`registered`), and a run as a list of named stages (`Stage`, `sql_stage`,
`run_stages`) timed stage by stage (`Stopwatch`).

Reads and writes no table of its own: the tables are the caller's. Table names given
here are rootdb's own identifiers, never user text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    import polars as pl


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> Any:
    """The one value a query returns: its first row's first column (a count, a
    sequence's next value, a setting)."""
    return con.execute(sql, params).fetchall()[0][0]


def temp_tables(con: duckdb.DuckDBPyConnection, prefix: str) -> list[str]:
    """The temporary tables whose names begin with `prefix`, by name."""
    return [name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, ?) ORDER BY 1",
        [prefix]).fetchall()]


@contextmanager
def scratch(con: duckdb.DuckDBPyConnection, prefix: str) -> Iterator[None]:
    """The run inside owns every temporary table named `prefix`…: whatever made them
    (a stage's SQL, a hook in another module), they are all dropped when the run ends,
    also when it fails, so no list of them is kept by hand.

    When a failure has aborted the transaction, nothing can be dropped; the rollback
    the caller owes then removes the tables created in it."""
    if not prefix.startswith("_") or len(prefix) < 2:
        raise ValueError(f"scratch prefix {prefix!r}: a run's temporary tables are named _<run>…")
    try:
        yield
    finally:
        try:
            for table in temp_tables(con, prefix):
                con.execute(f'DROP TABLE IF EXISTS "{table}"')
        except duckdb.TransactionException:
            pass


def arrow_view(frame: pl.DataFrame):
    """`frame` as the Arrow table to hand DuckDB: its texts as Arrow string views, which
    share polars' own buffers. Handed over as it is, or by `to_arrow()`, every text would
    be copied into Arrow's older string layout first (a region's registry: 3 GB more while
    it is stored)."""
    import polars as pl

    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> Iterator[str]:
    """`frame` readable as the view `name` inside the block, and gone after it. When the
    block fails, its error is what is raised: in a transaction the failure aborted (an
    interrupted insert: Ctrl+C), unregistering fails too, and must not hide it."""
    con.register(name, arrow_view(frame))
    try:
        yield name
    except BaseException:
        with suppress(duckdb.Error):
            con.unregister(name)
        raise
    con.unregister(name)


@dataclass(frozen=True)
class Stage:
    """One named step of a run: `run(con)` does it."""

    name: str
    run: Callable[[duckdb.DuckDBPyConnection], None]


def sql_stage(name: str, *statements: str) -> Stage:
    """A stage that is only SQL: its statements, run in order."""

    def run(con: duckdb.DuckDBPyConnection) -> None:
        for statement in statements:
            con.execute(statement)

    return Stage(name, run)


class Stopwatch:
    """Seconds per named stage, rounded to 1/100 s, written into `seconds` as each
    stage ends: `lap(name)` closes the stage that began at the previous lap (or when
    the stopwatch was made)."""

    def __init__(self, seconds: dict[str, float], prefix: str = "") -> None:
        self.seconds = seconds
        self.prefix = prefix
        self._clock = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[self.prefix + name] = round(now - self._clock, 2)
        self._clock = now


def run_stages(con: duckdb.DuckDBPyConnection, stages: Sequence[Stage],
               seconds: dict[str, float] | None = None, prefix: str = "") -> None:
    """Run `stages` in order; with `seconds`, each one's time under `prefix` + its name."""
    watch = Stopwatch({} if seconds is None else seconds, prefix)
    for stage in stages:
        stage.run(con)
        watch.lap(stage.name)
