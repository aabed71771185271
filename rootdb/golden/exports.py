"""Exports of the golden records (contract/outputs.md):

- `export_persons`: `rootdb export persons` — one CSV row per resolved person (UTF-8
  with BOM): entity_id, registry_key, 姓名, 身份证号, 性别, 民族, 出生日期, 联系电话,
  住址 (the standard address of the person's house), 所在数据源 (feed codes, `;`).
- `export_corrections`: the corrections workbook sent back to departments — a summary
  sheet, then one sheet per feed (数据源/文件/行号/姓名/字段/报送值/公安库值/问题/说明),
  each under the workbook heading (`rootdb.xlsx.write_heading`), optionally for one
  department only.

ID numbers and phones are masked unless `unmasked` is asked for, by column and in every
other text by content (an address or a note may quote them: `rootdb.privacy.mask_frame`);
birth dates (出生日期, a birth-date correction's values, the dates in a correction's note)
then keep their year only, which the masked ID beside them would otherwise give back;
every unmasked export is written to the audit log. `export_persons` writes CSV (formula-like
cells neutralised) or, to a file named .xlsx, a workbook. Both take an open connection or a database
location (`--db` semantics, as `rootdb.exports`).
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from rootdb.errors import UsageError
from rootdb.exports import ExportResult, table_file, write_table
from rootdb.outpaths import output_file
from rootdb.privacy import mask_birth_date, mask_frame, mask_id, mask_phone, record_audit
from rootdb.specs import load_specs
from rootdb.store import fetch_frame, require_linked
from rootdb.workspace import open_existing
from rootdb.xlsx import date_words, masking_words, new_workbook, write_sheet

PERSON_HEADERS = ["entity_id", "registry_key", "姓名", "身份证号", "性别", "民族", "出生日期", "联系电话", "住址",
                  "所在数据源"]
CORRECTION_HEADERS = ["数据源", "文件", "行号", "姓名", "字段", "报送值", "公安库值", "问题", "说明"]


@contextmanager
def _open(con_or_db, writable: bool):
    """The caller's connection as is, else the workspace's database (read-only unless
    the audit log must be written)."""
    if isinstance(con_or_db, duckdb.DuckDBPyConnection):
        yield con_or_db
        return
    with open_existing(con_or_db, read_only=not writable) as con:
        yield con


def export_persons(con_or_db, out: Path, unmasked: bool = False) -> ExportResult:
    out = table_file(out, "人员.csv")
    with _open(con_or_db, writable=unmasked) as con:
        require_linked(con, "golden_persons")
        frame = fetch_frame(con, """
            SELECT p.entity_id, p.registry_key, p.name AS "姓名", p.id_number AS "身份证号", p.sex AS "性别",
                   p.ethnicity AS "民族", strftime(p.birth_date, '%Y-%m-%d') AS "出生日期", p.phone AS "联系电话",
                   h.standard_address AS "住址", array_to_string(p.feeds, ';') AS "所在数据源"
            FROM golden_persons p LEFT JOIN golden_houses h ON h.entity_id = p.house_entity_id
            ORDER BY p.entity_id
        """)
        if not unmasked:
            frame = frame.with_columns(mask_id(pl.col("registry_key")), mask_id(pl.col("身份证号")),
                                       mask_birth_date(pl.col("出生日期")), mask_phone(pl.col("联系电话")))
            frame = mask_frame(frame, keep=("entity_id",))
        write_table(frame.select(PERSON_HEADERS), out, "人员")
        if unmasked:
            record_audit(con, "export persons --unmasked", "", frame.height, str(out.resolve()))
    return ExportResult(file=str(out), rows=frame.height, masked=not unmasked)


def known_departments() -> list[str]:
    return sorted({s.department for s in load_specs().values() if s.kind != "reference"})


def _sheet_name(title: str, code: str, used: set[str]) -> str:
    name = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or code[:31]
    if name in used:
        name = code[:31]
    used.add(name)
    return name


def export_corrections(con_or_db, out: Path, department: str | None = None, unmasked: bool = False) -> ExportResult:
    out = output_file(out, "纠错清单.xlsx")
    departments = known_departments()
    if department is not None and department not in departments:
        raise UsageError(f"不认识的部门“{department}”；可选：{'、'.join(departments)}")
    specs = load_specs()
    with _open(con_or_db, writable=unmasked) as con:
        require_linked(con, "corrections")
        where, params = ("WHERE department = ?", [department]) if department is not None else ("", [])
        frame = fetch_frame(con, f"""
            SELECT feed, department, source_file, source_row, person_name, field, delivered_value, registry_value,
                   kind, detail, value_type
            FROM corrections {where} ORDER BY feed, source_file, source_row, field, kind
        """, params)
        if not unmasked:
            for col in ("delivered_value", "registry_value"):
                frame = frame.with_columns(
                    pl.when(pl.col("value_type") == "id").then(mask_id(pl.col(col)))
                    .when(pl.col("value_type") == "phone").then(mask_phone(pl.col(col)))
                    .when(pl.col("value_type") == "birth_date").then(mask_birth_date(pl.col(col)))
                    .otherwise(pl.col(col)).alias(col))
            # A note may quote the birth date an ID gives (与身份证号不符（身份证号为 …）).
            frame = frame.with_columns(mask_birth_date(pl.col("detail")))
            frame = mask_frame(frame)
        titles = {code: spec.title for code, spec in specs.items()}
        out.parent.mkdir(parents=True, exist_ok=True)
        workbook = new_workbook(out)
        summary = (frame.group_by("department", "feed", "kind").agg(pl.len().alias("条数"))
                   .sort("department", "feed", "kind"))
        summary = summary.select(
            pl.col("department").alias("部门"),
            pl.col("feed").replace_strict(titles, default=pl.col("feed")).alias("数据源"),
            pl.col("feed").alias("数据源代码"), pl.col("kind").alias("问题"), pl.col("条数"))
        exported, masking = f"导出日期：{date_words(dt.date.today())}", masking_words(not unmasked)
        write_sheet(workbook, "汇总", summary, "数据比对纠错清单", exported, f"部门：{department or '全部部门'}",
                    f"共 {frame.height:,} 条", masking)
        used = {"汇总"}
        for feed in sorted(frame["feed"].unique().to_list()):
            part = frame.filter(pl.col("feed") == feed)
            title = titles.get(feed, feed)
            rows = part.select(
                pl.lit(title).alias("数据源"), pl.col("source_file").alias("文件"),
                pl.col("source_row").alias("行号"), pl.col("person_name").alias("姓名"),
                pl.col("field").alias("字段"), pl.col("delivered_value").alias("报送值"),
                pl.col("registry_value").alias("公安库值"), pl.col("kind").alias("问题"),
                pl.col("detail").alias("说明"))
            write_sheet(workbook, _sheet_name(title, feed, used), rows, f"{title}：纠错清单", exported,
                        f"报送部门：{part['department'][0]}", f"共 {part.height:,} 条", masking)
        workbook.close()
        if unmasked:
            record_audit(con, "export corrections --unmasked", department or "", frame.height, str(out.resolve()))
    return ExportResult(file=str(out), rows=frame.height, masked=not unmasked)
