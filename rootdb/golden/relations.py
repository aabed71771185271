"""Relations between golden entities. Which feed's rows give which relation is in the
feeds' schemas (`relations`, read into `_g_relations` by `entities`).

- `rel_person_house(person_entity_id, house_entity_id, kind)`: `residence` and
  `registered` (the golden person's house and 户籍 house), `owner` and `tenant`
  relations (fangwu 产权人 / 承租人 → the property, gongzufang 承租人 → the rented
  house).
- `rel_household(head_entity_id, member_entity_id, relation, source)`: the registry's
  households (户号: its 户主 → every member, the head included with 户主) and the
  `household` relations of a feed's rows (dibao: 户主 → 成员 of the same row, relation
  as delivered; source: the feed).
- `rel_place_person(place_entity_id, person_entity_id, kind)`: `legal_rep` (shichang
  法定代表人, registry_places 负责人) and `employee` (jiuye, where the 就业单位 is a
  known place) relations.

Reads `golden_persons`, `_g_rec`, `_g_reg`, `_g_relations` (see `entities`) and the
link tables.
"""

from __future__ import annotations

import duckdb

_HOUSES = """
    SELECT hr.file_id, hr.source_row, hr.role AS house_role, hm.entity_id AS house_id
    FROM link_house_records hr JOIN link_house_matches hm USING (record_id)
"""


def build_relations(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE OR REPLACE TABLE rel_person_house AS
        SELECT DISTINCT * FROM (
            SELECT entity_id AS person_entity_id, house_entity_id, 'residence' AS kind
            FROM golden_persons WHERE house_entity_id IS NOT NULL
            UNION ALL
            SELECT entity_id, registered_house_entity_id, 'registered'
            FROM golden_persons WHERE registered_house_entity_id IS NOT NULL
            UNION ALL
            SELECT g.entity_id, h.house_id, r.kind
            FROM _g_rec g JOIN ({_HOUSES}) h ON h.file_id = g.file_id AND h.source_row = g.source_row
            JOIN _g_relations r ON r.kind IN ('owner', 'tenant') AND r.feed = g.feed AND r.person_role = g.role
                 AND r.of_role = h.house_role
        ) ORDER BY ALL
    """)
    con.execute("""
        CREATE OR REPLACE TABLE rel_household AS
        WITH heads AS (  -- one head per registry household: the 户主, else nobody
            SELECT household_no, min(entity_id) AS head_entity_id FROM _g_reg
            WHERE household_no IS NOT NULL AND relation = '户主' GROUP BY household_no
        )
        SELECT DISTINCT * FROM (
            SELECT h.head_entity_id, r.entity_id AS member_entity_id, r.relation, 'registry_persons' AS source
            FROM _g_reg r JOIN heads h USING (household_no)
            UNION ALL
            SELECT hd.entity_id, mb.entity_id, mb.relation, mb.feed
            FROM _g_rec mb
            JOIN _g_relations r ON r.kind = 'household' AND r.feed = mb.feed AND r.person_role = mb.role
            JOIN _g_rec hd ON hd.file_id = mb.file_id AND hd.source_row = mb.source_row AND hd.role = r.of_role
        ) ORDER BY ALL
    """)
    con.execute("""
        CREATE OR REPLACE TABLE rel_place_person AS
        SELECT DISTINCT * FROM (
            SELECT pm.entity_id AS place_entity_id, g.entity_id AS person_entity_id, r.kind
            FROM link_place_records pr JOIN link_place_matches pm USING (record_id)
            JOIN _g_relations r ON r.kind IN ('legal_rep', 'employee') AND r.feed = pr.feed AND r.of_role = pr.role
            JOIN _g_rec g ON g.file_id = pr.file_id AND g.source_row = pr.source_row AND g.role = r.person_role
        ) ORDER BY ALL
    """)
