"""Places: every place record resolved to a place entity, against the place registry
(`registry_places`) first.

Reads `link_place_records` and `link_house_records` + `link_house_matches` (the house
of each row's premises, so run `link_houses` first); writes `link_place_matches` (one
row per resolved place record: entity_id, registry_key, match_method,
match_probability) and `link_places` (one row per place entity); takes out of
`link_house_matches` the `location` records that are places (rule 6).

Rules, in order; a record takes the first that resolves it:

1. `exact_code`: a registry_places row is its own registry place.
2. `exact_uscc`: a valid 统一社会信用代码 equal to exactly one registry place's.
3. `probabilistic`: no USCC agreement, but nothing contradicting either (two valid
   codes that differ are two places) and exactly one registry place with the same
   normalised name (NFKC, no spaces, one kind of bracket, legal-form suffixes such
   as 有限公司 / 店 taken off) and the same premises house (0.98), or the same premises
   and an invalid code one character off the registry's (0.95).
   `fuzzy_name`: the same normalised name, no premises known to agree or disagree,
   and the name names exactly one registry place (0.9).
4. `new`: a business not in the registry is a place of its own, keyed by its valid
   USCC, else by its normalised name + premises house.
5. `employer` records (jiuye's 就业单位: a bare name) match only when the name
   identifies exactly one known place (registry or business): `exact_name` (1.0) when
   the name is written the same, `fuzzy_name` (0.9) when equal once normalised.
   Otherwise the record gets no row at all: an employer that is not a known place is
   not a place of ours.
6. `location` records (shijian's 事发地址, its whole text taken as a name) match the
   same way. A location that names a known place is that place: the house match the
   same row's `location` may have (`rootdb.link.houses`, rule 5) is taken out of
   `link_house_matches`, so the crosswalk has one row for it.

entity_id: "S" + 场所编码 for registry places, "SN" + the first 12 hex digits of
sha1(USCC or normalised name + premises) for the others.

The linker is the list `STAGES`, these rules as named SQL steps in the order they run,
on temporary `_lp_…` tables that `rootdb.store.sql.scratch` drops when it ends.
"""

from __future__ import annotations

import re
import time
import unicodedata

import duckdb
import polars as pl

from rootdb.link.records import publish_matches
from rootdb.store import frame_to_table
from rootdb.store.sql import Stage, run_stages, scalar, scratch, sql_stage

_SPACES = r"[\s\u3000\u00a0\u200b\ufeff]+"
# Legal-form and shop suffixes departments add or drop. Longest first.
NAME_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "分公司", "公司", "集团", "专营店", "门市部", "商店",
                 "店", "馆", "部")
_SUFFIX_RE = re.compile("(?:" + "|".join(NAME_SUFFIXES) + ")$")
_BRACKETS = str.maketrans({"【": "(", "】": ")", "[": "(", "]": ")", "〔": "(", "〕": ")", "｛": "(", "｝": ")"})


def normalize_place_name(name: str | None) -> str | None:
    """NFKC, no spaces, brackets unified, one legal-form/shop suffix off. What is in
    brackets stays: 永盛蒙餐馆(二分店) is another place than 永盛蒙餐馆."""
    if name is None:
        return None
    text = re.sub(_SPACES, "", unicodedata.normalize("NFKC", name)).translate(_BRACKETS)
    if not text:
        return None
    core = _SUFFIX_RE.sub("", text)
    return core if len(core) >= 2 else text


def plain_place_name(name: str | None) -> str | None:
    """The name as written, give or take width, spaces and bracket style."""
    if name is None:
        return None
    return re.sub(_SPACES, "", unicodedata.normalize("NFKC", name)).translate(_BRACKETS) or None


# ---------------------------------------------------------------- the linker, stage by stage
# Every working table is a temporary `_lp_…` table, owned by `scratch` in `link_places`.

def _names(con: duckdb.DuckDBPyConnection) -> None:
    """_lp_names(name, plain, norm) per distinct name."""
    names = [n for (n,) in con.execute(
        "SELECT DISTINCT name FROM link_place_records WHERE name IS NOT NULL").fetchall()]
    frame = pl.DataFrame({
        "name": pl.Series(names, dtype=pl.String),
        "plain": pl.Series([plain_place_name(n) for n in names], dtype=pl.String),
        "norm": pl.Series([normalize_place_name(n) for n in names], dtype=pl.String),
    })
    frame_to_table(con, "_lp_names", frame, temp=True)


_RECORDS = sql_stage("records", """
    CREATE OR REPLACE TEMP TABLE _lp_rec AS
    SELECT r.record_id, r.feed, r.role, r.place_code, r.uscc, coalesce(r.uscc_valid, false) AS uscc_valid,
           r.name, n.plain, n.norm, r.kind, r.file_id, r.source_row, h.entity_id AS house_id
    FROM link_place_records r
    LEFT JOIN _lp_names n ON n.name = r.name
    LEFT JOIN (  -- the premises house of the same row
        SELECT hr.file_id, hr.source_row, any_value(hm.entity_id) AS entity_id
        FROM link_house_records hr JOIN link_house_matches hm USING (record_id)
        WHERE hr.role = 'premises' GROUP BY ALL
    ) h ON r.role = 'place' AND h.file_id = r.file_id AND h.source_row = r.source_row
""")

_REGISTRY = sql_stage("registry", """
    CREATE OR REPLACE TEMP TABLE _lp_reg AS  -- one per 场所编码
    SELECT * EXCLUDE (k) FROM (
        SELECT place_code, 'S' || place_code AS entity_id, CASE WHEN uscc_valid THEN uscc END AS uscc,
               uscc AS uscc_raw, name, plain, norm, kind, house_id,
               row_number() OVER (PARTITION BY place_code ORDER BY record_id) AS k
        FROM _lp_rec WHERE feed = 'registry_places' AND role = 'place' AND place_code IS NOT NULL
    ) WHERE k = 1
""")

_EXACT_CODE = sql_stage("exact_code", """
    CREATE OR REPLACE TEMP TABLE _lp_match AS
    SELECT r.record_id, g.entity_id, g.place_code AS registry_key, 'exact_code' AS match_method,
           1.0::DOUBLE AS match_probability
    FROM _lp_rec r JOIN _lp_reg g ON g.place_code = r.place_code
    WHERE r.feed = 'registry_places' AND r.role = 'place'
""")

_EXACT_USCC = sql_stage("exact_uscc", """
    INSERT INTO _lp_match
    SELECT r.record_id, any_value(g.entity_id), any_value(g.place_code), 'exact_uscc', 1.0
    FROM _lp_rec r JOIN _lp_reg g ON g.uscc = r.uscc
    WHERE r.uscc_valid AND r.role = 'place' AND r.record_id NOT IN (SELECT record_id FROM _lp_match)
    GROUP BY r.record_id HAVING count(DISTINCT g.entity_id) = 1
""")

_NAME_AND_PREMISES = sql_stage("name_and_premises", """
    CREATE OR REPLACE TEMP TABLE _lp_cand AS  -- where the codes do not say they differ
    WITH open AS (
        SELECT * FROM _lp_rec
        WHERE role = 'place' AND record_id NOT IN (SELECT record_id FROM _lp_match)
    ), reg_names AS (
        SELECT norm, count(*) AS n FROM _lp_reg GROUP BY norm
    ), c AS (
        SELECT r.record_id, g.entity_id, g.place_code,
               CASE
                 WHEN r.norm = g.norm AND r.house_id = g.house_id THEN 0.98
                 WHEN r.house_id = g.house_id AND NOT r.uscc_valid AND length(r.uscc) = 18
                      AND levenshtein(r.uscc, g.uscc_raw) = 1 THEN 0.95
                 WHEN r.norm = g.norm AND rn.n = 1 AND NOT coalesce(  -- two registry houses that differ
                      r.house_id <> g.house_id AND r.house_id NOT LIKE 'HN%' AND g.house_id NOT LIKE 'HN%',
                      false) THEN 0.9
               END AS p
        FROM open r JOIN _lp_reg g
          ON (r.norm = g.norm OR r.house_id = g.house_id)
         AND NOT (r.uscc_valid AND g.uscc IS NOT NULL AND r.uscc <> g.uscc)
        JOIN reg_names rn ON rn.norm = g.norm
    )
    SELECT record_id, entity_id, place_code, p, max(p) OVER (PARTITION BY record_id) AS best
    FROM c WHERE p IS NOT NULL
""", """
    INSERT INTO _lp_match
    SELECT record_id, any_value(entity_id), any_value(place_code),
           CASE WHEN max(p) >= 0.95 THEN 'probabilistic' ELSE 'fuzzy_name' END, max(p)
    FROM _lp_cand WHERE p = best
    GROUP BY record_id HAVING count(DISTINCT entity_id) = 1
""")

_NEW_PLACES = sql_stage("new", """
    CREATE OR REPLACE TEMP TABLE _lp_new AS
    SELECT record_id, uscc, name, kind, house_id,
           'SN' || sha1(CASE WHEN uscc_valid THEN 'U|' || uscc
                             ELSE 'N|' || coalesce(norm, '') || '|' || coalesce(house_id, '') END)[:12] AS entity_id
    FROM _lp_rec
    WHERE role = 'place' AND record_id NOT IN (SELECT record_id FROM _lp_match)
""", """
    INSERT INTO _lp_match SELECT record_id, entity_id, NULL, 'new', 1.0 FROM _lp_new
""")

_EMPLOYERS = sql_stage("employers", """
    CREATE OR REPLACE TEMP TABLE _lp_known AS
    SELECT DISTINCT r.plain, r.norm, m.entity_id, m.registry_key
    FROM _lp_rec r JOIN _lp_match m USING (record_id)
    WHERE r.role = 'place' AND r.norm IS NOT NULL
""", """
    INSERT INTO _lp_match  -- a name that identifies exactly one known place
    SELECT r.record_id, any_value(k.entity_id), any_value(k.registry_key),
           CASE WHEN bool_or(k.plain = r.plain) THEN 'exact_name' ELSE 'fuzzy_name' END,
           CASE WHEN bool_or(k.plain = r.plain) THEN 1.0 ELSE 0.9 END
    FROM _lp_rec r JOIN _lp_known k ON k.norm = r.norm
    WHERE r.role IN ('employer', 'location')
    GROUP BY r.record_id HAVING count(DISTINCT k.entity_id) = 1
""")

_LOCATIONS = sql_stage("locations", """
    DELETE FROM link_house_matches  -- rule 6: a location that is a known place is no house
    WHERE record_id IN (
        SELECT hr.record_id FROM link_house_records hr
        JOIN _lp_rec r ON r.file_id = hr.file_id AND r.source_row = hr.source_row AND r.role = hr.role
        WHERE hr.role = 'location' AND r.record_id IN (SELECT record_id FROM _lp_match))
""")


def _publish(con: duckdb.DuckDBPyConnection) -> None:
    """link_place_matches from _lp_match; link_places, one row per entity: the
    registry's values first, then the business register's."""
    publish_matches(con, "link_place_matches", "_lp_match")
    con.execute("""
        CREATE OR REPLACE TABLE link_places AS
        WITH vals AS (
            SELECT m.entity_id, m.registry_key, CASE WHEN r.uscc_valid THEN r.uscc END AS uscc, r.name, r.kind,
                   r.house_id, CASE r.feed WHEN 'registry_places' THEN 0 ELSE 1 END AS rank, r.record_id
            FROM _lp_match m JOIN _lp_rec r USING (record_id) WHERE r.role = 'place'
        )
        SELECT entity_id, any_value(registry_key) FILTER (WHERE registry_key IS NOT NULL) AS registry_key,
               arg_min(uscc, (rank, record_id)) FILTER (WHERE uscc IS NOT NULL) AS uscc,
               arg_min(name, (rank, record_id)) FILTER (WHERE name IS NOT NULL) AS name,
               arg_min(kind, (rank, record_id)) FILTER (WHERE kind IS NOT NULL) AS kind,
               arg_min(house_id, (rank, record_id)) FILTER (WHERE house_id IS NOT NULL) AS house_entity_id
        FROM vals GROUP BY entity_id ORDER BY entity_id
    """)


# The rules of the module docstring, in the order they run.
STAGES = (
    Stage("names", _names),         # _lp_names: each name written plain and normalised
    _RECORDS,                       # _lp_rec: the records, with the house of their premises
    _REGISTRY,                      # _lp_reg: the registry places
    _EXACT_CODE,                    # rule 1 → _lp_match
    _EXACT_USCC,                    # rule 2
    _NAME_AND_PREMISES,             # rule 3 → _lp_cand
    _NEW_PLACES,                    # rule 4 → _lp_new
    _EMPLOYERS,                     # rules 5 and 6 → _lp_known
    _LOCATIONS,                     # rule 6: link_house_matches loses a location that is a place
    Stage("publish", _publish),     # link_place_matches, link_places
)


def _summary(con: duckdb.DuckDBPyConnection) -> dict:
    summary = dict(con.execute(
        "SELECT match_method, count(*) FROM link_place_matches GROUP BY 1 ORDER BY 1").fetchall())
    summary["records"] = sum(summary.values())
    summary["employers_unmatched"] = scalar(con, """
        SELECT count(*) FROM _lp_rec WHERE role = 'employer'
        AND record_id NOT IN (SELECT record_id FROM link_place_matches)""")
    summary["places"] = scalar(con, "SELECT count(*) FROM link_places")
    return summary


def link_places(con: duckdb.DuckDBPyConnection, seconds: dict[str, float] | None = None) -> dict:
    """Resolve every place record (`STAGES`); (re)write link_place_matches and link_places.
    Returns summary counts per match method, plus unmatched employers and seconds; with
    `seconds`, each stage's time as `places_<stage>`."""
    started = time.perf_counter()
    with scratch(con, "_lp_"):
        run_stages(con, STAGES, seconds, prefix="places_")
        summary = _summary(con)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary
