"""Houses: every house record resolved to a house entity, against the standard address
registry (`registry_addresses`) first.

Reads `link_house_records` and the `registry_addresses` view; writes
`link_house_matches` (one row per house record: entity_id, registry_key, match_method,
match_probability) and `link_houses` (one row per house entity).

Rules, in order; a record takes the first that resolves it:

1. `exact_code`: the record carries an 地址编码 found in the registry (the registry rows
   themselves, registry_places' 场所地址).
   `manual`: an officer chose the house for this address text (`rootdb review import`,
   `rootdb.link.house_review`), while the registry still has it; a house an officer
   said 否 to is never matched to that address by rules 2–3. Ambiguous records'
   candidates and fuzzy matches are written to `link_house_review`, and why each `new`
   record reached no standard address to `link_house_unresolved`.
2. `exact_address`: its parsed house_key ("compound|building|unit|room") equals a
   registry house's, and nothing else it says contradicts that house: its community
   (when parsed) is the house's, and the administrative prefix it was written with
   (province … street, after the parser has taken the community off) is part of the
   house's standard prefix. A prefix written from the province down must be the whole
   standard prefix: "内蒙古自治区鄂尔多斯市东胜区建设路24号" (district, then a road,
   no street or community) is some other register's address, e.g. a 户籍地址.
   Several registry houses left standing (a street-front "交通街84号" exists in four
   communities and the record names none) = ambiguous: not guessed, counted, and the
   record becomes a house of its own (rule 4), not merged with other ambiguous ones:
   two bare "交通街84号" need not be the same of the four.
3. Through the area's vocabulary (`rootdb.link.address_vocab`, learnt from the
   registry: every compound's name, doorplates and unique short forms). The written
   compound ("康宁路83号", "御景", "文化路25号康城", "康成雅苑") gives the compounds it
   can mean; those whose community and standard prefix agree with what the address
   writes are kept; exactly one must be left (two or more = ambiguous, counted, not
   guessed), and its house with the same building, unit and room is the match:
   `alias_address` when the compound was named by its name, doorplate or a short
   form (a doorplate and a name must agree), `fuzzy_address` when by a close name
   (same pinyin; one character off; the same name once a suffix such as 小区/花园 or a
   期 part is taken off), with a probability below 1.
4. `new`: everything else is a house of its own, outside the registry. Houses written
   in our area's terms (local prefix, a known community or none) are keyed by
   community + house_key, the community taken from the compound when the registry
   puts that compound in exactly one community, or from the other records of the same
   house_key when they name exactly one (a compound the vocabulary names uniquely is
   keyed by its registry name and community); houses elsewhere (户籍地址 of floating people)
   by their prefix + community + house_key; unparsed addresses by their text.
5. A `location` record (shijian's 事发地址: a house, a place, or a public spot such as
   "康宁路与文化路交叉口") takes rules 1–3, but rule 4 only for a house another record
   names too: a spot is never made a house, and a location no house record shares gets
   no row (`rootdb.link.places` then tries it as a known place's name).

entity_id is stable and deterministic: "H" + 地址编码 for registry houses, "HN" + the
first 12 hex digits of sha1(key) for the others.

The linker is the list `STAGES`, these rules as named SQL steps and small functions in
the order they run, on temporary `_lh_…` tables that `rootdb.store.sql.scratch` drops
when it ends.
"""

from __future__ import annotations

import functools
import re
import time

import duckdb
import polars as pl

from rootdb.clean.addresses import COLUMNS, _parse_normalized, normalize_address_expr, normalize_address_text
from rootdb.link import house_review
from rootdb.link.address_vocab import learn, resolve_compounds, similar_compounds, strip_generic
from rootdb.link.records import publish_matches
from rootdb.store import frame_to_table, table_exists
from rootdb.store.sql import Stage, registered, run_stages, scalar, scratch, sql_stage

FUZZY_PROBABILITY = {"pinyin": 0.95, "suffix": 0.9, "one_char": 0.85}
# Roles that name a house only when it is known (rule 5).
KNOWN_ONLY_ROLES = ("location",)
_KNOWN_ONLY = ", ".join(f"'{role}'" for role in KNOWN_ONLY_ROLES)

_PROVINCE_HEAD = re.compile(r"^(?:[\u4e00-\u9fff]{2,3}省|[\u4e00-\u9fff]{2,8}?自治区|北京市|天津市|上海市|重庆市)")


# ---------------------------------------------------------------- per distinct value helpers

def admin_prefix(address: str | None, community: str | None, compound: str | None) -> str:
    """What an address says above the community: the normalised text before the
    compound (its last occurrence: "交通街道交通街84号"), minus the community."""
    if not address:
        return ""
    text = normalize_address_text(address)
    cut = len(text)
    if compound:
        i = text.rfind(compound)
        if i >= 0:
            cut = i
    elif community:
        cut = len(text)
    else:
        cut = 0
    prefix = text[:cut]
    if community:
        stem = community[:-2] if community.endswith("社区") else community[:-1]
        j = prefix.rfind(stem) if stem else -1
        if j >= 0:
            prefix = prefix[:j]
    return prefix


# One administrative unit of a standard prefix: its name and the word that ends it.
_ADMIN_UNIT = re.compile(
    r"(?P<stem>[\u4e00-\u9fff]+?)(?P<kind>自治区|自治州|自治县|自治旗|街道办事处|街道办|街道|苏木|地区|省|市|盟|区|县|旗|镇|乡)")
_COMMUNITY_WORD = re.compile(r"(?:社区|村|嘎查)$")


@functools.lru_cache(maxsize=4096)
def admin_units(standard: str) -> list[tuple[str, ...]]:
    """The ways of writing each unit of a standard prefix, in order: 四川省绵阳市涪城区
    杨家埠街道 → [(四川省, 四川), (绵阳市, 绵阳), (涪城区, 涪城), (杨家埠街道, 杨家埠)]. A
    name of one character has no short form (东区 is not 东)."""
    units, pos = [], 0
    while pos < len(standard):
        m = _ADMIN_UNIT.match(standard, pos)
        if not m:
            units.append((standard[pos:],))
            break
        stem = m.group("stem")
        units.append((m.group(0), stem) if len(stem) >= 2 else (m.group(0),))
        pos = m.end()
    return units


def community_forms(community: str) -> tuple[str, ...]:
    """金桥社区 → (金桥社区, 金桥)."""
    stem = _COMMUNITY_WORD.sub("", community)
    return (community, stem) if len(stem) >= 2 and stem != community else (community,)


def unit_ends(text: str, units: list[tuple[str, ...]], start: int = 0) -> dict[int, tuple[int, bool]]:
    """Where `text` (from `start`) can end once it has written an ordered selection of
    `units` (each one present or absent, in full or short): end → (index of the last
    unit written, whether it was written in full). The empty selection is left out."""
    out: dict[int, tuple[int, bool]] = {}
    todo = [(start, 0)]
    seen = set()
    while todo:
        pos, first = todo.pop()
        if (pos, first) in seen:
            continue
        seen.add((pos, first))
        for j in range(first, len(units)):
            for k, form in enumerate(units[j]):
                if text.startswith(form, pos):
                    end = pos + len(form)
                    if end not in out or j > out[end][0]:
                        out[end] = (j, k == 0)
                    todo.append((end, j + 1))
    return out


def prefix_compatible(prefix: str, standard: str) -> bool:
    """Can an address written with `prefix` lie under the registry prefix `standard`?
    Yes when the prefix is part of the standard one, or writes some of its units in
    order, each in full or short (绵阳涪城, 潍坊市朝阳街道). A prefix written from the
    province down in full form must be the whole standard prefix."""
    if not prefix:
        return True
    if _PROVINCE_HEAD.match(prefix):  # written in full form: must be the full form
        return prefix == standard
    if prefix in standard:
        return True
    return len(prefix) in unit_ends(prefix, admin_units(standard))


def compound_core(name: str) -> str:
    """The name without its 期 part and one generic suffix (康城雅苑 → 康城)."""
    return strip_generic(name)


def split_admin_head(text: str, admin: dict[str, list[str]], known, alias_only) -> tuple | None:
    """Read the head of an address whose compound the area does not know as the area's
    own prefix written some other way: 涪城锦绣公寓 (a district without 区), 绵阳涪城
    金桥锦绣公寓 (city, district and community, all short). `admin`: standard prefix →
    its communities. The text is cut after an ordered selection of the units of one
    standard prefix and then of one of its communities (each present or absent, full
    or short), and the rest parsed again; the reading is kept when its compound is one
    `known` says the area has (`alias_only` when the cut ends in a short form: a close
    name after a guessed cut is not enough) and its community is one of that prefix's.
    The longest such cut wins. Returns (community, compound, building, unit, room,
    house_key, prefix) or None."""
    best = None
    for standard, communities in admin.items():
        units = admin_units(standard)
        comm = [community_forms(c) for c in communities]
        ends = unit_ends(text, units)
        cuts = {e: (None, full) for e, (_, full) in ends.items()}
        for e0 in [0, *ends]:
            for i, forms in enumerate(comm):
                for k, form in enumerate(forms):
                    if text.startswith(form, e0):
                        cuts[e0 + len(form)] = (communities[i], k == 0)
        for end, (community, full) in sorted(cuts.items(), reverse=True):
            if best is not None and end <= best[0]:
                break
            if end >= len(text):
                continue
            parts = dict(zip(COLUMNS, _parse_normalized(text[end:])))
            compound = parts["compound"]
            if not compound or (parts["building"] is None and parts["room"] is None):
                continue
            if community and parts["community"] and parts["community"] != community:
                continue
            community = community or parts["community"]
            if community is not None and community not in communities:
                continue
            if compound not in (alias_only if not full else known):
                continue
            rest_prefix = admin_prefix(text[end:], parts["community"], compound)
            head = text[:end]
            if community is not None and text[:end].endswith(tuple(community_forms(community))):
                head = next(head[: -len(f)] for f in community_forms(community) if head.endswith(f))
            best = (end, (community, compound, parts["building"], parts["unit"], parts["room"],
                          parts["house_key"], head + rest_prefix))
            break
    return best[1] if best else None


# ---------------------------------------------------------------- the linker, stage by stage
# Every working table is a temporary `_lh_…` table, owned by `scratch` in `link_houses`.

def _before_last(text: pl.Expr, part: pl.Expr) -> pl.Expr:
    """The text before the last occurrence of `part` (one that is there, and cannot
    overlap itself: see `_overlaps`)."""
    pieces = text.str.split(part, literal=True)
    return pieces.list.slice(0, pieces.list.len() - 1).list.join(part)


def _overlaps(value: str | None) -> bool:
    """Whether two occurrences of `value` can overlap (花园花 in 花园花园花): its start is also its end."""
    return bool(value) and any(value[:k] == value[-k:] for k in range(1, len(value)))


def admin_prefixes(frame: pl.DataFrame) -> pl.Series:
    """`admin_prefix` of each row of `frame` (address, community, compound), by column;
    by value only where a compound or community name could overlap itself."""
    community, compound = pl.col("community"), pl.col("compound")
    has_compound = compound.is_not_null() & (compound != "")
    has_community = community.is_not_null() & (community != "")
    stem = pl.when(community.str.ends_with("社区")).then(community.str.slice(0, community.str.len_chars() - 2)) \
        .otherwise(community.str.slice(0, community.str.len_chars() - 1))
    text = normalize_address_expr(pl.col("address"))
    out = frame.with_columns(_text=text, _stem=stem).with_columns(
        _head=pl.when(has_compound & pl.col("_text").str.contains(compound, literal=True))
        .then(_before_last(pl.col("_text"), compound))
        .when(has_compound | has_community).then(pl.col("_text"))
        .otherwise(pl.lit("")))
    cut = has_community & (pl.col("_stem") != "") & pl.col("_head").str.contains(pl.col("_stem"), literal=True)
    out = out.with_columns(prefix=pl.when(cut).then(_before_last(pl.col("_head"), pl.col("_stem")))
                           .otherwise(pl.col("_head")))
    names = pl.concat([out["compound"], out["_stem"]]).drop_nulls().unique()
    overlapping = names.filter(names.map_elements(_overlaps, return_dtype=pl.Boolean))
    odd = out["compound"].is_in(overlapping.implode()) | out["_stem"].is_in(overlapping.implode())
    prefix = out["prefix"]
    if odd.any():  # rare: those rows by value
        rows = out.filter(odd).select("address", "community", "compound").iter_rows()
        prefix = prefix.scatter(odd.arg_true(), pl.Series([admin_prefix(*row) for row in rows], dtype=pl.String))
    return prefix


def _address_prefixes(con: duckdb.DuckDBPyConnection) -> None:
    """_lh_addr(address, prefix) per distinct address text (the parts are a function of it)."""
    distinct = con.sql(
        "SELECT address, any_value(community) AS community, any_value(compound) AS compound "
        "FROM link_house_records WHERE address IS NOT NULL GROUP BY address"
    ).pl()
    addr = pl.DataFrame({"address": distinct["address"], "prefix": admin_prefixes(distinct)})
    frame_to_table(con, "_lh_addr", addr, temp=True)


_RECORDS = sql_stage("records", """
    CREATE OR REPLACE TEMP TABLE _lh_rec AS
    SELECT r.record_id, r.feed, r.role, coalesce(r.record_key, r.source_file || '#' || r.source_row) AS record_key,
           r.address_code, r.address, r.community, r.compound, r.building, r.unit,
           r.room, r.house_key, coalesce(a.prefix, '') AS prefix
    FROM link_house_records r
    LEFT JOIN _lh_addr a ON a.address = r.address
""")

_NO_REGISTRY = (
    "(SELECT NULL::BIGINT AS file_id, NULL::BIGINT AS source_row, NULL::VARCHAR AS community, "
    "NULL::VARCHAR AS grid, NULL::VARCHAR AS address, NULL::VARCHAR AS usage, NULL::VARCHAR AS compound "
    "WHERE false)")


def _registry_houses(con: duckdb.DuckDBPyConnection) -> None:
    """_lh_reg: the registry's own rows, one per 地址编码, with its community, grid and usage."""
    registry = "registry_addresses" if table_exists(con, "registry_addresses") else _NO_REGISTRY
    reg_columns = {c for (c, *_) in con.execute(f"DESCRIBE SELECT * FROM {registry}").fetchall()}
    reg_compound = "v.compound" if "compound" in reg_columns else "NULL::VARCHAR"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _lh_reg AS
        SELECT address_code, 'H' || address_code AS entity_id, house_key, community, grid, compound, building,
               unit, room, standard_address, usage, prefix, reg_compound
        FROM (
            SELECT r.address_code, r.house_key, coalesce(v.community, r.community) AS community, v.grid,
                   r.compound, r.building, r.unit, r.room, v.address AS standard_address, v.usage, r.prefix,
                   nullif(trim({reg_compound}), '') AS reg_compound,
                   row_number() OVER (PARTITION BY r.address_code ORDER BY r.record_id) AS k
            FROM _lh_rec r
            JOIN link_house_records lr USING (record_id)
            LEFT JOIN {registry} v ON v.file_id = lr.file_id AND v.source_row = lr.source_row
            WHERE r.feed = 'registry_addresses' AND r.address_code IS NOT NULL
        ) WHERE k = 1
    """)


def _registry_vocabulary(con: duckdb.DuckDBPyConnection):
    """The area's vocabulary, learnt from the registry houses' compounds (_lh_reg):
    `address_vocab.learn`'s (vocabulary, compound id of each registry compound)."""
    rows = con.execute("""
        SELECT DISTINCT community, compound, reg_compound FROM _lh_reg
        WHERE compound IS NOT NULL OR reg_compound IS NOT NULL ORDER BY ALL""").fetchall()
    return learn(rows)


def _head_index(admin: dict[str, list[str]]) -> dict[str, set[int]]:
    """Each form a text can start with to be cut by `split_admin_head` (any unit of a
    standard prefix, in full or short, or any of its communities) → the positions in
    `admin` of the prefixes that have it. A text that starts with none has no cut."""
    index: dict[str, set[int]] = {}
    for i, (standard, communities) in enumerate(admin.items()):
        forms = [f for unit in admin_units(standard) for f in unit]
        forms += [f for c in communities for f in community_forms(c)]
        for form in forms:
            index.setdefault(form, set()).add(i)
    return index


def _admin_head(con: duckdb.DuckDBPyConnection) -> None:
    """Records whose compound the area does not know, but would once the area's own
    prefix written another way (short names, units left out) is taken off its head:
    their parts and prefix re-read (`split_admin_head`), per distinct address."""
    vocab, _ = _registry_vocabulary(con)
    admin: dict[str, list[str]] = {}
    for prefix, community in con.execute(
            "SELECT DISTINCT prefix, community FROM _lh_reg WHERE community IS NOT NULL ORDER BY ALL").fetchall():
        admin.setdefault(prefix, []).append(community)
    if not admin:
        return
    communities = sorted({c for cs in admin.values() for c in cs})
    open_ = con.sql("""
        SELECT DISTINCT address, compound, community FROM _lh_rec
        WHERE feed <> 'registry_addresses' AND address IS NOT NULL AND compound IS NOT NULL""").pl()
    written = open_["compound"].unique().sort().to_list()
    resolved = sorted({w for w, *_ in resolve_compounds(written, vocab)})
    heads, standards = _head_index(admin), list(admin)
    lengths = sorted({len(form) for form in heads})
    # the texts whose compound the area does not know (or whose community it does not),
    # and that start with a form of one of the area's prefixes: by column, not per text
    texts = open_.filter(~pl.col("compound").is_in(resolved) | (pl.col("community").is_not_null()
                                                                & ~pl.col("community").is_in(communities))
                         ).select(normalize_address_expr(pl.col("address")).alias("text")).unique()
    starts = [pl.col("text").str.slice(0, n).is_in(list(heads)) for n in lengths]
    texts = texts.filter(pl.any_horizontal(starts)) if starts else texts.clear()
    # the compounds rest texts can name: learnt lazily, per distinct compound
    cache: dict[str, str | None] = {}

    class _Known:
        def __init__(self, alias: bool) -> None:
            self.alias = alias

        def __contains__(self, compound: str) -> bool:
            if compound not in cache:
                found = resolve_compounds([compound], vocab)
                cache[compound] = None if not found else min(m for _, _, m, _ in found)
            method = cache[compound]
            return method is not None and (method == "alias" or not self.alias)

    known, alias_only = _Known(False), _Known(True)
    out = []
    for text in sorted(texts["text"]):
        # only the prefixes a text can start with are tried, in `admin`'s order
        order = sorted({i for n in lengths for i in heads.get(text[:n], ())})  # never empty: filtered above
        got = split_admin_head(text, {standards[i]: admin[standards[i]] for i in order}, known, alias_only)
        if got is not None:
            out.append((text, *got))
    if not out:
        return
    frame = pl.DataFrame(out, schema={c: pl.String for c in (
        "_text", "community", "compound", "building", "unit", "room", "house_key", "prefix")}, orient="row")
    addr = con.sql("SELECT DISTINCT address FROM _lh_rec WHERE address IS NOT NULL").pl()
    addr = addr.with_columns(_text=normalize_address_expr(pl.col("address")))
    frame = addr.join(frame, on="_text").drop("_text")
    with registered(con, "_lh_head_df", frame):
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _lh_rec AS
            SELECT r.* REPLACE (
                       CASE WHEN h.address IS NULL THEN r.community ELSE h.community END AS community,
                       CASE WHEN h.address IS NULL THEN r.compound ELSE h.compound END AS compound,
                       CASE WHEN h.address IS NULL THEN r.building ELSE h.building END AS building,
                       CASE WHEN h.address IS NULL THEN r.unit ELSE h.unit END AS unit,
                       CASE WHEN h.address IS NULL THEN r.room ELSE h.room END AS room,
                       CASE WHEN h.address IS NULL THEN r.house_key ELSE h.house_key END AS house_key,
                       CASE WHEN h.address IS NULL THEN r.prefix ELSE h.prefix END AS prefix)
            FROM _lh_rec r LEFT JOIN _lh_head_df h
              ON h.address = r.address AND r.feed <> 'registry_addresses'
        """)


def _prefix_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """_lh_prefix_ok(prefix, std_prefix): every prefix records write that can lie under
    a registry house's standard prefix (`prefix_compatible`)."""
    std = [p for (p,) in con.execute("SELECT DISTINCT prefix FROM _lh_reg").fetchall()]
    rec_prefixes = [p for (p,) in con.execute("SELECT DISTINCT prefix FROM _lh_rec").fetchall()]
    ok = pl.DataFrame(
        [(p, s) for p in rec_prefixes for s in std if prefix_compatible(p, s)],
        schema={"prefix": pl.String, "std_prefix": pl.String}, orient="row",
    )
    frame_to_table(con, "_lh_prefix_ok", ok, temp=True)


_EXACT_CODE = sql_stage("exact_code", """
    CREATE OR REPLACE TEMP TABLE _lh_match AS
    SELECT r.record_id, g.entity_id, g.address_code AS registry_key, 'exact_code' AS match_method,
           1.0::DOUBLE AS match_probability
    FROM _lh_rec r JOIN _lh_reg g ON g.address_code = trim(r.address_code)
""")

_EXACT_ADDRESS = sql_stage("exact_address", """
    CREATE OR REPLACE TEMP TABLE _lh_exact AS
    SELECT r.record_id, g.entity_id, g.address_code
    FROM _lh_rec r
    JOIN _lh_reg g ON g.house_key = r.house_key
    JOIN _lh_prefix_ok ok ON ok.prefix = r.prefix AND ok.std_prefix = g.prefix
    WHERE r.record_id NOT IN (SELECT record_id FROM _lh_match)
      AND (r.community IS NULL OR r.community = g.community)
""", """
    -- one grouping for both: min = max is "one house" (a house's code is its entity's)
    CREATE OR REPLACE TEMP TABLE _lh_exact_one AS
    SELECT record_id, min(entity_id) AS entity_id, min(address_code) AS address_code,
           min(entity_id) = max(entity_id) AS one
    FROM _lh_exact GROUP BY record_id
""", """
    INSERT INTO _lh_match
    SELECT record_id, entity_id, address_code, 'exact_address', 1.0 FROM _lh_exact_one WHERE one
""", """
    CREATE OR REPLACE TEMP TABLE _lh_ambiguous AS SELECT record_id FROM _lh_exact_one WHERE NOT one
""")


def _registry_compounds(con: duckdb.DuckDBPyConnection) -> None:
    """Each registry house's compound as the area's vocabulary knows it: _lh_reg gains
    cid and cid_name; _lh_cid (cid, cid_name, community, prefix) lists the compounds."""
    vocab, cid_of = _registry_vocabulary(con)
    cids = pl.DataFrame(
        [(c, k, n, cid, vocab.cid_name[cid]) for (c, k, n), cid in cid_of.items()],
        schema={"community": pl.String, "compound": pl.String, "reg_compound": pl.String, "cid": pl.String,
                "cid_name": pl.String}, orient="row")
    with registered(con, "_lh_cid_df", cids):
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _lh_reg AS
            SELECT g.*, m.cid, m.cid_name FROM _lh_reg g LEFT JOIN _lh_cid_df m
              ON m.community IS NOT DISTINCT FROM g.community AND m.compound IS NOT DISTINCT FROM g.compound
             AND m.reg_compound IS NOT DISTINCT FROM g.reg_compound
        """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _lh_cid AS
        SELECT DISTINCT cid, cid_name, community, prefix FROM _lh_reg WHERE cid IS NOT NULL
    """)


_OPEN = sql_stage("open", """
    CREATE OR REPLACE TEMP TABLE _lh_open AS  -- what rule 3 has left to resolve
    SELECT * FROM _lh_rec r
    WHERE r.compound IS NOT NULL AND (r.building IS NOT NULL OR r.room IS NOT NULL)
      AND r.record_id NOT IN (SELECT record_id FROM _lh_match)
      AND r.record_id NOT IN (SELECT record_id FROM _lh_ambiguous)
      AND r.prefix IN (SELECT prefix FROM _lh_prefix_ok)
""")


def _compound_candidates(con: duckdb.DuckDBPyConnection) -> None:
    """The compounds each open record can mean (`resolve_compounds` on what it writes),
    once its community and street are checked: _lh_cand_all, one row per record and
    compound (house_review reads it), and _lh_cand, one row per record (n: how many)."""
    vocab, _ = _registry_vocabulary(con)
    written = [w for (w,) in con.execute("SELECT DISTINCT compound FROM _lh_open ORDER BY 1").fetchall()]
    alias = pl.DataFrame(resolve_compounds(written, vocab),
                         schema={"compound": pl.String, "cid": pl.String, "method": pl.String, "p": pl.Float64},
                         orient="row")
    with registered(con, "_lh_alias_df", alias):
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _lh_cand_all AS
            SELECT DISTINCT r.record_id, c.cid, c.cid_name, c.community, a.method, a.p
            FROM _lh_open r
            JOIN _lh_alias_df a ON a.compound = r.compound
            JOIN _lh_cid c ON c.cid = a.cid
            JOIN _lh_prefix_ok ok ON ok.prefix = r.prefix AND ok.std_prefix = c.prefix
            WHERE r.community IS NULL OR r.community = c.community
        """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _lh_cand AS
        SELECT record_id, count(DISTINCT cid) AS n, any_value(cid) AS cid, any_value(cid_name) AS cid_name,
               any_value(community) AS community, any_value(method) AS method, max(p) AS p
        FROM _lh_cand_all
        GROUP BY record_id
    """)


# Rule 3's match: a record with one candidate compound takes that compound's house with
# the same building, unit and room. _lh_canon (record_id, compound, community): records
# whose compound the vocabulary names uniquely but whose house is not in the registry,
# for rule 4's key.
_VOCABULARY_MATCH = sql_stage("vocabulary", """
    CREATE OR REPLACE TEMP TABLE _lh_vmatch AS
    SELECT c.record_id, count(DISTINCT g.entity_id) AS n, any_value(g.entity_id) AS entity_id,
           any_value(g.address_code) AS address_code, any_value(c.method) AS method, any_value(c.p) AS p
    FROM _lh_cand c
    JOIN _lh_open r USING (record_id)
    JOIN _lh_reg g ON g.cid = c.cid AND g.building IS NOT DISTINCT FROM r.building
                  AND g.unit IS NOT DISTINCT FROM r.unit AND g.room IS NOT DISTINCT FROM r.room
    JOIN _lh_prefix_ok ok ON ok.prefix = r.prefix AND ok.std_prefix = g.prefix
    WHERE c.n = 1
    GROUP BY c.record_id
""", """
    INSERT INTO _lh_match
    SELECT record_id, entity_id, address_code,
           CASE WHEN method = 'alias' THEN 'alias_address' ELSE 'fuzzy_address' END, p
    FROM _lh_vmatch WHERE n = 1
""", """
    INSERT INTO _lh_ambiguous
    SELECT record_id FROM _lh_cand WHERE n > 1 UNION SELECT record_id FROM _lh_vmatch WHERE n > 1
""", """
    CREATE OR REPLACE TEMP TABLE _lh_canon AS
    SELECT record_id, cid_name AS compound, community FROM _lh_cand
    WHERE n = 1 AND method = 'alias' AND record_id NOT IN (SELECT record_id FROM _lh_match)
      AND record_id NOT IN (SELECT record_id FROM _lh_ambiguous)
""")


_NEW_HOUSES = sql_stage("new", """
    CREATE OR REPLACE TEMP TABLE _lh_new AS
    WITH rec AS (  -- a compound the vocabulary names uniquely is written the registry's way
        SELECT r.* REPLACE (
                   coalesce(cn.compound, r.compound) AS compound,
                   CASE WHEN cn.record_id IS NULL THEN r.house_key
                        ELSE concat_ws('|', cn.compound, coalesce(r.building, ''), coalesce(r.unit, ''),
                                       coalesce(r.room, '')) END AS house_key,
                   coalesce(r.community, cn.community) AS community)
        FROM _lh_rec r LEFT JOIN _lh_canon cn USING (record_id)
    ), rest AS (
        SELECT r.*,
               r.prefix IN (SELECT prefix FROM _lh_prefix_ok)
               AND (r.community IS NULL OR r.community IN (SELECT community FROM _lh_reg)) AS local
        FROM rec r WHERE r.record_id NOT IN (SELECT record_id FROM _lh_match)
    ), compound_comm AS (  -- a compound the registry puts in exactly one community
        SELECT compound, any_value(community) AS community FROM _lh_reg
        WHERE compound IS NOT NULL GROUP BY compound HAVING count(DISTINCT community) = 1
    ), step1 AS (
        SELECT rest.*, coalesce(rest.community, cc.community) AS comm1
        FROM rest LEFT JOIN compound_comm cc ON rest.local AND cc.compound = rest.compound
    ), key_comm AS (  -- the other records of the same house name exactly one community
        SELECT house_key, any_value(comm1) AS community FROM step1
        WHERE local AND comm1 IS NOT NULL AND house_key IS NOT NULL
        GROUP BY house_key HAVING count(DISTINCT comm1) = 1
    )
    SELECT s.record_id, s.local, s.house_key, s.compound, s.building, s.unit, s.room, s.address,
           CASE WHEN s.local THEN coalesce(s.comm1, kc.community) ELSE s.community END AS community,
           CASE
             WHEN s.house_key IS NULL THEN 'T|' || coalesce(s.address, s.address_code, '')
             WHEN s.record_id IN (SELECT record_id FROM _lh_ambiguous)  -- a house of its own
               THEN 'A|' || s.feed || '|' || s.record_key || '|' || s.role || '|' || s.house_key
             WHEN s.local THEN 'L|' || coalesce(s.comm1, kc.community, '') || '|' || s.house_key
             ELSE 'X|' || s.prefix || '|' || coalesce(s.community, '') || '|' || s.house_key
           END AS new_key
    FROM step1 s LEFT JOIN key_comm kc ON s.local AND s.comm1 IS NULL AND kc.house_key = s.house_key
""", f"""
    DELETE FROM _lh_new  -- rule 5: a location makes no house of its own
    WHERE record_id IN (SELECT record_id FROM _lh_rec WHERE role IN ({_KNOWN_ONLY}))
      AND new_key NOT IN (SELECT n.new_key FROM _lh_new n JOIN _lh_rec r USING (record_id)
                          WHERE r.role NOT IN ({_KNOWN_ONLY}))
""", """
    INSERT INTO _lh_match
    SELECT record_id, 'HN' || sha1(new_key)[:12], NULL, 'new', 1.0 FROM _lh_new
""")


def _publish(con: duckdb.DuckDBPyConnection) -> None:
    """link_house_matches from _lh_match; link_houses: the registry houses, then each
    new house written the way most of its records write it."""
    publish_matches(con, "link_house_matches", "_lh_match")
    con.execute("""
        CREATE OR REPLACE TABLE link_houses AS
        SELECT entity_id, address_code AS registry_key, community, grid, compound, building, unit, room,
               standard_address, usage
        FROM _lh_reg
        UNION ALL
        SELECT 'HN' || sha1(new_key)[:12], NULL, community, NULL, compound, building, unit, room, address, NULL
        FROM (
            SELECT *, row_number() OVER (PARTITION BY new_key ORDER BY n DESC, address NULLS LAST) AS k
            FROM (SELECT new_key, community, compound, building, unit, room, address, count(*) AS n
                  FROM _lh_new GROUP BY ALL)
        ) WHERE k = 1
        ORDER BY entity_id
    """)


# The rules of the module docstring, in the order they run; each reads the `_lh_`
# tables the stages before it wrote.
STAGES = (
    Stage("addresses", _address_prefixes),    # _lh_addr: each address's administrative prefix
    _RECORDS,                                 # _lh_rec: the records to resolve
    Stage("registry", _registry_houses),      # _lh_reg: the registry houses
    Stage("admin_head", _admin_head),         # _lh_rec re-read where the area's prefix is written otherwise
    Stage("prefixes", _prefix_pairs),         # _lh_prefix_ok: which written prefix fits which standard one
    _EXACT_CODE,                              # rule 1 → _lh_match
    Stage("manual", house_review.apply_decisions),  # an officer's 是 (method manual); 否 remembered
    _EXACT_ADDRESS,                           # rule 2 → _lh_match, _lh_ambiguous
    Stage("compounds", _registry_compounds),  # rule 3: the registry's compounds (_lh_reg.cid, _lh_cid),
    _OPEN,                                    # the records left (_lh_open),
    Stage("candidates", _compound_candidates),  # the compounds each can mean (_lh_cand_all, _lh_cand),
    _VOCABULARY_MATCH,                        # → _lh_match, _lh_ambiguous, _lh_canon
    Stage("rejected", house_review.drop_rejected),  # a match an officer said 否 to is undone
    _NEW_HOUSES,                              # rule 4 → _lh_new, _lh_match
    Stage("publish", _publish),               # link_house_matches, link_houses
    Stage("review", house_review.record),     # link_house_review, _unresolved, _compounds
)


def _summary(con: duckdb.DuckDBPyConnection) -> dict:
    summary = dict(con.execute(
        "SELECT match_method, count(*) FROM link_house_matches GROUP BY 1 ORDER BY 1").fetchall())
    summary["records"] = sum(summary.values())
    summary["ambiguous"] = scalar(con, "SELECT count(DISTINCT record_id) FROM _lh_ambiguous")
    summary["review_addresses"] = scalar(con, "SELECT count(DISTINCT address_key) FROM link_house_review")
    summary["houses"] = scalar(con, "SELECT count(*) FROM link_houses")
    summary["registry_houses_used"] = scalar(
        con, "SELECT count(DISTINCT registry_key) FROM link_house_matches WHERE registry_key IS NOT NULL")
    return summary


def link_houses(con: duckdb.DuckDBPyConnection, seconds: dict[str, float] | None = None) -> dict:
    """Resolve every house record (`STAGES`); (re)write link_house_matches and link_houses.
    Returns summary counts per match method, plus ambiguous and seconds; with
    `seconds`, each stage's time as `houses_<stage>`."""
    started = time.perf_counter()
    with scratch(con, "_lh_"):
        run_stages(con, STAGES, seconds, prefix="houses_")
        summary = _summary(con)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary
