"""Read a delivered file into a grid of text cells, every cell as delivered.

A `Grid` is what a spreadsheet program shows: `row_number` (1-based, as the program
numbers rows; a CSV's first line is row 1) and columns `c0, c1, …` of text. Nothing is
interpreted here: finding the header, the title and closing rows is `detect`'s job.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.etree import ElementTree
from pathlib import Path

import fastexcel
import polars as pl

from rootdb.clean.ids import looks_like_excel_number
from rootdb.errors import InputFileError
from rootdb.ingest.detect import column_letter, recognise

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
    # xlsx only: (row_number, grid column) of formula cells saved without their result
    # (they read as empty).
    formula_cells: dict[tuple[int, str], str] = field(default_factory=dict)
    # CSV only: rows that could not be split into fields reliably (a stray quote), by
    # row number, with the Chinese reason; their cells are split naively.
    bad_rows: dict[int, str] = field(default_factory=dict)
    # grid column (c0, …) -> the column letter a spreadsheet program shows (A, B, …)
    letters: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def letter(self, column: str) -> str:
        return self.letters.get(column) or column_letter(int(column[1:]))


def _columns(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_ENCRYPTED_MARK = "EncryptedPackage".encode("utf-16-le")


def sniff(path: Path) -> str:
    """What a file is by its first bytes, whatever its name says: `zip` (xlsx, ods),
    `ole` (old .xls, or an xlsx with an opening password), `utf16` (text with a UTF-16
    byte order mark), `text` or `binary`."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_OLE_MAGIC):
        return "ole"
    if head.startswith(_UTF16_BOMS):
        return "utf16"
    return "binary" if b"\x00" in head else "text"


def _ole_is_encrypted(path: Path) -> bool:
    """An xlsx saved with an opening password is an OLE2 file holding an
    `EncryptedPackage` stream; its name sits in the OLE directory (UTF-16)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size <= 64 << 20:
            return _ENCRYPTED_MARK in fh.read()
        head = fh.read(8 << 20)
        fh.seek(max(0, size - (8 << 20)))
        return _ENCRYPTED_MARK in head or _ENCRYPTED_MARK in fh.read()


def read_grid(path: Path) -> Grid:
    """The first sheet with content (a CSV's only grid)."""
    return read_grids(path)[0]


def read_grids(path: Path) -> list[Grid]:
    """Every sheet with content, in workbook order (a CSV: one grid). The content
    decides how a file is read, not its name: departments rename files."""
    suffix = path.suffix.lower()
    try:
        path.open("rb").close()
    except OSError as exc:
        raise InputFileError(path, f"无法打开文件：{exc.strerror or exc}") from exc
    if path.stat().st_size == 0:
        raise InputFileError(path, "文件是空的（0字节）")
    if suffix not in READABLE_SUFFIXES:
        raise InputFileError(path, f"不是可识别的表格文件（扩展名 {suffix or '无'}），请提供 .xlsx 或 .csv 文件")
    kind = sniff(path)
    if kind == "zip":
        if suffix in (".xlsx", ".xlsm", ".ods"):
            return _read_spreadsheet(path, suffix)
        as_what = ".ods" if _zip_is_ods(path) else ".xlsx"
        grids = _read_spreadsheet(path, as_what, from_bytes=True)
        word = "OpenDocument 表格（.ods）" if as_what == ".ods" else "Excel 工作簿（.xlsx）"
        for grid in grids:
            grid.warnings.append(f"扩展名是 {suffix}，但内容是 {word}，已按内容读取")
        return grids
    if kind == "ole":
        return _read_ole(path, suffix)
    if suffix in SPREADSHEET_SUFFIXES:
        if kind == "binary" or not _is_text(path):
            raise InputFileError(path, f"文件内容不是 Excel 工作簿（可能已损坏，或只是改了扩展名 {suffix}）")
        what = _text_kind(path)
        try:
            grid = _read_csv(path)
        except InputFileError as exc:
            raise InputFileError(path, f"不是 Excel 文件（{what}）：{exc.detail}") from None
        if not _has_known_header(grid):
            raise InputFileError(
                path, f"不是 Excel 文件（{what}）：扩展名是 {suffix}，文件里却是文本，其中也没有可识别的表头；"
                      "请向报送部门要原始的表格文件")
        grid.warnings.append(f"扩展名是 {suffix}，但内容是文本（CSV），已按 CSV 读取")
        return [grid]
    return [_read_csv(path)]


def _zip_is_ods(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.read("mimetype").startswith(b"application/vnd.oasis.opendocument.spreadsheet")
    except Exception:
        return False


def _read_ole(path: Path, suffix: str) -> list[Grid]:
    """An OLE2 compound file: an old-format .xls workbook, or an xlsx with an opening
    password (whatever the name says)."""
    if _ole_is_encrypted(path):
        raise InputFileError(path, "Excel 文件设置了打开密码（已加密），请去掉密码后重新导出")
    try:
        grids = _read_spreadsheet(path, ".xls", from_bytes=suffix != ".xls", wrap_errors=False)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            path,
            "这是旧版 Excel（.xls，97-2003 格式）文件，但无法读取（可能已损坏或设置了打开密码）；"
            "请用 Excel 打开后“另存为” .xlsx 格式再提供",
        ) from exc
    if suffix != ".xls":
        for grid in grids:
            grid.warnings.append(f"扩展名是 {suffix}，但内容是旧版 Excel（.xls）工作簿，已按内容读取；建议另存为 .xlsx")
    return grids


def _text_kind(path: Path) -> str:
    """What a text file named like a workbook holds, in words: a web page (a system's
    "Excel export" that is HTML), XML, or plain text."""
    head = path.open("rb").read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<table" in head:
        return "内容是网页（HTML）文本"
    if head.startswith(b"<?xml") or head.startswith(b"<"):
        return "内容是 XML 文本"
    return "内容是文本"


def _has_known_header(grid: Grid) -> bool:
    """Whether any feed's header is in the grid (a CSV named .xlsx is read as CSV only
    then: otherwise it is a text file that is no table at all)."""
    from rootdb.specs import load_specs

    specs = load_specs()
    for code in specs:
        try:
            recognise(grid.cells, specs, "", code, letters=grid.letters)
        except InputFileError:
            continue
        return True
    return False


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


def _read_spreadsheet(path: Path, suffix: str, from_bytes: bool = False, wrap_errors: bool = True) -> list[Grid]:
    loaded: list[tuple[str, pl.DataFrame, list[int]]] = []
    try:
        reader = fastexcel.read_excel(path.read_bytes() if from_bytes else path)
        sheets = reader.sheet_names
        if not sheets:
            raise InputFileError(path, "工作簿中没有工作表")
        for name in sheets:
            sheet = reader.load_sheet(name, header_row=None, skip_rows=0, dtypes="string")
            frame = sheet.to_polars()
            if frame.height and frame.width:
                loaded.append((name, frame, [c.absolute_index for c in sheet.selected_columns]))
        if not loaded:
            raise InputFileError(path, "工作簿中所有工作表都是空的")
    except InputFileError:
        raise
    except Exception as exc:  # calamine reports corrupt files in many ways
        if not wrap_errors:
            raise
        raise InputFileError(path, "Excel 文件已损坏或无法读取（内容不完整，或不是有效的 Excel 工作簿），请重新导出") from exc
    grids = []
    for name, frame, absolute in loaded:
        frame = frame.rename(dict(zip(frame.columns, _columns(frame.width))))
        # A date cell reads back as '1985-03-02 00:00:00': the time of a plain date is noise.
        frame = frame.with_columns(
            pl.col(c).str.replace(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$", "$1") for c in frame.columns
        )
        frame = frame.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))
        grid = Grid(cells=frame, sheet=name)
        by_absolute = {a: c for a, c in zip(absolute, _columns(frame.width))}
        grid.letters = {c: column_letter(a) for a, c in by_absolute.items()}
        if suffix in (".xlsx", ".xlsm"):
            try:
                long_cells, formulas = _scan_sheet_xml(path, name, _has_long_digit_cells(frame))
            except Exception:  # the XML scan is a check on top of calamine's read: never fatal
                long_cells, formulas = set(), {}
            grid.long_numbers = {(row, by_absolute[col]) for row, col in long_cells if col in by_absolute}
            grid.formula_cells = {
                (row, by_absolute[col]): f for (row, col), f in formulas.items() if col in by_absolute
            }
        grids.append(grid)
    return grids


def _has_long_digit_cells(frame: pl.DataFrame) -> bool:
    """Whether any cell reads like a long number Excel cut to 15 digits: only then is
    the sheet's XML worth scanning (IDs typed as text rarely look like that)."""
    cells = [c for c in frame.columns if c != "row_number"]
    return bool(frame.select(pl.any_horizontal(looks_like_excel_number(pl.col(c)) for c in cells).any()).item())


# A long number's value, then the cell it closes: a numeric cell (no type, or t="n" as
# LibreOffice writes; a string, boolean or error cell has another type), a formula's
# result too. Found by its value first: few values are that long, and every cell has a
# start. Excel writes 1.50602193812125E+17, LibreOffice E+017.
_LONG_NUMBER_VALUE = re.compile(rb'<v>(?:\d\.\d+[eE]\+?0?1[4-9]|\d{15,19}(?:\.0)?)</v>')
_CELL_START = re.compile(rb'<c\s([^>]*)>\s*(?:<f\b[^>]*/>|<f\b[^>]*>[^<]*</f>)?\s*')
_CELL_REF = re.compile(rb'(?:^|\s)r="([A-Z]+)(\d+)"')
_CELL_TYPE = re.compile(rb'(?:^|\s)t="([^"]*)"')
# How far before its value a cell starts at most (a formula has at most 8,192 characters):
# a value with no cell start that near is not looked at (and no scan goes back further).
_CELL_REACH = 20_000


def _long_number_cells(xml: bytes) -> Iterator[tuple[int, int]]:
    """(row number, 0-based column) of the numeric cells in `xml` holding a long number."""
    for value in _LONG_NUMBER_VALUE.finditer(xml):
        start = xml.rfind(b"<c", max(0, value.start() - _CELL_REACH), value.start())
        cell = _CELL_START.fullmatch(xml, start, value.start()) if start >= 0 else None
        if cell is None:
            continue
        kind, ref = _CELL_TYPE.search(cell.group(1)), _CELL_REF.search(cell.group(1))
        if ref is not None and (kind is None or kind.group(1) == b"n"):
            yield int(ref.group(2)), _column_number(ref.group(1))


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + (ch - 64)
    return number - 1


_FORMULA_CELL = re.compile(rb'<c r="([A-Z]+)(\d+)"[^>]*>\s*<f(?:\s[^>]*)?(?:/>|>([^<]*)</f>)\s*(?:<v>([^<]*)</v>|<v/>)?')


def _sheet_member(zf: zipfile.ZipFile, sheet_name: str) -> str:
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships"}
    book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    rid = next(s.get(f"{{{ns['r']}}}id") for s in book.iter(f"{{{ns['m']}}}sheet") if s.get("name") == sheet_name)
    target = next(r.get("Target") for r in rels if r.get("Id") == rid)
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _scan_sheet_xml(
    path: Path, sheet_name: str, long_numbers: bool
) -> tuple[set[tuple[int, int]], dict[tuple[int, int], str]]:
    """From the sheet's XML: (row number, 0-based column) of numeric cells holding 15+
    digit numbers (only when `long_numbers`: the text reader cannot tell "150602…" typed
    as text from the same digits stored as a number, whose last digits Excel has already
    dropped), and of formula cells saved without a result (they read as empty), with
    their formula."""
    longs: set[tuple[int, int]] = set()
    formulas: dict[tuple[int, int], str] = {}

    def scan(xml: bytes) -> None:
        if long_numbers:
            longs.update(_long_number_cells(xml))
        if b"<f" in xml:
            for col, row, formula, value in _FORMULA_CELL.findall(xml):
                if not value:
                    formulas[(int(row), _column_number(col))] = "=" + formula.decode("utf-8", "replace")

    # Streamed: a city's sheet XML runs to hundreds of MB. A cell never spans a "<c "
    # boundary, so each chunk is scanned up to its last cell start.
    with zipfile.ZipFile(path) as zf, zf.open(_sheet_member(zf, sheet_name)) as fh:
        carry = b""
        for chunk in iter(lambda: fh.read(16 << 20), b""):
            carry += chunk
            cut = carry.rfind(b"<c ")
            if cut <= 0:
                continue
            scan(carry[:cut])
            carry = carry[cut:]
        scan(carry)
    return longs, formulas


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_csv_bytes(path: Path, data: bytes) -> tuple[str, str]:
    text, encoding = _decode_text(path, data)
    # Bytes that decode but are mostly control characters are not a table. A few (a NUL
    # deep in a file) are flagged in the rows that hold them.
    sample = text[:4096]
    controls = len(_CONTROLS.findall(sample))
    if controls > max(2, len(sample) // 20):
        raise InputFileError(path, "文件内容是二进制数据，不是文本表格（CSV）")
    return text, encoding


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _decode_text(path: Path, data: bytes) -> tuple[str, str]:
    """The text of a CSV and its encoding, judged on the whole file: UTF-16 with a byte
    order mark; else UTF-8 (with or without BOM) when every byte decodes as UTF-8; else
    GB18030 when every byte decodes as that. A file that is mostly valid UTF-8 with a
    few bad bytes is a damaged UTF-8 file, not GB18030 (whose text decodes as UTF-8
    only here and there: 学 is D1 A7 in both): its line is named.
    """
    if data.startswith(_UTF16_BOMS):
        encoding = "utf-16-le" if data.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        try:
            return data[2:].decode(encoding), "utf-16"
        except UnicodeDecodeError as exc:
            raise InputFileError(
                path, f"文件是 UTF-16 编码，但第{exc.start + 2}字节起内容不完整或已损坏，请重新导出"
            ) from exc
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[3:] if bom else data
    try:
        return body.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    loose = body.decode("utf-8", "replace")
    bad = loose.count("\ufffd")
    good = len(loose) - len(loose.encode("ascii", "ignore")) - bad  # valid non-ASCII characters
    if bom or good >= 4 * bad:
        line = _line_of(body, utf8_error.start)
        if b"\x00" in body and bad > 16:
            raise InputFileError(path, "文件内容是二进制数据，不是文本表格（CSV）")
        raise InputFileError(
            path,
            f"按 UTF-8 编码读取时，第{line}行（第{utf8_error.start + 1 + (3 if bom else 0)}字节）有无法识别的字节，"
            "文件可能已损坏；请重新导出",
            row=line,
        ) from utf8_error
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        if b"\x00" in data[:4096]:
            raise InputFileError(path, "文件内容是二进制数据，不是文本表格（CSV）") from exc
        raise InputFileError(
            path,
            f"文件编码无法识别：既不是 UTF-8 也不是 GB18030（第{_line_of(data, exc.start)}行第{exc.start + 1}字节起无法解码）；"
            "请另存为 UTF-8 编码的 CSV",
            row=_line_of(data, exc.start),
        ) from exc


# A private-use character stands in for the quotes of a row that cannot be split
# reliably, so that the rest of the file parses; the quotes are put back after.
_QUOTE_STAND_IN = "\ue000"


def _csv_field(delimiter: str) -> str:
    d = re.escape(delimiter)
    return f'(?:[^"{d}\\r\\n]*|"(?:[^"]|"")*")'


def _lines(text: str, data: bytes) -> pl.Series:
    """The file's lines, read by polars' CSV reader as one column (fast on big files);
    Python's split where the unit separator it splits on occurs in the text."""
    if "\x1f" not in text:
        try:
            lines = pl.read_csv(data, has_header=False, separator="\x1f", quote_char=None,
                                schema={"line": pl.String})["line"].fill_null("")
            return lines
        except Exception:
            pass
    return pl.Series("line", text.split("\n"), dtype=pl.String)


def _analyse_lines(text: str, data: bytes, delimiter: str) -> tuple[str, dict[int, str], int]:
    """Find the rows whose quotes do not pair up (a stray `"`): those rows, by row
    number, and the text with their quotes stood in for, so that they split at every
    delimiter and the rest of the file parses as it should. Also the widest row's
    number of fields, over the whole file. Vectorised over the lines; Python looks only
    at the few lines whose quotes are odd."""
    series = _lines(text, data)
    d = re.escape(delimiter)
    field_re = _csv_field(delimiter)
    line_re = f"^{field_re}(?:{d}{field_re})*\\r?$"
    has_quote = series.str.contains('"', literal=True)
    plain_width = series.filter(~has_quote).str.count_matches(delimiter, literal=True).max() or 0
    if not has_quote.any():
        return text, {}, int(plain_width) + 1
    quoted = series.filter(has_quote)
    quoted_width = quoted.str.replace_all(r'"(?:[^"]|"")*"', "").str.count_matches(delimiter, literal=True).max() or 0
    widths = max(int(plain_width), int(quoted_width)) + 1
    if quoted.str.contains(line_re).all():
        return text, {}, widths
    # Some line's quotes do not pair up: look at the lines one by one (indices as Python
    # splits them).
    lines = text.split("\n")
    series = pl.Series("line", lines, dtype=pl.String)
    ok = ~series.str.contains('"', literal=True) | series.str.contains(line_re)
    suspects = pl.arg_where(~ok, eager=True).to_list()
    record = re.compile(f"{field_re}(?:{d}{field_re})*\\r?", re.S)
    continuation: list[int] = []
    bad: list[int] = []
    k = 0
    while k < len(suspects):
        a = suspects[k]
        # A quoted field holding line breaks: its first and last lines are odd, the lines
        # between hold no quote, and together they make one well-formed row.
        if k + 1 < len(suspects) and suspects[k + 1] - a <= 50:
            b = suspects[k + 1]
            if record.fullmatch("\n".join(lines[a:b + 1])):
                continuation.extend(range(a + 1, b + 1))
                k += 2
                continue
        bad.append(a)
        k += 1
    rows: dict[int, str] = {}
    for a in bad:
        row = a + 1 - bisect.bisect_left(continuation, a)
        rows[row] = (
            f"第{row}行的英文引号（\"）不成对，无法可靠地分列：整行已隔离（各列按逗号原样拆分保存），"
            "请核对这一行后重新提供"
        ).replace("逗号", "分隔符" if delimiter != "," else "逗号")
        lines[a] = lines[a].replace('"', _QUOTE_STAND_IN)
    return "\n".join(lines), rows, int(widths)


def _read_csv(path: Path) -> Grid:
    text, encoding = decode_csv_bytes(path, path.read_bytes())
    if not text.strip():
        raise InputFileError(path, "文件中没有任何内容")
    delimiter = _sniff_delimiter(text)
    # Width: the widest row anywhere in the file (title rows have fewer fields than the
    # table; a row with more fields than the header must not lose them).
    data = text.encode("utf-8")
    text, bad_rows, width = _analyse_lines(text, data, delimiter)
    if bad_rows:
        data = text.encode("utf-8")
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            schema={c: pl.String for c in _columns(width)},
            missing_columns="insert",
            separator=delimiter,
            truncate_ragged_lines=True,
        )
    except Exception as exc:
        raise InputFileError(path, "CSV 文件格式错误，无法拆分成行和列；请用 Excel 打开检查后另存为 CSV") from exc
    if bad_rows:
        frame = frame.with_columns(pl.col(c).str.replace_all(_QUOTE_STAND_IN, '"', literal=True) for c in frame.columns)
    frame = frame.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))
    return Grid(cells=frame, encoding=encoding, bad_rows=bad_rows)


def _sniff_delimiter(text: str) -> str:
    sample = text[:20000]
    counts = {d: sample.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","
