"""People: every person record resolved to one entity, matched to the registry
where the registry knows them.

1. Deterministic (`exact_id`): a valid ID found in the registry whose name agrees —
   same characters, same pinyin, or one character off (for two-character names, one
   character off only with the same birth date: 张伟 and 张芳 of one household share a
   surname, not an identity). A name that clearly disagrees means the ID belongs to
   someone else: the record is not trusted with it, and the disagreement is kept.
2. Family (`family`): a newborn with no ID, through its mother's registry household,
   its birth date and sex.
3. Probabilistic (`probabilistic`): everything else, with splink (see `splink_model`).

Reads `link_person_records`; writes `link_person_exact`, `link_person_conflicts`.
"""

from __future__ import annotations

import duckdb

REGISTRY_FEED = "registry_persons"

_MACROS = """
CREATE OR REPLACE TEMP MACRO chars_off(a, b) AS
    CASE WHEN length(a) = length(b)
         THEN len(list_filter(list_zip(string_split(a, ''), string_split(b, '')), lambda x: x[1] <> x[2]))
    END;
CREATE OR REPLACE TEMP MACRO names_agree(a, b, pa, pb, same_birth) AS
    a = b OR pa = pb OR (chars_off(a, b) = 1 AND (length(a) >= 3 OR same_birth));
"""


def ensure_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_MACROS)


def deterministic(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """`link_person_exact(record_id, registry_key, registry_record_id)` and
    `link_person_conflicts(record_id, registry_key, kind, registry_name, delivered_name)`."""
    ensure_macros(con)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE link_person_exact AS
        SELECT r.record_id, g.id_number AS registry_key, g.record_id AS registry_record_id
        FROM link_person_records r
        JOIN link_person_records g ON g.feed = '{REGISTRY_FEED}' AND g.role = 'person' AND g.id_valid
             AND r.id_number = g.id_number
        WHERE r.id_valid AND (
            r.feed = '{REGISTRY_FEED}' AND r.role = 'person'
            OR r.name IS NULL
            OR names_agree(r.name, g.name, r.name_pinyin, g.name_pinyin,
                           coalesce(r.birth_date = g.birth_date, false)))
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE link_person_conflicts AS
        SELECT r.record_id, g.id_number AS registry_key, 'id_of_another_person' AS kind,
               g.name AS registry_name, r.name AS delivered_name
        FROM link_person_records r
        JOIN link_person_records g ON g.feed = '{REGISTRY_FEED}' AND g.role = 'person' AND g.id_valid
             AND r.id_number = g.id_number
        WHERE r.id_valid AND NOT (r.feed = '{REGISTRY_FEED}' AND r.role = 'person')
          AND r.record_id NOT IN (SELECT record_id FROM link_person_exact)
        """
    )
    exact = con.execute("SELECT count(*) FROM link_person_exact").fetchall()[0][0]
    conflicts = con.execute("SELECT count(*) FROM link_person_conflicts").fetchall()[0][0]
    return {"exact_id": exact, "id_conflicts": conflicts}
