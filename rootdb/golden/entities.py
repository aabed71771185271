"""Golden persons, houses and places: one row per entity, each field from the most
trusted source that has it.

Person fields, in order of trust (within a tier the most common value wins, ties go
to the smallest value, so the result never depends on row order):

| field | sources |
| --- | --- |
| name | registry; the most common delivered name (placeholders such as 张某某之子 last) |
| id_number | registry key; the most common valid, trusted ID (not one that belongs to someone else) |
| sex, birth_date | registry; derived from a valid trusted ID; the most common delivered |
| ethnicity, phone | registry; the most common delivered |
| house_entity_id | registry 居住地址 house; the most frequent then most recent feed residence, no visit's |
| registered_house_entity_id, household_no, relation_to_head | registry only |
| person_type | registry 人员类别; 流动人口 for people not in the registry |
| status | 死亡 when a record of a feed that owns death_date (binzang) links to the person, else registry 人员状态, else 正常 |
| death_date | the 死亡日期 of the feeds that own death_date (earliest) |

Which feed is the source of a golden field, which relations its rows give and which
houses are no residence, is in the feeds' schemas (`owns`, `relations`,
`places_residents`; rootdb.specs.meaning): a house's owner comes
from the `owner` relations (fangwu 产权人), a place's registration_status from the
feeds that own it (shichang 登记状态).

Reads `link_person_records` / `link_person_matches` / `link_person_conflicts`, the
house and place link tables, the `registry_persons` view and the views of the feeds
that own a golden field; writes `golden_persons`, `golden_houses`, `golden_places`
(and `_g_rec`, `_g_reg`, `_g_relations` for `relations` and `corrections`; every
working table is a temporary `_g…` table, dropped by `rootdb.golden`'s scratch).
"""

from __future__ import annotations

import duckdb

from rootdb.specs import FeedSpec
from rootdb.specs.meaning import non_residence_roles, owned_rows_sql, relation_rules
from rootdb.store import frame_to_table, table_exists

REGISTRY = "registry_persons"
# Person roles that live at the row's own address (its `residence` house).
RESIDENT_ROLES = ("person", "member", "head", "newborn", "mother", "father", "child", "guardian", "student", "tenant")
PLACEHOLDER_NAME = r"某|之子$|之女$"


def _empty_view(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, str]) -> str:
    """The feed view when loaded, else an empty relation of the columns used."""
    if table_exists(con, name):
        return f'"{name}"'
    cols = ", ".join(f"NULL::{t} AS {c}" for c, t in columns.items())
    return f"(SELECT NULL::BIGINT AS file_id, NULL::BIGINT AS source_row, {cols} WHERE false)"


def _owned(con: duckdb.DuckDBPyConnection, golden: str, value_type: str, specs: dict[str, FeedSpec]) -> str:
    """(feed, role, file_id, source_row, v): the rows of the loaded feeds that own the
    golden field `golden`, or an empty relation of that shape."""
    selects = owned_rows_sql(golden, specs, {code for code in specs if table_exists(con, code)})
    return " UNION ALL ".join(selects) or (
        f"SELECT NULL::VARCHAR AS feed, NULL::VARCHAR AS role, NULL::BIGINT AS file_id, "
        f"NULL::BIGINT AS source_row, NULL::{value_type} AS v WHERE false")


def _pick(con: duckdb.DuckDBPyConnection, target: str, candidates: str) -> None:
    """`target(entity_id, v)`: per entity the candidate of the lowest rank, then the most
    frequent, then the most recent, then the smallest value. `candidates` yields
    (entity_id, v, rank, recent)."""
    # A rank-0 value (the registry's) always wins: other candidates of those entities
    # are dropped before the costly grouping, which then runs on a few records only.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {target} AS
        WITH c AS (SELECT * FROM ({candidates}) WHERE v IS NOT NULL),
             settled AS (SELECT DISTINCT entity_id FROM c WHERE rank = 0)
        SELECT entity_id, min({{'rank': rank, 'n': -n, 'recent': recent, 'v': v}}).v AS v
        FROM (SELECT entity_id, v, rank, count(*) AS n,
                     coalesce(-epoch_us(max(recent)), 9223372036854775807) AS recent  -- latest first, none last
              FROM c WHERE rank = 0 OR entity_id NOT IN (SELECT entity_id FROM settled)
              GROUP BY entity_id, v, rank)
        GROUP BY entity_id
    """)


def build_person_base(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec]) -> None:
    """`_g_rec`: every person record with its entity and whether its ID can be trusted;
    `_g_reg`: the registry row of each registry entity; `_g_dead`: the deaths of the
    feeds that own death_date; `_g_relations`: the relations the feeds' rows give;
    `_g_not_home`: the (feed, role) house roles that place nobody (a visit's house)."""
    registry = _empty_view(con, REGISTRY, {
        "name": "VARCHAR", "sex": "VARCHAR", "ethnicity": "VARCHAR", "birth_date": "DATE", "household_no": "VARCHAR",
        "relation": "VARCHAR", "person_category": "VARCHAR", "status": "VARCHAR", "phone": "VARCHAR",
        "id_number": "VARCHAR"})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _g_rec AS
        SELECT r.record_id, r.feed, r.role, r.file_id, r.source_file, r.source_row, m.entity_id, m.registry_key,
               m.match_method, r.name, r.id_number, r.id_valid, r.id_check, r.birth_date, r.id_birth, r.sex, r.id_sex,
               r.ethnicity, r.phone, r.relation,
               coalesce(r.id_valid, false) AND c.record_id IS NULL
                   AND (m.registry_key IS NULL OR r.id_number = m.registry_key) AS id_trusted,
               r.feed = 'registry_persons' AND r.role = 'person' AS is_registry,
               c.record_id IS NOT NULL AS id_conflict, f.loaded_at
        FROM link_person_records r
        JOIN link_person_matches m USING (record_id)
        JOIN files f USING (file_id)
        LEFT JOIN (SELECT DISTINCT record_id FROM link_person_conflicts) c USING (record_id)
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _g_reg AS
        SELECT * EXCLUDE (k) FROM (
            SELECT g.entity_id, g.registry_key, g.record_id, g.file_id, g.source_row, p.id_number, p.name, p.sex,
                   p.ethnicity, p.birth_date, p.household_no, p.relation, p.person_category, p.status, p.phone,
                   row_number() OVER (PARTITION BY g.entity_id ORDER BY g.record_id) AS k
            FROM _g_rec g JOIN {registry} p ON p.file_id = g.file_id AND p.source_row = g.source_row
            WHERE g.is_registry
        ) WHERE k = 1
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _g_dead AS
        SELECT g.entity_id, min(d.v) AS death_date
        FROM _g_rec g JOIN ({_owned(con, "death_date", "DATE", specs)}) d
             ON d.feed = g.feed AND d.role = g.role AND d.file_id = g.file_id AND d.source_row = g.source_row
        GROUP BY g.entity_id
    """)
    frame_to_table(con, "_g_relations", relation_rules(specs), temp=True)
    frame_to_table(con, "_g_not_home", non_residence_roles(specs), temp=True)


def _row_houses(role_filter: str) -> str:
    """(file_id, source_row, house entity) of the house records of the given roles."""
    return f"""
        SELECT hr.file_id, hr.source_row, hr.role AS house_role, hm.entity_id AS house_id
        FROM link_house_records hr JOIN link_house_matches hm USING (record_id)
        WHERE hr.role IN ({role_filter})
    """


def build_golden_persons(con: duckdb.DuckDBPyConnection) -> None:
    """golden_persons from `build_person_base`'s tables, each field by `_pick`."""
    feeds = "NOT is_registry"
    _pick(con, "_gp_name", f"""
        SELECT entity_id, name AS v, 0 AS rank, NULL::TIMESTAMP AS recent FROM _g_reg
        UNION ALL
        SELECT entity_id, name, CASE WHEN regexp_matches(name, '{PLACEHOLDER_NAME}') THEN 2 ELSE 1 END, loaded_at
        FROM _g_rec WHERE {feeds}""")
    _pick(con, "_gp_id", f"""
        SELECT entity_id, id_number AS v, 0 AS rank, NULL::TIMESTAMP AS recent FROM _g_reg
        UNION ALL
        SELECT entity_id, id_number, 1, loaded_at FROM _g_rec WHERE {feeds} AND id_trusted""")
    for attr, derived in (("sex", "id_sex"), ("birth_date", "id_birth")):
        _pick(con, f"_gp_{attr}", f"""
            SELECT entity_id, {attr} AS v, 0 AS rank, NULL::TIMESTAMP AS recent FROM _g_reg
            UNION ALL
            SELECT entity_id, {derived}, 1, loaded_at FROM _g_rec WHERE {feeds} AND id_trusted
            UNION ALL
            SELECT entity_id, {attr}, 2, loaded_at FROM _g_rec WHERE {feeds}""")
    for attr in ("ethnicity", "phone"):
        _pick(con, f"_gp_{attr}", f"""
            SELECT entity_id, {attr} AS v, 0 AS rank, NULL::TIMESTAMP AS recent FROM _g_reg
            UNION ALL
            SELECT entity_id, {attr}, 1, loaded_at FROM _g_rec WHERE {feeds}""")
    roles = ", ".join(f"'{r}'" for r in RESIDENT_ROLES)
    _pick(con, "_gp_house", f"""
        SELECT g.entity_id, h.house_id AS v,
               CASE WHEN g.is_registry THEN 0 ELSE 1 END AS rank, g.loaded_at AS recent
        FROM _g_rec g JOIN ({_row_houses("'residence'")}) h ON h.file_id = g.file_id AND h.source_row = g.source_row
        WHERE (g.is_registry OR g.role IN ({roles}))
          AND NOT EXISTS (SELECT 1 FROM _g_not_home x  -- a visit's house: no residence
                          WHERE x.feed = g.feed AND x.role = h.house_role)""")
    _pick(con, "_gp_registered", f"""
        SELECT g.entity_id, h.house_id AS v, 0 AS rank, NULL::TIMESTAMP AS recent
        FROM _g_rec g JOIN ({_row_houses("'registered_residence'")}) h
             ON h.file_id = g.file_id AND h.source_row = g.source_row
        WHERE g.is_registry""")
    # In two steps of a few joins each: one join of all ten holds every hash table at
    # once (a region's link ran out of 4 GB there).
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _gp_ent AS
        WITH feeds AS (SELECT DISTINCT entity_id, feed FROM _g_rec WHERE feed IS NOT NULL)
        SELECT e.entity_id, e.registry_key, coalesce(f.feeds, []) AS feeds
        FROM (SELECT entity_id, min(registry_key) AS registry_key FROM _g_rec GROUP BY entity_id) e
        LEFT JOIN (SELECT entity_id, list(feed ORDER BY feed) AS feeds FROM feeds GROUP BY entity_id) f
               USING (entity_id)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _gp_first AS
        SELECT e.*, n.v AS name, i.v AS id_number, s.v AS sex, eth.v AS ethnicity, b.v AS birth_date
        FROM _gp_ent e
        LEFT JOIN _gp_name n USING (entity_id)
        LEFT JOIN _gp_id i USING (entity_id)
        LEFT JOIN _gp_sex s USING (entity_id)
        LEFT JOIN _gp_ethnicity eth USING (entity_id)
        LEFT JOIN _gp_birth_date b USING (entity_id)
    """)
    con.execute("""
        CREATE OR REPLACE TABLE golden_persons AS
        SELECT e.entity_id, coalesce(reg.id_number, e.registry_key) AS registry_key,
               e.name, e.id_number, e.sex, e.ethnicity, e.birth_date, ph.v AS phone,
               h.v AS house_entity_id, rh.v AS registered_house_entity_id,
               reg.household_no, reg.relation AS relation_to_head,
               CASE WHEN reg.entity_id IS NULL THEN '流动人口' ELSE coalesce(reg.person_category, '户籍人口') END
                   AS person_type,
               CASE WHEN d.entity_id IS NOT NULL THEN '死亡' ELSE coalesce(reg.status, '正常') END AS status,
               d.death_date,
               e.feeds,
               reg.entity_id IS NOT NULL AS in_registry
        FROM _gp_first e
        LEFT JOIN _g_reg reg USING (entity_id)
        LEFT JOIN _gp_phone ph USING (entity_id)
        LEFT JOIN _gp_house h USING (entity_id)
        LEFT JOIN _gp_registered rh USING (entity_id)
        LEFT JOIN _g_dead d USING (entity_id)
        ORDER BY e.entity_id
    """)


def build_golden_houses(con: duckdb.DuckDBPyConnection) -> None:
    """link_houses + residents_count (living residents: status 正常) + owner_entity_id
    (the person of an `owner` relation to the house, e.g. fangwu 产权人: the most
    frequent, then the smallest entity_id)."""
    _pick(con, "_gh_owner", """
        SELECT h.house_id AS entity_id, g.entity_id AS v, 0 AS rank, NULL::TIMESTAMP AS recent
        FROM _g_rec g JOIN (""" + _row_houses("SELECT of_role FROM _g_relations WHERE kind = 'owner'") + """) h
             ON h.file_id = g.file_id AND h.source_row = g.source_row
        JOIN _g_relations r ON r.kind = 'owner' AND r.feed = g.feed AND r.person_role = g.role
             AND r.of_role = h.house_role""")
    con.execute("""
        CREATE OR REPLACE TABLE golden_houses AS
        SELECT h.*, coalesce(r.n, 0)::BIGINT AS residents_count, o.v AS owner_entity_id
        FROM link_houses h
        LEFT JOIN (SELECT house_entity_id, count(*) AS n FROM golden_persons
                   WHERE status = '正常' AND house_entity_id IS NOT NULL GROUP BY 1) r
               ON r.house_entity_id = h.entity_id
        LEFT JOIN _gh_owner o ON o.entity_id = h.entity_id
        ORDER BY h.entity_id
    """)


def build_golden_places(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec]) -> None:
    """link_places (house_entity_id = the premises) + legal_rep_entity_id (the person of a
    `legal_rep` relation to the place: registry_places 负责人 first, then e.g. shichang 法定代表人) +
    registration_status (from the feeds that own it, e.g. shichang 登记状态)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _gpl_rec AS
        SELECT pr.feed, pr.role, pr.file_id, pr.source_row, pm.entity_id AS place_id, f.loaded_at
        FROM link_place_records pr JOIN link_place_matches pm USING (record_id) JOIN files f USING (file_id)
    """)
    _pick(con, "_gpl_rep", """
        SELECT p.place_id AS entity_id, g.entity_id AS v,
               CASE p.feed WHEN 'registry_places' THEN 0 ELSE 1 END AS rank, p.loaded_at AS recent
        FROM _gpl_rec p
        JOIN _g_relations r ON r.kind = 'legal_rep' AND r.feed = p.feed AND r.of_role = p.role
        JOIN _g_rec g ON g.file_id = p.file_id AND g.source_row = p.source_row AND g.role = r.person_role""")
    _pick(con, "_gpl_status", f"""
        SELECT p.place_id AS entity_id, s.v, 0 AS rank, p.loaded_at AS recent
        FROM _gpl_rec p JOIN ({_owned(con, "registration_status", "VARCHAR", specs)}) s
             ON s.feed = p.feed AND s.role = p.role AND s.file_id = p.file_id AND s.source_row = p.source_row""")
    con.execute("""
        CREATE OR REPLACE TABLE golden_places AS
        SELECT p.*, r.v AS legal_rep_entity_id, s.v AS registration_status
        FROM link_places p
        LEFT JOIN _gpl_rep r USING (entity_id)
        LEFT JOIN _gpl_status s USING (entity_id)
        ORDER BY p.entity_id
    """)
