"""Corrections: every disagreement between a department's feed and the registry, one
row each, in words a data officer sends back to the department (report R36 and
`export_corrections`).

Sources (current snapshots only; reference feeds, the registry's own rows, never
produce a correction):

1. `row_issues`: what cleaning found wrong in a cell (invalid or 15-digit ID, a date,
   number, phone, code that cannot be read, …). A birth date or sex that disagrees
   with the row's own ID is listed only when the person is not in the registry:
   otherwise the comparison with the registry below says what is right.
2. `link_person_conflicts` and every other valid ID that is in the registry under
   another person: 身份证号属于他人.
3. Each linked feed person record compared with its registry person: a valid ID the
   registry does not know, an ID missing, name, sex and birth date.
4. A person dead in the registry or per a death registration (the feeds whose schema
   `owns` death_date, e.g. binzang) whose record is still active in a feed (its
   schema's `subject` and `active` rule); a registered death the registry has not recorded.
5. Person records that reach no registry person and deliver no ID: 无法与公安库比对.

A column the schema calls `optional` (a hotline caller's ID, a visit form's name) is
normally empty: its absence is never asked for (3 and 5 skip it).

`corrections.value_type` says how a row's values are masked: id, phone, birth_date (a
person's birth date, shown as its year) or text (`column_masking`, which the quarantine
workbook masks its columns by too).

Writes `corrections` (working tables: temporary `_gc_…`, dropped by `rootdb.golden`'s scratch).
"""

from __future__ import annotations

import duckdb
import polars as pl

from rootdb.clean.types import FIELD_TYPES, ID_AGREEMENT, ROW_ISSUES, USCC_INVALID
from rootdb.specs import ColumnSpec, FeedSpec
from rootdb.specs.meaning import current_row, owners, shown_field, sql_name, sql_text
from rootdb.store import frame_to_table, table_exists

# row_issues.code -> correction code, from the field-type registry; issues without a
# correction are left out (id_region: the ID is still valid, and whether the registry
# knows it is checked below).
ISSUE_CODES = {i.code: i.correction.code for i in ROW_ISSUES if i.correction is not None}
# code -> the kind as the department reads it: those of the row issues, then the ones
# found here.
KINDS = {i.correction.code: i.correction.kind for i in ROW_ISSUES if i.correction is not None} | {
    "id_unknown": "身份证号不在公安库",
    "id_of_another_person": "身份证号属于他人",
    "id_missing": "身份证号缺失",
    "name_missing": "姓名缺失",
    "name_differs": "姓名与公安库不一致",
    "sex_differs": "性别与公安库不一致",
    "birth_differs": "出生日期与公安库不一致",
    "dead_in_registry_active": "公安库登记已死亡但仍在享受/登记",
    "dead_per_binzang_active": "殡葬登记已死亡但仍在享受/登记",
    "death_not_in_registry": "已死亡但公安库未注销",
    "cannot_compare": "无法与公安库比对",
}
PERSON_ATTRS = ("name", "id", "sex", "birth_date", "phone")


def person_fields(spec: FeedSpec) -> list[tuple[str, str, str]]:
    """(role, attr, field) of each person attribute (PERSON_ATTRS) a feed's person roles
    give: what its rows are compared with the registry on."""
    return [(r.role, attr, f) for r in spec.roles if r.entity == "person"
            for attr, f in r.fields.items() if attr in PERSON_ATTRS]


def birth_date_fields(spec: FeedSpec) -> set[str]:
    """The fields of a feed that hold a person's birth date (a person role's `birth_date`):
    masked as the year only wherever the person's masked ID may be beside them."""
    return {f for _, attr, f in person_fields(spec) if attr == "birth_date"}


def column_masking(spec: FeedSpec, column: ColumnSpec) -> str | None:
    """How a feed column's values are masked where they are shown: birth_date (a person's
    birth date, as its year), else as its type says (`FieldType.masked_as`: id, phone);
    None: like any text, by what it holds."""
    return "birth_date" if column.field in birth_date_fields(spec) else FIELD_TYPES[column.type].masked_as


def _register(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    frame_to_table(con, name, frame, temp=True)


def _spec_tables(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec]) -> None:
    """_gc_feeds(feed, department, title, kind), _gc_columns(feed, field, header,
    masked_as: how its values are masked, `column_masking`), _gc_roles(feed, role, attr,
    field, optional) for person roles (`optional`: an empty cell is normal there, nothing
    to ask the department for), _gc_death_owners(feed, role, field): the death registrations' date fields."""
    feeds, columns, roles = [], [], []
    for code, spec in sorted(specs.items()):
        feeds.append((code, spec.department, spec.title, spec.kind))
        columns += [(code, c.field, c.header, column_masking(spec, c)) for c in spec.columns]
        roles += [(code, role, attr, f, spec.column(f).optional) for role, attr, f in person_fields(spec)]
    _register(con, "_gc_feeds", pl.DataFrame(feeds, schema=["feed", "department", "title", "kind"], orient="row"))
    _register(con, "_gc_columns", pl.DataFrame(columns, schema={"feed": pl.String, "field": pl.String,
                                                                "header": pl.String, "masked_as": pl.String},
                                               orient="row"))
    _register(con, "_gc_roles", pl.DataFrame(roles, schema={"feed": pl.String, "role": pl.String, "attr": pl.String,
                                                            "field": pl.String, "optional": pl.Boolean},
                                             orient="row"))
    deaths = [(code, owned.role, owned.field) for code, owned in owners("death_date", specs)]
    _register(con, "_gc_death_owners", pl.DataFrame(
        deaths, schema={"feed": pl.String, "role": pl.String, "field": pl.String}, orient="row"))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _gc_role_fields AS
        SELECT feed, role, any_value(field) FILTER (WHERE attr = 'name') AS name_field,
               any_value(field) FILTER (WHERE attr = 'id') AS id_field,
               any_value(field) FILTER (WHERE attr = 'sex') AS sex_field,
               any_value(field) FILTER (WHERE attr = 'birth_date') AS birth_field,
               coalesce(bool_or(optional) FILTER (WHERE attr = 'name'), false) AS name_optional,
               coalesce(bool_or(optional) FILTER (WHERE attr = 'id'), false) AS id_optional
        FROM _gc_roles GROUP BY feed, role
    """)


_DRAFT = """
    record_id BIGINT, feed VARCHAR, file_id BIGINT, source_row BIGINT, role VARCHAR, field_name VARCHAR,
    code VARCHAR, registry_value VARCHAR, detail VARCHAR, delivered_value VARCHAR, entity_id VARCHAR
"""


def _from_row_issues(con: duckdb.DuckDBPyConnection) -> None:
    codes = pl.DataFrame(list(ISSUE_CODES.items()), schema=["issue_code", "code"], orient="row")
    _register(con, "_gc_issue_codes", codes)
    con.execute("""
        INSERT INTO _gc_draft
        SELECT g.record_id, i.feed, i.file_id, i.source_row, g.role, i.field, ic.code,
               CASE rf.attr WHEN 'id' THEN reg.id_number WHEN 'name' THEN reg.name WHEN 'sex' THEN reg.sex
                            WHEN 'birth_date' THEN strftime(reg.birth_date, '%Y-%m-%d') WHEN 'phone' THEN reg.phone
                            ELSE CASE WHEN i.code = $uscc_code THEN pl.uscc END END,
               i.message, i.value, g.entity_id
        FROM row_issues i
        JOIN files f ON f.file_id = i.file_id AND f.is_current
        JOIN _gc_feeds fd ON fd.feed = i.feed AND fd.kind <> 'reference'
        JOIN _gc_issue_codes ic ON ic.issue_code = i.code
        LEFT JOIN _gc_roles rf ON rf.feed = i.feed AND rf.field = i.field
        LEFT JOIN _g_rec g ON g.file_id = i.file_id AND g.source_row = i.source_row AND g.role = rf.role
        LEFT JOIN _g_reg reg ON reg.entity_id = g.entity_id
        LEFT JOIN (  -- the registry place of the row, for an invalid credit code
            SELECT pr.file_id, pr.source_row, any_value(gp.uscc) AS uscc
            FROM link_place_records pr JOIN link_place_matches pm USING (record_id)
            JOIN golden_places gp ON gp.entity_id = pm.entity_id AND gp.registry_key IS NOT NULL
            WHERE pr.role = 'place' GROUP BY ALL
        ) pl ON pl.file_id = i.file_id AND pl.source_row = i.source_row
        WHERE NOT (list_contains($id_agreement, i.code) AND reg.entity_id IS NOT NULL)
    """, {"uscc_code": USCC_INVALID.code,
          "id_agreement": [issue.code for _, issue in ID_AGREEMENT.values()]})


def _from_comparisons(con: duckdb.DuckDBPyConnection) -> None:
    """IDs, names, sex, birth dates of each feed person record against its registry person."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _gc_rec AS
        SELECT g.record_id, g.feed, g.file_id, g.source_row, g.role, g.entity_id, g.name, g.id_number, g.id_valid,
               g.id_check, g.id_conflict, g.sex, g.birth_date,
               rf.name_field, rf.id_field, rf.sex_field, rf.birth_field, rf.name_optional, rf.id_optional,
               reg.entity_id IS NOT NULL AS linked, reg.id_number AS reg_id, reg.name AS reg_name,
               reg.sex AS reg_sex, reg.birth_date AS reg_birth, reg.status AS reg_status,
               holder.entity_id AS holder_entity
        FROM _g_rec g
        JOIN _gc_feeds fd ON fd.feed = g.feed AND fd.kind <> 'reference'
        JOIN _gc_role_fields rf ON rf.feed = g.feed AND rf.role = g.role
        LEFT JOIN _g_reg reg ON reg.entity_id = g.entity_id
        LEFT JOIN _g_reg holder ON g.id_valid AND holder.id_number = g.id_number
    """)
    con.execute("""
        INSERT INTO _gc_draft
        -- a valid ID the registry holds for somebody else
        SELECT record_id, feed, file_id, source_row, role, id_field, 'id_of_another_person', reg_id,
               -- never the holder's name: this list goes back to the department
               '该号码在公安库中登记为另一个人', NULL, entity_id
        FROM _gc_rec
        WHERE id_field IS NOT NULL AND (id_conflict OR (holder_entity IS NOT NULL AND holder_entity <> entity_id))
        UNION ALL
        -- a valid ID the registry does not know
        SELECT record_id, feed, file_id, source_row, role, id_field, 'id_unknown', reg_id,
               CASE WHEN linked THEN '按姓名、出生日期等比对为公安库中的此人' END, NULL, entity_id
        FROM _gc_rec WHERE id_field IS NOT NULL AND id_valid AND holder_entity IS NULL
        UNION ALL
        -- no ID where the feed has the column and the registry knows the person
        SELECT record_id, feed, file_id, source_row, role, id_field, 'id_missing', reg_id, NULL, NULL, entity_id
        FROM _gc_rec WHERE id_field IS NOT NULL AND NOT id_optional AND linked AND id_number IS NULL
                           AND id_check IS NULL
        UNION ALL
        SELECT record_id, feed, file_id, source_row, role, name_field, 'name_differs', reg_name,
               CASE WHEN name_pinyin_same THEN '同音字' END, NULL, entity_id
        FROM (SELECT c.*, r.name_pinyin = reg_rec.name_pinyin AS name_pinyin_same
              FROM _gc_rec c JOIN link_person_records r USING (record_id)
              LEFT JOIN _g_reg gr ON gr.entity_id = c.entity_id
              LEFT JOIN link_person_records reg_rec ON reg_rec.record_id = gr.record_id)
        WHERE linked AND name IS NOT NULL AND name <> reg_name
        UNION ALL
        SELECT record_id, feed, file_id, source_row, role, name_field, 'name_missing', reg_name, NULL, NULL, entity_id
        FROM _gc_rec WHERE name_field IS NOT NULL AND NOT name_optional AND linked AND name IS NULL
        UNION ALL
        SELECT record_id, feed, file_id, source_row, role, sex_field, 'sex_differs', reg_sex, NULL, NULL, entity_id
        FROM _gc_rec WHERE linked AND sex IS NOT NULL AND sex <> reg_sex
        UNION ALL
        SELECT record_id, feed, file_id, source_row, role, birth_field, 'birth_differs',
               strftime(reg_birth, '%Y-%m-%d'),
               CASE WHEN year(birth_date) = year(reg_birth) AND month(birth_date) = day(reg_birth)
                         AND day(birth_date) = month(reg_birth) THEN '日、月颠倒' END, NULL, entity_id
        FROM _gc_rec WHERE linked AND birth_date IS NOT NULL AND birth_date <> reg_birth
        UNION ALL
        -- a registered death the registry has not recorded
        SELECT c.record_id, c.feed, c.file_id, c.source_row, c.role, o.field, 'death_not_in_registry',
               c.reg_status, '殡葬登记死亡，公安库人员状态仍为' || c.reg_status, NULL, c.entity_id
        FROM _gc_rec c JOIN _gc_death_owners o ON o.feed = c.feed AND o.role = c.role
        WHERE c.linked AND c.reg_status IS DISTINCT FROM '死亡'
        UNION ALL
        -- nobody in the registry and no ID to say who it is
        SELECT record_id, feed, file_id, source_row, role, coalesce(id_field, name_field, birth_field), 'cannot_compare',
               NULL, '未提供身份证号，按姓名等信息也未能对应到公安库人员', NULL, entity_id
        FROM _gc_rec WHERE NOT linked AND NOT id_optional AND id_number IS NULL AND id_check IS NULL
    """)


def _from_deaths(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec]) -> None:
    """A dead person who is the subject of a current row (a feed's `subject` and
    `active` rule, rootdb.specs.meaning): the field shown is the rule's, else the
    subject's name. Feeds without a subject (deaths, births, property) are history or
    property, not a service the person still receives."""
    for feed, spec in sorted(specs.items()):
        if spec.subject is None or not table_exists(con, feed):
            continue
        con.execute(f"""
            INSERT INTO _gc_draft
            SELECT g.record_id, g.feed, g.file_id, g.source_row, g.role, {sql_text(shown_field(spec) or '')},
                   CASE WHEN reg.status = '死亡' THEN 'dead_in_registry_active' ELSE 'dead_per_binzang_active' END,
                   '死亡' || coalesce('（' || strftime(p.death_date, '%Y-%m-%d') || '）', ''),
                   -- The date is in the value, in full as R07 shows it: a note's dates
                   -- are cut to the year as birth dates are (R36).
                   CASE WHEN reg.status = '死亡' THEN '公安库人员状态为死亡' ELSE '殡葬登记死亡' END,
                   NULL, g.entity_id
            FROM _g_rec g
            JOIN {sql_name(feed)} f ON f.file_id = g.file_id AND f.source_row = g.source_row
            JOIN golden_persons p ON p.entity_id = g.entity_id
            LEFT JOIN _g_reg reg ON reg.entity_id = g.entity_id
            WHERE g.feed = {sql_text(feed)} AND g.role = {sql_text(spec.subject)} AND p.status = '死亡'
              AND ({current_row(spec)})
        """)


def _fill_delivered(con: duckdb.DuckDBPyConnection) -> None:
    """The cell as delivered (raw_<feed>) where the draft has no value yet."""
    wanted = con.execute(
        "SELECT feed, list(DISTINCT field_name ORDER BY field_name) FROM _gc_draft "
        "WHERE delivered_value IS NULL AND field_name IS NOT NULL GROUP BY feed ORDER BY feed").fetchall()
    for feed, fields in wanted:
        raw = f"raw_{feed}"
        if not table_exists(con, raw):
            continue
        have = {c for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?",
            [raw]).fetchall()}
        cases = " ".join(f"WHEN '{f}' THEN CAST(r.\"{f}\" AS VARCHAR)" for f in fields if f in have)
        if not cases:
            continue
        con.execute(f"""
            UPDATE _gc_draft SET delivered_value = CASE _gc_draft.field_name {cases} END
            FROM "{raw}" r
            WHERE _gc_draft.feed = '{feed}' AND _gc_draft.delivered_value IS NULL
              AND r.file_id = _gc_draft.file_id AND r.source_row = _gc_draft.source_row
        """)


def build_corrections(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec]) -> None:
    """(Re)write `corrections`; needs `_g_rec`, `_g_reg`, `golden_persons`, `golden_places`."""
    _spec_tables(con, specs)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _gc_draft ({_DRAFT})")
    _from_row_issues(con)
    _from_comparisons(con)
    _from_deaths(con, specs)
    _fill_delivered(con)
    kinds = pl.DataFrame(list(KINDS.items()), schema=["code", "kind"], orient="row")
    _register(con, "_gc_kinds", kinds)
    con.execute("""
        CREATE OR REPLACE TABLE corrections AS
        SELECT d.feed, fd.department, f.file_name AS source_file, d.source_row,
               coalesce(h.header, col.header, d.field_name) AS field,
               d.delivered_value, d.registry_value, k.kind, d.detail, nm.name AS person_name, d.code, d.role,
               d.entity_id,
               p.registry_key,
               coalesce(col.masked_as, 'text') AS value_type,  -- how the values are masked
               d.field_name, d.file_id
        FROM (
            SELECT *, row_number() OVER (
                PARTITION BY feed, file_id, source_row, field_name, code, role ORDER BY record_id) AS k
            FROM _gc_draft
        ) d
        JOIN files f ON f.file_id = d.file_id AND f.is_current
        JOIN _gc_feeds fd ON fd.feed = d.feed AND fd.kind <> 'reference'
        JOIN _gc_kinds k ON k.code = d.code
        LEFT JOIN _gc_columns col ON col.feed = d.feed AND col.field = d.field_name
        LEFT JOIN (  -- the header as the file wrote it: read once per file and field, not per row
            SELECT file_id, field_name, json_extract_string(f.headers, '$."' || field_name || '"') AS header
            FROM (SELECT DISTINCT file_id, field_name FROM _gc_draft) JOIN files f USING (file_id)
        ) h ON h.file_id = d.file_id AND h.field_name = d.field_name
        LEFT JOIN golden_persons p ON p.entity_id = d.entity_id
        LEFT JOIN _g_rec nm ON nm.record_id = d.record_id  -- the name the row gives, to find the row by
        WHERE d.k = 1
        ORDER BY d.feed, f.file_name, d.source_row, field, d.code
    """)
