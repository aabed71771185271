"""`rootdb card`: one household's story in one place — the house, everyone living there
(age, 户籍/流动, relation to the head, special groups and what the feeds that make them
say: the disease and level of a 慢病 record, the doctor's team of a 签约, the amount of a
benefit), who moved out of it or died there, the events that concern them and their
last visits. `rootdb serve` shows the same card (`GET /api/residents/{entity_id}`).

The card is looked up by a name, an 18-digit ID, or an entity id (a person's P…, a
house's H…) within a `Scope`: a person outside it is not found, exactly like an
unknown one. A name several people have gives the candidates instead (`exit_code` 2).

Built on the report tables (`rootdb.reports.engine.prepare`, report_templates/_base.sql:
r_persons, r_houses, r_feed_persons, _r_group_rows) and golden_events / golden_visits.
What a group's row says is read through the feed schemas (`group_details_sql`): no feed is
named here. Unless `unmasked`, IDs and phones are masked and birth dates left out (beside
a masked ID they would give the whole ID back). Reads the golden, link and feed
tables; writes `audit_log` (every card and every list of candidates shown).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from rootdb.commands import Scope
from rootdb.errors import ExitCode, UsageError
from rootdb.privacy import mask_frame, mask_id, mask_phone, mask_strings
from rootdb.reports.engine import prepare
from rootdb.reports.query import ALL_GROUPS, audit, resolve_area
from rootdb.specs import FeedSpec, load_specs
from rootdb.specs.meaning import sql_name, sql_text
from rootdb.store import ENTITY_ID, fetch_frame, table_exists
from rootdb.workspace import open_existing

VISITS_SHOWN = 5  # the last visits a card lists (visits_total counts them all)
_ID18 = re.compile(r"\d{17}[\dX]")
# Columns that are keys rootdb makes, never masked by content.
_KEYS = ("entity_id", "person_entity_id", "house_entity_id", "owner_entity_id", "event_no", "visit_no")


class NotFound(UsageError):
    """No one in the scope answers to what was typed: an unknown person and one outside
    the scope get this same error (the page answers both with 404)."""


@dataclass
class CardResult:
    """The card of `house` (None: a person who lives in no known house, alone on it).

    `members` live there (living, not moved out), head first; `former` moved out or died
    there; `focus` is the person asked for (None when a house was). Rows are dicts with
    English keys and values as delivered (dates as ISO text). With `candidates` (a name
    several people have) nothing else is filled and `exit_code` is 2."""

    lookup: str
    as_of: str
    masked: bool = True
    focus: str | None = None
    house: dict | None = None
    members: list[dict] = field(default_factory=list)
    former: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    visits: list[dict] = field(default_factory=list)
    visits_total: int = 0
    candidates: list[dict] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.USAGE if self.candidates else ExitCode.OK

    @property
    def ambiguity(self) -> str | None:
        """The usage message of a name several people have; None for a card."""
        if not self.candidates:
            return None
        return (f"有 {len(self.candidates)} 人叫“{self.lookup}”，请用身份证号或人员编号指定，"
                f"如 rootdb card {self.candidates[0]['entity_id']}")

    def to_dict(self) -> dict:
        return {"lookup": self.lookup, "as_of": self.as_of, "masked": self.masked, "focus": self.focus,
                "house": self.house, "members": self.members, "former": self.former, "events": self.events,
                "visits": self.visits, "visits_total": self.visits_total, "candidates": self.candidates,
                "message": self.ambiguity}


# ------------------------------------------------------------------ what a group's row says

def detail_fields(spec: FeedSpec) -> list:
    """The columns of a group feed that say something about the membership: every column
    but those naming who or where (its roles' fields: the card has them from the golden
    record), the department's record number (`record_key`) and the field that makes a row
    current (`active`: the same value on every current row). For the 慢性病 records that
    leaves the disease, the management level and the responsible doctor; for a 签约 the
    team, date and package; for a benefit its category and amount. Derived from the
    schema, so a new group feed needs no code."""
    named = {f for role in spec.roles for f in role.fields.values()} | set(spec.record_key)
    if spec.active is not None:
        named.add(spec.active.field)
    return [c for c in spec.columns if c.field not in named]


def _shown(field_type: str, column: str) -> str:
    """SQL: a group row's value as the card shows it (an amount with two decimals, a date
    as 2026-11-01)."""
    if field_type == "money":
        return f"printf('%.2f', {column})"
    if field_type == "date":
        return f"strftime({column}, '%Y-%m-%d')"
    return f"CAST({column} AS VARCHAR)"


def group_details_sql(specs: dict[str, FeedSpec]) -> str:
    """SQL: (person_id, grp, feed, fields) for the current group rows of the people in the
    TEMP table `_card_people`, fields a list of {field, label, value} (label: the
    column's header; empty values left out), latest delivery first."""
    selects = []
    for code, spec in sorted(specs.items()):
        if not spec.group:
            continue
        items = ", ".join(f"{{'field': {sql_text(c.field)}, 'label': {sql_text(c.header)}, "
                          f"'value': {_shown(c.type, 'f.' + sql_name(c.field))}}}" for c in detail_fields(spec))
        selects.append(f"""
            SELECT m.person_id, m.grp, m.feed, m.file_id, m.source_row,
                   [{items}]::STRUCT(field VARCHAR, label VARCHAR, value VARCHAR)[] AS fields
            FROM mine m JOIN {sql_name(code)} f ON f.file_id = m.file_id AND f.source_row = m.source_row
            WHERE m.feed = {sql_text(code)}""")
    if not selects:
        return ("SELECT NULL::VARCHAR AS person_id, NULL::VARCHAR AS grp, NULL::VARCHAR AS feed, "
                "[]::STRUCT(field VARCHAR, label VARCHAR, value VARCHAR)[] AS fields WHERE false")
    # The card's people's group rows first (a few), then their feeds' fields.
    return f"""
        WITH theirs AS MATERIALIZED (
            SELECT * FROM r_feed_persons WHERE person_id IN (SELECT person_id FROM _card_people)
        ), mine AS MATERIALIZED (
            SELECT fp.person_id, g.feed, g.file_id, g.source_row, g.grp
            FROM theirs fp
            JOIN _r_group_rows g ON g.feed = fp.feed AND g.file_id = fp.file_id AND g.source_row = fp.source_row
                                AND g.role = fp.role)
        SELECT person_id, grp, feed, list_filter(fields, lambda x: x.value IS NOT NULL) AS fields
        FROM ({" UNION ALL ".join(selects)})
        ORDER BY person_id, grp, file_id DESC, source_row"""


# ------------------------------------------------------------------ finding the card

def _normalised(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _scope_words(scope: Scope) -> str:
    area = "".join(x for x in (scope.community, scope.grid) if x)
    return f"（查找范围：{area}）" if area else ""


def _find(con: duckdb.DuckDBPyConnection, lookup: str, scope: Scope) -> tuple[str, str | None, str | None]:
    """(kind, person_id, house_id) of what was typed: kind 'person', 'house' or 'name'
    (a name several people have: person and house None). Only what the prepared report
    tables hold, which is the scope."""
    text = _normalised(lookup)
    upper = text.upper()
    if _ID18.fullmatch(upper):
        rows = con.execute("SELECT person_id, house_id FROM r_persons WHERE upper(id_number) = ? "
                           "ORDER BY living DESC, person_id", [upper]).fetchall()
    elif ENTITY_ID.fullmatch(upper):
        rows = con.execute("SELECT person_id, house_id FROM r_persons WHERE upper(person_id) = ?",
                           [upper]).fetchall()
        if not rows:
            house = con.execute(
                "SELECT entity_id FROM golden_houses WHERE upper(entity_id) = $id AND ($whole OR entity_id IN "
                "(SELECT house_id FROM r_houses))", {"id": upper, "whole": not scope}).fetchall()
            if house:
                return "house", None, house[0][0]
    else:
        rows = con.execute("SELECT person_id, house_id FROM r_persons WHERE name = $n OR display_name = $n "
                           "ORDER BY person_id", {"n": text}).fetchall()
        if len(rows) > 1:
            return "name", None, None
    if not rows:
        raise NotFound(f"没有找到“{lookup.strip()}”{_scope_words(scope)}：请核对姓名、身份证号、人员编号或房屋编号")
    return "person", rows[0][0], rows[0][1]


_CANDIDATES = """
SELECT p.person_id AS entity_id, p.display_name AS name, p.id_number, p.sex, p.age, p.community, p.grid,
       p.short_address AS address,
       CASE WHEN p.dead THEN '死亡' WHEN p.status = '迁出' THEN '迁出' END AS left_as
FROM r_persons p WHERE p.name = $n OR p.display_name = $n
ORDER BY p.living DESC, p.age DESC NULLS LAST, p.person_id
"""

# ------------------------------------------------------------------ the card's parts

_PEOPLE = f"""
SELECT p.person_id AS entity_id, p.display_name AS name, p.id_number, p.phone, p.sex, p.age,
       strftime(p.birth_date, '%Y-%m-%d') AS birth_date, p.relation_to_head, p.person_type, p.household_no,
       {ALL_GROUPS} AS groups, p.feeds, p.living AND p.status IS DISTINCT FROM '迁出' AS lives_here,
       CASE WHEN p.dead THEN '死亡' WHEN p.status = '迁出' THEN '迁出' END AS left_as,
       strftime(p.death_date, '%Y-%m-%d') AS death_date,
       v.special_groups, strftime(v.last_visit, '%Y-%m-%d') AS last_visit,
       v.person_id IS NOT NULL AND NOT v.visited_90d AS visit_due  -- R40's rule
FROM r_persons p LEFT JOIN r_special_visits v USING (person_id)
WHERE p.person_id IN (SELECT person_id FROM _card_people)
ORDER BY p.household_no NULLS LAST, relation_order(p.relation_to_head), p.birth_date NULLS LAST, p.person_id
"""

_HOUSE = """
SELECT h.entity_id, h.standard_address AS address,
       regexp_replace(h.standard_address, '^.*?(社区|村|嘎查)', '') AS short_address,
       h.community, h.grid, h.usage, h.registry_key IS NOT NULL AS in_registry,
       h.owner_entity_id, o.name AS owner_name
FROM golden_houses h LEFT JOIN golden_persons o ON o.entity_id = h.owner_entity_id
WHERE h.entity_id = $house
"""

# Overdue as R38 has it (the macro days_overdue of report_templates/_base.sql).
# The person an event or visit names is shown only when within the scope (r_persons):
# an event at the house may name someone of another grid.
_EVENTS = """
SELECT e.event_no, strftime(e.reported_at, '%Y-%m-%d %H:%M') AS reported_at, e.source, e.category, e.subcategory,
       e.description, e.status, strftime(e.deadline, '%Y-%m-%d %H:%M') AS deadline,
       strftime(e.closed_at, '%Y-%m-%d %H:%M') AS closed_at, e.on_time,
       days_overdue(e.status, e.closed_at, e.deadline, $as_of) IS NOT NULL AS overdue,
       days_overdue(e.status, e.closed_at, e.deadline, $as_of) AS days_overdue,
       e.handling_dept, e.satisfaction, p.person_id AS person_entity_id, p.display_name AS person_name, e.house_entity_id,
       e.incident_address
FROM golden_events e LEFT JOIN r_persons p ON p.person_id = e.person_entity_id
WHERE (e.person_entity_id IN (SELECT person_id FROM _card_people WHERE concerned)
       OR e.house_entity_id = $house)
  AND e.reported_at::DATE <= $as_of::DATE
ORDER BY e.reported_at DESC, e.event_no
"""

_VISITS = """
SELECT v.visit_no, strftime(v.visit_date, '%Y-%m-%d') AS visit_date, v.grid_worker, v.visit_type, v.problems,
       p.person_id AS person_entity_id, p.display_name AS person_name, v.house_entity_id, v.event_no
FROM (SELECT * FROM golden_visits UNION ALL BY NAME SELECT * FROM _r_page_visits) v
LEFT JOIN r_persons p ON p.person_id = v.person_entity_id
WHERE (v.person_entity_id IN (SELECT person_id FROM _card_people WHERE concerned)
       OR v.house_entity_id = $house)
  AND v.visit_date <= $as_of::DATE
ORDER BY v.visit_date DESC, v.visit_no DESC
"""


def _people(con: duckdb.DuckDBPyConnection, person: str | None, house: str | None) -> None:
    """`_card_people(person_id, concerned)`: everyone the card lists — who has the house
    as theirs (living there, moved out or dead), or the person alone without one;
    `concerned`: whose events and visits the card shows (those living there, and the
    person asked for)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _card_people AS
        SELECT person_id, (living AND status IS DISTINCT FROM '迁出') OR person_id = $person AS concerned
        FROM r_persons WHERE house_id = $house OR (CAST($house AS VARCHAR) IS NULL AND person_id = $person)
    """, {"person": person, "house": house})


def _with_details(con: duckdb.DuckDBPyConnection, people: pl.DataFrame) -> pl.DataFrame:
    """The people with `details`: per person the group rows' fields (group, feed, fields)."""
    details = fetch_frame(con, group_details_sql(load_specs()))
    nested = details.group_by("person_id", maintain_order=True).agg(
        pl.struct("grp", "feed", "fields").alias("details"))
    return people.join(nested, left_on="entity_id", right_on="person_id", how="left")


# Left out of a masked card: a masked ID hides exactly its birth-date digits, so the
# birth date beside it would give the whole ID back (the age stays).
_MASKED_AWAY = ("birth_date",)


def _masked(frame: pl.DataFrame, unmasked: bool) -> pl.DataFrame:
    """IDs and phones masked (their columns, then every text by content) and birth dates
    left out; as is when `unmasked`."""
    if unmasked:
        return frame
    frame = frame.drop(_MASKED_AWAY, strict=False)
    if frame.is_empty():
        return frame
    exprs = {"id_number": mask_id, "phone": mask_phone}
    frame = frame.with_columns(exprs[c](pl.col(c)).alias(c) for c in frame.columns if c in exprs)
    return mask_frame(frame, keep=[c for c in _KEYS if c in frame.columns])


def _rows(frame: pl.DataFrame, unmasked: bool) -> list[dict]:
    """The rows as dicts, masked unless `unmasked`; a group row's fields (free text of
    any department) by content too."""
    rows = _masked(frame, unmasked).to_dicts()
    if not unmasked:
        for row in rows:
            if row.get("details"):
                row["details"] = mask_strings(row["details"])
    return rows


def _read_card(con: duckdb.DuckDBPyConnection, result: CardResult, person: str | None, house: str | None,
               unmasked: bool) -> None:
    """Fill `result` with the card of `house` (or of `person` alone)."""
    _people(con, person, house)
    people = _with_details(con, fetch_frame(con, _PEOPLE))
    result.members = _rows(people.filter(pl.col("lives_here") | pl.lit(house is None)).drop("lives_here"),
                           unmasked)
    result.former = _rows(people.filter(~pl.col("lives_here") & pl.lit(house is not None)).drop("lives_here"),
                          unmasked)
    if house is not None:
        result.house = _rows(fetch_frame(con, _HOUSE, {"house": house}), unmasked)[0]
    params = {"house": house, "as_of": dt.date.fromisoformat(result.as_of)}
    if table_exists(con, "golden_events"):
        result.events = _rows(fetch_frame(con, _EVENTS, params), unmasked)
    if table_exists(con, "golden_visits"):
        visits = fetch_frame(con, _VISITS, params)
        result.visits_total = visits.height
        result.visits = _rows(visits.head(VISITS_SHOWN), unmasked)


def _check_lookup(lookup: str) -> None:
    if not lookup or not lookup.strip():
        raise UsageError("请给出姓名、身份证号或人员编号，如 rootdb card 张三")


def card_on(con: duckdb.DuckDBPyConnection, lookup: str, scope: Scope, as_of: dt.date,
            unmasked: bool = False) -> CardResult:
    """The household card of `lookup` on a connection whose report tables are prepared
    (`prepare`) for `scope` (as the registry names it) at `as_of`; not logged: the
    caller logs it (`card`: the audit log; `rootdb serve`: its store). An unknown
    person, or one outside the scope, is `NotFound`."""
    _check_lookup(lookup)
    result = CardResult(lookup=lookup.strip(), as_of=as_of.isoformat(), masked=not unmasked)
    kind, person, house = _find(con, lookup, scope)
    if kind == "name":
        # Always masked: the list only tells namesakes apart; the card is asked for by id.
        result.masked = True
        result.candidates = _rows(fetch_frame(con, _CANDIDATES, {"n": _normalised(lookup)}), False)
    else:
        result.focus = person
        _read_card(con, result, person, house, unmasked)
    return result


def card(lookup: str, scope: Scope | None = None, as_of: dt.date | None = None, unmasked: bool = False,
         db: str | Path | None = None) -> CardResult:
    """The household card of `lookup` (a name, an 18-digit ID, a P… or H… entity id) in
    `scope` at `as_of` (today unless given). Every card and list of candidates is logged;
    an unknown person, or one outside the scope, is `NotFound`."""
    scope = scope or Scope()
    _check_lookup(lookup)
    as_of = as_of or dt.date.today()
    with open_existing(db, read_only=True) as con:
        scope = Scope(*resolve_area(con, scope.community, scope.grid))
        prepare(con, as_of, scope.community, scope.grid)
        result = card_on(con, lookup, scope, as_of, unmasked)
    _audit(result, unmasked, scope, db)
    return result


def _audit(result: CardResult, unmasked: bool, scope: Scope, db: str | Path | None) -> None:
    """Who looked at whom: the entity ids of the card (or of the candidates), never the
    IDs or names it shows."""
    area = _scope_words(scope)
    if result.candidates:
        ids = "、".join(c["entity_id"] for c in result.candidates)
        detail = f"同名候选 {len(result.candidates)} 人：{ids}{area}；统计日期 {result.as_of}"
        audit(db, "card", detail, len(result.candidates), None)
        return
    shown = [*(m["entity_id"] for m in result.members), *(m["entity_id"] for m in result.former)]
    house = result.house["entity_id"] if result.house else "无"
    detail = (f"户卡：人员 {result.focus or '-'}，房屋 {house}，列出 {'、'.join(shown) or '无'}"
              f"{area}；统计日期 {result.as_of}")
    audit(db, "card --unmasked" if unmasked else "card", detail, len(shown), None)
