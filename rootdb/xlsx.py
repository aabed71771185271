"""Writing workbooks safely: every text cell is written as text (a value starting
with = + - @ never becomes a formula), widths fit Chinese text, header frozen. Every
sheet meant for people begins with one heading (`write_heading`: the title, then a line
of what it holds); `read_table` reads such a sheet's table back, heading or not."""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import xlsxwriter
from isal import isal_zlib
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

# in_memory: xlsxwriter otherwise writes every part of a workbook as a plain temporary
# file in the system temp folder (tempfile.mkstemp) before zipping it; with ROOTDB_KEY
# nothing personal may be written outside the encrypted database and the file asked
# for, and the parts are small anyway (large tables are spliced in by `_splice_rows`,
# which streams into a file beside the workbook, never into the temp folder). Kept on
# without a key too: the same code path everywhere, and the largest sample report
# (R09, 140 KB; R19, R36) peaks at the same memory either way (about 230 MB).
WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
                    "in_memory": True}


def display_width(text: str) -> int:
    """Columns a text needs: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def max_display_width(values: pl.Series) -> int:
    """The widest of a text column's values; Python only for the few that may be it."""
    values = values.drop_nulls().unique()
    narrow = values.str.contains(r"^[\x20-\x7e]*$")
    best = values.filter(narrow).str.len_chars().max() or 0
    rest = values.filter(~narrow)
    for text in rest.gather(rest.str.len_chars().arg_sort(descending=True)).to_list():
        if 2 * len(text) <= best:
            break  # no shorter text can be wider
        best = max(best, display_width(text))
    return best


def require_xlsx(path) -> None:
    from rootdb.errors import UsageError

    if Path(path).suffix.lower() != ".xlsx":
        raise UsageError(f"{Path(path).name}：这里导出的是 Excel 工作簿，请用 .xlsx 作为文件名后缀")


def new_workbook(path) -> Workbook:
    from rootdb.outpaths import output_file

    output_file(path, "导出.xlsx")  # not an existing folder
    require_xlsx(path)
    workbook = Workbook(str(path), WORKBOOK_OPTIONS)
    workbook.set_properties({"created": dt.datetime(2000, 1, 1)})  # same content → same bytes
    return workbook


@dataclass(frozen=True)
class _Rows:
    sheet_index: int
    first_row: int  # 0-based, as xlsxwriter counts
    cells: pl.DataFrame  # String or numeric columns, as excel_cells gives them


class Workbook(xlsxwriter.Workbook):
    """An xlsxwriter workbook whose large tables are written by polars.

    xlsxwriter spends several microseconds of Python on every cell; a city's rosters
    hold millions. `write_rows` lets xlsxwriter write the first row of a table only, as
    styled placeholders, and on `close` that row is replaced in the worksheet's XML by
    every row of the table, built column by column in polars with the placeholders'
    styles (so everything else on the sheet stays xlsxwriter's)."""

    def __init__(self, filename, options=None):
        from rootdb.outpaths import partial_name

        self.target = Path(filename)  # written whole on close, or not at all (`outpaths.written_whole`)
        super().__init__(str(partial_name(self.target)), options)
        self._rows: list[_Rows] = []

    def write_rows(self, sheet: Worksheet, first_row: int, cells: pl.DataFrame, styles: list) -> None:
        """The rows of `cells` (see excel_cells) from `first_row` on, column k in style k;
        a usage error, before anything is written, when they go past a sheet's last row."""
        if cells.height == 0:
            return
        self.require_fits(first_row, cells.height)
        for col, style in enumerate(styles):
            sheet.write_number(first_row, col, 0, style)  # a placeholder, replaced on close
        self._rows.append(_Rows(sheet.index, first_row, cells))

    def require_fits(self, first_row: int, rows: int) -> None:
        """A usage error when `rows` rows from `first_row` on go past a sheet's last row."""
        if first_row + rows > EXCEL_MAX_ROWS:
            from rootdb.errors import UsageError

            raise UsageError(f"{self.target.name}：共 {rows:,} 行，超过 Excel 一个工作表能放的 "
                             f"{EXCEL_MAX_ROWS:,} 行；请缩小范围（如按社区、网格），或导出为 .csv 文件")

    def close(self) -> None:
        from rootdb.outpaths import written_whole

        if self.fileclosed:  # closed already: in place, nothing more to do
            return
        with written_whole(self.target) as partial:
            try:
                super().close()  # into `partial`, the name it was made with
                if self._rows:
                    _splice_rows(partial, self._rows)
            finally:
                self._rows = []


EXCEL_EPOCH = dt.date(1899, 12, 30)
EXCEL_MAX_ROWS = 1_048_576  # the rows of one sheet, heading and header included


def excel_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame's values as worksheet cells hold them: yes/no as 是/否, dates as Excel
    day numbers (shown by a date style), lists joined with 、, numbers as numbers and
    everything else as text."""
    exprs = []
    for name, dtype in frame.schema.items():
        value = pl.col(name)
        if dtype == pl.Boolean:
            value = pl.when(value).then(pl.lit("是")).when(~value).then(pl.lit("否"))
        elif dtype == pl.Date:
            value = (value - pl.lit(EXCEL_EPOCH)).dt.total_days()
        elif isinstance(dtype, pl.Datetime):
            value = (value.cast(pl.Datetime("us")) - pl.lit(dt.datetime(1899, 12, 30))).dt.total_microseconds() / 86_400e6
        elif isinstance(dtype, pl.List):
            value = value.cast(pl.List(pl.String)).list.join("、")
        elif not dtype.is_numeric():
            value = value.cast(pl.String)
        exprs.append(value.alias(name))
    return frame.select(exprs)


_ROWS_PER_CHUNK = 20_000
_MAX_TEXT = 32_767  # Excel's limit for one cell
# What XML 1.0 cannot hold, and text Excel would read as an escape: written as _xHHHH_.
_NEEDS_ESCAPE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_"
_CELL_STYLE = re.compile(r'<c r="([A-Z]+)\d+"(?: s="(\d+)")?')
# A large sheet is deflated by ISA-L (isal) at its level 1: a city's 290 MB roster in
# 0.16 s, 22 MB, where zlib takes 0.64 s at its level 1 (23 MB) and 1.6 s at its default.
_COMPRESS_LEVEL = 1


def _escape_rare(text: str) -> str:
    text = re.sub(r"_x[0-9A-Fa-f]{4}_", lambda m: "_x005F" + m.group(0), text)
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", lambda m: f"_x{ord(m.group(0)):04X}_", text)


def _cell_xml(cells: pl.DataFrame, col: int, style: str | None) -> pl.Expr:
    """One column's <c> elements, in column order (a cell's reference is optional in
    the format; every cell is written, an empty one too, so positions hold). Each step
    a column needs only for some values (escaping, nulls) is taken only if it has any."""
    name, dtype = cells.columns[col], cells.dtypes[col]
    column = cells.get_column(name)
    head = f'<c s="{style}"' if style else "<c"
    value = pl.col(name)
    if dtype.is_numeric():
        if dtype.is_float() and not column.is_finite().all():
            value = pl.when(value.is_finite()).then(value)
        blank = value.is_null() if column.null_count() or dtype.is_float() else None
        xml = pl.concat_str(pl.lit(head + "><v>"), value.cast(pl.String), pl.lit("</v></c>"))
    else:
        text = value.cast(pl.String)
        column = column.cast(pl.String)
        if column.str.contains(_NEEDS_ESCAPE).any():  # rare: Python per distinct value
            text = text.replace_strict({v: _escape_rare(v) for v in column.drop_nulls().unique().to_list()},
                                       default=text)
        if (column.str.len_chars().max() or 0) > _MAX_TEXT:
            text = text.str.slice(0, _MAX_TEXT)
        if column.str.contains(r"[&<>]").any():
            text = (text.str.replace_all("&", "&amp;", literal=True).str.replace_all("<", "&lt;", literal=True)
                    .str.replace_all(">", "&gt;", literal=True))
        start = pl.lit(head + ' t="inlineStr"><is><t>')
        if column.str.contains(r"^\s|\s$").any():  # kept only if marked
            start = pl.when(text.str.contains(r"^\s|\s$")).then(
                pl.lit(head + ' t="inlineStr"><is><t xml:space="preserve">')).otherwise(start)
        blank = text.is_null() | (text == "") if column.null_count() or (column == "").any() else None
        xml = pl.concat_str(start, text, pl.lit("</t></is></c>"))
    return xml if blank is None else pl.when(blank).then(pl.lit(head + "/>")).otherwise(xml)


def _rows_xml(rows: _Rows, styles: list[str | None]):
    """The table's <row> elements as UTF-8, a chunk of rows at a time: the bytes of
    the chunk's row strings as Arrow holds them, one after another."""
    cells = rows.cells
    row_xml = pl.concat_str(pl.lit('<row r="'), pl.col("__r"), pl.lit('">'),
                            *[_cell_xml(cells, k, styles[k]) for k in range(cells.width)], pl.lit("</row>"))
    for offset in range(0, cells.height, _ROWS_PER_CHUNK):
        chunk = cells.slice(offset, _ROWS_PER_CHUNK)
        first = rows.first_row + 1 + offset
        numbered = chunk.with_columns(pl.int_range(first, first + chunk.height).cast(pl.String).alias("__r"))
        strings = numbered.select(row_xml).to_series().to_arrow(compat_level=pl.CompatLevel.oldest())
        _, offsets, data = strings.buffers()  # large_string: int64 offsets, then the bytes
        ends = memoryview(offsets).cast("q")
        yield memoryview(data)[ends[strings.offset]:ends[strings.offset + len(strings)]]


def _widen_dimension(xml: str, tables: list[_Rows]) -> str:
    """The sheet's used range, which readers such as openpyxl trust, down to the last
    row of its tables (xlsxwriter saw only their first rows)."""
    last_row = max(t.first_row + t.cells.height for t in tables)
    last_col = xl_col_to_name(max(t.cells.width for t in tables) - 1)

    def widen(match: re.Match) -> str:
        first, _, last = match.group(1).partition(":")
        col, row = re.fullmatch(r"([A-Z]+)(\d+)", last or first).groups()
        col = max(col, last_col, key=lambda c: (len(c), c))
        return f'<dimension ref="{first}:{col}{max(int(row), last_row)}"/>'

    return re.sub(r'<dimension ref="([A-Z0-9:]+)"/>', widen, xml, count=1)


def _deflate_with_isal(entry) -> None:
    """The zip entry `entry`, just opened for writing, deflated by ISA-L: a raw deflate
    stream as zlib's, made faster. zipfile has no way to choose the deflater but its
    writer's `_compressor`; should a Python rename it, zlib deflates at the same level."""
    if getattr(entry, "_compressor", None) is not None and entry._file_size == 0:
        entry._compressor = isal_zlib.compressobj(_COMPRESS_LEVEL, isal_zlib.DEFLATED, -isal_zlib.MAX_WBITS)


def _splice_rows(path: Path, pending: list[_Rows]) -> None:
    """Rewrite the workbook with each placeholder row replaced by its table's rows."""
    by_sheet: dict[str, list[_Rows]] = {}
    for rows in pending:
        by_sheet.setdefault(f"xl/worksheets/sheet{rows.sheet_index + 1}.xml", []).append(rows)
    temp = path.with_name(f"{path.name}.rows")
    try:
        _splice_into(path, temp, by_sheet)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _splice_into(path: Path, temp: Path, by_sheet: dict[str, list[_Rows]]) -> None:
    """`path`'s entries into the zip `temp`, the sheets of `by_sheet` with their rows."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename not in by_sheet:
                dst.writestr(info, data)
                continue
            xml = _widen_dimension(data.decode("utf-8"), by_sheet[info.filename])
            info._compresslevel = _COMPRESS_LEVEL  # zlib's, should isal not take over; compress_level from 3.13
            with dst.open(info, "w", force_zip64=True) as out:
                _deflate_with_isal(out)
                position = 0
                for rows in sorted(by_sheet[info.filename], key=lambda r: r.first_row):
                    start = xml.index(f'<row r="{rows.first_row + 1}"', position)
                    end = xml.index("</row>", start) + len("</row>")
                    styles = dict(_CELL_STYLE.findall(xml[start:end]))
                    out.write(xml[position:start].encode("utf-8"))
                    for chunk in _rows_xml(rows, [styles.get(xl_col_to_name(k)) for k in range(rows.cells.width)]):
                        out.write(chunk)
                    position = end
                out.write(xml[position:].encode("utf-8"))


HEADING_ROWS = 2  # the heading's rows: a table under it starts on this row (0-based)
HEADER_SEARCH_ROWS = 30  # read_table looks for a table's header among the first rows


def date_words(day: dt.date) -> str:
    """2026年11月2日, as a heading writes a date."""
    return f"{day.year}年{day.month}月{day.day}日"


def masking_words(masked: bool, birth_dates: bool = True) -> str:
    """What a heading says of the IDs, phones and birth dates a sheet shows: masked, a
    birth date keeps its year only (`rootdb.privacy.mask_birth_date`); `birth_dates`:
    whether the sheet shows any."""
    if not masked:
        return "含完整身份证号和电话，请妥善保管"
    return "身份证号、联系电话已脱敏" + ("，出生日期只显示年份" if birth_dates else "")


def write_heading(workbook: Workbook, sheet: Worksheet, columns: int, title: str, detail: str,
                  unit: str | None = None) -> int:
    """The one way a sheet for people begins: its title, centred over its `columns`, then
    one line saying what it holds (the date, the conditions, the counts). With `unit` (a
    report's 填报单位) that line is split as a department's report has it: the unit over
    the left half, `detail` right-aligned over the right half. Returns the row (0-based)
    the table starts on."""
    base = {"font_name": "宋体", "font_size": 10, "valign": "vcenter"}
    sheet.set_row(0, 30)
    _merged(sheet, 0, 0, columns - 1, title,
            workbook.add_format({**base, "bold": True, "font_size": 16, "align": "center"}))
    left = workbook.add_format({**base, "align": "left"})
    if unit is None:
        # Not merged: a long line runs on over the empty cells beside it instead of being cut.
        sheet.write_string(1, 0, detail, left)
    else:
        half = max(1, columns // 2)
        _merged(sheet, 1, 0, half - 1, f"填报单位：{unit}", left)
        _merged(sheet, 1, half, columns - 1, detail, workbook.add_format({**base, "align": "right"}))
    return HEADING_ROWS


def write_sheet(workbook: Workbook, name: str, frame: pl.DataFrame, title: str, *detail: str) -> Worksheet:
    """A sheet named `name`: the heading (`detail`'s parts on one line), then the frame."""
    sheet = workbook.add_worksheet(name)
    first_row = write_heading(workbook, sheet, frame.width, title, "　　".join(detail))
    write_frame(workbook, sheet, frame, first_row=first_row)
    return sheet


def read_table(path, name: str, first_header: str, row_numbers: str | None = None) -> pl.DataFrame:
    """The table of sheet `name`, every cell as text: its header is the row (among the
    first HEADER_SEARCH_ROWS) whose first cell is `first_header`, so a sheet under a
    heading, a bare one (written before the heading) and one with an officer's notes added
    above the header read alike; the first row when none is.

    With `row_numbers`, a column of that name holds each row's number as Excel shows it
    (so that a message can name the row an officer is to look at)."""
    import fastexcel

    reader = fastexcel.read_excel(path)
    top = reader.load_sheet(name, header_row=None, n_rows=HEADER_SEARCH_ROWS, dtypes="string").to_polars()
    firsts = [str(v).strip() if v is not None else None for v in top.get_column(top.columns[0]).to_list()] \
        if top.width else []
    # Read without a header, the rows count from the sheet's first used row; fastexcel's
    # header_row counts from row 1 (the sheet's top).
    header_row = _first_used_row(path, name) + (firsts.index(first_header) if first_header in firsts else 0)
    table = reader.load_sheet(name, header_row=header_row, dtypes="string").to_polars()
    if row_numbers is not None:
        first = header_row + 2
        table = table.with_columns(pl.int_range(first, first + table.height, dtype=pl.Int64).alias(row_numbers))
    return table


def _first_used_row(path, name: str) -> int:
    """How many rows above sheet `name`'s first row with a value (0 when it is row 1): the
    table fastexcel reads starts there. Read from the workbook's XML, streamed and stopped
    at that row; 0 when the file does not say (only the row numbers in messages depend on it)."""
    import posixpath
    import zipfile
    from xml.etree import ElementTree

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    try:
        with zipfile.ZipFile(path) as book:
            sheets = ElementTree.fromstring(book.read("xl/workbook.xml")).iter(f"{main}sheet")
            rid = next(s.get(rel) for s in sheets if s.get("name") == name)
            rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
            target = next(r.get("Target") for r in rels if r.get("Id") == rid)
            member = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
            with book.open(member) as xml:
                for _, element in ElementTree.iterparse(xml):
                    if element.tag == f"{main}row":
                        if any(c.find(f"{main}v") is not None or c.find(f"{main}is") is not None
                               for c in element.iter(f"{main}c")):
                            return int(element.get("r")) - 1
                        element.clear()
    except Exception:  # noqa: BLE001
        return 0
    return 0


def _merged(sheet: Worksheet, row: int, first: int, last: int, text: str, style) -> None:
    if last > first:
        sheet.merge_range(row, first, row, last, text, style)
    else:
        sheet.write_string(row, first, text, style)


def write_frame(workbook: Workbook, sheet: Worksheet, frame: pl.DataFrame, first_row: int = 0) -> None:
    """A header row and the frame's rows, text as text, dates as dates."""
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                  "align": "center", "valign": "vcenter", "font_name": "宋体"})
    body = workbook.add_format({"font_name": "宋体", "border": 1})
    date = workbook.add_format({"font_name": "宋体", "border": 1, "num_format": "yyyy-mm-dd"})
    workbook.require_fits(first_row + 1, frame.height)  # before the cells are made
    for col, name in enumerate(frame.columns):
        sheet.write_string(first_row, col, name, header)
    cells = excel_cells(frame)
    workbook.write_rows(sheet, first_row + 1, cells,
                        [date if dtype in (pl.Date, pl.Datetime) else body for dtype in frame.dtypes])
    widths = [max(display_width(name), max_display_width(cells.get_column(name)) if dtype == pl.String else 0)
              for name, dtype in cells.schema.items()]
    for c, width in enumerate(widths):
        sheet.set_column(c, c, min(max(width + 2, 6), 60))
    sheet.freeze_panes(first_row + 1, 0)
    # Printed: A4 landscape, as wide as the page, the header row on every page.
    sheet.set_paper(9)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(first_row)
