"""Entity records: every (row, role) of the current snapshots that names a person, a
house or a place, in one shape per entity type, built from the feed schemas' roles.

Reads the `<feed>` views (current snapshots) and `files`; writes
`link_person_records`, `link_house_records` and `link_place_records`. Nothing here
decides who is who: that is `people`, `houses` and `places`.
"""

from __future__ import annotations

import time

import duckdb

from rootdb.clean.types import ADDRESS, ID18, NAME, USCC, FieldType
from rootdb.specs import FeedSpec, RoleSpec
from rootdb.store import table_exists
from rootdb.store.sql import scalar, scratch

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


def _col(field: str | None) -> str | None:
    return None if field is None else f'r."{field}"'


def _derived(field: str | None, field_type: FieldType, part: str) -> str | None:
    """The column the cleaner derived beside a field of that type."""
    return None if field is None else _col(field_type.column(field, part))


def _person_select(spec: FeedSpec, role: RoleSpec) -> dict[str, str | None]:
    f = role.fields
    name_type = spec.column(f["name"]).type if "name" in f else None
    return {
        "name": _col(f.get("name")),
        "name_pinyin": _derived(f.get("name"), NAME, "pinyin") if name_type == NAME.name else None,
        "id_number": _col(f.get("id")),
        "id_valid": _derived(f.get("id"), ID18, "valid"),
        "id_check": _derived(f.get("id"), ID18, "check"),
        "birth_date": _col(f.get("birth_date")),
        "id_birth": _derived(f.get("id"), ID18, "birth"),
        "sex": _col(f.get("sex")),
        "id_sex": _derived(f.get("id"), ID18, "sex"),
        "ethnicity": _col(f.get("ethnicity")),
        "phone": _col(f.get("phone")),
        "address": _col(f.get("address")),
        "house_key": _derived(f.get("address"), ADDRESS, "house_key"),
        "community": _derived(f.get("address"), ADDRESS, "community"),
        "relation": _col(f.get("relation")),
    }


def _house_select(spec: FeedSpec, role: RoleSpec) -> dict[str, str | None]:
    a = role.fields.get("address")
    return {
        "address_code": _col(role.fields.get("code")),
        "address": _col(a),
        **{part: _derived(a, ADDRESS, part) for part in ADDRESS.derived},
    }


def _place_select(spec: FeedSpec, role: RoleSpec) -> dict[str, str | None]:
    f = role.fields
    return {
        "place_code": _col(f.get("code")),
        "uscc": _col(f.get("uscc")),
        "uscc_valid": _derived(f.get("uscc"), USCC, "valid"),
        "name": _col(f.get("name")),
        "address": _col(f.get("address")),
        "house_key": _derived(f.get("address"), ADDRESS, "house_key"),
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


FILES_TABLE = "link_record_files"  # which file's records each record table holds, built by which SQL


def _file_parts(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec], entity: str) -> dict[int, str]:
    """Every current file's SELECT of its records for one entity type, by file_id; the
    SQL reads the file's rows from the temporary table `_lr_files(file_id)`."""
    columns = _COLUMNS[entity]
    parts = {}
    for code, file_id in con.execute(
        "SELECT feed, file_id FROM files WHERE is_current ORDER BY feed, file_id"
    ).fetchall():
        spec = specs.get(code)
        if spec is None or not table_exists(con, f"rec_{code}"):
            continue
        selects = []
        for role_order, role in enumerate(spec.roles):
            if role.entity != entity:
                continue
            select = _SELECTORS[entity](spec, role)
            cols = ", ".join(f"CAST({select[c] or 'NULL'} AS {t}) AS {c}" for c, t in columns.items())
            selects.append(
                f"SELECT '{code}' AS feed, r.file_id, f.file_name AS source_file, r.source_row, "
                f"'{role.role}' AS role, {role_order} AS role_order, r.record_key, {cols} "
                f'FROM "{code}" r JOIN files f USING (file_id) '
                f"WHERE r.file_id IN (SELECT file_id FROM _lr_files) AND ({_present(entity, select)})"
            )
        if selects:
            parts[file_id] = " UNION ALL ".join(selects)
    return parts


def build_record_tables(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec],
                        seconds: dict[str, float] | None = None, incremental: bool = True) -> dict[str, int]:
    """Bring the three record tables up to the current snapshots; their row counts
    (and into `seconds`, the time each entity's table took: `records_person`, …).

    `incremental`: only the records of files delivered (or replaced) since the last
    build are read again; the records of a file no longer current are dropped. A file
    whose feed schema changed since is read again, and a table of another shape is
    rebuilt whole, as is one holding records of files it has no note of. Otherwise
    every table is rebuilt from scratch."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {FILES_TABLE} (entity VARCHAR, file_id BIGINT, part_sql VARCHAR)")
    with scratch(con, "_lr_"):
        return {entity: _build_records(con, specs, entity, seconds, incremental) for entity in TABLES}


def _build_records(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec], entity: str,
                   seconds: dict[str, float] | None, incremental: bool) -> int:
    """Bring one entity's record table up to the current snapshots (`build_record_tables`);
    its row count."""
    table = TABLES[entity]
    started = time.perf_counter()
    wanted = _file_parts(con, specs, entity)
    columns = ["record_id", "feed", "file_id", "source_file", "source_row", "role", "record_key", *_COLUMNS[entity]]
    have = dict(con.execute(f"SELECT file_id, part_sql FROM {FILES_TABLE} WHERE entity = ?", [entity]).fetchall())
    # Incremental only on a table of this shape whose files are all on record (a
    # table built before the bookkeeping existed is rebuilt).
    if not (incremental and table_exists(con, table) and _column_names(con, table) == columns
            and scalar(con, f"SELECT count(*) FROM {table} WHERE file_id NOT IN "
                            f"(SELECT file_id FROM {FILES_TABLE} WHERE entity = ?)", [entity]) == 0):
        con.execute(f"DELETE FROM {FILES_TABLE} WHERE entity = ?", [entity])
        _create_empty(con, table, entity)
        have = {}
    stale = [fid for fid, sql in have.items() if wanted.get(fid) != sql]
    fresh = {fid: sql for fid, sql in wanted.items() if have.get(fid) != sql}
    if stale:
        con.execute(f"DELETE FROM {table} WHERE file_id IN (SELECT unnest(?::BIGINT[]))", [stale])
        con.execute(f"DELETE FROM {FILES_TABLE} WHERE entity = ? AND file_id IN (SELECT unnest(?::BIGINT[]))",
                    [entity, stale])
    by_sql: dict[str, list[int]] = {}  # a feed's files share one SELECT: one INSERT for them all
    for fid, sql in fresh.items():
        by_sql.setdefault(sql, []).append(fid)
    for sql, fids in by_sql.items():
        con.execute("CREATE OR REPLACE TEMP TABLE _lr_files AS SELECT unnest(?::BIGINT[]) AS file_id", [fids])
        # record_id from (file, row, role) without sorting the rows: unique, the
        # same every run, and in file/row/role order (splink breaks ties by the lowest id).
        con.execute(f"INSERT INTO {table} SELECT (file_id << 40) + (source_row << 4) + role_order AS record_id, "
                    f"* EXCLUDE (role_order) FROM ({sql})")
        con.executemany(f"INSERT INTO {FILES_TABLE} VALUES (?, ?, ?)", [[entity, fid, sql] for fid in fids])
    if seconds is not None:
        seconds[f"records_{entity}"] = round(time.perf_counter() - started, 2)
    return scalar(con, f"SELECT count(*) FROM {table}")


def _column_names(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]


def _create_empty(con: duckdb.DuckDBPyConnection, table: str, entity: str) -> None:
    cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in _COLUMNS[entity].items())
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT NULL::BIGINT AS record_id, NULL::VARCHAR AS feed, "
        f"NULL::BIGINT AS file_id, NULL::VARCHAR AS source_file, NULL::BIGINT AS source_row, NULL::VARCHAR AS role, "
        f"NULL::VARCHAR AS record_key, {cols} WHERE false"
    )


def publish_matches(con: duckdb.DuckDBPyConnection, table: str, source: str) -> None:
    """`table(record_id, entity_id, registry_key, match_method, match_probability)`
    from a working table of the same columns: the shape the crosswalk reads."""
    con.execute(f"""
        CREATE OR REPLACE TABLE {table} AS
        SELECT record_id::BIGINT AS record_id, entity_id::VARCHAR AS entity_id, registry_key::VARCHAR AS registry_key,
               match_method::VARCHAR AS match_method, match_probability::DOUBLE AS match_probability
        FROM {source} ORDER BY record_id
    """)
