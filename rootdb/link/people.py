"""People: every person record resolved to one entity, matched to the registry
where the registry knows them.

1. Deterministic (`exact_id`): a valid ID found in the registry whose name agrees —
   same characters, same pinyin, or one character off (for two-character names, one
   character off only with the same birth date: 张伟 and 张芳 of one household share a
   surname, not an identity). A name that clearly disagrees means the ID belongs to
   someone else: the record is not trusted with it, and the disagreement is kept.
   An ID Excel stored as a number (`excel_id`) keeps its first 15 digits (region,
   birth date, one more): the one registry person whose ID begins so and whose name
   agrees.
2. Family (`family`): a newborn with no ID, through its mother's registry household,
   its birth date and sex.
3. Name and house (`name_house`): a record with no usable ID whose house (its own
   address, or for a person named with no address of their own — a house's owner or
   tenant, a household's head — the one house its row names) is where exactly one
   registry person of that name lives or is registered.
4. Name and phone (`name_phone`): a record with no usable ID that gives a phone is
   the one registry person with that phone whose name agrees (`_name_phone`).
5. Place and role (`place_role`): a business's 法定代表人 named with no usable ID is
   the registry person another row names in the same role of the same place.
6. Name alone (`name_only`): a record that gives only a name (a 当事人 at a public
   spot) is the registry person of that name when nobody else in the data bears it.
7. Probabilistic (`probabilistic`): everything else, with splink (`rootdb.link.model`,
   run by an engine of `rootdb.link.engines`), which compares houses as the house link
   resolved them (`link_person_houses`), not as each department wrote them. A newborn
   written without a name is compared together with the one name written for it at
   its house (`_newborn_names`); a group the registry does not know that holds two
   valid IDs is cut in two (`model.split_two_ids`).

Reads `link_person_records`, `link_house_records`, `link_house_matches`; writes
`link_person_exact`, `link_person_conflicts`, `link_person_houses`.
"""

from __future__ import annotations

import duckdb
import polars as pl

from rootdb.link.engines import Engine
from rootdb.store import fetch_frame, frame_to_table
from rootdb.store.sql import registered, scalar, scratch

REGISTRY_FEED = "registry_persons"

_MACROS = """
CREATE OR REPLACE TEMP MACRO chars_off(a, b) AS
    CASE WHEN a = b THEN 0  -- most names: no character lists built
         WHEN length(a) = length(b)
         THEN len(list_filter(list_zip(string_split(a, ''), string_split(b, '')), lambda x: x[1] <> x[2]))
    END;
-- Birth dates that do not tell two people apart: one unknown, equal, one digit of
-- YYYYMMDD mistyped, or day and month swapped.
CREATE OR REPLACE TEMP MACRO births_agree(a, b) AS
    a IS NULL OR b IS NULL OR a = b
    OR chars_off(strftime(a, '%Y%m%d'), strftime(b, '%Y%m%d')) = 1
    OR (year(a) = year(b) AND month(a) = day(b) AND day(a) = month(b));
-- Names of one person, unless the record's own birth date says another person (a
-- namesake's ID): the same characters, the same pinyin, or one character off (for
-- two-character names only with the same birth date).
CREATE OR REPLACE TEMP MACRO names_agree(a, b, pa, pb, same_birth, births_ok) AS
    births_ok AND (a = b OR pa = pb OR coalesce(chars_off(a, b) = 1 AND (length(a) >= 3 OR same_birth), false));
"""


def ensure_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_MACROS)


def deterministic(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """`link_person_exact(record_id, registry_key, match_method)` and
    `link_person_conflicts(record_id, registry_key, kind, registry_name, delivered_name)`.

    For a record whose valid ID is in the registry:
    - the name agrees (or is empty): `exact_id` — the same characters, the same
      pinyin, or one character off, and the record's own birth date (if it gives one)
      is the ID holder's but for one mistyped digit or day and month swapped: a
      birth date that says another person makes even the same name a namesake;
    - else a member of the ID holder's household bears the name (same characters or
      pinyin): the department wrote a relative's ID — the record is that member's
      (`household`), and the wrong ID is a conflict;
    - else a two-character name one character off with nothing else to tell (no birth
      date against it): a typo, `exact_id`;
    - else the ID belongs to someone else: a conflict, and the model never sees it.
    """
    ensure_macros(con)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _registry AS
        SELECT g.record_id, g.id_number, g.name, g.name_pinyin, g.birth_date, coalesce(g.sex, g.id_sex) AS sex,
               g.phone, p.household_no
        FROM link_person_records g
        JOIN "{REGISTRY_FEED}" p ON p.file_id = g.file_id AND p.source_row = g.source_row
        WHERE g.feed = '{REGISTRY_FEED}' AND g.role = 'person' AND g.id_valid;

        CREATE OR REPLACE TEMP TABLE _by_id AS
        SELECT r.record_id, r.feed = '{REGISTRY_FEED}' AND r.role = 'person' AS is_registry, r.name,
               r.name_pinyin, g.id_number, g.name AS registry_name, g.household_no,
               r.name IS NULL OR names_agree(r.name, g.name, r.name_pinyin, g.name_pinyin,
                                             coalesce(r.birth_date = g.birth_date, false),
                                             births_agree(r.birth_date, g.birth_date)) AS agrees,
               -- names of different lengths are not one character off (chars_off is NULL)
               coalesce(chars_off(r.name, g.name) = 1, false) AND births_agree(r.birth_date, g.birth_date)
                   AS one_off
        FROM link_person_records r JOIN _registry g ON r.id_number = g.id_number
        WHERE r.id_valid;

        CREATE OR REPLACE TEMP TABLE _relative AS
        SELECT b.record_id, any_value(h.id_number) AS registry_key, count(*) AS candidates
        FROM _by_id b JOIN _registry h
             ON h.household_no = b.household_no AND h.id_number <> b.id_number
            AND (h.name = b.name OR h.name_pinyin = b.name_pinyin)
        WHERE NOT b.is_registry AND NOT b.agrees
        GROUP BY b.record_id HAVING count(*) = 1;

        CREATE OR REPLACE TABLE link_person_exact AS
        SELECT record_id, id_number AS registry_key, 'exact_id' AS match_method FROM _by_id
        WHERE is_registry OR agrees OR (one_off AND record_id NOT IN (SELECT record_id FROM _relative))
        UNION ALL
        SELECT record_id, registry_key, 'household' FROM _relative;

        CREATE OR REPLACE TABLE link_person_conflicts AS
        SELECT record_id, id_number AS registry_key, 'id_of_another_person' AS kind, registry_name,
               name AS delivered_name
        FROM _by_id
        WHERE NOT is_registry AND NOT agrees AND NOT (one_off AND record_id NOT IN (SELECT record_id FROM _relative));
        """
    )
    _excel_ids(con)
    _family(con)
    _person_houses(con)
    _name_house(con)
    _name_phone(con)
    _family(con)  # a relative found by name and house (or phone) names the rest of the row
    _place_role(con)
    _name_only(con)
    _newborn_names(con)
    counts = dict(con.execute("SELECT match_method, count(*) FROM link_person_exact GROUP BY 1").fetchall())
    conflicts = scalar(con, "SELECT count(*) FROM link_person_conflicts")
    return {**{m: counts.get(m, 0) for m in ("exact_id", "household", "excel_id", "family", "name_house",
                                             "name_phone", "place_role", "name_only")},
            "id_conflicts": conflicts, "newborn_named": scalar(con, "SELECT count(*) FROM _newborn_named")}


def _excel_ids(con: duckdb.DuckDBPyConnection) -> None:
    """An ID that Excel stored as a number (id_check 'excel') kept 15 significant
    digits — region, birth date and the first digit of the sequence — cut or rounded,
    then written back as a double (`…129984`) or in scientific notation. It is the one
    registry person whose ID cut or rounded to 15 digits is the same number and whose
    name agrees (same characters, same pinyin, or one character off in a name of three
    or more: twins share the 15 digits and often all but one character of the name),
    as does a birth date the record gives."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _registry15 AS
        SELECT DISTINCT g.id_number, g.name, g.name_pinyin, g.birth_date, unnest([v // 1000, (v + 500) // 1000]) AS id15
        FROM (SELECT *, substr(id_number, 1, 17)::HUGEINT * 10
                        + CASE WHEN right(id_number, 1) = 'X' THEN 10 ELSE right(id_number, 1)::INT END AS v
              FROM _registry) g;

        INSERT INTO link_person_exact
        SELECT r.record_id, any_value(g.id_number), 'excel_id'
        FROM (SELECT *, round(TRY_CAST(id_number AS DOUBLE) / 1000)::HUGEINT AS id15
              FROM link_person_records
              WHERE id_check = 'excel' AND name IS NOT NULL
                AND record_id NOT IN (SELECT record_id FROM link_person_exact)) r
        JOIN _registry15 g ON g.id15 = r.id15
        WHERE (r.name = g.name OR r.name_pinyin = g.name_pinyin OR (chars_off(r.name, g.name) = 1 AND length(r.name) >= 3))
          AND births_agree(r.birth_date, g.birth_date)
        GROUP BY r.record_id
        HAVING count(DISTINCT g.id_number) = 1
        """
    )


def _person_houses(con: duckdb.DuckDBPyConnection) -> None:
    """`link_person_houses(record_id, house_id, kind)`: the house entity (as the house
    link resolved it) of each person record's address — `lives`: the address of the
    role itself; `registered`: a registry person's 户籍地址; `row`: for a person with no
    address of their own, the one house the row names (an owner's or a tenant's house,
    a dibao head's household). One row per record and kind."""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE link_person_houses AS
        WITH own AS (
            SELECT p.record_id, min(m.entity_id) AS house_id, 'lives' AS kind
            FROM link_person_records p
            JOIN link_house_records h ON h.file_id = p.file_id AND h.source_row = p.source_row AND h.address = p.address
            JOIN link_house_matches m ON m.record_id = h.record_id
            WHERE h.role <> 'registered_residence' OR p.feed <> '{REGISTRY_FEED}'
            GROUP BY p.record_id
        ), registered AS (
            SELECT p.record_id, min(m.entity_id) AS house_id, 'registered' AS kind
            FROM link_person_records p
            JOIN link_house_records h ON h.file_id = p.file_id AND h.source_row = p.source_row
                 AND h.role = 'registered_residence'
            JOIN link_house_matches m ON m.record_id = h.record_id
            WHERE p.feed = '{REGISTRY_FEED}' AND p.role = 'person'
            GROUP BY p.record_id
        ), by_row AS (
            SELECT p.record_id, min(m.entity_id) AS house_id, 'row' AS kind
            FROM link_person_records p
            JOIN link_house_records h ON h.file_id = p.file_id AND h.source_row = p.source_row
            JOIN link_house_matches m ON m.record_id = h.record_id
            WHERE p.address IS NULL AND p.feed <> '{REGISTRY_FEED}'
            GROUP BY p.record_id
            HAVING count(DISTINCT m.entity_id) = 1
        )
        SELECT * FROM own UNION ALL SELECT * FROM registered UNION ALL SELECT * FROM by_row
        """
    )


def _name_house(con: duckdb.DuckDBPyConnection) -> None:
    """A record with no usable ID (none, an invalid one, or one that belongs to
    someone else) is the registry person of the same name who lives or is registered at
    its house, when exactly one does — the same characters, or the same pinyin with the
    same birth date; a birth date or sex it gives must agree. Siblings' names one
    character apart never match here: that is for the model, with phone and birth date."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _registry_houses AS
        SELECT g.id_number, g.name, g.name_pinyin, g.birth_date, g.sex, h.house_id
        FROM _registry g JOIN link_person_houses h ON h.record_id = g.record_id;

        INSERT INTO link_person_exact
        WITH r AS (  -- the records still open, before any join
            SELECT * FROM link_person_records
            WHERE record_id NOT IN (SELECT record_id FROM link_person_exact)
              AND NOT (feed = '{REGISTRY_FEED}' AND role = 'person')
              AND (NOT coalesce(id_valid, false) OR record_id IN (SELECT record_id FROM link_person_conflicts))
              AND name IS NOT NULL
        )
        SELECT r.record_id, any_value(g.id_number), 'name_house'
        FROM r
        JOIN link_person_houses rh ON rh.record_id = r.record_id
        JOIN _registry_houses g ON g.house_id = rh.house_id
        WHERE (r.name = g.name OR (r.name_pinyin = g.name_pinyin AND r.birth_date = g.birth_date))
          AND (r.birth_date IS NULL OR r.birth_date = g.birth_date)
          AND (r.sex IS NULL OR g.sex IS NULL OR r.sex = g.sex)
        GROUP BY r.record_id
        HAVING count(DISTINCT g.id_number) = 1
        """
    )


def _name_phone(con: duckdb.DuckDBPyConnection) -> None:
    """A record with no usable ID that gives a phone is the registry person with that
    phone whose name agrees, when exactly one does: the same characters or pinyin —
    or, when no holder of the phone bears the name, one character off in a name of
    three or more (a typo; a sibling one character apart is told by its own name). A
    birth date or sex it gives must agree. Family members share a landline: two of
    them who both fit (a father and son of one name) leave the record to the model."""
    con.execute(
        f"""
        INSERT INTO link_person_exact
        WITH fits AS (
            SELECT r.record_id, g.id_number,
                   CASE WHEN r.name = g.name OR r.name_pinyin = g.name_pinyin THEN 1 ELSE 2 END AS closeness
            FROM link_person_records r JOIN _registry g ON g.phone = r.phone
            WHERE r.record_id NOT IN (SELECT record_id FROM link_person_exact)
              AND NOT (r.feed = '{REGISTRY_FEED}' AND r.role = 'person')
              AND (NOT coalesce(r.id_valid, false) OR r.record_id IN (SELECT record_id FROM link_person_conflicts))
              AND (r.name = g.name OR r.name_pinyin = g.name_pinyin
                   OR coalesce(chars_off(r.name, g.name) = 1 AND length(r.name) >= 3, false))
              AND (r.birth_date IS NULL OR r.birth_date = g.birth_date)
              AND (r.sex IS NULL OR g.sex IS NULL OR r.sex = g.sex)
        ), closest AS (
            SELECT * FROM fits QUALIFY closeness = min(closeness) OVER (PARTITION BY record_id)
        )
        SELECT record_id, any_value(id_number), 'name_phone' FROM closest
        GROUP BY record_id
        HAVING count(DISTINCT id_number) = 1
        """
    )


def _name_only(con: duckdb.DuckDBPyConnection) -> None:
    """A record of a row's own person (role `person`) that gives a name and nothing
    else the model could compare (no ID, birth date, phone or house: a 当事人 named at a
    public spot) is the registry person of that name when nobody else in the data bears
    it: exactly one registry person has the name or its pinyin, and every other record
    with either is already resolved to that person. A sex it gives must agree. Such
    records never count against each other (one caller named in two events). A person
    named in a relation to a house or place (owner, tenant, 法定代表人, guardian) may
    live anywhere: a name alone does not make them the area's namesake."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _name_only AS
        SELECT r.record_id, r.name, r.name_pinyin, r.sex
        FROM link_person_records r
        WHERE r.role = 'person' AND r.feed <> '{REGISTRY_FEED}'
          AND r.name IS NOT NULL AND r.id_number IS NULL AND r.birth_date IS NULL AND r.phone IS NULL
          AND r.house_key IS NULL
          AND r.record_id NOT IN (SELECT record_id FROM link_person_exact)
          AND r.record_id NOT IN (SELECT record_id FROM link_person_houses);

        INSERT INTO link_person_exact
        WITH others AS (  -- every other record of such a name or pinyin, as resolved so far
            SELECT o.name, o.name_pinyin, e.registry_key
            FROM link_person_records o LEFT JOIN link_person_exact e USING (record_id)
            WHERE (o.name IN (SELECT name FROM _name_only) OR o.name_pinyin IN (SELECT name_pinyin FROM _name_only))
              AND o.record_id NOT IN (SELECT record_id FROM _name_only)
        ),  -- told per name and per pinyin (per record, a common name's bearers multiply)
        by_name AS (SELECT name, count(*) = count(registry_key) AS resolved, min(registry_key) AS lo,
                           max(registry_key) AS hi FROM others GROUP BY name),
        by_pinyin AS (SELECT name_pinyin, count(*) = count(registry_key) AS resolved, min(registry_key) AS lo,
                             max(registry_key) AS hi FROM others GROUP BY name_pinyin),
        one AS (  -- somebody else bears it, all of them are resolved, all to one person
            SELECT w.record_id, w.sex, least(a.lo, p.lo) AS registry_key
            FROM _name_only w
            LEFT JOIN by_name a ON a.name = w.name
            LEFT JOIN by_pinyin p ON p.name_pinyin = w.name_pinyin
            WHERE (a.name IS NOT NULL OR p.name_pinyin IS NOT NULL)
              AND coalesce(a.resolved, true) AND coalesce(p.resolved, true)
              AND least(a.lo, p.lo) = greatest(a.hi, p.hi)
        )
        SELECT record_id, registry_key, 'name_only' FROM one
        WHERE NOT EXISTS (SELECT 1 FROM _registry g
                          WHERE g.id_number = one.registry_key AND one.sex IS NOT NULL AND g.sex IS NOT NULL
                            AND one.sex <> g.sex)
        """
    )


def _family(con: duckdb.DuckDBPyConnection) -> None:
    """A person named beside a resolved relative (a newborn beside its mother, a
    dibao member beside the head, a child beside a guardian) is the one member of the
    relative's registry household with the same name (or pinyin) — or, for a newborn
    with no name yet, the same birth date and sex. Only when exactly one member fits."""
    con.execute(
        """
        INSERT INTO link_person_exact
        WITH r AS (  -- the records still open, before any join (DuckDB joins first otherwise)
            SELECT * FROM link_person_records
            WHERE NOT coalesce(id_valid, false)
              AND record_id NOT IN (SELECT record_id FROM link_person_exact)
              AND record_id NOT IN (SELECT record_id FROM link_person_conflicts)
        )
        SELECT r.record_id, any_value(h.id_number), 'family'
        FROM r
        JOIN link_person_records a ON a.file_id = r.file_id AND a.source_row = r.source_row AND a.role <> r.role
        JOIN link_person_exact ae ON ae.record_id = a.record_id
        JOIN _registry ar ON ar.id_number = ae.registry_key
        JOIN _registry h ON h.household_no = ar.household_no AND h.id_number <> ar.id_number
        WHERE (r.sex IS NULL OR r.sex = h.sex)
          AND (r.birth_date IS NULL OR r.birth_date = h.birth_date)
          -- siblings' names are often one character apart: only the same name or pinyin
          AND (r.name = h.name OR r.name_pinyin = h.name_pinyin OR (r.name IS NULL AND r.birth_date = h.birth_date))
        GROUP BY r.record_id
        HAVING count(DISTINCT h.id_number) = 1
        """
    )


def _place_role(con: duckdb.DuckDBPyConnection) -> None:
    """A person with no usable ID named in a role of a place (a business's 法定代表人)
    is the registry person named in the same role of the same place by another row
    (the place registry's row, with an ID) — the same characters or pinyin, one
    registry person only.

    In three steps on small tables: the records that need it and their places first,
    then the known people in those places' other rows. As one seven-way join, DuckDB
    chose a plan 5,000 times slower (25 minutes on a city) for tables made earlier in
    the same transaction, which a training link's are."""
    with scratch(con, "_pr_"):
        con.execute(
            """
        CREATE OR REPLACE TEMP TABLE _pr_need AS
        SELECT r.record_id, r.role, r.name, r.name_pinyin, rp.record_id AS place_record, rm.entity_id
        FROM link_person_records r
        JOIN link_place_records rp ON rp.file_id = r.file_id AND rp.source_row = r.source_row
        JOIN link_place_matches rm ON rm.record_id = rp.record_id
        WHERE r.record_id NOT IN (SELECT record_id FROM link_person_exact)
          AND (NOT coalesce(r.id_valid, false) OR r.record_id IN (SELECT record_id FROM link_person_conflicts));

        CREATE OR REPLACE TEMP TABLE _pr_known AS
        SELECT om.entity_id, om.record_id AS place_record, a.role, a.name, a.name_pinyin, ae.registry_key
        FROM (SELECT DISTINCT entity_id FROM _pr_need) e
        JOIN link_place_matches om ON om.entity_id = e.entity_id
        JOIN link_place_records op ON op.record_id = om.record_id
        JOIN link_person_records a ON a.file_id = op.file_id AND a.source_row = op.source_row
        JOIN link_person_exact ae ON ae.record_id = a.record_id;

        INSERT INTO link_person_exact
        SELECT n.record_id, any_value(k.registry_key), 'place_role'
        FROM _pr_need n
        JOIN _pr_known k ON k.entity_id = n.entity_id AND k.place_record <> n.place_record AND k.role = n.role
        WHERE n.name = k.name OR n.name_pinyin = k.name_pinyin
        GROUP BY n.record_id
        HAVING count(DISTINCT k.registry_key) = 1
        """
        )


# Roles a newborn can be written in (a parent, guardian, household head, owner, tenant or
# legal representative cannot be one), and the relations to a household's head that a
# newborn can have (户主, 配偶, 父亲, 儿媳… cannot).
_CHILD_ROLES = "'person', 'child', 'member'"
_CHILD_RELATIONS = ", ".join(f"'{r}'" for r in (
    "子", "女", "儿子", "女儿", "子女", "长子", "长女", "次子", "次女", "独生子", "独生女", "养子", "养女", "继子",
    "继女", "孙子", "孙女", "孙子女", "外孙", "外孙子", "外孙女", "外孙子女", "曾孙子", "曾孙女", "侄子", "侄女",
    "外甥", "外甥女", "弟", "妹", "弟弟", "妹妹", "兄弟姐妹", "其他"))


def _newborn_names(con: duckdb.DuckDBPyConnection) -> None:
    """`_newborn_named(record_id, newborn_id)`: a newborn the registry does not know yet
    is written without a name (出生医学证明: empty, or a placeholder such as 张某某之子)
    and named by another department at the same house with no ID and no birth date
    (家庭医生签约, 救助). Such a name is the newborn's when it is none of the newborn's
    row (its mother, its father), nobody else of that name is known at the house (no
    record of the name there gives another birth date, or a valid ID of another birth),
    and it fits exactly one newborn there: a newborn that a record at the house already
    names by its birth date fits only a name that agrees with that one (one character
    off in a name of three); twins fit alike and are left to the model. The naming
    record must say nothing against a newborn: a sex it gives is the newborn's, its role
    is one a child holds (not a parent, guardian, head, owner, tenant or legal
    representative), and a relation to a household's head it gives is a child's. One
    name per newborn."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _at_house AS
        SELECT r.record_id, r.file_id, r.source_row, r.name, r.name_pinyin, r.birth_date, r.sex, r.role,
               nullif(trim(r.relation), '') AS relation, h.house_id,
               coalesce(r.id_valid, false) AND c.record_id IS NULL AS trusted_id,
               CASE WHEN coalesce(r.id_valid, false) AND c.record_id IS NULL THEN r.id_birth END AS id_birth,
               r.record_id IN (SELECT record_id FROM link_person_exact) AS resolved
        FROM link_person_records r
        JOIN link_person_houses h ON h.record_id = r.record_id AND h.kind <> 'row'
        LEFT JOIN link_person_conflicts c ON c.record_id = r.record_id;

        CREATE OR REPLACE TEMP TABLE _newborns AS
        SELECT house_id, birth_date, sex, min(record_id) AS newborn_id, count(*) AS born
        FROM _at_house
        WHERE name IS NULL AND birth_date IS NOT NULL AND NOT trusted_id AND NOT resolved
        GROUP BY house_id, birth_date, sex;

        CREATE OR REPLACE TEMP TABLE _newborn_named AS
        WITH fits AS (
            SELECT c.record_id, c.name, n.newborn_id
            FROM _at_house c JOIN _newborns n USING (house_id)
            JOIN link_person_records nb ON nb.record_id = n.newborn_id
            WHERE c.name IS NOT NULL AND c.birth_date IS NULL AND NOT c.trusted_id AND NOT c.resolved
              -- same-sex twins: which one the name is, only the model may tell
              AND n.born = 1
              -- nothing the naming record says contradicts a newborn: its sex, if given, is
              -- the newborn's; its role is one a child holds; its relation, if given, a child's
              AND (c.sex IS NULL OR n.sex IS NULL OR c.sex = n.sex)
              AND c.role IN ({_CHILD_ROLES})
              AND (c.relation IS NULL OR c.relation IN ({_CHILD_RELATIONS}))
              AND NOT EXISTS (SELECT 1 FROM link_person_records p
                              WHERE p.file_id = nb.file_id AND p.source_row = nb.source_row
                                AND (p.name = c.name OR p.name_pinyin = c.name_pinyin))
              AND NOT EXISTS (SELECT 1 FROM _at_house o
                              WHERE o.house_id = c.house_id AND (o.name = c.name OR o.name_pinyin = c.name_pinyin)
                                AND (o.birth_date <> n.birth_date OR o.id_birth <> n.birth_date))
              AND NOT EXISTS (SELECT 1 FROM _at_house o
                              WHERE o.house_id = c.house_id AND o.birth_date = n.birth_date AND o.name IS NOT NULL
                                AND NOT names_agree(o.name, c.name, o.name_pinyin, c.name_pinyin, false, true))
        ), one_newborn AS (
            SELECT * FROM fits WHERE record_id IN (SELECT record_id FROM fits GROUP BY 1 HAVING count(*) = 1)
        )
        SELECT record_id, newborn_id FROM one_newborn
        WHERE newborn_id IN (SELECT newborn_id FROM one_newborn GROUP BY 1 HAVING count(DISTINCT name) = 1)
        """
    )


_SPLINK_COLUMNS = """
    record_id AS unique_id, name, name_pinyin,
    {id} AS id_number,
    coalesce(birth_date, {id_birth}) AS birth_date,
    coalesce(sex, {id_sex}) AS sex,
    phone, coalesce(h.house_id, house_key) AS house_key
"""


def _model_columns() -> str:
    """What the model sees of a record. An ID that belongs to someone else is not
    given to it, nor is what that ID implies (birth date, sex). Its house is the house
    entity its address resolved to (or, with no address of its own, its row's house:
    `link_person_houses`), so that two ways of writing one address agree; the
    address's own key where it resolved to none. Read with `_FROM`."""
    trusted = "CASE WHEN c.record_id IS NULL THEN r.{col} END"
    return _SPLINK_COLUMNS.format(
        id=trusted.format(col="id_number"), id_birth=trusted.format(col="id_birth"), id_sex=trusted.format(col="id_sex")
    )


# The tables the model's columns read (`r`, `c`, `h`).
_FROM = """link_person_records r LEFT JOIN link_person_conflicts c USING (record_id)
    LEFT JOIN (SELECT record_id, house_id FROM link_person_houses WHERE kind <> 'registered') h USING (record_id)"""


def _splink_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Registry persons, and the feed records left unresolved (what is predicted)."""
    con.execute("DROP TABLE IF EXISTS link_splink_training")  # only a training run makes it
    cols = _model_columns()
    con.execute(
        f"""
        CREATE OR REPLACE TABLE link_splink_registry AS
        SELECT {cols}, true AS is_registry, r.id_number AS label
        FROM {_FROM}
        WHERE r.feed = '{REGISTRY_FEED}' AND r.role = 'person'
        """
    )
    # Records the model would see alike (a guardian named in two feeds with the same
    # phone and house) are compared once, through the first of them; a newborn's name
    # written elsewhere (`_newborn_names`), through the newborn.
    con.execute(
        f"""
        CREATE OR REPLACE TABLE link_splink_members AS
        WITH alike AS (
            SELECT unique_id AS record_id,
                   -- a record with no name and no ID says too little to be another's
                   -- (two unnamed newborns of one mother, one day, one sex: twins)
                   CASE WHEN name IS NULL AND id_number IS NULL THEN unique_id
                        ELSE min(unique_id) OVER (PARTITION BY name, name_pinyin, id_number, birth_date, sex, phone,
                                                               house_key) END AS unique_id
            FROM (SELECT {cols}
                  FROM {_FROM}
                  WHERE r.record_id NOT IN (SELECT record_id FROM link_person_exact))
        ), newborn AS (
            SELECT a.unique_id, min(b.unique_id) AS newborn_uid
            FROM _newborn_named x JOIN alike a USING (record_id) JOIN alike b ON b.record_id = x.newborn_id
            GROUP BY a.unique_id
        )
        SELECT a.record_id, coalesce(n.newborn_uid, a.unique_id) AS unique_id
        FROM alike a LEFT JOIN newborn n USING (unique_id)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE link_splink_unresolved AS
        SELECT {cols}, false AS is_registry, NULL::VARCHAR AS label
        FROM {_FROM}
        WHERE r.record_id IN (SELECT unique_id FROM link_splink_members)
        """
    )


def _training_records(con: duckdb.DuckDBPyConnection, training_sample: int) -> None:
    """The unresolved records and a sample (per mille) of the deterministically matched
    ones, whose registry key is the label m is learnt from."""
    cols = _model_columns()
    con.execute(
        f"""
        CREATE OR REPLACE TABLE link_splink_training AS
        SELECT * FROM link_splink_unresolved
        UNION ALL
        SELECT {cols}, false AS is_registry, e.registry_key AS label
        FROM {_FROM} JOIN link_person_exact e USING (record_id)
        WHERE r.feed <> '{REGISTRY_FEED}' AND hash(r.record_id) % 1000 < ?
        """,
        [max(1, min(1000, training_sample))],
    )


def probabilistic(
    con: duckdb.DuckDBPyConnection, engine: Engine, model_path, retrain: bool, threshold: float, review_from: float,
    charts_dir=None,
) -> dict:
    """Cluster the unresolved records with the registry; `link_person_clusters` and
    `link_person_review` (pairs between `review_from` and `threshold`). `engine`: where
    splink trains, predicts and clusters (`rootdb.link.engines`); everything else stays
    here. A model trained here is returned as `model`, for the caller to save once its
    transaction has committed (a run killed before that leaves the saved model as it was)."""
    from rootdb.link import model as splink_model  # splink: imported when the model runs
    from rootdb.link.review import current_decisions

    _splink_inputs(con)
    registry = fetch_frame(con, "SELECT * FROM link_splink_registry")
    stored = None if retrain else splink_model.load_model(model_path)
    trained, complete = stored is None, True
    if trained:
        exact = scalar(con, "SELECT count(*) FROM link_person_exact")
        # Up to ~200k labelled records are plenty to learn m; more only costs time.
        _training_records(con, training_sample=max(1, 200_000 * 1000 // max(exact, 1)))
        stored, complete = engine.train(con, registry, fetch_frame(con, "SELECT * FROM link_splink_training"))
        if not complete and splink_model.model_problem(model_path) is None and model_path.is_file():
            stored, trained = splink_model.load_model(model_path), False  # --retrain on too little: keep the saved
    members = fetch_frame(con, "SELECT * FROM link_splink_members")
    decisions = current_decisions(con)
    for side in ("l", "r"):  # decisions about a record apply to the one it is compared through
        decisions = decisions.join(
            members.rename({"record_id": f"unique_id_{side}", "unique_id": f"_{side}"}), on=f"unique_id_{side}", how="left"
        ).with_columns(pl.coalesce(f"_{side}", f"unique_id_{side}").alias(f"unique_id_{side}")).drop(f"_{side}")
    feed = fetch_frame(con, "SELECT * FROM link_splink_unresolved")
    # Two records with neither name nor ID (unnamed newborns: twins of one mother, one
    # day, one sex) say too little to be one person: the model never joins them.
    mute = feed.filter(pl.col("name").is_null() & pl.col("id_number").is_null())["unique_id"].cast(pl.Int64).implode()
    predicted = engine.predict(con, registry, feed, stored, review_from)
    predicted = predicted.filter(~(pl.col("unique_id_l").cast(pl.Int64).is_in(mute)
                                   & pl.col("unique_id_r").cast(pl.Int64).is_in(mute)))
    pairs = splink_model.decided_pairs(predicted, decisions, registry["unique_id"])
    clustered = _single_best_links(engine, con, registry, feed, stored, pairs, threshold)
    clustered, alone = splink_model.split_two_ids(clustered, pairs, feed, threshold)
    if charts_dir is not None:
        engine.write_charts(con, registry, feed, stored, pairs, clustered, charts_dir)
    clusters, review = splink_model.clusters_and_review(clustered, pairs, threshold, alone)
    with registered(con, "_clusters", clusters), registered(con, "_members", members):
        con.execute(
            """
            CREATE OR REPLACE TABLE link_person_clusters AS
            SELECT * FROM _clusters WHERE source_dataset = 'registry'
            UNION ALL  -- every record takes the cluster of the record it was compared through
            SELECT m.record_id AS unique_id, c.* EXCLUDE (unique_id)
            FROM _clusters c JOIN _members m ON m.unique_id = c.unique_id
            WHERE c.source_dataset = 'feed'
            """
        )
    frame_to_table(con, "link_person_review", review)
    # A model that had too few records to train fully links tonight, and is not saved:
    # the next link trains again, on what has arrived by then.
    return {"model_trained": trained, "review_pairs": review.height, "training_complete": complete,
            "model": stored if trained and complete else None}


def _single_best_links(
    engine: Engine, con: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
    pairs: pl.DataFrame, threshold: float,
) -> pl.DataFrame:
    """Clusters holding at most one registry record. Only records with a pair above
    the threshold can join anyone, so splink clusters just those (its clustering
    visits every input record: on a city this is several times faster) and every
    other feed record is a cluster of its own."""
    strong = pairs.filter(pl.col("match_probability") >= threshold)
    nodes = pl.concat([strong["unique_id_l"], strong["unique_id_r"]]).unique().implode()
    clusters = pl.DataFrame(schema={"unique_id": pl.Int64, "source_dataset": pl.String, "cluster_id": pl.String})
    if strong.height:
        clusters = engine.cluster(con, registry.filter(pl.col("unique_id").is_in(nodes)),
                                  feed.filter(pl.col("unique_id").is_in(nodes)), model, strong.drop("decision"),
                                  threshold)
    alone = feed.filter(~pl.col("unique_id").is_in(clusters["unique_id"].implode())).select(
        pl.col("unique_id").cast(pl.Int64), pl.lit("feed").alias("source_dataset"),
        pl.col("unique_id").cast(pl.String).alias("cluster_id"),
    )
    return pl.concat([clusters, alone])


def assign_entities(con: duckdb.DuckDBPyConnection) -> dict:
    """`link_person_matches(record_id, entity_id, registry_key, match_method,
    match_probability)`: one row per person record. Registry people keep one
    entity_id for good (`link_entity_ids`); a group of records the registry does not
    know is named after its first record's stable signature."""
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS link_entity_ids (
            entity_type VARCHAR, key VARCHAR, entity_id VARCHAR, PRIMARY KEY (entity_type, key));
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _decided AS
        WITH registry_clusters AS (
            SELECT c.cluster_id, any_value(reg.label) AS registry_key
            FROM link_person_clusters c JOIN link_splink_registry reg ON reg.unique_id = c.unique_id
            WHERE c.source_dataset = 'registry' GROUP BY c.cluster_id
        ), feed_clusters AS (
            SELECT c.unique_id AS record_id, c.cluster_id, rc.registry_key, c.match_probability, c.manual,
                   count(*) OVER (PARTITION BY c.cluster_id) AS size
            FROM link_person_clusters c LEFT JOIN registry_clusters rc USING (cluster_id)
            WHERE c.source_dataset = 'feed'
        )
        SELECT r.record_id, g.id_number AS registry_key, 'exact_id' AS match_method, 1.0 AS match_probability,
               NULL AS cluster_id
        FROM link_person_records r JOIN link_person_records g
             ON g.feed = '{REGISTRY_FEED}' AND g.role = 'person' AND g.record_id = r.record_id
        WHERE r.record_id NOT IN (SELECT record_id FROM link_person_exact)
        UNION ALL
        SELECT record_id, registry_key, match_method, 1.0, NULL FROM link_person_exact
        UNION ALL
        SELECT record_id, registry_key,
               -- a group with no pair at all holds records the model saw alike: new, certain
               CASE WHEN manual AND (registry_key IS NOT NULL OR size > 1) THEN 'manual'
                    WHEN match_probability IS NULL THEN 'new'
                    WHEN registry_key IS NOT NULL OR size > 1 THEN 'probabilistic' ELSE 'new' END,
               CASE WHEN manual AND (registry_key IS NOT NULL OR size > 1) THEN 1.0
                    WHEN match_probability IS NULL THEN 1.0
                    WHEN registry_key IS NOT NULL OR size > 1 THEN match_probability ELSE 1.0 END,
               CASE WHEN registry_key IS NULL THEN cluster_id END
        FROM feed_clusters
        """
    )
    # Unregistered groups are keyed by the smallest stable signature of their records.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _anchors AS
        SELECT d.cluster_id,
               min(r.feed || '|' || r.role || '|' || coalesce(r.record_key, r.source_file || ':' || r.source_row)) AS anchor
        FROM _decided d JOIN link_person_records r USING (record_id)
        WHERE d.cluster_id IS NOT NULL GROUP BY d.cluster_id
        """
    )
    # One entity_id per registry key or signature, kept across runs; new ones numbered
    # after the last in key order, so that the same data always gets the same ids.
    con.execute(
        """
        INSERT INTO link_entity_ids
        SELECT 'person', key, 'P' || lpad((
                   (SELECT coalesce(max(substr(entity_id, 2)::BIGINT), 0) FROM link_entity_ids
                    WHERE entity_type = 'person') + row_number() OVER (ORDER BY key))::VARCHAR, 8, '0')
        FROM (SELECT 'R:' || registry_key AS key FROM _decided WHERE registry_key IS NOT NULL
              UNION SELECT 'S:' || anchor FROM _anchors)
        WHERE key NOT IN (SELECT key FROM link_entity_ids WHERE entity_type = 'person')
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE link_person_matches AS
        SELECT d.record_id, coalesce(reg.entity_id, grp.entity_id) AS entity_id, d.registry_key,
               d.match_method, d.match_probability
        FROM _decided d
        LEFT JOIN link_entity_ids reg ON reg.entity_type = 'person' AND reg.key = 'R:' || d.registry_key
        LEFT JOIN _anchors a ON a.cluster_id = d.cluster_id
        LEFT JOIN link_entity_ids grp ON grp.entity_type = 'person' AND grp.key = 'S:' || a.anchor
        """
    )
    rows = con.execute(
        "SELECT match_method, count(*), count(DISTINCT entity_id) FROM link_person_matches GROUP BY 1"
    ).fetchall()
    return {method: {"records": n, "entities": e} for method, n, e in rows}
