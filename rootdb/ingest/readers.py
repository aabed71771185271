"""Read a delivered file into a grid of text cells, every cell as delivered.

A `Grid` is what a spreadsheet program shows: `row_number` (1-based, as the program
numbers rows; a CSV's first line is row 1) and columns `c0, c1, …` of text. Nothing is
interpreted here: finding the header, the title and closing rows is `detect`'s job.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree
from pathlib import Path

import fastexcel
import polars as pl

from rootdb.clean.ids import looks_like_excel_number
from rootdb.errors import InputFileError

SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
CSV_SUFFIXES = {".csv"}
READABLE_SUFFIXES = SPREADSHEET_SUFFIXES | CSV_SUFFIXES

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class Grid:
    cells: pl.DataFrame  # row_number + c0..cN, all text
    encoding: str | None = None  # CSV only
    sheet: str | None = None  # spreadsheets only
    # xlsx only: (row_number, grid column) of cells stored as numbers of 15+ digits,
    # i.e. long numbers (ID numbers) that Excel has cut to 15 significant digits.
    long_numbers: set[tuple[int, str]] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def _columns(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def read_grid(path: Path) -> Grid:
    suffix = path.suffix.lower()
    try:
        head = path.open("rb").read(8)
    except OSError as exc:
        raise InputFileError(path, f"无法打开文件：{exc.strerror or exc}") from exc
    if path.stat().st_size == 0:
        raise InputFileError(path, "文件是空的（0字节）")
    if suffix not in READABLE_SUFFIXES:
        raise InputFileError(path, f"不是可识别的表格文件（扩展名 {suffix or '无'}），请提供 .xlsx 或 .csv 文件")
    # Trust the content over the name: departments rename files.
    if head.startswith(_ZIP_MAGIC) and suffix in CSV_SUFFIXES:
        grid = _read_spreadsheet(path, ".xlsx", head)
        grid.warnings.append("扩展名是 .csv，但内容是 Excel 工作簿，已按 Excel 读取")
        return grid
    if suffix in (".xlsx", ".xlsm", ".ods") and not head.startswith((_ZIP_MAGIC, _OLE_MAGIC)) and _is_text(path):
        grid = _read_csv(path)
        grid.warnings.append(f"扩展名是 {suffix}，但内容是文本（CSV），已按 CSV 读取")
        return grid
    if suffix in SPREADSHEET_SUFFIXES:
        return _read_spreadsheet(path, suffix, head)
    return _read_csv(path)


def _is_text(path: Path) -> bool:
    sample = path.open("rb").read(4096)
    if b"\x00" in sample:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
            return True
        except UnicodeDecodeError:
            continue
    return False


def _read_spreadsheet(path: Path, suffix: str, head: bytes) -> Grid:
    if suffix in (".xlsx", ".xlsm") and head.startswith(_OLE_MAGIC):
        raise InputFileError(path, "Excel 文件设置了打开密码（已加密），请去掉密码后重新导出")
    if suffix in (".xlsx", ".xlsm", ".ods") and not head.startswith(_ZIP_MAGIC):
        raise InputFileError(path, "文件内容不是 Excel 工作簿（可能已损坏，或只是改了扩展名）")
    try:
        reader = fastexcel.read_excel(path)
        sheets = reader.sheet_names
        if not sheets:
            raise InputFileError(path, "工作簿中没有工作表")
        # The first sheet with any content; departments put the list on sheet 1.
        for name in sheets:
            sheet = reader.load_sheet(name, header_row=None, skip_rows=0, dtypes="string")
            frame = sheet.to_polars()
            if frame.height and frame.width:
                absolute = [c.absolute_index for c in sheet.selected_columns]
                break
        else:
            raise InputFileError(path, "工作簿中所有工作表都是空的")
    except InputFileError:
        raise
    except Exception as exc:  # calamine reports corrupt files in many ways
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(path, f"Excel 文件已损坏或无法读取（{detail}）") from exc
    frame = frame.rename(dict(zip(frame.columns, _columns(frame.width))))
    # A date cell reads back as '1985-03-02 00:00:00': the time of a plain date is noise.
    frame = frame.with_columns(pl.col(c).str.replace(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$", "$1") for c in frame.columns)
    frame = frame.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))
    grid = Grid(cells=frame, sheet=name)
    if suffix in (".xlsx", ".xlsm") and _has_long_digit_cells(frame):
        by_absolute = {a: c for a, c in zip(absolute, _columns(frame.width))}
        grid.long_numbers = {
            (row, by_absolute[col]) for row, col in _long_number_cells(path, name) if col in by_absolute
        }
    return grid


def _has_long_digit_cells(frame: pl.DataFrame) -> bool:
    """Whether any cell reads like a long number Excel cut to 15 digits: only then is
    the sheet's XML worth scanning (IDs typed as text rarely look like that)."""
    cells = [c for c in frame.columns if c != "row_number"]
    return bool(frame.select(pl.any_horizontal(looks_like_excel_number(pl.col(c)) for c in cells).any()).item())


_LONG_NUMBER_CELL = re.compile(
    rb'<c r="([A-Z]+)(\d+)"(?:(?! t=")[^>])*>(?:<f>[^<]*</f>)?<v>(?:\d\.\d+[eE]\+?1[4-9]|\d{15,19}(?:\.0)?)</v>'
)


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + (ch - 64)
    return number - 1


def _long_number_cells(path: Path, sheet_name: str) -> set[tuple[int, int]]:
    """(row number, 0-based column) of numeric cells holding 15+ digit numbers, read
    from the sheet's XML: the text reader cannot tell "150602…" typed as text from the
    same digits stored as a number, whose last digits Excel has already dropped."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships"}
    with zipfile.ZipFile(path) as zf:
        book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        rid = next(s.get(f"{{{ns['r']}}}id") for s in book.iter(f"{{{ns['m']}}}sheet") if s.get("name") == sheet_name)
        target = next(r.get("Target") for r in rels if r.get("Id") == rid)
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        xml = zf.read(member)
    return {(int(row), _column_number(col)) for col, row in _LONG_NUMBER_CELL.findall(xml)}


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_csv_bytes(path: Path, data: bytes) -> tuple[str, str]:
    """The text of a CSV and its encoding: UTF-8 (with or without BOM) or GB18030.

    A file whose text before the first bad byte already holds valid multi-byte UTF-8
    is a UTF-8 file with corrupt bytes, not GB18030: the line is named.
    """
    if b"\x00" in data[:4096]:
        raise InputFileError(path, "文件内容是二进制数据，不是文本表格（CSV）")
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        return data[3:].decode("utf-8") if bom else data.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        if bom or not data[: exc.start].isascii():
            line = _line_of(data, exc.start)
            raise InputFileError(
                path, "含有无法按 UTF-8 解码的字节（文件可能已损坏），请重新导出", row=line
            ) from exc
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputFileError(
            path,
            "文件编码无法识别（既不是 UTF-8 也不是 GB18030），请另存为 UTF-8 编码的 CSV",
            row=_line_of(data, exc.start),
        ) from exc


def _read_csv(path: Path) -> Grid:
    text, encoding = decode_csv_bytes(path, path.read_bytes())
    if not text.strip():
        raise InputFileError(path, "文件中没有任何内容")
    delimiter = _sniff_delimiter(text)
    # Title rows have fewer fields than the table: widen to the widest of the first rows.
    head_rows = list(csv.reader(io.StringIO("\n".join(text.splitlines()[:50])), delimiter=delimiter))
    width = max((len(r) for r in head_rows), default=1)
    try:
        frame = pl.read_csv(
            text.encode("utf-8"),
            has_header=False,
            schema={c: pl.String for c in _columns(width)},
            missing_columns="insert",
            separator=delimiter,
            truncate_ragged_lines=True,
        )
    except Exception as exc:
        raise InputFileError(path, f"CSV 文件格式错误，无法解析（{str(exc).splitlines()[0]}）") from exc
    frame = frame.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))
    return Grid(cells=frame, encoding=encoding)


def _sniff_delimiter(text: str) -> str:
    sample = text[:20000]
    counts = {d: sample.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","
