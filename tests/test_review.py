"""The review round trip: export uncertain pairs, an officer decides in Excel, import,
and the decisions hold on the next runs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import openpyxl
import pytest

from conftest import query
from rootdb import ingest
from rootdb.errors import InputFileError
from rootdb.link import link
from rootdb.link.review import SHEET, export_review, import_review

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    db = tmp_path_factory.mktemp("review") / "rootdb.duckdb"
    ingest([SAMPLE], db=db)
    link(db=db)
    return db


def _entity(db: Path, file: str, row: int, role: str) -> tuple[str, str]:
    (hit,) = query(db, "SELECT entity_id, match_method FROM crosswalk WHERE source_file = ? AND source_row = ? "
                       "AND role = ? AND entity_type = 'person'", [file, row, role])
    return hit


def test_review_round_trip(workspace, tmp_path):
    out = tmp_path / "review.xlsx"
    exported = export_review(out, db=workspace)
    assert exported.pairs > 0
    book = openpyxl.load_workbook(out)
    sheet = book[SHEET]
    header = [c.value for c in sheet[1]]
    col = {name: i + 1 for i, name in enumerate(header)}
    assert "A 姓名" in col and "B 姓名" in col and "判定（是/否）" in col
    assert all("*" in (sheet.cell(r, col["A 身份证号"]).value or "*") for r in range(2, sheet.max_row + 1))

    def side(row: int, tag: str) -> tuple[str, int, str]:
        return (sheet.cell(row, col[f"{tag} 文件"]).value, int(sheet.cell(row, col[f"{tag} 行号"]).value))

    # The officer says 是 to the first pair and 否 to the second.
    sheet.cell(2, col["判定（是/否）"]).value = "是"
    if sheet.max_row >= 3:
        sheet.cell(3, col["判定（是/否）"]).value = "否"
    book.save(out)
    yes_a, yes_b = side(2, "A"), side(2, "B")
    result = import_review(out, db=workspace)
    assert result.yes == 1 and result.problems == []

    for _ in range(2):  # the decision holds on this run and the next
        link(db=workspace)
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
    book[SHEET].cell(2, 3).value = "大概吧"
    book.save(out)
    result = import_review(out, db=workspace)
    assert result.problems and "大概吧" in result.problems[0]
    other = tmp_path / "other.xlsx"
    openpyxl.Workbook().save(other)
    with pytest.raises(InputFileError, match=SHEET):
        import_review(other, db=workspace)


def test_decisions_survive_in_the_database(workspace):
    con = duckdb.connect(str(workspace), read_only=True)
    rows = con.execute("SELECT decision, os_user FROM link_review_decisions").fetchall()
    con.close()
    assert rows and all(user for _, user in rows)
