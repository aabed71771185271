"""Golden events and visits: the grid platform's events (诉求) and the grid workers' home
visits, one row each, with the person, house or place and grid they concern.

Which feeds deliver them is in their schemas (`keeps: events` / `keeps: visits`,
rootdb.specs.models.KEPT_TABLES names the fields such a feed has). A record delivered
twice (two current parts, a repeated row) is kept once: its newest delivery's last row
(by delivery date, then load time: an older export loaded later never wins).

- `golden_events`: event_no, reported_at, deadline (上报时间 + 办理时限), the delivered
  fields, person_entity_id (当事人), house_entity_id / place_entity_id (事发地址: a house,
  a place, or neither for a public spot), community and grid (the house's or the place's
  premises', else the platform's 所属网格 when it names one grid of the registry), and
  on_time (办结时间 ≤ deadline; a time written as a date alone is compared by date; none
  for a 办结时间 before the 上报时间 or a 办理时限 outside 0–366 days).
- `golden_visits`: visit_no, visit_date, the delivered fields, house_entity_id (走访地址),
  person_entity_id (被访人, when named), community and grid (the house's, else the 网格 as
  written when it names one grid).

A grid written as text (所属网格, 网格) names one grid of the standard address registry
when exactly one grid has that name (第四网格), or the community's name and the grid's
(建设社区第四网格), or the community is the part the file was delivered for.

Reads the feeds' views, the link tables, `files`, `golden_houses`, `golden_places`;
writes `golden_events`, `golden_visits` (working tables `_gv…`, dropped by rootdb.golden's
scratch).
"""

from __future__ import annotations

import duckdb

from rootdb.specs import FeedSpec
from rootdb.specs.meaning import sql_name, sql_text
from rootdb.specs.models import KEPT_TABLES
from rootdb.store import table_exists

_SQL_TYPES = {"datetime": "TIMESTAMP", "date": "DATE", "int": "BIGINT"}
# A 办理时限 beyond a year (a phone number typed in the column) or below zero is no time
# limit: the event gets no deadline, is never overdue and never on time.
MAX_TIME_LIMIT_DAYS = 366


def _kept_rows(con: duckdb.DuckDBPyConnection, kept: str, key: str, specs: dict[str, FeedSpec]) -> None:
    """`_gv_<kept>`: the current rows of the loaded feeds that keep `kept`, each record
    (`key`) once, with feed, file_id, source_row, the file's part and the fields of
    KEPT_TABLES."""
    fields = ", ".join(f"r.{sql_name(f)}" for f in KEPT_TABLES[kept]["fields"])
    selects = [f"SELECT {sql_text(code)} AS feed, r.file_id, r.source_row, {fields} FROM {sql_name(code)} r"
               for code, spec in sorted(specs.items()) if spec.keeps == kept and table_exists(con, code)]
    if not selects:  # no such feed loaded: an empty table of the same columns
        columns = ", ".join(f"NULL::{_SQL_TYPES.get(t, 'VARCHAR')} AS {sql_name(f)}"
                            for f, t in KEPT_TABLES[kept]["fields"].items())
        selects = [f"SELECT NULL::VARCHAR AS feed, NULL::BIGINT AS file_id, NULL::BIGINT AS source_row, {columns} "
                   "WHERE false"]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _gv_{kept} AS
        SELECT * EXCLUDE (k) FROM (
            SELECT r.*, f.part, row_number() OVER (
                PARTITION BY r.{key}
                ORDER BY f.delivery_date DESC NULLS LAST, f.loaded_at DESC, r.file_id DESC, r.source_row DESC) AS k
            FROM ({" UNION ALL BY NAME ".join(selects)}) r JOIN files f USING (file_id)
            WHERE r.{key} IS NOT NULL
        ) WHERE k = 1
    """)


def _written_grids(con: duckdb.DuckDBPyConnection, source: str, column: str) -> None:
    """`_gv_grid_<source>`: (file_id, source_row, community, grid) for the rows of `_gv_<source>`
    whose `column` names exactly one grid of the standard address registry. A text names
    a grid it is, or ends with while it also has the grid's community in it; each
    distinct text (with the part it came in) is matched once, by its endings of the
    lengths grid names have (an equi-join: a region has thousands of grids)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _gv_grid_{source} AS
        WITH grids AS (SELECT DISTINCT community, grid FROM golden_houses
                       WHERE registry_key IS NOT NULL AND grid IS NOT NULL),
             lengths AS (SELECT DISTINCT length(grid) AS n FROM grids),
             written AS (SELECT file_id, source_row, part, regexp_replace({column}, '\\s', '', 'g') AS t
                         FROM _gv_{source} WHERE {column} IS NOT NULL),
             texts AS (SELECT DISTINCT t, part FROM written),
             named AS (SELECT x.t, x.part, g.community, g.grid,
                              count(*) OVER (PARTITION BY x.t, x.part) AS n,
                              count(*) FILTER (WHERE g.community = x.part)
                                  OVER (PARTITION BY x.t, x.part) AS n_part,
                              g.community = x.part AS in_part
                       FROM texts x JOIN lengths l ON l.n <= length(x.t)
                       JOIN grids g ON g.grid = right(x.t, l.n)
                       WHERE x.t = g.grid OR contains(x.t, g.community))
        SELECT w.file_id, w.source_row, m.community, m.grid
        FROM written w JOIN named m ON m.t = w.t AND m.part IS NOT DISTINCT FROM w.part
        WHERE m.n = 1 OR (m.n_part = 1 AND m.in_part)
    """)


def _linked(table: str, role: str) -> str:
    """(file_id, source_row, entity_id) of the records of `role` in link_<table>_records."""
    return f"""(SELECT r.file_id, r.source_row, m.entity_id
                FROM link_{table}_records r JOIN link_{table}_matches m USING (record_id)
                WHERE r.role = {sql_text(role)})"""


def build_golden_events(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec]) -> None:
    """golden_events, one row per event number."""
    _kept_rows(con, "events", "event_no", specs)
    _written_grids(con, "events", "platform_grid")
    con.execute(f"""
        CREATE OR REPLACE TABLE golden_events AS
        WITH e AS (
            SELECT e.*, CASE WHEN e.time_limit_days BETWEEN 0 AND {MAX_TIME_LIMIT_DAYS}
                             THEN e.reported_at + to_days(e.time_limit_days::INTEGER) END AS deadline,
                   p.entity_id AS person_entity_id, h.entity_id AS house_entity_id, pl.entity_id AS place_entity_id,
                   coalesce(h.entity_id, gp.house_entity_id) AS at_house
            FROM _gv_events e
            LEFT JOIN {_linked("person", "person")} p USING (file_id, source_row)
            LEFT JOIN {_linked("house", "location")} h USING (file_id, source_row)
            LEFT JOIN {_linked("place", "location")} pl USING (file_id, source_row)
            LEFT JOIN golden_places gp ON gp.entity_id = pl.entity_id
        )
        SELECT e.event_no, e.reported_at, e.deadline, e.source, e.category, e.subcategory, e.description,
               e.incident_address, e.person_entity_id, e.house_entity_id, e.place_entity_id,
               CASE WHEN gh.grid IS NOT NULL THEN gh.community ELSE w.community END AS community,
               coalesce(gh.grid, w.grid) AS grid, e.platform_grid, e.handling_dept, e.status, e.time_limit_days,
               e.closed_at, e.satisfaction,
               CASE WHEN e.status = '已办结' AND e.closed_at IS NOT NULL AND e.deadline IS NOT NULL
                         AND e.closed_at::DATE >= e.reported_at::DATE THEN
                   CASE WHEN e.closed_at::TIME = TIME '00:00' OR e.reported_at::TIME = TIME '00:00'
                        THEN e.closed_at::DATE <= e.deadline::DATE
                        ELSE e.closed_at <= e.deadline END
               END AS on_time,
               e.feed, e.file_id, e.source_row
        FROM e
        LEFT JOIN golden_houses gh ON gh.entity_id = e.at_house AND gh.registry_key IS NOT NULL
        LEFT JOIN _gv_grid_events w USING (file_id, source_row)
        ORDER BY e.reported_at, e.event_no
    """)


def build_golden_visits(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec]) -> None:
    """golden_visits, one row per visit number."""
    _kept_rows(con, "visits", "visit_no", specs)
    _written_grids(con, "visits", "grid")
    con.execute(f"""
        CREATE OR REPLACE TABLE golden_visits AS
        SELECT v.visit_no, v.visit_date, h.entity_id AS house_entity_id, p.entity_id AS person_entity_id,
               CASE WHEN gh.grid IS NOT NULL THEN gh.community ELSE w.community END AS community,
               coalesce(gh.grid, w.grid) AS grid, v.grid AS written_grid, v.grid_worker, v.visit_address,
               v.visit_type, v.problems, v.event_no, v.feed, v.file_id, v.source_row
        FROM _gv_visits v
        LEFT JOIN {_linked("person", "person")} p USING (file_id, source_row)
        LEFT JOIN {_linked("house", "residence")} h USING (file_id, source_row)
        LEFT JOIN golden_houses gh ON gh.entity_id = h.entity_id AND gh.registry_key IS NOT NULL
        LEFT JOIN _gv_grid_visits w USING (file_id, source_row)
        ORDER BY v.visit_date, v.visit_no
    """)
