"""Entity records: every (row, role) of the current snapshots that names a person, a
house or a place, in one shape per entity type, built from the feed schemas' roles.

Reads the `<feed>` views (current snapshots) and `files`; writes
`link_person_records`, `link_house_records` and `link_place_records`. Nothing here
decides who is who: that is `people`, `houses` and `places`.
"""

from __future__ import annotations

import time

import duckdb

from rootdb.specs import FeedSpec, RoleSpec
from rootdb.store import table_exists

# Attribute -> (column in the record table, SQL type) per entity type.
PERSON_COLUMNS = {
    "name": "VARCHAR", "name_pinyin": "VARCHAR", "id_number": "VARCHAR", "id_valid": "BOOLEAN",
    "id_check": "VARCHAR", "birth_date": "DATE", "id_birth": "DATE", "sex": "VARCHAR", "id_sex": "VARCHAR",
    "ethnicity": "VARCHAR", "phone": "VARCHAR", "address": "VARCHAR", "house_key": "VARCHAR",
    "community": "VARCHAR", "relation": "VARCHAR",
}
HOUSE_COLUMNS = {
    "address_code": "VARCHAR", "address": "VARCHAR", "community": "VARCHAR", "compound": "VARCHAR",
    "building": "VARCHAR", "unit": "VARCHAR", "room": "VARCHAR", "house_key": "VARCHAR",
}
PLACE_COLUMNS = {
    "place_code": "VARCHAR", "uscc": "VARCHAR", "uscc_valid": "BOOLEAN", "name": "VARCHAR",
    "address": "VARCHAR", "house_key": "VARCHAR", "kind": "VARCHAR",
}
TABLES = {"person": "link_person_records", "house": "link_house_records", "place": "link_place_records"}
_COLUMNS = {"person": PERSON_COLUMNS, "house": HOUSE_COLUMNS, "place": PLACE_COLUMNS}


def _col(field: str | None, suffix: str = "") -> str | None:
    return None if field is None else f'r."{field}{suffix}"'


def _person_select(spec: FeedSpec, role: RoleSpec) -> dict[str, str | None]:
    f = role.fields
    name_type = spec.column(f["name"]).type if "name" in f else None
    return {
        "name": _col(f.get("name")),
        "name_pinyin": _col(f.get("name"), "_pinyin") if name_type == "name" else None,
        "id_number": _col(f.get("id")),
        "id_valid": _col(f.get("id"), "_valid"),
        "id_check": _col(f.get("id"), "_check"),
        "birth_date": _col(f.get("birth_date")),
        "id_birth": _col(f.get("id"), "_birth"),
        "sex": _col(f.get("sex")),
        "id_sex": _col(f.get("id"), "_sex"),
        "ethnicity": _col(f.get("ethnicity")),
        "phone": _col(f.get("phone")),
        "address": _col(f.get("address")),
        "house_key": _col(f.get("address"), "_house_key"),
        "community": _col(f.get("address"), "_community"),
        "relation": _col(f.get("relation")),
    }


def _house_select(spec: FeedSpec, role: RoleSpec) -> dict[str, str | None]:
    a = role.fields.get("address")
    return {
        "address_code": _col(role.fields.get("code")),
        "address": _col(a),
        **{part: _col(a, f"_{part}") for part in ("community", "compound", "building", "unit", "room", "house_key")},
    }


def _place_select(spec: FeedSpec, role: RoleSpec) -> dict[str, str | None]:
    f = role.fields
    return {
        "place_code": _col(f.get("code")),
        "uscc": _col(f.get("uscc")),
        "uscc_valid": _col(f.get("uscc"), "_valid"),
        "name": _col(f.get("name")),
        "address": _col(f.get("address")),
        "house_key": _col(f.get("address"), "_house_key"),
        "kind": _col(f.get("kind")),
    }


_SELECTORS = {"person": _person_select, "house": _house_select, "place": _place_select}


def _present(entity: str, select: dict[str, str | None]) -> str:
    """A role gets a record only where its identifying columns are not all empty (a
    newborn with no name yet is still named by its birth record)."""
    keys = {"person": ("name", "id_number", "birth_date"), "house": ("address", "address_code"),
            "place": ("name", "uscc", "place_code")}[entity]
    parts = [select[k] for k in keys if select[k] is not None]
    return " OR ".join(f"{p} IS NOT NULL" for p in parts) or "false"


def build_record_tables(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec],
                        seconds: dict[str, float] | None = None) -> dict[str, int]:
    """(Re)build the three record tables from the current snapshots; their row counts
    (and into `seconds`, the time each entity's table took: `records_person`, …)."""
    loaded = {code for (code,) in con.execute("SELECT DISTINCT feed FROM files WHERE is_current").fetchall()}
    counts = {}
    for entity, table in TABLES.items():
        started = time.perf_counter()
        columns = _COLUMNS[entity]
        selects = []
        for code in sorted(loaded):
            spec = specs.get(code)
            if spec is None or not table_exists(con, f"rec_{code}"):
                continue
            for role_order, role in enumerate(spec.roles):
                if role.entity != entity:
                    continue
                select = _SELECTORS[entity](spec, role)
                cols = ", ".join(f"CAST({select[c] or 'NULL'} AS {t}) AS {c}" for c, t in columns.items())
                selects.append(
                    f"SELECT '{code}' AS feed, r.file_id, f.file_name AS source_file, r.source_row, "
                    f"'{role.role}' AS role, {role_order} AS role_order, r.record_key, {cols} "
                    f'FROM "{code}" r JOIN files f USING (file_id) WHERE {_present(entity, select)}'
                )
        if selects:
            body = " UNION ALL ".join(selects)
        else:  # nothing loaded yet: an empty table of the right shape
            cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items())
            body = (f"SELECT NULL::VARCHAR AS feed, NULL::BIGINT AS file_id, NULL::VARCHAR AS source_file, "
                    f"NULL::BIGINT AS source_row, NULL::VARCHAR AS role, 0 AS role_order, NULL::VARCHAR AS record_key, "
                    f"{cols} WHERE false")
        # record_id from (file, row, role) without sorting the rows: unique, the same
        # every run, and in file/row/role order (splink breaks ties by the lowest id).
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT (file_id << 40) + (source_row << 4) + role_order "
            f"AS record_id, * EXCLUDE (role_order) FROM ({body})"
        )
        counts[entity] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        if seconds is not None:
            seconds[f"records_{entity}"] = round(time.perf_counter() - started, 2)
    return counts


def publish_matches(con: duckdb.DuckDBPyConnection, table: str, source: str) -> None:
    """`table(record_id, entity_id, registry_key, match_method, match_probability)`
    from a working table of the same columns: the shape the crosswalk reads."""
    con.execute(f"""
        CREATE OR REPLACE TABLE {table} AS
        SELECT record_id::BIGINT AS record_id, entity_id::VARCHAR AS entity_id, registry_key::VARCHAR AS registry_key,
               match_method::VARCHAR AS match_method, match_probability::DOUBLE AS match_probability
        FROM {source} ORDER BY record_id
    """)
