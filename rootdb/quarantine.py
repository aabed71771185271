"""Export the quarantined rows of the current snapshots, to send back to departments.

One summary sheet, then one sheet per feed with the row's original columns (as the
department delivered them) and the reason; each begins with the workbook heading
(`rootdb.xlsx.write_heading`: what it holds, the export date, the count, the masking).
ID numbers and phones are masked unless asked — in the columns whose field type is
masked (`FieldType.masked_as`: ID, phone), and by content in every other cell (a row
that could not be split quotes them anywhere); the columns of a person's birth date
(出生日期) then keep the year only, which the masked ID beside them would otherwise give
back (`rootdb.golden.corrections.column_masking`); an unmasked export is written to the
audit log.

Without a file (`rootdb quarantine --json`), `quarantine_summary` tells what there is to
send back: the rows per feed and per file, and how many rows each reason holds (reasons
masked; the rows' values are not shown).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from rootdb.exports import ExportResult
from rootdb.golden.corrections import column_masking
from rootdb.ingest.detect import header_keys
from rootdb.outpaths import output_file
from rootdb.privacy import mask_birth_date, mask_frame, mask_id, mask_phone, mask_text, record_audit
from rootdb.specs import load_specs
from rootdb.store import fetch_frame
from rootdb.workspace import open_existing
from rootdb.xlsx import date_words, masking_words, new_workbook, write_sheet


def _masking_for(spec, headers: list[str]) -> dict[str, str]:
    """delivered header -> 'id', 'phone' or 'birth_date' for the columns to mask
    (`column_masking`, as the corrections list masks its values)."""
    if spec is None:
        return {}
    kinds = {}
    for col in spec.columns:
        masked_as = column_masking(spec, col)
        if masked_as:
            for h in col.headers:
                for key in header_keys(h):
                    kinds[key] = masked_as
    return {h: kinds[k] for h in headers for k in header_keys(h) if k in kinds}


_MASKS = {"id": mask_id, "phone": mask_phone, "birth_date": mask_birth_date}


def sheet_name(title: str) -> str:
    """An Excel sheet name: at most 31 characters, none of []:*?/\\."""
    return re.sub(r"[\[\]:*?/\\]", "", title)[:31]


def _check_feed(specs, feed: str | None) -> str | None:
    """The code of the feed --feed names: its code, title or Chinese name (低保)."""
    from rootdb.specs.names import resolve_feed

    return resolve_feed(feed, "--feed")


@dataclass
class QuarantineSummary:
    """The quarantined rows of the current snapshots, counted: per feed, per file, per
    reason (masked)."""

    rows: int
    feeds: list[dict] = field(default_factory=list)
    masked: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def quarantine_summary(db: str | None = None, feed: str | None = None) -> QuarantineSummary:
    """What `rootdb quarantine --json` prints without --out: counts only, reasons masked."""
    specs = load_specs()
    feed = _check_feed(specs, feed)
    with open_existing(db, read_only=True) as con:
        counts = fetch_frame(
            con,
            """
            SELECT q.feed, q.source_file, q.reason, count(*) AS rows
            FROM quarantine q JOIN files f USING (file_id)
            WHERE f.is_current AND (? IS NULL OR q.feed = ?)
            GROUP BY ALL ORDER BY q.feed, q.source_file, rows DESC, q.reason
            """,
            [feed, feed],
        )
    feeds = []
    for (code,), by_feed in counts.group_by("feed", maintain_order=True):
        spec = specs.get(code)
        files = []
        for (name,), by_file in by_feed.group_by("source_file", maintain_order=True):
            reasons: dict[str, int] = {}
            for reason, n in by_file.select("reason", "rows").iter_rows():
                key = mask_text(reason) or ""
                reasons[key] = reasons.get(key, 0) + n
            files.append({"file": mask_text(name), "rows": int(by_file["rows"].sum()),
                          "reasons": [{"reason": r, "rows": n} for r, n in reasons.items()]})
        feeds.append({"feed": code, "title": spec.title if spec else code,
                      "department": spec.department if spec else None,
                      "rows": sum(f["rows"] for f in files), "files": files})
    return QuarantineSummary(rows=sum(f["rows"] for f in feeds), feeds=feeds)


def export_quarantine(out: Path, db: str | None = None, feed: str | None = None, unmasked: bool = False) -> ExportResult:
    out = output_file(out, "隔离数据.xlsx")
    specs = load_specs()
    feed = _check_feed(specs, feed)
    with open_existing(db, read_only=not unmasked) as con:
        rows = fetch_frame(
            con,
            """
            SELECT q.feed, q.source_file, q.source_row, q.reason, q.original
            FROM quarantine q JOIN files f USING (file_id)
            WHERE f.is_current AND (? IS NULL OR q.feed = ?)
            ORDER BY q.feed, q.source_file, q.source_row
            """,
            [feed, feed],
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        workbook = new_workbook(out)
        titles = {k: s.title for k, s in specs.items()}
        summary = rows.select(
            pl.col("feed").replace_strict({k: s.department for k, s in specs.items()}, default="").alias("部门"),
            pl.col("feed").replace_strict(titles, default=pl.col("feed")).alias("数据"),
            pl.col("source_file").alias("文件"),
            pl.col("source_row").alias("行号"),
            pl.col("reason").alias("隔离原因"),
        )
        if not unmasked:
            summary = mask_frame(summary)
        exported = f"导出日期：{date_words(dt.date.today())}"
        asked = f"数据：{titles.get(feed, feed)}" if feed else "数据：全部"
        write_sheet(workbook, "汇总", summary, "退回部门的隔离数据",
                    exported, asked, f"共 {rows.height:,} 行", masking_words(not unmasked))
        for (code,), part in rows.group_by("feed", maintain_order=True):
            originals = part["original"].str.json_decode()
            values = originals.struct.unnest() if originals.dtype.base_type() == pl.Struct else pl.DataFrame()
            if not unmasked:
                masks = _masking_for(specs.get(code), values.columns)
                values = values.with_columns(
                    _MASKS[kind](pl.col(h).cast(pl.String)).alias(h) for h, kind in masks.items()
                )
            sheet_frame = pl.concat(
                [part.select(pl.col("source_file").alias("文件"), pl.col("source_row").alias("行号"),
                             pl.col("reason").alias("隔离原因")), values],
                how="horizontal",
            )
            if not unmasked:
                sheet_frame = mask_frame(sheet_frame)
            title = titles.get(code, code)
            department = specs[code].department if code in specs else "未知"
            write_sheet(workbook, sheet_name(title), sheet_frame, f"{title}：隔离数据", exported,
                        f"报送部门：{department}", f"共 {part.height:,} 行", masking_words(not unmasked))
        workbook.close()
        if unmasked:
            record_audit(con, "quarantine --unmasked", f"feed={feed or '全部'}", rows.height, str(out.resolve()))
    return ExportResult(file=str(out), rows=rows.height, masked=not unmasked)
