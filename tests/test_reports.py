"""`rootdb report` on the linked sample area: the engine (templates, layout, masking,
area filters, audit) and reports R01 and R05 checked against the sample's truth.
The other reports are checked in tests/test_reports_*.py."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from conftest import SAMPLE_AS_OF, assert_same_people

from rootdb.errors import SchemaError, UsageError
from rootdb.reports import load_templates, run_reports, select_templates
from rootdb.reports.templates import clear_template_cache, load_template_file

BANDS = [(60, 69), (70, 79), (80, 89), (90, 99), (100, 999)]


# ------------------------------------------------------------------ R01, R05 vs truth

def test_r01_lists_living_members_of_dibao_households_in_care(report_csv, truth):
    rows = report_csv("R01")
    dibao = truth.feed_rows("dibao", "member")
    living = set(truth.people_at().filter(pl.col("living"))["person_uid"])
    expected = set(dibao.filter(pl.col("status") == "在保")["person_uid"]) & living
    assert_same_people("R01", truth.uids(rows), expected)


def test_r05_counts_elderly_residents_per_grid_by_band_and_sex(report_csv, truth):
    rows = report_csv("R05")
    people = truth.people_at().filter(pl.col("resident") & (pl.col("age") >= 60))
    grids = truth.houses.filter(pl.col("grid").is_not_null() & (pl.col("address_code").is_not_null()))
    assert rows["网格"].to_list() == grids["grid"].unique(maintain_order=True).to_list()  # every grid, in order
    for row in rows.iter_rows(named=True):
        here = people.filter(pl.col("grid") == row["网格"])
        for lo, hi in BANDS:
            band = here.filter(pl.col("age").is_between(lo, hi))
            label = f"{lo}-{hi}岁" if hi < 999 else "100岁及以上"
            for sex, column in (("男", "男"), ("女", "女")):
                got, want = int(row[f"{label}/{column}"]), band.filter(pl.col("sex") == sex).height
                assert abs(got - want) <= 1, (row["网格"], label, sex, got, want)
        assert int(row["合计/小计"]) == sum(int(row[f"{lbl}/小计"]) for lbl in
                                           ["60-69岁", "70-79岁", "80-89岁", "90-99岁", "100岁及以上"])


# ------------------------------------------------------------------ the workbook

@pytest.fixture(scope="module")
def workbooks(sample_db, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("xlsx")
    run_reports(select_templates(["R01", "R05"], False), as_of=SAMPLE_AS_OF, out=out, db=str(sample_db))
    return out


def test_workbook_has_title_unit_line_headers_total_and_footer(workbooks):
    sheet = openpyxl.load_workbook(workbooks / "R05_老年人口分年龄段统计表.xlsx").active
    assert sheet["A1"].value == "老年人口分年龄段统计表"
    assert sheet["A2"].value.startswith("填报单位：交通街道建设社区")
    assert "统计日期：2026年11月1日" in [c.value for c in sheet[2] if c.value][-1]
    # Two header rows: a group merged over 男/女/小计, lone headers merged down.
    assert sheet["C3"].value == "60-69岁" and [sheet.cell(4, c).value for c in (3, 4, 5)] == ["男", "女", "小计"]
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"A3:A4", "B3:B4", "C3:E3", "A1:T1"} <= merged
    assert sheet.freeze_panes == "A5"
    # Data rows, then 合计 equal to the column sums.
    data = [r for r in sheet.iter_rows(min_row=5, values_only=True) if r[1] and str(r[1]).endswith("网格")]
    total = next(r for r in sheet.iter_rows(min_row=5, values_only=True) if r[0] == "合计")
    assert len(data) == 4
    for c in range(2, 20):
        assert total[c] == sum(r[c] for r in data)
    footer = [r[0] for r in sheet.iter_rows(values_only=True) if r[0] and str(r[0]).startswith("填表人")]
    assert footer and "审核人" in footer[0]
    assert sheet.page_setup.paperSize == 9 and sheet.page_setup.orientation == "landscape"
    assert sheet.print_title_rows == "$1:$4"


def test_roster_masks_ids_and_phones_and_writes_text_as_text(workbooks):
    sheet = openpyxl.load_workbook(workbooks / "R01_低保对象花名册.xlsx").active
    header = [c.value for c in sheet[3]]
    ids = [r[header.index("身份证号")] for r in sheet.iter_rows(min_row=4, values_only=True) if isinstance(r[0], int)]
    phones = [r[header.index("联系电话")] for r in sheet.iter_rows(min_row=4, values_only=True)
              if isinstance(r[0], int)]
    assert ids and all(len(i) == 18 and i[6:14] == "********" for i in ids)
    assert all(p is None or "****" in p or not any(ch.isdigit() for ch in p) for p in phones)
    assert header[0] == "序号"
    assert sheet.cell(4, 1).data_type == "n" and sheet.cell(4, header.index("身份证号") + 1).data_type == "s"


def test_same_database_and_date_give_the_same_content(sample_db, tmp_path):
    for run in ("a", "b"):
        run_reports(select_templates(["R01", "R05"], False), as_of=SAMPLE_AS_OF, out=tmp_path / run, db=str(sample_db))
    for name in ("R01_低保对象花名册.xlsx", "R05_老年人口分年龄段统计表.xlsx"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_csv_is_data_rows_only_with_bom(sample_db, tmp_path):
    result = run_reports(select_templates(["R05"], False), as_of=SAMPLE_AS_OF, out=tmp_path, fmt="csv",
                         db=str(sample_db))
    raw = Path(result.reports[0].file).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("社区,网格,60-69岁/男") and len(lines) == 5  # header + 4 grids, no 合计


def test_golden_csv_for_a_fixed_date(report_csv):
    """R05 as of the sample date, byte for byte (tests/golden/R05.csv; regenerate with
    `rootdb report R05 --as-of 2026-11-01 --format csv` on the linked sample when the
    sample or the report changes on purpose)."""
    expected = pl.read_csv(Path(__file__).parent / "golden" / "R05.csv", infer_schema=False)
    assert report_csv("R05").equals(expected)


# ------------------------------------------------------------------ area, options, audit

def test_grid_filter_limits_rows_and_people(report_csv):
    whole = report_csv("R05")
    one = report_csv("R05", grid="第二网格")
    assert one["网格"].to_list() == ["第二网格"]
    assert one.row(0) == whole.filter(pl.col("网格") == "第二网格").row(0)
    r01 = report_csv("R01", grid="第二网格")
    assert set(r01["网格"]) <= {"第二网格"} and 0 < r01.height < report_csv("R01").height


def test_unknown_area_or_code_is_a_usage_error(sample_db, tmp_path):
    with pytest.raises(UsageError, match="幸福"):
        run_reports(select_templates(["R05"], False), as_of=SAMPLE_AS_OF, out=tmp_path, community="幸福",
                    db=str(sample_db))
    with pytest.raises(UsageError, match="R99"):
        select_templates(["R99"], False)
    with pytest.raises(UsageError):
        select_templates([], False)


def test_unmasked_runs_are_audited(sample_db, tmp_path):
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, db)
    run_reports(select_templates(["R01"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "r", unmasked=True, db=str(db))
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT command, detail, rows, file FROM audit_log WHERE file LIKE ?",
                           [f"{tmp_path}%"]).fetchall()
    assert len(rows) == 1 and rows[0][0] == "report --unmasked" and rows[0][1].startswith("R01")
    assert rows[0][2] > 0 and rows[0][3].endswith("R01_低保对象花名册.xlsx")


def test_a_failing_report_leaves_the_previous_reports(sample_db, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    run_reports(select_templates(["R01"], False), as_of=SAMPLE_AS_OF, out=out, db=str(sample_db))
    before = (out / "R01_低保对象花名册.xlsx").read_bytes()
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "R98_坏报表.yaml").write_text(
        "code: R98\ntitle: 坏报表\nsql: SELECT nothing_here FROM r_persons ORDER BY 1\n"
        "columns: [{field: nothing_here, header: 无}]\n", encoding="utf-8")
    monkeypatch.setenv("ROOTDB_REPORTS", str(extra))
    clear_template_cache()
    try:
        with pytest.raises(SchemaError, match="R98_坏报表.yaml"):
            run_reports(select_templates(["R01", "R98"], False), as_of=dt.date(2025, 1, 1), out=out,
                        db=str(sample_db))
    finally:
        clear_template_cache()
    assert (out / "R01_低保对象花名册.xlsx").read_bytes() == before
    assert [p.name for p in out.iterdir()] == ["R01_低保对象花名册.xlsx"]


# ------------------------------------------------------------------ templates

def test_every_bundled_template_loads():
    templates = load_templates()
    assert "R01" in templates and all(t.title for t in templates.values())


@pytest.mark.parametrize("body, field, message", [
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a\ncolumns: [{field: a, header: A}]", "sql", "ORDER BY"),
    ("code: R50\ntitle: x\nsql: SELECT $who AS a ORDER BY 1\ncolumns: [{field: a, header: A}]", "sql", "$who"),
    ("code: R50\ntitle: x\nsql: \"SELECT {% if %} ORDER BY 1\"\ncolumns: [{field: a, header: A}]", "sql", "语法"),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A, format: big}]",
     "columns[0].format", "big"),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A, total: avg}]",
     "columns[0].total", ""),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A}]\ncolour: red",
     "colour", "不认识"),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A, group: G}, "
     "{field: b, header: B}, {field: c, header: C, group: G}]", "columns[2].group", "应当相邻"),
])
def test_invalid_templates_name_file_field_and_line(tmp_path, body, field, message):
    path = tmp_path / "R50_测试.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_template_file(path)
    assert info.value.file == str(path) and info.value.field == field and message in str(info.value)
    assert info.value.line is not None


def test_user_values_never_reach_the_sql_text(sample_db, tmp_path):
    """A community name that is SQL is only ever a bound parameter: nothing runs, the
    area is simply unknown."""
    with pytest.raises(UsageError, match="标准地址库里没有"):
        run_reports(select_templates(["R05"], False), as_of=SAMPLE_AS_OF, out=tmp_path, db=str(sample_db),
                    community="x' OR '1'='1")


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_converts_a_report_to_pdf(workbooks, tmp_path):
    source = workbooks / "R05_老年人口分年龄段统计表.xlsx"
    done = subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(source)],
                          capture_output=True, timeout=180)
    pdf = tmp_path / "R05_老年人口分年龄段统计表.pdf"
    assert done.returncode == 0 and pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
