"""Writing one report: a workbook laid out as a department expects it, or a plain CSV.

Workbook, top to bottom: the heading every workbook shares (`rootdb.xlsx.write_heading`:
the title merged across the table, then the 填报单位 / 统计日期 line), one or two header
rows (a group header merged over its columns, a lone header merged down over both rows),
the data rows, the 合计 row (column totals, and for a roster its counts: 合计：15 户 48
人), notes and the 填表人 / 审核人 / 填报日期 footer. Header frozen; printed on A4
(landscape when the table is wide), fitted to the page width, the header rows repeated
on every page.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from rootdb.csvfile import write_csv as write_csv_file
from rootdb.reports.templates import ReportColumn, ReportTemplate
from rootdb.xlsx import date_words, display_width, excel_cells, max_display_width, new_workbook, write_heading

FONT = "宋体"
# int: counts (2,351); plain_int: numbers that take no thousands separator (序号, 行号, grams).
# decimal: a measure with two fixed decimals (建筑面积 85.50).
NUMBER_FORMATS = {"int": "#,##0", "plain_int": "0", "number": "#,##0.##", "money": "#,##0.00", "decimal": "#,##0.00",
                  "percent": "0.0%", "date": "yyyy-mm-dd"}
# A4 portrait fits about this many character widths at 100%; wider tables print landscape.
PORTRAIT_WIDTH = 95
# Data rows on one sheet: Excel's sheet holds 1,048,576 rows, heading, notes and footer included.
SHEET_ROWS = 1_000_000


@dataclass(frozen=True)
class ReportHeading:
    unit_name: str  # 填报单位
    as_of: dt.date


def column_widths(template: ReportTemplate, frame: pl.DataFrame) -> list[float]:
    widths = []
    for column in template.columns:
        if column.width:
            widths.append(column.width)
            continue
        longest = display_width(column.header) + 2
        if frame.height and column.format in ("text", "date"):
            longest = max(longest, max_display_width(frame.get_column(column.field).cast(pl.String)) + 2)
        elif column.format != "text":
            longest = max(longest, 10)
        widths.append(min(max(longest, 6), 50))
    return widths


def totals(template: ReportTemplate, frame: pl.DataFrame) -> dict[str, float | None]:
    sums = {c.field: frame.get_column(c.field).fill_null(0).sum() for c in template.columns
            if c.format in ("int", "plain_int", "number", "money", "decimal", "percent")}
    out: dict[str, float | None] = {}
    for column in template.columns:
        if column.total == "sum":
            out[column.field] = sums[column.field]
        elif column.total:
            _, numerator, denominator = column.total.split()
            den = sums.get(denominator) or 0
            out[column.field] = (sums.get(numerator) or 0) / den if den else None
    return out


def total_label(template: ReportTemplate, frame: pl.DataFrame) -> str:
    """合计, or for a roster with counts the whole line: 合计：15 户 48 人."""
    figures = count_figures(template, frame)
    return f"{template.total_label}：{' '.join(figures)}" if figures else template.total_label


def count_figures(template: ReportTemplate, frame: pl.DataFrame) -> list[str]:
    """The figures of a roster's 合计 line for these rows: ['15 户', '48 人']."""
    figures = []
    for count in template.total_counts:
        if count.distinct:
            n = frame.get_column(count.distinct).drop_nulls().n_unique()
        elif count.sum:
            n = frame.get_column(count.sum).fill_null(0).sum()
        else:
            n = frame.height
        whole = isinstance(n, int) or float(n).is_integer()
        figures.append(f"{int(n):,} {count.unit}" if whole else f"{n:,.2f} {count.unit}")
    return figures


def csv_header(column: ReportColumn) -> str:
    return f"{column.group}/{column.header}" if column.group else column.header


# How a number column is written in a CSV report: plain numbers a spreadsheet or a script
# reads back as numbers (no thousands separators, no % sign), as precise as the workbook shows.
CSV_DECIMALS = {"money": 2, "decimal": 2, "number": 2, "percent": 4}


def csv_number(column: ReportColumn, dtype: pl.DataType) -> pl.Expr | None:
    """The expression writing a number column of `column.format` in a CSV report, or None
    to write it as it is: whole numbers (int, plain_int) without a trailing .0; money and
    decimal with two fixed decimals (1560.00, 85.50); number rounded to two decimals, a
    whole value without .0; percent a fraction rounded to four decimals (0.8069 = 80.69 %)."""
    field = pl.col(csv_header(column))
    if not dtype.is_numeric() or column.format not in ("int", "plain_int", *CSV_DECIMALS):
        return None
    value = field.cast(pl.Float64)
    if column.format in ("int", "plain_int"):
        return field if dtype.is_integer() else value.round(0).cast(pl.Int64, strict=False)
    if dtype.is_integer():
        return field if column.format in ("number", "percent") else field.cast(pl.Decimal(38, 2), strict=False)
    rounded = value.round(CSV_DECIMALS[column.format])
    if column.format in ("money", "decimal"):
        return rounded.cast(pl.Decimal(38, 2), strict=False)
    if column.format == "number":  # 3 not 3.0, 85.5 as 85.5
        whole = rounded.is_finite() & (rounded == rounded.round(0)) & (rounded.abs() < 1e15)
        return pl.when(whole).then(rounded.cast(pl.Int64, strict=False).cast(pl.String)) \
            .otherwise(rounded.cast(pl.String))
    return rounded


def write_csv(path: Path, template: ReportTemplate, frame: pl.DataFrame) -> None:
    """Data rows only, header row first, UTF-8 with BOM (Excel opens it right); numbers
    written as `csv_number` says."""
    out = frame.select([pl.col(c.field).alias(csv_header(c)) for c in template.columns])
    if template.numbered:
        out = out.with_row_index("序号", offset=1)
    exprs = [(c, csv_number(c, out.schema[csv_header(c)])) for c in template.columns]
    out = out.with_columns(expr.alias(csv_header(c)) for c, expr in exprs if expr is not None)
    write_csv_file(out, path)  # a cell such as =Cmd|… or +Sum(1,2) is written as text, never a formula


def write_xlsx(path: Path, template: ReportTemplate, frame: pl.DataFrame, heading: ReportHeading,
               sheet_name: str | None = None) -> None:
    """The report's workbook: one sheet, named by the report's code unless `sheet_name`;
    a report of more than `SHEET_ROWS` rows (a region's rosters: Excel's sheet holds
    1,048,576 rows) goes on as many sheets as it needs (R09, R09（2）, …), each with the
    heading and header rows, its rows numbered on from the sheet before, the 合计 row,
    notes and footer on the last."""
    columns = list(template.columns)
    widths = column_widths(template, frame)
    if template.numbered:
        columns.insert(0, ReportColumn(field="__no", header="序号", format="plain_int", align="center"))
        widths.insert(0, 6)
    workbook = new_workbook(path)
    fmt = _Formats(workbook)
    # Data rows: each column typed once in polars, the rows' XML built by polars too.
    data = _typed_cells(template, frame)
    if template.numbered:
        data = data.select(pl.int_range(1, data.height + 1).alias("__no"), pl.all())
    name = sheet_name or template.code
    sheets = max(1, math.ceil(data.height / SHEET_ROWS))
    names = [name] + [f"{name}（{k}）" for k in range(2, sheets + 1)]
    for k, sheet_title in enumerate(names):
        sheet = workbook.add_worksheet(sheet_title)
        rows = data.slice(k * SHEET_ROWS, SHEET_ROWS)
        title = template.title if sheets == 1 else f"{template.title}（{k + 1}/{sheets}）"
        next_sheet = names[k + 1] if k + 1 < sheets else None
        _write_sheet(workbook, sheet, fmt, template, frame, columns, widths, heading, title, rows, next_sheet)
    workbook.close()


def _write_sheet(workbook, sheet, fmt: _Formats, template: ReportTemplate, frame: pl.DataFrame,
                 columns: list[ReportColumn], widths: list[float], heading: ReportHeading, title: str,
                 rows: pl.DataFrame, next_sheet: str | None) -> None:
    """One sheet of a report's workbook (`write_xlsx`): `rows`, its data rows as cells; the
    合计 row (of the whole `frame`), notes and footer unless the report goes on in `next_sheet`."""
    ncols = len(columns)
    date_text = f"统计日期：{date_words(heading.as_of)}"
    if template.unit:
        date_text += f"　　单位：{template.unit}"
    write_heading(workbook, sheet, ncols, title, date_text, unit=heading.unit_name)

    # Header rows: a group header over its columns, a lone header down over both rows.
    two_rows = any(c.group for c in columns)
    top, header_end = 2, 3 if two_rows else 2
    c = 0
    while c < ncols:
        column = columns[c]
        if column.group:
            end = c
            while end + 1 < ncols and columns[end + 1].group == column.group:
                end += 1
            _merge(sheet, top, c, top, end, column.group, fmt.header)
            for k in range(c, end + 1):
                sheet.write_string(header_end, k, columns[k].header, fmt.header)
            c = end + 1
        else:
            _merge(sheet, top, c, header_end, c, column.header, fmt.header)
            c += 1
    for k, width in enumerate(widths):
        sheet.set_column(k, k, width)
    # Header text wraps: make the header rows tall enough for the longest wrapped one.
    lines = max(math.ceil(display_width(c.header) / max(w - 1, 1)) for c, w in zip(columns, widths))
    if two_rows:
        sheet.set_row(top, 18)
        sheet.set_row(header_end, 15 * max(lines, 1) + 3)
    else:
        sheet.set_row(top, 15 * max(lines, 1) + 3)

    row = header_end + 1
    workbook.write_rows(sheet, row, rows, [fmt.cell(column, False) for column in columns])
    row += rows.height
    if rows.height == 0:
        _merge(sheet, row, 0, row, ncols - 1, template.empty_text, fmt.empty)
        row += 1

    if next_sheet is not None:
        _merge(sheet, row + 1, 0, row + 1, ncols - 1, f"（接工作表“{next_sheet}”）", fmt.note)
    else:
        _write_end(sheet, fmt, template, frame, columns, widths, row)

    sheet.freeze_panes(header_end + 1, 1 if template.numbered else 0)
    sheet.set_paper(9)  # A4
    wide = sum(widths) > PORTRAIT_WIDTH
    if template.orientation == "landscape" or (template.orientation == "auto" and wide):
        sheet.set_landscape()
    else:
        sheet.set_portrait()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0, header_end)
    sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    sheet.set_footer("&C第 &P 页，共 &N 页")
    sheet.center_horizontally()


def _write_end(sheet, fmt: _Formats, template: ReportTemplate, frame: pl.DataFrame, columns: list[ReportColumn],
               widths: list[float], row: int) -> None:
    """Below the last data row (`row`): the 合计 row, the notes and the footer."""
    ncols = len(columns)
    # 合计: the label over the leading columns without a total, then the totals; a
    # roster's counts (合计：15 户 48 人) over the whole row when no column has a total.
    if template.has_total or (template.total_counts and frame.height):
        label = total_label(template, frame)
        label_fmt = fmt.total_line if template.total_counts else fmt.total_label
        first_total = next((k for k, col in enumerate(columns) if col.total), ncols)
        _merge(sheet, row, 0, row, max(first_total - 1, 0), label, label_fmt)
        if first_total < ncols:
            sums = totals(template, frame)
            for k in range(first_total, ncols):
                column = columns[k]
                value = sums.get(column.field) if column.total else None
                _write_cell(sheet, row, k, value, column, fmt, total=True)
        row += 1

    row += 1
    for note in template.notes:  # wrapped over the table's width
        sheet.set_row(row, 15 * max(1, math.ceil(display_width(note) / max(sum(widths) - 2, 1))))
        _merge(sheet, row, 0, row, ncols - 1, note, fmt.note_wrapped)
        row += 1
    footer = "填表人：　　　　　　　　审核人：　　　　　　　　填报日期：　　　　年　　月　　日"
    _merge(sheet, row, 0, row, ncols - 1, footer, fmt.note)


def _typed_cells(template: ReportTemplate, frame: pl.DataFrame) -> pl.DataFrame:
    """The template's columns as cells are written: a text column as text even when its
    values are numbers (an ID, a code), a date column as a date; the rest as
    `excel_cells` types any value (yes/no as 是/否, dates as Excel day numbers)."""
    exprs = []
    for column in template.columns:
        value, dtype = pl.col(column.field), frame.schema[column.field]
        if column.format == "text" and dtype != pl.Boolean:
            value = value.cast(pl.String)
        elif column.format == "date" and isinstance(dtype, pl.Datetime):
            value = value.cast(pl.Date)
        exprs.append(value.alias(column.field))
    return excel_cells(frame.select(exprs))


def _merge(sheet, r1: int, c1: int, r2: int, c2: int, text: str, fmt) -> None:
    if r1 == r2 and c1 == c2:
        sheet.write_string(r1, c1, text, fmt)
    else:
        sheet.merge_range(r1, c1, r2, c2, text, fmt)


def _write_cell(sheet, row: int, col: int, value, column: ReportColumn, fmt: _Formats, total: bool = False) -> None:
    style = fmt.cell(column, total)
    if value is None:
        sheet.write_blank(row, col, None, style)
    elif isinstance(value, bool):
        sheet.write_string(row, col, "是" if value else "否", style)
    elif isinstance(value, (dt.date, dt.datetime)):
        sheet.write_datetime(row, col, value, style)
    elif isinstance(value, (int, float)) and column.format != "text":
        sheet.write_number(row, col, value, style)
    elif isinstance(value, list):
        sheet.write_string(row, col, "、".join(str(v) for v in value), style)
    else:  # text, an ID or a value starting with = + - @ included: never a formula
        sheet.write_string(row, col, str(value), style)


class _Formats:
    def __init__(self, workbook):
        self._workbook = workbook
        base = {"font_name": FONT, "font_size": 10}
        self.header = workbook.add_format({**base, "bold": True, "border": 1, "align": "center", "valign": "vcenter",
                                           "text_wrap": True, "bg_color": "#DDEBF7"})
        self.total_label = workbook.add_format({**base, "bold": True, "border": 1, "align": "center",
                                                "valign": "vcenter"})
        self.total_line = workbook.add_format({**base, "bold": True, "border": 1, "align": "left",
                                               "valign": "vcenter", "indent": 1})
        self.empty = workbook.add_format({**base, "border": 1, "align": "center", "font_color": "#808080"})
        self.note = workbook.add_format({**base, "align": "left", "valign": "vcenter"})
        self.note_wrapped = workbook.add_format({**base, "align": "left", "valign": "top", "text_wrap": True})
        self._cells: dict[tuple, object] = {}

    def cell(self, column: ReportColumn, total: bool):
        key = (column.format, column.align, total)
        if key not in self._cells:
            align = column.align or ("right" if column.format in NUMBER_FORMATS and column.format != "date"
                                     else "center" if column.format == "date" else "left")
            props = {"font_name": FONT, "font_size": 10, "border": 1, "valign": "vcenter", "align": align}
            if column.format in NUMBER_FORMATS:
                props["num_format"] = NUMBER_FORMATS[column.format]
            if column.format == "text":
                props["num_format"] = "@"
            if total:
                props["bold"] = True
            self._cells[key] = self._workbook.add_format(props)
        return self._cells[key]
