"""`rootdb export addresses --unmatched`: every delivered address that reached no standard
address, so that an officer sees what is left and why.

One row per distinct delivered address (as delivered) whose house records have method
`new` (`rootdb.link.houses` rule 4): its parsed parts, how many records and which feeds
use it, why it did not resolve (`link_house_unresolved`, written by
`rootdb.link.house_review.record`), and up to 3 nearest standard addresses:

- an ambiguous address: the registry houses that fit it (`link_house_review`);
- a known compound without that house: its houses, nearest building, unit, room first;
- otherwise: the houses of the one or two compounds whose names are closest to the
  written compound (Jaro-Winkler ≥ 0.7, or named inside an unparsed address), nearest
  building, unit, room first.

A 户籍地址 outside the area (a floating resident's home elsewhere) is not a defect and is
not listed; other addresses outside the area are, as 不在本辖区, without candidates.
All in DuckDB, per distinct address; nothing per record in Python. Masked like every
export: an address quoting an ID or a mobile is masked by content (`mask_frame`). A
workbook begins with the shared heading (`rootdb.xlsx.write_heading`: export date,
counts, masking); a CSV is the table alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from rootdb.errors import UsageError
from rootdb.exports import table_file, write_table
from rootdb.privacy import mask_frame, record_audit
from rootdb.specs import load_specs
from rootdb.store import fetch_frame, require_linked, table_exists
from rootdb.workspace import open_existing
from rootdb.xlsx import date_words, masking_words

REASONS = {
    "no_compound": "标准地址库中没有这个小区",
    "no_house": "有这个小区，但没有这个楼栋/单元/室",
    "no_building": "有这个小区，但没有这个楼栋",
    "no_unit": "有这个小区和楼栋，但没有这个单元",
    "no_room": "有这个小区、楼栋和单元，但没有这个室",
    "ambiguous": "有多个候选，无法确定（可人工复核）",
    "rejected": "已人工判定不是候选房屋",
    "outside": "不在本辖区",
    "unparsed": "地址无法解析",
}
NEAREST = 3
SIMILAR = 0.7


@dataclass
class AddressExport:
    file: str
    rows: int
    records: int
    reasons: dict[str, int] = field(default_factory=dict)  # 原因 → addresses
    masked: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


_QUERY = f"""
WITH base AS (
    SELECT r.record_id, r.feed, r.address, r.community, r.compound, r.building, r.unit, r.room, u.reason, u.cid
    FROM link_house_records r
    JOIN link_house_matches m USING (record_id)
    JOIN link_house_unresolved u USING (record_id)
    WHERE m.match_method = 'new' AND r.address IS NOT NULL AND trim(r.address) <> ''
      AND NOT (u.reason = 'outside' AND r.role = 'registered_residence')
), addr AS (
    SELECT address, any_value(community) AS community, any_value(compound) AS compound,
           any_value(building) AS building, any_value(unit) AS unit, any_value(room) AS room,
           mode(reason) AS reason, any_value(cid) AS cid, count(*) AS records,
           list(DISTINCT feed ORDER BY feed) AS feeds, list(record_id) AS record_ids
    FROM base GROUP BY address
), reg AS (
    SELECT h.registry_key AS address_code, h.standard_address, h.building, h.unit, h.room, c.cid, c.cid_name
    FROM link_houses h JOIN link_house_compounds c ON c.address_code = h.registry_key
    WHERE h.registry_key IS NOT NULL
), names AS (SELECT DISTINCT cid, cid_name FROM reg),
fitting AS (  -- ambiguous: the houses that fit
    SELECT DISTINCT a.address, v.address_code, 0 AS tier, 1.0 AS score
    FROM addr a, unnest(a.record_ids) AS t(record_id)
    JOIN link_house_review v ON v.record_id = t.record_id
    WHERE a.reason = 'ambiguous'
), compounds AS (  -- the compound(s) to look in
    SELECT address, cid, 1.0 AS score FROM addr WHERE cid IS NOT NULL AND reason <> 'outside'
    UNION ALL
    SELECT address, cid, score FROM (
        SELECT a.address, n.cid,
               CASE WHEN a.compound IS NULL
                    THEN CASE WHEN contains(a.address, n.cid_name) THEN 1.0 ELSE 0.0 END
                    ELSE jaro_winkler_similarity(a.compound, n.cid_name) END AS score
        FROM addr a, names n
        WHERE a.cid IS NULL AND a.reason <> 'outside'
          AND a.address NOT IN (SELECT address FROM fitting)
    ) WHERE score >= {SIMILAR}
    QUALIFY row_number() OVER (PARTITION BY address ORDER BY score DESC, cid) <= 2
), near AS (
    SELECT a.address, g.address_code, 1 AS tier, c.score,
           (g.building IS NOT DISTINCT FROM a.building) AS same_building,
           (g.unit IS NOT DISTINCT FROM a.unit) AS same_unit,
           abs(coalesce(try_cast(g.room AS INTEGER), 0) - coalesce(try_cast(a.room AS INTEGER), 0)) AS room_gap,
           g.cid
    FROM compounds c JOIN addr a USING (address) JOIN reg g ON g.cid = c.cid
), near_ranked AS (  -- the nearest house of each compound first, then the next of each
    SELECT address, address_code, tier, score,
           row_number() OVER (PARTITION BY address, cid ORDER BY same_building DESC, same_unit DESC, room_gap,
                                                                address_code) AS k
    FROM near
), ranked AS (
    SELECT address, address_code, tier, score, row_number() OVER (PARTITION BY address ORDER BY address_code) AS k
    FROM fitting
    UNION ALL SELECT * FROM near_ranked
    QUALIFY row_number() OVER (PARTITION BY address ORDER BY tier, k, score DESC, address_code) <= {NEAREST}
), cands AS (
    SELECT r.address, list({{'standard_address': h.standard_address, 'address_code': r.address_code}}
                            ORDER BY r.tier, r.k, r.score DESC, r.address_code) AS candidates
    FROM ranked r JOIN link_houses h ON h.registry_key = r.address_code
    GROUP BY r.address
), has AS (  -- a known compound without the house: which part is missing
    SELECT a.address, bool_or(g.building IS NOT DISTINCT FROM a.building) AS building,
           bool_or(g.building IS NOT DISTINCT FROM a.building AND g.unit IS NOT DISTINCT FROM a.unit) AS unit
    FROM addr a JOIN reg g ON g.cid = a.cid WHERE a.reason = 'no_house' GROUP BY a.address
)
SELECT a.address, a.community, a.compound, a.building, a.unit, a.room, a.records, a.feeds,
       CASE WHEN a.reason <> 'no_house' OR h.address IS NULL THEN a.reason
            WHEN NOT h.building THEN 'no_building' WHEN NOT h.unit THEN 'no_unit' ELSE 'no_room' END AS reason,
       coalesce(c.candidates, []) AS candidates
FROM addr a LEFT JOIN cands c USING (address) LEFT JOIN has h USING (address)
ORDER BY a.records DESC, a.address
"""


def unmatched_frame(con, unmasked: bool = False) -> pl.DataFrame:
    """The export's rows, Chinese headers."""
    rows = fetch_frame(con, _QUERY)
    titles = {code: spec.title for code, spec in load_specs().items()}
    frame = rows.select(
        pl.col("address").alias("报送地址"),
        pl.col("community").alias("解析：社区"),
        pl.col("compound").alias("解析：小区"),
        pl.col("building").alias("解析：楼栋"),
        pl.col("unit").alias("解析：单元"),
        pl.col("room").alias("解析：室"),
        pl.col("records").alias("记录数"),
        pl.col("feeds").list.eval(pl.element().replace_strict(titles, default=pl.element()))
        .list.join("、").alias("数据源"),
        pl.col("reason").replace_strict(REASONS, default=pl.col("reason")).alias("未匹配原因"),
        *[pl.col("candidates").list.get(i, null_on_oob=True).struct.field(f).alias(f"最近候选{i + 1} {label}")
          for i in range(NEAREST) for f, label in (("standard_address", "标准地址"), ("address_code", "地址编码"))],
    )
    if not unmasked:
        frame = mask_frame(frame, keep=tuple(f"最近候选{i + 1} 地址编码" for i in range(NEAREST)))
    return frame


def export_unmatched_addresses(out: Path, db: str | None = None, unmasked: bool = False) -> AddressExport:
    out = table_file(out, "未匹配地址.xlsx")
    with open_existing(db, read_only=not unmasked) as con:
        require_linked(con, "link_house_matches")
        if not table_exists(con, "link_house_unresolved"):
            raise UsageError("比对结果是旧版本生成的，缺少未匹配原因：请先重新运行 rootdb link")
        frame = unmatched_frame(con, unmasked=unmasked)
        records = int(frame["记录数"].sum() or 0)
        write_table(frame, out, "未匹配地址", heading=(
            "未匹配标准地址的报送地址", f"导出日期：{date_words(dt.date.today())}",
            f"共 {frame.height:,} 个地址、{records:,} 条记录", masking_words(not unmasked, birth_dates=False)))
        if unmasked:
            record_audit(con, "export addresses --unmatched --unmasked", "", frame.height, str(out.resolve()))
    reasons = dict(frame.group_by("未匹配原因").len().sort("len", descending=True).iter_rows())
    return AddressExport(file=str(out), rows=frame.height, records=records,
                         reasons=reasons, masked=not unmasked)
