"""Writing workbooks safely: every text cell is written as text (a value starting
with = + - @ never becomes a formula), widths fit Chinese text, header frozen."""

from __future__ import annotations

import datetime as dt
import unicodedata

import polars as pl
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def display_width(text: str) -> int:
    """Columns a text needs: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def require_xlsx(path) -> None:
    from pathlib import Path

    from rootdb.errors import UsageError

    if Path(path).suffix.lower() != ".xlsx":
        raise UsageError(f"{Path(path).name}：这里导出的是 Excel 工作簿，请用 .xlsx 作为文件名后缀")


def new_workbook(path) -> xlsxwriter.Workbook:
    require_xlsx(path)
    workbook = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    workbook.set_properties({"created": dt.datetime(2000, 1, 1)})  # same content → same bytes
    return workbook


def write_frame(workbook: xlsxwriter.Workbook, sheet: Worksheet, frame: pl.DataFrame, first_row: int = 0) -> None:
    """A header row and the frame's rows, text as text, dates as dates."""
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                  "align": "center", "valign": "vcenter", "font_name": "宋体"})
    body = workbook.add_format({"font_name": "宋体", "border": 1})
    date = workbook.add_format({"font_name": "宋体", "border": 1, "num_format": "yyyy-mm-dd"})
    widths = [display_width(c) for c in frame.columns]
    for col, name in enumerate(frame.columns):
        sheet.write_string(first_row, col, name, header)
    for r, row in enumerate(frame.iter_rows(), start=first_row + 1):
        for c, value in enumerate(row):
            if value is None:
                sheet.write_blank(r, c, None, body)
            elif isinstance(value, bool):
                sheet.write_string(r, c, "是" if value else "否", body)
            elif isinstance(value, (int, float)):
                sheet.write_number(r, c, value, body)
            elif isinstance(value, (dt.date, dt.datetime)):
                sheet.write_datetime(r, c, value, date)
            else:
                text = str(value)
                sheet.write_string(r, c, text, body)
                widths[c] = max(widths[c], display_width(text))
    for c, width in enumerate(widths):
        sheet.set_column(c, c, min(max(width + 2, 6), 60))
    sheet.freeze_panes(first_row + 1, 0)
    # Printed: A4 landscape, as wide as the page, the header row on every page.
    sheet.set_paper(9)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(first_row)
