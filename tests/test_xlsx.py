"""The workbook writer: tables written by polars as worksheet XML, read back by two
readers (openpyxl and calamine through polars) cell by cell."""

from __future__ import annotations

import datetime as dt

import openpyxl
import polars as pl
import pytest

from rootdb.xlsx import (date_words, excel_cells, max_display_width, new_workbook, read_table, write_frame,
                         write_heading, write_sheet)

TRICKY = [
    "=1+1",  # a formula to a naive writer
    "+86 138",
    "-5",
    "@home",
    "a & b < c > d",
    "  leading and trailing  ",
    "tab\there",
    "bell\x07and\x1fend",  # not allowed in XML: kept as Excel's _xHHHH_ escape
    "_x0041_ literal",  # must not turn into "A literal"
    "张三",
    "",
    None,
]


def _read_openpyxl(path, first_row: int) -> list[tuple]:
    sheet = openpyxl.load_workbook(path).active
    return [row for row in sheet.iter_rows(min_row=first_row, values_only=True)]


def test_text_cells_come_back_exactly_and_never_as_formulas(tmp_path):
    path = tmp_path / "t.xlsx"
    frame = pl.DataFrame({"text": TRICKY, "n": list(range(len(TRICKY)))})
    workbook = new_workbook(path)
    write_frame(workbook, workbook.add_worksheet("s"), frame)
    workbook.close()
    # calamine (polars) reads Excel's _xHHHH_ escapes back as Excel does; an empty
    # text is an empty cell.
    assert pl.read_excel(path).get_column("text").to_list() == [t or None for t in TRICKY]
    sheet = openpyxl.load_workbook(path).active
    assert [sheet.cell(row=r, column=1).data_type for r in range(2, 12)] == ["s"] * 10
    assert [sheet.cell(row=r, column=2).value for r in range(2, len(TRICKY) + 2)] == list(range(len(TRICKY)))


def test_types_nulls_and_special_numbers(tmp_path):
    path = tmp_path / "t.xlsx"
    frame = pl.DataFrame({
        "int": [1, None, -3],
        "float": [1.5, float("nan"), float("inf")],
        "date": [dt.date(2026, 11, 1), None, dt.date(1950, 2, 28)],
        "flag": [True, False, None],
        "groups": [["低保", "特困"], [], None],
        "big": [10**15, 0, 2**53],
    })
    workbook = new_workbook(path)
    write_frame(workbook, workbook.add_worksheet("s"), frame)
    workbook.close()
    rows = _read_openpyxl(path, 2)
    assert [r[0] for r in rows] == [1, None, -3]
    assert rows[0][1] == 1.5 and rows[1][1] is None and rows[2][1] is None  # NaN, inf: blank
    assert [r[2] for r in rows] == [dt.datetime(2026, 11, 1), None, dt.datetime(1950, 2, 28)]
    assert [r[3] for r in rows] == ["是", "否", None]
    assert [r[4] for r in rows] == ["低保、特困", None, None]  # an empty list: an empty cell
    assert [r[5] for r in rows] == [10**15, 0, 2**53]
    sheet = openpyxl.load_workbook(path).active
    assert sheet["C2"].number_format == "yyyy-mm-dd"


def test_many_rows_in_chunks_two_tables_and_two_sheets(tmp_path):
    """Row numbers run on across chunks; a second table below the first and a second
    sheet each get their own rows; what xlsxwriter wrote around them stays."""
    path = tmp_path / "t.xlsx"
    n = 45_001  # more than two chunks
    big = pl.DataFrame({"k": range(n), "name": [f"名{i}" for i in range(n)]})
    workbook = new_workbook(path)
    first = workbook.add_worksheet("一")
    first.write_string(0, 0, "标题")
    workbook.write_rows(first, 1, excel_cells(big), [None, None])
    first.write_string(n + 2, 0, "中间")
    workbook.write_rows(first, n + 3, excel_cells(big.head(3)), [None, None])
    first.write_string(n + 6, 0, "结尾")
    second = workbook.add_worksheet("二")
    write_frame(workbook, second, big.head(10))
    workbook.close()
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book["一"].iter_rows(values_only=True))
    assert rows[0][0] == "标题"
    assert [r[0] for r in rows[1:n + 1]] == list(range(n))
    assert rows[n][1] == f"名{n - 1}"
    assert all(v is None for v in rows[n + 1])
    assert rows[n + 2][0] == "中间"
    assert [r[1] for r in rows[n + 3:n + 6]] == ["名0", "名1", "名2"]
    assert rows[n + 6][0] == "结尾"
    assert [r[0] for r in book["二"].iter_rows(min_row=2, values_only=True)] == list(range(10))
    assert pl.read_excel(path, sheet_name="二").height == 10


def test_a_large_sheet_is_deflated_by_isal_and_every_entry_checks(tmp_path):
    """The spliced sheet is deflated by ISA-L (faster than zlib, as small): zipfile checks
    every entry's CRC, the sheet inflates to its rows, and its stream is not zlib's (whose
    bytes do not depend on how the text was cut into writes; ISA-L's do, so they are not
    compared with a stream made here)."""
    import zipfile
    import zlib

    path = tmp_path / "t.xlsx"
    n = 200_001
    workbook = new_workbook(path)
    write_frame(workbook, workbook.add_worksheet("s"), pl.DataFrame({"k": range(n), "v": [f"值{i}" for i in range(n)]}))
    workbook.close()
    with zipfile.ZipFile(path) as book:
        assert book.testzip() is None
        info = book.getinfo("xl/worksheets/sheet1.xml")
        xml = book.read(info)
        with open(path, "rb") as raw:  # the entry's deflated bytes, after its local header
            raw.seek(info.header_offset)
            header = raw.read(30)
            raw.seek(info.header_offset + 30 + int.from_bytes(header[26:28], "little")
                     + int.from_bytes(header[28:30], "little"))
            deflated = raw.read(info.compress_size)
    assert xml.count(b"<row ") == n + 1 and zlib.decompress(deflated, -15) == xml
    for level in (1, 6):  # what rootdb wrote before, and zipfile's default
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        assert deflated != packer.compress(xml) + packer.flush()
    assert len(deflated) < len(xml) / 5


def test_isal_takes_over_this_pythons_zip_writer(tmp_path):
    """The hook `_deflate_with_isal` finds zipfile's deflater where it looks for it (a
    Python that renames it fails here, not silently slower)."""
    import zipfile

    from isal import isal_zlib

    from rootdb.xlsx import _deflate_with_isal

    with zipfile.ZipFile(tmp_path / "t.zip", "w", zipfile.ZIP_DEFLATED) as book:
        with book.open("a.xml", "w") as entry:
            _deflate_with_isal(entry)
            assert type(entry._compressor) is type(isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15))
            entry.write(b"<a/>" * 1000)
    with zipfile.ZipFile(tmp_path / "t.zip") as book:
        assert book.read("a.xml") == b"<a/>" * 1000


def test_same_content_same_bytes(tmp_path):
    frame = pl.DataFrame({"a": ["x", "y"], "b": [1.25, None]})
    for name in ("1.xlsx", "2.xlsx"):
        workbook = new_workbook(tmp_path / name)
        write_frame(workbook, workbook.add_worksheet("s"), frame)
        workbook.close()
    assert (tmp_path / "1.xlsx").read_bytes() == (tmp_path / "2.xlsx").read_bytes()


@pytest.mark.parametrize("values, width", [
    (["abc", "张三", None], 4),
    (["a" * 9, "张三丰"], 9),
    (["幸福小区2号楼", "x"], 13),
    ([None], 0),
])
def test_max_display_width(values, width):
    assert max_display_width(pl.Series(values, dtype=pl.String)) == width


def test_text_longer_than_excel_allows_is_cut_at_its_limit(tmp_path):
    path = tmp_path / "t.xlsx"
    workbook = new_workbook(path)
    write_frame(workbook, workbook.add_worksheet("s"), pl.DataFrame({"t": ["长" * 40_000]}))
    workbook.close()
    assert len(_read_openpyxl(path, 2)[0][0]) == 32_767


def test_a_sheet_begins_with_the_heading_and_its_table_below(tmp_path):
    path = tmp_path / "h.xlsx"
    frame = pl.DataFrame({"序号": [1, 2], "姓名": ["张三", "李四"], "住址": ["幸福小区1号楼1单元101室", None]})
    workbook = new_workbook(path)
    write_sheet(workbook, "名单", frame, "人员名单", f"统计日期：{date_words(dt.date(2026, 11, 2))}", "共 2 人")
    workbook.close()
    sheet = openpyxl.load_workbook(path)["名单"]
    assert [str(r) for r in sheet.merged_cells.ranges] == ["A1:C1"]  # the title over the table's columns
    assert sheet["A1"].value == "人员名单" and sheet["A1"].alignment.horizontal == "center"
    assert sheet["A2"].value == "统计日期：2026年11月2日　　共 2 人" and sheet["B2"].value is None
    assert [c.value for c in sheet[3]] == ["序号", "姓名", "住址"]  # the header on row 3
    assert [c.value for c in sheet[4]] == [1, "张三", "幸福小区1号楼1单元101室"]
    assert sheet.freeze_panes == "A4" and sheet.print_title_rows == "$3:$3"
    # widths fit the table's columns, not the long line above it
    assert sheet.column_dimensions["A"].width < 10 < sheet.column_dimensions["C"].width
    assert read_table(path, "名单", "序号").rows() == [("1", "张三", "幸福小区1号楼1单元101室"), ("2", "李四", None)]


def test_a_reports_heading_splits_its_line_between_the_unit_and_the_date(tmp_path):
    path = tmp_path / "r.xlsx"
    workbook = new_workbook(path)
    sheet = workbook.add_worksheet("R01")
    assert write_heading(workbook, sheet, 5, "低保对象花名册", "统计日期：2026年11月1日", unit="交通街道") == 2
    workbook.close()
    sheet = openpyxl.load_workbook(path)["R01"]
    assert sorted(str(r) for r in sheet.merged_cells.ranges) == ["A1:E1", "A2:B2", "C2:E2"]
    assert (sheet["A2"].value, sheet["C2"].value) == ("填报单位：交通街道", "统计日期：2026年11月1日")
    assert sheet["C2"].alignment.horizontal == "right"


def test_a_bare_table_reads_back_from_its_first_row(tmp_path):
    path = tmp_path / "bare.xlsx"
    workbook = new_workbook(path)
    write_frame(workbook, workbook.add_worksheet("s"), pl.DataFrame({"编号": [7], "判定": ["是"]}))
    workbook.close()
    assert read_table(path, "s", "编号").rows() == [("7", "是")]


def test_a_header_below_notes_is_found_and_rows_are_numbered_as_excel_shows_them(tmp_path):
    """Notes an officer added above the header (8 rows, some blank) do not hide it; the row
    numbers count from row 1, blank rows on top included."""
    path = tmp_path / "notes.xlsx"
    workbook = new_workbook(path)
    sheet = workbook.add_worksheet("s")
    for row in (2, 4, 5, 6, 7):
        sheet.write_string(row, 0, f"备注{row}")
    write_frame(workbook, sheet, pl.DataFrame({"编号": [7, 8], "判定": ["是", "否"]}), first_row=9)
    workbook.close()
    assert read_table(path, "s", "编号").rows() == [("7", "是"), ("8", "否")]
    assert read_table(path, "s", "编号", row_numbers="行").rows() == [("7", "是", 11), ("8", "否", 12)]


def test_a_table_longer_than_a_sheet_is_refused_before_any_file_is_written(tmp_path):
    """Excel's sheet holds 1,048,576 rows (heading and header included): a list that would
    go past it (a region's whole query) is a usage error naming the file, never a workbook
    Excel cannot open."""
    from rootdb.errors import UsageError
    from rootdb.xlsx import EXCEL_MAX_ROWS, HEADING_ROWS, write_sheet

    fits = pl.DataFrame({"序号": pl.int_range(0, EXCEL_MAX_ROWS - HEADING_ROWS - 1, eager=True)})
    workbook = new_workbook(tmp_path / "fits.xlsx")
    write_sheet(workbook, "名单", fits, "人员名单", "共 … 人")
    workbook.close()
    assert openpyxl.load_workbook(tmp_path / "fits.xlsx", read_only=True)["名单"].max_row == EXCEL_MAX_ROWS
    workbook = new_workbook(tmp_path / "over.xlsx")
    with pytest.raises(UsageError, match=r"over\.xlsx：共 1,048,574 行，超过 Excel 一个工作表能放的 1,048,576 行"):
        write_sheet(workbook, "名单", pl.concat([fits, fits.head(1)]), "人员名单", "共 … 人")
    assert not (tmp_path / "over.xlsx").exists()
