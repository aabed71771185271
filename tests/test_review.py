"""The review round trip: export uncertain pairs, an officer decides in Excel, import,
and the decisions hold on the next runs."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import openpyxl
import pytest

from conftest import copy_sample, query
from rootdb.errors import UsageError
from rootdb.link import link
from rootdb.link.review import SHEET, export_review, import_review


@pytest.fixture(scope="module")
def workspace(sample_db, tmp_path_factory):
    """A copy of the linked sample: decisions are imported into it and it is linked again."""
    return copy_sample(sample_db, tmp_path_factory.mktemp("review"))


def _entity(db: Path, file: str, row: int, role: str) -> tuple[str, str]:
    (hit,) = query(db, "SELECT entity_id, match_method FROM crosswalk WHERE source_file = ? AND source_row = ? "
                       "AND role = ? AND entity_type = 'person'", [file, row, role])
    return hit


def _changed_since_link_of(db) -> bool:
    import duckdb

    from rootdb.nightly import _changed_since_link

    with duckdb.connect(str(db), read_only=True) as con:
        return _changed_since_link(con)


def test_review_round_trip(workspace, tmp_path):
    out = tmp_path / "review.xlsx"
    exported = export_review(out, db=workspace)
    assert exported.pairs > 0
    book = openpyxl.load_workbook(out)
    sheet = book[SHEET]
    assert sheet["A1"].value == "待复核的人员配对" and f"共 {exported.pairs:,} 对" in sheet["A2"].value
    header = [c.value for c in sheet[3]]  # below the heading
    col = {name: i + 1 for i, name in enumerate(header)}
    assert "A 姓名" in col and "B 姓名" in col and "判定（是/否）" in col
    assert all("*" in (sheet.cell(r, col["A 身份证号"]).value or "*") for r in range(4, sheet.max_row + 1))
    (choices,) = sheet.data_validations.dataValidation
    assert str(choices.sqref) == f"C4:C{3 + exported.pairs}"

    def side(row: int, tag: str) -> tuple[str, int, str]:
        return (sheet.cell(row, col[f"{tag} 文件"]).value, int(sheet.cell(row, col[f"{tag} 行号"]).value))

    # The officer says 是 to the first pair and 否 to the second.
    sheet.cell(4, col["判定（是/否）"]).value = "是"
    if sheet.max_row >= 5:
        sheet.cell(5, col["判定（是/否）"]).value = "否"
    book.save(out)
    yes_a, yes_b = side(4, "A"), side(4, "B")
    result = import_review(out, db=workspace)
    assert result.yes == 1 and result.problems == []
    assert _changed_since_link_of(workspace)  # the next nightly links: the decisions wait for it

    for _ in range(2):  # the decision holds on this run and the next
        link(db=workspace)
        assert not _changed_since_link_of(workspace)
        roles = dict(query(workspace, "SELECT source_file || ':' || source_row, role FROM link_person_records "
                                      "WHERE source_file || ':' || source_row IN (?, ?)",
                           [f"{yes_a[0]}:{yes_a[1]}", f"{yes_b[0]}:{yes_b[1]}"]))
        a = _entity(workspace, *yes_a, roles[f"{yes_a[0]}:{yes_a[1]}"])
        b = _entity(workspace, *yes_b, roles[f"{yes_b[0]}:{yes_b[1]}"])
        assert a[0] == b[0]
        assert "manual" in (a[1], b[1])
        again = export_review(tmp_path / "again.xlsx", db=workspace)
        assert again.pairs < exported.pairs  # decided pairs are not asked again


def test_import_names_what_it_cannot_read(workspace, tmp_path):
    out = tmp_path / "review.xlsx"
    export_review(out, db=workspace)
    book = openpyxl.load_workbook(out)
    book[SHEET].cell(4, 3).value = "大概吧"
    book.save(out)
    result = import_review(out, db=workspace)
    assert result.problems and "大概吧" in result.problems[0]
    other = tmp_path / "other.xlsx"
    openpyxl.Workbook().save(other)
    with pytest.raises(UsageError, match=f"other.xlsx：没有“{SHEET}”工作表"):
        import_review(other, db=workspace)


def test_import_masks_an_id_or_a_mobile_typed_into_the_decision(workspace, tmp_path):
    out = tmp_path / "review.xlsx"
    export_review(out, db=workspace)
    book = openpyxl.load_workbook(out)
    header = [c.value for c in book[SHEET][3]]
    book[SHEET].cell(4, header.index("判定（是/否）") + 1).value = "是150602198503021234，电话13912345678"
    book.save(out)
    result = import_review(out, db=workspace)
    said = " ".join(result.problems)
    assert "看不懂" in said and "150602********1234" in said and "139****5678" in said
    assert "150602198503021234" not in said and "13912345678" not in said


def test_a_workbook_exported_before_the_heading_still_imports(sample_db, tmp_path):
    workspace = copy_sample(sample_db, tmp_path / "ws")  # pairs not yet decided by the tests above
    out = tmp_path / "review.xlsx"
    export_review(out, db=workspace)
    book = openpyxl.load_workbook(out)
    sheet = book[SHEET]
    for merged in list(sheet.merged_cells.ranges):
        sheet.unmerge_cells(str(merged))
    sheet.delete_rows(1, 2)  # as the sheet was: the header on row 1
    header = [c.value for c in sheet[1]]
    sheet.cell(2, header.index("判定（是/否）") + 1).value = "否"
    book.save(out)
    result = import_review(out, db=workspace)
    assert (result.decided, result.no, result.problems) == (1, 1, [])


def _not_a_workbook(tmp_path: Path, db: Path) -> Path:
    return Path("/etc/passwd")


def _cut_short(tmp_path: Path, db: Path) -> Path:
    whole = tmp_path / "whole.xlsx"
    export_review(whole, db=db)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def _without_the_sheet(tmp_path: Path, db: Path) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "Sheet1"
    book.active["A1"] = "编号"
    path = tmp_path / "名单.xlsx"
    book.save(path)
    return path


def _text_named_xlsx(tmp_path: Path, db: Path) -> Path:
    path = tmp_path / "复核.xlsx"
    path.write_text("编号,判定（是/否）\n1,是\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("make", [_not_a_workbook, _cut_short, _without_the_sheet, _text_named_xlsx])
def test_a_file_that_is_not_a_review_workbook_is_named_in_chinese(workspace, tmp_path, make):
    """/etc/passwd, a workbook cut short, one without the 待复核配对 sheet: a usage error
    (exit 2) in Chinese naming the file, never the library's English."""
    from typer.testing import CliRunner

    from rootdb.cli.main import app

    path = make(tmp_path, workspace)
    with pytest.raises(UsageError) as info:
        import_review(path, db=workspace)
    message = str(info.value)
    assert path.name in message and "rootdb review export" in message
    assert not re.search(r"[A-Za-z]{4,}", message.replace(path.name, "").replace("rootdb review export", "")
                         .replace("xlsx", "").replace("Excel", "")), message
    result = CliRunner().invoke(app, ["review", "import", str(path), "--db", str(workspace)])
    assert result.exit_code == 2, result.output
    assert "calamine" not in result.output and "not found" not in result.output and path.name in result.output


def test_decisions_survive_in_the_database(workspace):
    con = duckdb.connect(str(workspace), read_only=True)
    rows = con.execute("SELECT decision, os_user FROM link_review_decisions").fetchall()
    con.close()
    assert rows and all(user for _, user in rows)


@pytest.fixture(scope="module")
def unlinked(sample_db, tmp_path_factory):
    """A copy of the linked sample never linked again: its review pairs are all still asked."""
    return copy_sample(sample_db, tmp_path_factory.mktemp("review_unlinked"))


def _exported(workspace: Path, tmp_path: Path) -> tuple[Path, openpyxl.Workbook, dict[str, int]]:
    out = tmp_path / "review.xlsx"
    assert export_review(out, db=workspace).pairs >= 2
    book = openpyxl.load_workbook(out)
    col = {c.value: c.column for c in book[SHEET][3]}
    return out, book, col


def _saved(workspace: Path) -> set[tuple[str, str]]:
    return {tuple(sorted(pair)) for pair in query(workspace, "SELECT fingerprint_a, fingerprint_b FROM link_review_decisions")}


def test_a_pair_made_up_in_the_workbook_is_not_saved(unlinked, tmp_path):
    """Pair 1's A 指纹 with pair 2's B 指纹 (判定 是) would merge two people nobody was asked
    about: the row is named in Chinese and not saved; the other rows are."""
    workspace = unlinked
    out, book, col = _exported(workspace, tmp_path)
    sheet = book[SHEET]
    crossed = tuple(sorted((sheet.cell(4, col["A 指纹"]).value, sheet.cell(5, col["B 指纹"]).value)))
    sheet.cell(4, col["B 指纹"]).value = sheet.cell(5, col["B 指纹"]).value
    sheet.cell(4, col["判定（是/否）"]).value = "是"
    sheet.cell(5, col["判定（是/否）"]).value = "否"
    book.save(out)
    result = import_review(out, db=workspace)
    assert (result.decided, result.yes, result.no) == (1, 0, 1)
    (problem,) = result.problems
    assert problem.startswith("第4行（第1对）") and "不是 rootdb 导出待复核的一对" in problem
    assert crossed not in _saved(workspace)


def test_yes_and_no_for_one_pair_in_one_file_saves_neither(unlinked, tmp_path):
    workspace = unlinked
    out, book, col = _exported(workspace, tmp_path)
    sheet = book[SHEET]
    last = sheet.max_row + 1
    for c in range(1, sheet.max_column + 1):  # pair 1 again below the table, said 否 there
        sheet.cell(last, c).value = sheet.cell(4, c).value
        sheet.cell(last + 1, c).value = sheet.cell(5, c).value  # pair 2 twice, 是 both times
    sheet.cell(4, col["判定（是/否）"]).value = "是"
    sheet.cell(last, col["判定（是/否）"]).value = "否"
    sheet.cell(5, col["判定（是/否）"]).value = "是"
    sheet.cell(last + 1, col["判定（是/否）"]).value = "是"
    pair_1 = tuple(sorted((sheet.cell(4, col["A 指纹"]).value, sheet.cell(4, col["B 指纹"]).value)))
    book.save(out)
    before = pair_1 in _saved(workspace)
    result = import_review(out, db=workspace)
    assert (result.decided, result.yes) == (1, 1)  # pair 2 once
    (problem,) = result.problems
    assert "矛盾" in problem and "第4行（第1对）填“是”" in problem and f"第{last}行（第1对）填“否”" in problem
    assert (pair_1 in _saved(workspace)) == before


def test_a_cleared_fingerprint_skips_its_row_and_keeps_the_others(unlinked, tmp_path):
    workspace = unlinked
    out, book, col = _exported(workspace, tmp_path)
    sheet = book[SHEET]
    sheet.cell(4, col["判定（是/否）"]).value = "否"
    sheet.cell(5, col["判定（是/否）"]).value = "否"
    sheet.cell(5, col["A 指纹"]).value = None
    sheet.cell(5, col["B 指纹"]).value = None
    book.save(out)
    result = import_review(out, db=workspace)
    assert (result.decided, result.no) == (1, 1)
    (problem,) = result.problems
    assert problem.startswith("第5行（第2对）") and "指纹" in problem and "未导入" in problem


def test_notes_added_above_the_header_do_not_hide_it(unlinked, tmp_path):
    workspace = unlinked
    out, book, col = _exported(workspace, tmp_path)
    sheet = book[SHEET]
    for merged in list(sheet.merged_cells.ranges):
        sheet.unmerge_cells(str(merged))
    sheet.cell(4, col["判定（是/否）"]).value = "否"
    sheet.insert_rows(3, 3)
    for row, text in ((3, "复核人：王科长"), (4, "复核日期：2026-12-04"), (5, "备注：第2对需再核实")):
        sheet.cell(row, 1).value = text
    book.save(out)
    result = import_review(out, db=workspace)
    assert (result.decided, result.no, result.problems) == (1, 1, [])
