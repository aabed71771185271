"""What the page shows, read from a cursor whose report tables are prepared for the
user's scope (`rootdb.serve.prepared`): the residents list, the people due a visit
(R40's rows), the open events, the notify draft. Everything a list shows is masked
here (IDs and phones, and any ID or mobile inside a text); the card and the floor
plans come from `rootdb.commands.card.card_on` and `rootdb.reports.floorplans`.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import duckdb
import polars as pl

from rootdb.errors import UsageError
from rootdb.privacy import mask_frame
from rootdb.reports.notify import build_messages, find_template, load_template, TEMPLATE_SUFFIX
from rootdb.reports.query import PersonQuery, collect_people, mask_people
from rootdb.resources import bundled_dir
from rootdb.specs import load_specs
from rootdb.store import fetch_frame
from rootdb.store.sql import scalar

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
# The contract's keys of a resident (GET /api/residents), from the query's columns.
RESIDENT_KEYS = {"人员编号": "entity_id", "姓名": "姓名", "身份证号": "身份证号", "性别": "性别", "年龄": "年龄",
                 "社区": "社区", "网格": "网格", "住址": "住址", "联系电话": "联系电话"}


def residents(con: duckdb.DuckDBPyConnection, query: PersonQuery, name: str | None, limit: int,
              offset: int) -> tuple[list[dict], int]:
    """One page of the living residents that meet `query` (and whose name holds `name`),
    masked, in the contract's keys; and how many match in all."""
    collect_people(con, query, guardians_ready=True)  # PreparedCache built them
    params = {"name": (name or "").strip() or None}
    where = "WHERE CAST($name AS VARCHAR) IS NULL OR contains(姓名, $name)"
    total = scalar(con, f"SELECT count(*) FROM q_people {where}", params)
    page = fetch_frame(con, f"SELECT * FROM q_people {where} LIMIT $limit OFFSET $offset",
                       params | {"limit": limit, "offset": offset})
    page = mask_people(page.select(list(RESIDENT_KEYS))).rename(RESIDENT_KEYS)
    return page.to_dicts(), total


# R40's rows (special-group residents not visited in 90 days: r_special_visits of
# _base.sql), with the entity ids the page's visit form needs, in R40's order.
_DUE = """
SELECT p.person_id AS entity_id, p.house_id, p.display_name AS name, p.sex, p.age, p.grid, s.special_groups,
       coalesce(strftime(s.last_visit, '%Y-%m-%d'), '从未走访') AS last_visit,
       $as_of::DATE - s.last_visit AS days_since, p.short_address AS address
FROM r_special_visits s
JOIN r_persons p USING (person_id)
LEFT JOIN r_grids g ON g.community = p.community AND g.grid = p.grid
WHERE NOT s.visited_90d
ORDER BY g.sort_key NULLS LAST, p.address NULLS LAST, p.house_id, p.age DESC NULLS LAST, p.person_id
"""


def due_visits(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[dict]:
    """The people of the scope due a visit (R40), masked."""
    return mask_frame(fetch_frame(con, _DUE, {"as_of": as_of}), keep=["entity_id", "house_id"]).to_dicts()


# The open events of the prepared area (r_open_events of _base.sql, overdue first); the
# person is named only when within the scope.
_EVENTS = """
SELECT event_no, strftime(reported_at, '%Y-%m-%d %H:%M') AS reported_at, strftime(deadline, '%Y-%m-%d %H:%M') AS deadline,
       days_overdue, coalesce(status, '（未填）') AS status, source, concat_ws('／', category, subcategory) AS kind,
       description, location, CASE WHEN person_in_area THEN person_id END AS person_id,
       CASE WHEN person_in_area THEN person_name END AS person_name, handling_dept, grid
FROM r_open_events
ORDER BY days_overdue DESC NULLS LAST, reported_at DESC, event_no
"""


def open_events(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The open events of the prepared scope at its as-of date, overdue first, masked."""
    return mask_frame(fetch_frame(con, _EVENTS), keep=["event_no", "person_id"]).to_dicts()


def grids(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(community, grid) of the prepared area, in the registry's order."""
    return con.execute("SELECT community, grid FROM r_grids ORDER BY sort_key").fetchall()


@cache
def visit_types() -> list[str]:
    """The 走访类型 a visit may have: the values of `visit_type` in the schemas of the feeds
    that keep visits (`keeps: visits`)."""
    types = [v for spec in load_specs().values() if spec.keeps == "visits"
             for v in spec.column("visit_type").values or []]
    return list(dict.fromkeys(types))


def message_templates() -> list[str]:
    """The names of the message templates rootdb ships (the page offers these only)."""
    folder = bundled_dir("report_templates") / "messages"
    return sorted(p.name.removesuffix(TEMPLATE_SUFFIX) for p in folder.glob(f"*{TEMPLATE_SUFFIX}"))


def notify_draft(con: duckdb.DuckDBPyConnection, query: PersonQuery, template: str, as_of: dt.date,
                 unmasked: bool) -> tuple[int, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(people found, messages, people without a mobile, who each message is about) of
    a shipped template for the people of `query`; phones masked unless `unmasked`."""
    if template not in message_templates():
        raise UsageError(f"没有短信模板“{template}”；可用：{'、'.join(message_templates())}")
    compiled = load_template(find_template(template))
    people, messages, no_phone, about = build_messages(con, query, compiled, as_of)
    if not unmasked:
        messages, no_phone = mask_people(messages), mask_people(no_phone)
    return people, messages, no_phone, about
