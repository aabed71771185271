"""The changes workbook looks like the reports; nightly replaces only its own files;
the SMS text stays inside its cell; R19's areas have two fixed decimals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import polars as pl
from conftest import SAMPLE_AS_OF

from rootdb.nightly import _swap_in, _write_changes
from rootdb.reports import run_reports, select_templates

CHANGES = {"变动类型": pl.String, "name": pl.String, "id_number": pl.String, "grid": pl.String,
           "short_address": pl.String, "说明": pl.String, "person_id": pl.String, "death_date": pl.Date}


def _texts(path: Path) -> list[str]:
    sheet = openpyxl.load_workbook(path).active
    return [str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None]


def test_changes_workbook_has_the_reports_heading_counts_death_dates_and_footer(tmp_path):
    changes = pl.DataFrame([
        {"变动类型": "死亡", "name": "张三", "id_number": "150602194001011234", "grid": "第一网格",
         "short_address": "幸福小区1号楼", "说明": "公安库或殡葬登记死亡", "person_id": "P1",
         "death_date": dt.date(2026, 11, 1)},
        {"变动类型": "新登记", "name": "李四", "id_number": "150602202610011234", "grid": "第一网格",
         "short_address": "幸福小区2号楼", "说明": "公安库新增", "person_id": "P2", "death_date": None},
    ], schema=CHANGES)
    path = tmp_path / "变动情况_2026-11-02.xlsx"
    _write_changes(path, changes, dt.date(2026, 11, 2), "交通街道建设社区")
    sheet = openpyxl.load_workbook(path).active
    assert sheet["A1"].value == "人员变动情况" and any(str(r).startswith("A1:") for r in sheet.merged_cells.ranges)
    texts = _texts(path)
    assert "填报单位：交通街道建设社区" in texts
    assert any("本期变动：新登记 1 人，死亡 1 人" in t for t in texts)
    assert any(t.startswith("填表人") for t in texts)
    assert "死亡日期" in texts and "2026-11-01 00:00:00" in texts
    assert "150602194001011234" not in "".join(texts)
    assert sheet.oddFooter.center.text and "&P" in sheet.oddFooter.center.text


def test_a_quiet_night_says_no_changes(tmp_path):
    path = tmp_path / "变动情况_2026-11-04.xlsx"
    _write_changes(path, pl.DataFrame(schema=CHANGES), dt.date(2026, 11, 4), "交通街道")
    assert "本期无变动" in _texts(path)


def test_nightly_replaces_only_the_files_it_wrote(tmp_path):
    reports = tmp_path / "reports"
    first = tmp_path / ".reports-new-1"
    first.mkdir()
    (first / "R01_低保对象花名册.xlsx").write_text("night 1")
    _swap_in(first, reports)
    (reports / "R05_老年人口分年龄段统计表.csv").write_text("by hand")  # someone's own file
    second = tmp_path / ".reports-new-2"
    second.mkdir()
    (second / "R01_低保对象花名册.xlsx").write_text("night 2")
    _swap_in(second, reports)
    assert (reports / "R01_低保对象花名册.xlsx").read_text() == "night 2"
    assert (reports / "R05_老年人口分年龄段统计表.csv").read_text() == "by hand"
    assert not list(tmp_path.glob(".reports-*"))


def test_a_first_night_after_the_demo_replaces_its_reports_and_floor_plans(tmp_path):
    """`rootdb demo` writes reports/ without nightly's list of its files: what is named as
    nightly names its reports, their pictures' folders and changes is replaced, not kept
    beside tonight's as somebody's own (a stale R41_楼栋平面图_手工保留 every night)."""
    reports = tmp_path / "reports"
    (reports / "R41_楼栋平面图").mkdir(parents=True)
    (reports / "R41_楼栋平面图" / "index.html").write_text("demo")
    (reports / "R01_低保对象花名册.xlsx").write_text("demo")
    (reports / "我的笔记.txt").write_text("mine")
    tonight = tmp_path / ".reports-new-1"
    (tonight / "R41_楼栋平面图").mkdir(parents=True)
    (tonight / "R41_楼栋平面图" / "index.html").write_text("night 1")
    (tonight / "R01_低保对象花名册.xlsx").write_text("night 1")
    _swap_in(tonight, reports)
    assert sorted(p.name for p in reports.iterdir() if not p.name.startswith(".")) == [
        "R01_低保对象花名册.xlsx", "R41_楼栋平面图", "我的笔记.txt"]
    assert (reports / "R41_楼栋平面图" / "index.html").read_text() == "night 1"


def test_r19_areas_have_two_fixed_decimals_and_the_header_fits(sample_db, tmp_path):
    run = run_reports(select_templates(["R19"], False), as_of=SAMPLE_AS_OF, out=tmp_path, fmt="csv",
                      db=str(sample_db))
    areas = pl.read_csv(run.reports[0].file, infer_schema=False)["建筑面积（㎡）"].drop_nulls()
    assert areas.len() > 0 and areas.str.contains(r"^\d+\.\d\d$").all()
    run = run_reports(select_templates(["R19"], False), as_of=SAMPLE_AS_OF, out=tmp_path, db=str(sample_db))
    sheet = openpyxl.load_workbook(run.reports[0].file).active
    header_row = next(r for r in sheet.iter_rows(min_row=3, max_row=4) if any(c.value == "建筑面积（㎡）" for c in r))
    cell = next(c for c in header_row if c.value == "建筑面积（㎡）")
    assert sheet.column_dimensions[cell.column_letter].width >= 15  # 14 display columns: on one line
    data = next(c for c in sheet[cell.column_letter] if isinstance(c.value, float))
    assert data.number_format == "#,##0.00"


def test_a_report_longer_than_a_sheet_goes_on_over_as_many_sheets_as_it_needs(sample_db, tmp_path, monkeypatch):
    """Excel's sheet holds 1,048,576 rows (a region's R09 has 4 M): each sheet takes at most
    SHEET_ROWS data rows under the heading and header, numbered on from the sheet before;
    合计 and footer on the last. Here SHEET_ROWS is made small to split the sample's R09."""
    from rootdb.reports import writer

    def data_rows(sheet) -> list[tuple]:
        return [r for r in sheet.iter_rows(values_only=True) if isinstance(r[0], int)]

    whole = run_reports(select_templates(["R09"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "one",
                        db=str(sample_db)).reports[0]
    rows = data_rows(openpyxl.load_workbook(whole.file).active)
    assert len(rows) == whole.rows > 1000
    monkeypatch.setattr(writer, "SHEET_ROWS", 1000)
    split = run_reports(select_templates(["R09"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "split",
                        db=str(sample_db)).reports[0]
    book = openpyxl.load_workbook(split.file)
    sheets = -(-whole.rows // 1000)
    assert book.sheetnames == ["R09"] + [f"R09（{k}）" for k in range(2, sheets + 1)]
    assert [r for s in book.worksheets for r in data_rows(s)] == rows  # 序号 1, 2, … across the sheets
    for k, sheet in enumerate(book.worksheets, start=1):
        assert len(data_rows(sheet)) == min(1000, whole.rows - (k - 1) * 1000)
        assert sheet["A1"].value.endswith(f"（{k}/{sheets}）") and sheet["A3"].value == "序号"
        texts = [str(v) for r in sheet.iter_rows(values_only=True) for v in r if v is not None]
        last = k == sheets
        assert any(t.startswith("填表人") for t in texts) == last
        assert any(t.startswith("合计") for t in texts) == last
        assert any(t == f"（接工作表“R09（{k + 1}）”）" for t in texts) == (not last)
