"""What the reader or the file itself changed in a row before cleaning, flagged.

`raw_<feed>` keeps every value as delivered; what is cleaned may differ, and each
difference is a row issue with a Chinese message (vectorised: one polars expression per
column, Python only per flagged formula cell):

- NUL characters inside a value are removed before cleaning (`nul_removed`);
- a value of exactly 32,767 characters, Excel's cell limit, was probably cut
  (`cell_cut`);
- a formula cell saved without its result reads as empty (`formula_no_value`);
- a cell in a column without a header is not loaded (`cell_outside_header`);
- a field named by two columns takes the value of the first with one; where both
  have differing values the row is flagged (`duplicate_column_conflict`).

Rows the reader could not split reliably (a stray quote in a CSV) are quarantined
(`forced_quarantine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from rootdb.clean.frame import ISSUE_SCHEMA
from rootdb.ingest.detect import Layout, dup_column
from rootdb.ingest.readers import Grid

EXCEL_CELL_LIMIT = 32767


@dataclass
class Checked:
    rows: pl.DataFrame  # what is cleaned: source_row + one text column per field
    issues: pl.DataFrame  # ISSUE_SCHEMA
    quarantine: pl.DataFrame  # source_row, reason: rows that cannot be loaded as read


def _issues(frame: pl.DataFrame, mask: pl.Expr, field: str, header: str, code: str, message: pl.Expr,
            value: pl.Expr) -> pl.DataFrame:
    return frame.filter(mask).select(
        pl.col("source_row").cast(pl.Int64),
        pl.lit(field).alias("field"),
        pl.lit(header).alias("header"),
        pl.lit(code).alias("code"),
        message.alias("message"),
        value.alias("value"),
    )


def check_rows(grid: Grid, layout: Layout, rows: pl.DataFrame) -> Checked:
    """`rows` as `detect.data_rows` gives them; see the module's docstring."""
    spec = layout.spec
    issues: list[pl.DataFrame] = []
    fields = [f for f in layout.columns if f in rows.columns]
    header = {f: layout.headers.get(f) or spec.column(f).header for f in fields}

    for f in fields:
        col = pl.col(f)
        issues.append(_issues(
            rows, col.str.contains("\x00", literal=True).fill_null(False), f, header[f], "nul_removed",
            pl.lit(f"{header[f]}：含有不可见的空字符（NUL），已去除后导入；原值保留在 raw_{spec.code} 表中"),
            col.str.replace_all("\x00", "\\x00", literal=True),
        ))
        issues.append(_issues(
            rows, (col.str.len_chars() == EXCEL_CELL_LIMIT).fill_null(False), f, header[f], "cell_cut",
            pl.lit(f"{header[f]}：正好 {EXCEL_CELL_LIMIT:,} 个字符，是 Excel 单元格的上限，内容很可能已被截断；请核对原始数据"),
            col.str.slice(0, 200),
        ))

    # Formula cells saved without a result (the file was written by a program, not saved by Excel).
    if grid.formula_cells:
        by_column = {c: f for f, c in layout.columns.items()}
        for f, cols in layout.duplicates.items():
            by_column.update({c: f for c in cols})
        listed = [(row, by_column[col], grid.letter(col), formula)
                  for (row, col), formula in grid.formula_cells.items() if col in by_column]
        if listed:
            cells = pl.DataFrame(listed, schema={"source_row": pl.Int64, "field": pl.String, "letter": pl.String,
                                                 "formula": pl.String}, orient="row")
            cells = cells.join(rows.select("source_row"), on="source_row", how="semi").with_columns(
                pl.col("field").replace_strict(header, default=None).alias("header"))
            issues.append(cells.select(
                "source_row", "field", "header", pl.lit("formula_no_value").alias("code"),
                pl.format("{}（第{}列）：单元格是公式 {}，文件中没有保存计算结果，读出为空；请用 Excel 打开后保存再提供，"
                          "或把公式转换为数值", pl.col("header"), pl.col("letter"), pl.col("formula")).alias("message"),
                pl.col("formula").alias("value"),
            ))

    # Cells in columns that have no header: nothing says what they are, so they are not
    # loaded; the row is flagged with the value.
    header_cells = grid.cells.filter(pl.col("row_number") == layout.header_row).drop("row_number")
    used = set(layout.columns.values()) | {c for cols in layout.duplicates.values() for c in cols}
    headless = [c for c in header_cells.columns if c not in used
                and (header_cells[c][0] is None or not str(header_cells[c][0]).strip())] if header_cells.height else []
    if headless:
        extra = grid.cells.join(rows.select("source_row"), left_on="row_number", right_on="source_row",
                                how="semi").select(pl.col("row_number").alias("source_row"), *headless)
        for c in headless:
            text = pl.col(c).str.strip_chars()
            letter = grid.letter(c)
            issues.append(_issues(
                extra, (text.is_not_null() & (text != "")).fill_null(False), f"第{letter}列", f"第{letter}列（无表头）",
                "cell_outside_header",
                pl.format(f"第{letter}列没有表头，本行在这一列有内容“{{}}”，未导入；请核对这一列属于哪一项",
                          pl.col(c).str.slice(0, 100)),
                pl.col(c),
            ))

    # One field, two columns: the values differ.
    for f, cols in layout.duplicates.items():
        if f not in fields:
            continue
        names = [dup_column(f, k) for k in range(1, len(cols) + 1)]
        first = pl.col(names[0]).str.strip_chars()
        letters = [grid.letter(c) for c in cols]
        for name, letter in zip(names[1:], letters[1:]):
            other = pl.col(name).str.strip_chars()
            differ = (first.is_not_null() & (first != "") & other.is_not_null() & (other != "") & (first != other))
            issues.append(_issues(
                rows, differ.fill_null(False), f, header[f], "duplicate_column_conflict",
                pl.format(f"两列都是“{header[f]}”（第{letters[0]}列和第{letter}列），本行两列的值不同："
                          f"第{letters[0]}列“{{}}”，第{letter}列“{{}}”；已采用第{letters[0]}列，请核对",
                          pl.col(names[0]), pl.col(name)),
                pl.col(name),
            ))

    cleaned = rows.select(
        "source_row",
        *[pl.col(f).str.replace_all("\x00", "", literal=True) for f in fields],
    )
    forced = pl.DataFrame(
        {"source_row": list(grid.bad_rows), "reason": list(grid.bad_rows.values())},
        schema={"source_row": pl.Int64, "reason": pl.String},
    ).join(rows.select("source_row"), on="source_row", how="semi")
    found = [i.cast(ISSUE_SCHEMA) for i in issues if i.height]
    issue_frame = pl.concat(found) if found else pl.DataFrame(schema=ISSUE_SCHEMA)
    return Checked(rows=cleaned, issues=issue_frame, quarantine=forced)
