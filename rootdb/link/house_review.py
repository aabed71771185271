"""The review round trip for houses: addresses the link could not resolve uniquely out to
Excel beside the people's pairs, an officer's choice back in, applied on every later link.

Which addresses are asked:
- ambiguous ones: two or more registry houses fit (`rootdb.link.houses` rules 2 and 3
  leave them unresolved and count them in summary["ambiguous"]), with every fitting
  house as a candidate;
- close-but-unsure ones: resolved by a close compound name (`fuzzy_address`, probability
  below 1), the house found as the one candidate.

A decision is kept by the delivered address text as normalised (md5 of
`normalize_address_text`: full-width, spaces and dashes do not matter) and the 地址编码:
是 for the chosen house (applied as method `manual` before rules 2–3, for as long as the
registry has that house), 否 for a candidate rejected (a fuzzy or alias match to it is
undone; the record becomes a house of its own). Decisions live in `link_house_decisions`.

Hooks called by `rootdb.link.houses.link_houses` as stages (on its temp tables, and
making two more, `_lh_akey` and `_lh_rejected`, which its scratch drops with the rest):
`apply_decisions` after rule 1, `drop_rejected` after rule 3, `record` at the end. `record`
writes
- `link_house_review` (record_id, address_key, kind, address_code, probability): the
  candidates to ask about,
- `link_house_unresolved` (record_id, address_key, reason, cid): why each record with
  method `new` reached no standard address (unparsed / outside / ambiguous / rejected /
  no_house: its compound was found but not that building-unit-room / no_compound),
- `link_house_compounds` (address_code, cid, cid_name): each registry house's compound
  as the vocabulary knows it,
which `rootdb.link.review` (the sheet) and `rootdb.link.address_export` read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from rootdb.clean.addresses import normalize_address_expr
from rootdb.privacy import mask_frame, os_user
from rootdb.specs import load_specs
from rootdb.store import fetch_frame, frame_to_table, table_exists
from rootdb.store.sql import registered

SHEET = "待复核地址"
DECISION = "判定（候选序号/是/否）"
KEY = "地址指纹"
MAX_CANDIDATES = 6  # candidate blocks on the sheet; more are counted in 候选数
_CANDIDATE_FIELDS = {"standard_address": "标准地址", "community": "社区", "grid": "网格", "address_code": "地址编码"}
YES = {"是", "Y", "YES", "TRUE", "对", "同一处"}
NO = {"否", "N", "NO", "FALSE", "不是", "都不是", "均不是"}

DECISIONS_DDL = """
CREATE TABLE IF NOT EXISTS link_house_decisions (
    address_key VARCHAR, address_code VARCHAR, decision BOOLEAN, address VARCHAR,
    decided_at TIMESTAMP, os_user VARCHAR, source_file VARCHAR,
    PRIMARY KEY (address_key, address_code)
)
"""


def address_keys(con: duckdb.DuckDBPyConnection, source: str, table: str) -> None:
    """temp `table`(address, address_key) for every distinct address of `source`: the
    md5 of its normalised text."""
    frame = con.sql(f"SELECT DISTINCT address FROM {source} WHERE address IS NOT NULL").pl()
    frame_to_table(con, table, frame.with_columns(norm=normalize_address_expr(pl.col("address"))), temp=True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT address, md5(norm) AS address_key FROM {table}")


# ---------------------------------------------------------------- hooks in link_houses

def apply_decisions(con: duckdb.DuckDBPyConnection) -> None:
    """After rule 1: records whose address an officer resolved (是) to a house the
    registry still has are matched, method `manual`. Writes temp _lh_akey and
    _lh_rejected (address_key, address_code) for `drop_rejected` and `record`."""
    address_keys(con, "_lh_rec", "_lh_akey")
    if not table_exists(con, "link_house_decisions"):
        con.execute("CREATE OR REPLACE TEMP TABLE _lh_rejected (address_key VARCHAR, address_code VARCHAR)")
        return
    con.execute("""
        INSERT INTO _lh_match
        SELECT r.record_id, g.entity_id, g.address_code, 'manual', 1.0
        FROM _lh_rec r
        JOIN _lh_akey k ON k.address = r.address
        JOIN (SELECT * FROM link_house_decisions WHERE decision
              QUALIFY row_number() OVER (PARTITION BY address_key ORDER BY decided_at DESC, address_code) = 1) d
          ON d.address_key = k.address_key
        JOIN _lh_reg g ON g.address_code = d.address_code
        WHERE r.record_id NOT IN (SELECT record_id FROM _lh_match)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _lh_rejected AS
        SELECT address_key, address_code FROM link_house_decisions WHERE NOT decision
    """)


def drop_rejected(con: duckdb.DuckDBPyConnection) -> None:
    """After rule 3: a match to a house an officer said 否 to, for this address, is undone."""
    con.execute("""
        DELETE FROM _lh_match WHERE match_method IN ('exact_address', 'alias_address', 'fuzzy_address')
          AND record_id IN (
            SELECT m.record_id FROM _lh_match m
            JOIN _lh_rec r USING (record_id)
            JOIN _lh_akey k ON k.address = r.address
            JOIN _lh_rejected x ON x.address_key = k.address_key AND x.address_code = m.registry_key)
    """)


def record(con: duckdb.DuckDBPyConnection) -> None:
    """At the end of link_houses: the review candidates, the reasons of the unresolved,
    each registry house's compound."""
    con.execute("""
        CREATE OR REPLACE TABLE link_house_review AS
        WITH cands AS (
            SELECT e.record_id, e.address_code, 'ambiguous' AS kind, NULL::DOUBLE AS probability
            FROM _lh_exact e WHERE e.record_id IN (SELECT record_id FROM _lh_ambiguous)
            UNION
            SELECT c.record_id, g.address_code, 'ambiguous', c.p
            FROM _lh_cand_all c
            JOIN _lh_rec r USING (record_id)
            JOIN _lh_reg g ON g.cid = c.cid AND g.building IS NOT DISTINCT FROM r.building
                          AND g.unit IS NOT DISTINCT FROM r.unit AND g.room IS NOT DISTINCT FROM r.room
            JOIN _lh_prefix_ok ok ON ok.prefix = r.prefix AND ok.std_prefix = g.prefix
            WHERE c.record_id IN (SELECT record_id FROM _lh_ambiguous)
            UNION
            SELECT record_id, registry_key, 'fuzzy', match_probability FROM _lh_match
            WHERE match_method = 'fuzzy_address'
        )
        SELECT c.record_id::BIGINT AS record_id, k.address_key, c.kind, c.address_code::VARCHAR AS address_code,
               max(c.probability) AS probability
        FROM cands c
        JOIN _lh_rec r USING (record_id)
        JOIN _lh_akey k ON k.address = r.address
        WHERE c.address_code IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM _lh_rejected x
                          WHERE x.address_key = k.address_key AND x.address_code = c.address_code)
        GROUP BY ALL
        ORDER BY record_id, address_code
    """)
    con.execute("""
        CREATE OR REPLACE TABLE link_house_unresolved AS
        WITH reg_cid AS (  -- a written compound that is a registry compound's own text, in one compound
            SELECT compound, any_value(cid) AS cid FROM _lh_reg WHERE compound IS NOT NULL AND cid IS NOT NULL
            GROUP BY compound HAVING count(DISTINCT cid) = 1
        ), rejected AS (
            SELECT DISTINCT k.address FROM _lh_akey k JOIN _lh_rejected x USING (address_key)
        )
        SELECT n.record_id::BIGINT AS record_id, k.address_key,
               CASE WHEN n.house_key IS NULL THEN 'unparsed'
                    WHEN n.record_id IN (SELECT record_id FROM _lh_ambiguous) THEN 'ambiguous'
                    WHEN n.address IN (SELECT address FROM rejected) THEN 'rejected'
                    WHEN NOT n.local THEN 'outside'
                    WHEN coalesce(c.cid, rc.cid) IS NOT NULL THEN 'no_house'
                    ELSE 'no_compound' END AS reason,
               CASE WHEN n.local THEN coalesce(c.cid, rc.cid) END AS cid,
               n.local
        FROM _lh_new n
        JOIN _lh_rec r USING (record_id)
        LEFT JOIN _lh_akey k ON k.address = r.address
        LEFT JOIN (SELECT record_id, cid FROM _lh_cand WHERE n = 1) c USING (record_id)
        LEFT JOIN reg_cid rc ON rc.compound = r.compound
        ORDER BY record_id
    """)
    con.execute("""
        CREATE OR REPLACE TABLE link_house_compounds AS
        SELECT address_code, cid, cid_name FROM _lh_reg WHERE cid IS NOT NULL ORDER BY address_code
    """)


# ---------------------------------------------------------------- the sheet

def review_frame(con: duckdb.DuckDBPyConnection, unmasked: bool = False) -> pl.DataFrame:
    """One row per delivered address (as normalised) to review, candidates side by side."""
    if not table_exists(con, "link_house_review"):
        return pl.DataFrame(schema={"编号": pl.Int64, DECISION: pl.String, "报送地址": pl.String})
    rows = fetch_frame(con, """
        WITH per_key AS (
            SELECT v.address_key, any_value(v.kind ORDER BY v.kind) AS kind,   -- 'ambiguous' < 'fuzzy'
                   count(DISTINCT v.record_id) AS records, max(v.probability) AS probability,
                   list(DISTINCT r.feed ORDER BY r.feed) AS feeds
            FROM link_house_review v JOIN link_house_records r USING (record_id)
            GROUP BY v.address_key
        ), spelled AS (  -- the way most records write it
            SELECT v.address_key, r.address, count(*) AS n FROM link_house_review v
            JOIN link_house_records r USING (record_id) GROUP BY v.address_key, r.address
            QUALIFY row_number() OVER (PARTITION BY v.address_key ORDER BY n DESC, r.address) = 1
        ), cand AS (
            SELECT DISTINCT v.address_key, v.address_code, h.standard_address, h.community, h.grid
            FROM link_house_review v LEFT JOIN link_houses h ON h.registry_key = v.address_code
        )
        SELECT p.address_key, s.address, p.kind, p.records, p.probability, p.feeds,
               list({'standard_address': c.standard_address, 'community': c.community, 'grid': c.grid,
                     'address_code': c.address_code} ORDER BY c.address_code) AS candidates
        FROM per_key p JOIN spelled s USING (address_key) JOIN cand c USING (address_key)
        GROUP BY ALL
        ORDER BY p.records DESC, s.address
    """)
    titles = {code: spec.title for code, spec in load_specs().items()}
    width = min(MAX_CANDIDATES, max((len(c) for c in rows["candidates"].to_list()), default=1))
    reason = (pl.when(pl.col("kind") == "fuzzy")
              .then(pl.lit("小区名相近（概率 ") + pl.col("probability").round(2).cast(pl.String) + pl.lit("）"))
              .otherwise(pl.lit("多个标准地址都符合")))
    sheet = rows.with_row_index("编号", offset=1).select(
        pl.col("编号").cast(pl.Int64),
        pl.lit(None, dtype=pl.String).alias(DECISION),
        pl.col("address").alias("报送地址"),
        pl.col("feeds").list.eval(pl.element().replace_strict(titles, default=pl.element()))
        .list.join("、").alias("数据源"),
        pl.col("records").alias("记录数"),
        reason.alias("原因"),
        pl.col("candidates").list.len().alias("候选数"),
        *[pl.col("candidates").list.get(i, null_on_oob=True).struct.field(f).alias(f"候选{i + 1} {label}")
          for i in range(width) for f, label in _CANDIDATE_FIELDS.items()],
        pl.col("address_key").alias(KEY),
    )
    if not unmasked:
        # addresses are not personal, but one may quote an ID or a mobile
        codes = [f"候选{i + 1} 地址编码" for i in range(width)]
        sheet = mask_frame(sheet, keep=(KEY, *codes))
    return sheet


def write_sheet(workbook, sheet: pl.DataFrame, exported: str) -> None:
    """The 待复核地址 sheet under the workbook heading (`exported`: the export date)."""
    from rootdb.xlsx import HEADING_ROWS
    from rootdb.xlsx import write_sheet as write_titled

    worksheet = write_titled(workbook, SHEET, sheet, "没能唯一对上标准地址的报送地址", exported,
                             f"共 {sheet.height:,} 个地址", f"请在“{DECISION}”列填写候选序号、是或否")
    worksheet.set_column(sheet.width - 1, sheet.width - 1, None, None, {"hidden": True})
    if sheet.height:
        width = (sheet.width - 8) // len(_CANDIDATE_FIELDS)
        choices = ["是", "否", *[str(i + 1) for i in range(max(width, 1))]]
        worksheet.data_validation(HEADING_ROWS + 1, 1, HEADING_ROWS + sheet.height, 1,
                                  {"validate": "list", "source": choices, "error_type": "warning"})


GUIDE = (
    "“待复核地址”页：每行是一个没能唯一对上标准地址的报送地址，候选的标准地址并排列出。",
    "请在“判定（候选序号/是/否）”列填写：对应第几个候选就填几（如 1）；只有一个候选时可填 是；"
    "都不是填 否；拿不准的留空。",
    "地址的判定按报送地址（忽略空格、全角半角）记住，以后每次比对都生效，直到标准地址库里没有这处房屋。",
)


# ---------------------------------------------------------------- reading decisions back

@dataclass
class HouseImport:
    decided: int = 0
    chosen: int = 0
    rejected: int = 0
    blank: int = 0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


_CHOICE = re.compile(r"^(?:候选|第)?\s*(\d+)(?:\.0+)?\s*(?:个|号)?$")  # "1.0": a number cell read as text


def read_decisions(sheet: pl.DataFrame, source_file: str) -> tuple[pl.DataFrame, HouseImport]:
    """The decisions of a filled sheet: (address_key, address_code, decision, address, …)."""
    result = HouseImport()
    codes = sorted((c for c in sheet.columns if re.fullmatch(r"候选\d+ 地址编码", c)),
                   key=lambda c: int(re.search(r"\d+", c).group(0)))
    now, user = dt.datetime.now(), os_user()
    out: list[tuple] = []
    for row in sheet.iter_rows(named=True):
        text = (row.get(DECISION) or "").strip()
        if not text:
            result.blank += 1
            continue
        number, key, address = row.get("编号"), row.get(KEY), row.get("报送地址")
        candidates = [str(row[c]).strip() for c in codes if row.get(c) not in (None, "")]
        upper = text.upper()
        m = _CHOICE.match(text)
        if not key:
            result.problems.append(f"地址第{number}行：缺少{KEY}，请用 rootdb review export 导出的文件")
            continue
        if m:
            i = int(m.group(1))
            if not 1 <= i <= len(candidates):
                result.problems.append(f"地址第{number}行：没有第{i}个候选（共 {len(candidates)} 个）")
                continue
            out.append((key, candidates[i - 1], True, address, now, user, source_file))
            result.chosen += 1
        elif upper in YES:
            if len(candidates) != 1:
                result.problems.append(f"地址第{number}行：有 {len(candidates)} 个候选，请填候选序号（如 1），不要填“是”")
                continue
            out.append((key, candidates[0], True, address, now, user, source_file))
            result.chosen += 1
        elif upper in NO:
            out.extend((key, code, False, address, now, user, source_file) for code in candidates)
            result.rejected += 1
        else:
            result.problems.append(f"地址第{number}行：看不懂“{text}”，请填候选序号、是 或 否")
            continue
    result.decided = result.chosen + result.rejected
    frame = pl.DataFrame(out, schema={"address_key": pl.String, "address_code": pl.String, "decision": pl.Boolean,
                                      "address": pl.String, "decided_at": pl.Datetime("us"), "os_user": pl.String,
                                      "source_file": pl.String}, orient="row")
    return frame, result


def store_decisions(con: duckdb.DuckDBPyConnection, decided: pl.DataFrame) -> None:
    """Keep them: a 是 replaces an earlier 是 for the same address."""
    con.execute(DECISIONS_DDL)
    with registered(con, "_house_decided", decided):
        con.execute("""
            DELETE FROM link_house_decisions
            WHERE decision AND address_key IN (SELECT address_key FROM _house_decided WHERE decision)
        """)
        con.execute("INSERT OR REPLACE INTO link_house_decisions SELECT * FROM _house_decided")


def load_sheet(path: Path) -> pl.DataFrame | None:
    """The filled 待复核地址 sheet of a workbook, or None when it has none."""
    import fastexcel

    from rootdb.xlsx import read_table

    if SHEET not in fastexcel.read_excel(path).sheet_names:
        return None
    return read_table(path, SHEET, "编号")
