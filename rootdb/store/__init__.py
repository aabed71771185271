"""The DuckDB store: rootdb's own tables and the per-feed tables.

Tables (all in one database file):
- `batches`: every ingest and link run (who, when, what came of it, as JSON); an ingest
  is recorded as `running` when it starts (with its process id) and finished at its
  end, so a killed run stays visible;
- `files`: every delivered file (one row per sheet read from a workbook) that loaded:
  feed, hash, rows, the date the delivery states (`delivery_date`, and on what basis:
  文件名 / 标题行 / 文件修改时间), the part of the feed it is (`part`: a community or
  grid, NULL for a whole-feed delivery, and `part_basis`: what named it), which
  deliveries are current (the latest of every part);
- `raw_<feed>`: every data row as delivered (text), keyed by (file_id, source_row);
- `rec_<feed>`: the typed, cleaned records of loaded rows, same key;
- `row_issues`: problems found in loaded rows (bad ID checksum, impossible date, …);
- `quarantine`: rows that could not identify their record, with reason and original values;
- views `<feed>` (the current snapshot of each feed: the union of the latest delivery of
  every part) and `<feed>_history` (all snapshots, with their part).

`rootdb.store.sql` holds the shapes SQL work takes everywhere: `scalar`, the temporary
tables a run owns (`scratch`), and runs as lists of named, timed stages.
"""

from __future__ import annotations

import re

import duckdb
import polars as pl

from rootdb.store.sql import registered, scalar

SCHEMA_VERSION = 1  # of the workspace database's tables (rootdb_meta), raised when their meaning changes
# An entity id as link makes them, upper-cased: P00000001, H + 地址编码, HN + hash, S…
ENTITY_ID = re.compile(r"[A-Z][0-9A-Z]{1,40}")

_DDL = """
CREATE SEQUENCE IF NOT EXISTS batch_id_seq START 1;
CREATE SEQUENCE IF NOT EXISTS file_id_seq START 1;
CREATE TABLE IF NOT EXISTS rootdb_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS batches (
    batch_id BIGINT PRIMARY KEY,
    command VARCHAR,
    os_user VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    status VARCHAR,
    summary JSON
);
CREATE TABLE IF NOT EXISTS files (
    file_id BIGINT PRIMARY KEY,
    batch_id BIGINT,
    feed VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_path VARCHAR,
    sha256 VARCHAR NOT NULL,
    size_bytes BIGINT,
    encoding VARCHAR,
    sheet VARCHAR,
    header_row INTEGER,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_quarantined BIGINT,
    loaded_at TIMESTAMP,
    is_current BOOLEAN,
    replaced_by BIGINT,
    headers JSON
);
ALTER TABLE files ADD COLUMN IF NOT EXISTS delivery_date DATE;
ALTER TABLE files ADD COLUMN IF NOT EXISTS delivery_basis VARCHAR;
ALTER TABLE files ADD COLUMN IF NOT EXISTS part VARCHAR;
ALTER TABLE files ADD COLUMN IF NOT EXISTS part_basis VARCHAR;
CREATE TABLE IF NOT EXISTS row_issues (
    file_id BIGINT,
    feed VARCHAR,
    source_row BIGINT,
    field VARCHAR,
    header VARCHAR,
    code VARCHAR,
    message VARCHAR,
    value VARCHAR
);
CREATE TABLE IF NOT EXISTS quarantine (
    file_id BIGINT,
    feed VARCHAR,
    source_file VARCHAR,
    source_row BIGINT,
    reason VARCHAR,
    original JSON
);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_DDL)
    con.execute(
        "INSERT INTO rootdb_meta VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
        [str(SCHEMA_VERSION)],
    )


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
    ).fetchall()
    return bool(rows)


def require_linked(con: duckdb.DuckDBPyConnection, *tables: str, then: str = "") -> None:
    """The one "link first" check: a usage error when any of `tables` (written by
    `rootdb link`) is not there, naming them only when some are (never linked: nothing to
    name); `then` says what to do after."""
    from rootdb.errors import UsageError

    missing = [t for t in tables if not table_exists(con, t)]
    if len(missing) == len(tables):  # never linked: nothing to name
        raise UsageError(f"还没有比对结果：请先运行 rootdb link{then}")
    if missing:  # linked by an older version, or a link cut short
        raise UsageError(f"比对结果不完整（缺少 {'、'.join(missing)}）：请重新运行 rootdb link{then}")


def append_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Insert a polars frame by column name, creating the table or adding new columns.

    `table` is an identifier built from a validated feed code, never user text.
    """
    with registered(con, "_incoming", frame):
        if not table_exists(con, table):
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _incoming')
            return
        existing = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?",
                [table],
            ).fetchall()
        }
        for name, dtype, *_ in con.execute("DESCRIBE SELECT * FROM _incoming").fetchall():
            if name not in existing:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {dtype}')
        if frame.height:
            con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _incoming')


def frame_to_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, temp: bool = False) -> None:
    """(Re)create `table` holding a polars frame. `table` is one of rootdb's own names."""
    with registered(con, "_frame_to_table", frame):
        con.execute(f'CREATE OR REPLACE {"TEMP " if temp else ""}TABLE {table} AS SELECT * FROM _frame_to_table')


def refresh_feed_views(con: duckdb.DuckDBPyConnection, feed: str) -> None:
    """`<feed>`: the records of the feed's current snapshot (the current delivery of
    every part, see `rootdb.ingest.parts`); `<feed>_history`: all."""
    con.execute(
        f'CREATE OR REPLACE VIEW "{feed}" AS SELECT r.* FROM "rec_{feed}" r '
        f"JOIN files f USING (file_id) WHERE f.is_current"
    )
    con.execute(
        f'CREATE OR REPLACE VIEW "{feed}_history" AS SELECT f.batch_id, f.file_name, f.loaded_at, '
        f'f.is_current, f.part AS delivery_part, r.* FROM "rec_{feed}" r JOIN files f USING (file_id)'
    )


def fetch_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> pl.DataFrame:
    """A query's result as a polars frame (values bound as parameters)."""
    return con.sql(sql, params=params).pl()


def record_run(
    con: duckdb.DuckDBPyConnection, command: str, user: str, started, status: str, summary: dict, headline: str,
    batch_id: int | None = None,
) -> int:
    """A row of `batches` for any run (ingest, link, …): what `rootdb status` lists.
    `headline` is the one line a data officer reads there."""
    import datetime as dt
    import json

    if batch_id is None:
        batch_id = scalar(con, "SELECT nextval('batch_id_seq')")
    con.execute(
        "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
        [batch_id, command, user, started, dt.datetime.now(), status,
         json.dumps({**summary, "headline": headline}, ensure_ascii=False, default=str)],
    )
    return batch_id


def start_run(con: duckdb.DuckDBPyConnection, command: str, user: str, started) -> int:
    """A row of `batches` for a run that has begun (`running`, with this process's id and
    host), committed at once: a run killed midway is still listed (`rootdb status` tells
    a finished run from one whose process is gone). `finish_run` completes it."""
    import json
    import os
    import socket

    batch_id = scalar(con, "SELECT nextval('batch_id_seq')")
    con.execute(
        "INSERT INTO batches VALUES (?, ?, ?, ?, NULL, 'running', ?)",
        [batch_id, command, user, started,
         json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "headline": "正在运行"}, ensure_ascii=False)],
    )
    return batch_id


def finish_run(con: duckdb.DuckDBPyConnection, batch_id: int, status: str, summary: dict, headline: str) -> None:
    """Complete the `batches` row `start_run` began."""
    import datetime as dt
    import json

    con.execute(
        "UPDATE batches SET finished_at = ?, status = ?, summary = ? WHERE batch_id = ?",
        [dt.datetime.now(), status, json.dumps({**summary, "headline": headline}, ensure_ascii=False, default=str),
         batch_id],
    )
