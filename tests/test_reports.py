"""`rootdb report` on the linked sample area: the engine (templates, layout, masking,
area filters, audit, notes with counts, a roster's 合计 line) and reports R01 and R05
checked against the sample's truth. The other reports are checked in
tests/test_reports_*.py."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from conftest import AREA, SAMPLE, SAMPLE_AS_OF, assert_same_people
from test_reports_unmatched import (UNMATCHED, UNMATCHED_KEY, area_grids, grid_keys, one_grid, sample_only,
                                    unmatched_grids)

from rootdb.errors import SchemaError, UsageError
from rootdb.reports import engine, load_templates, run_reports, select_templates
from rootdb.reports.engine import count_notes
from rootdb.reports.templates import clear_template_cache, load_template_file

BANDS = [(60, 69), (70, 79), (80, 89), (90, 99), (100, 999)]
# GB/T 4761 order of a household list: 户主, 配偶, 子女, 儿媳/女婿, 孙辈, 父母, others.
RELATION_RANK = {"户主": 1, "配偶": 2, "子": 3, "女": 3, "儿媳": 4, "女婿": 4, "孙子": 5, "孙女": 5,
                 "父亲": 6, "母亲": 6}


# ------------------------------------------------------------------ R01, R05 vs truth

def test_r01_lists_living_members_of_dibao_households_in_care(report_csv, truth):
    rows = report_csv("R01")
    dibao = truth.feed_rows("dibao", "member")
    living = set(truth.people_at().filter(pl.col("living"))["person_uid"])
    expected = set(dibao.filter(pl.col("status") == "在保")["person_uid"]) & living
    assert_same_people("R01", truth.uids(rows), expected)


def _r05_people(truth) -> pl.DataFrame:
    return unmatched_grids(truth, truth.people_at()).filter(pl.col("resident") & (pl.col("age") >= 60))


def _r05_keys(truth) -> list[tuple[str, str]]:
    """R05's rows: every grid, in order, then 地址未匹配 when an elderly resident lives in
    a house the standard address registry lacks."""
    unmatched = (_r05_people(truth)["grid"] == UNMATCHED).any()
    return [k for k in area_grids(truth) if k != UNMATCHED_KEY or unmatched]


def test_r05_counts_elderly_residents_per_grid_by_band_and_sex(report_csv, truth):
    rows = report_csv("R05")
    people = _r05_people(truth)
    assert grid_keys(rows) == _r05_keys(truth)
    for row in rows.iter_rows(named=True):
        here = people.filter((pl.col("community") == row["社区"]) & (pl.col("grid") == row["网格"]))
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
    run_reports(select_templates(["R01", "R05", "R22", "R34"], False), as_of=SAMPLE_AS_OF, out=out,
                db=str(sample_db))
    return out


def _lines_below_table(sheet) -> list[str]:
    """The texts in column A after the last table row (合计 line, notes, footer)."""
    texts = [r[0] for r in sheet.iter_rows(min_row=4, values_only=True)]
    last = max(k for k, v in enumerate(texts) if isinstance(v, (int, float)) or (
        isinstance(v, str) and v.startswith("合计")))
    return [v for v in texts[last + 1:] if isinstance(v, str)]


def test_workbook_has_title_unit_line_headers_total_and_footer(workbooks, truth):
    sheet = openpyxl.load_workbook(workbooks / "R05_老年人口分年龄段统计表.xlsx").active
    assert sheet["A1"].value == "老年人口分年龄段统计表"
    # 填报单位: the street, and the community when the area has only one (交通街道建设社区).
    coded = truth.houses.filter(pl.col("address_code").is_not_null() & pl.col("grid").is_not_null())
    streets = coded.group_by("street").len().sort("len", descending=True)["street"].to_list()
    communities = coded["community"].unique().to_list()
    unit = "、".join(streets) + (communities[0] if len(communities) == 1 else "")
    assert sheet["A2"].value.startswith(f"填报单位：{unit}")
    assert "统计日期：2026年11月1日" in [c.value for c in sheet[2] if c.value][-1]
    # Two header rows: a group merged over 男/女/小计, lone headers merged down.
    assert sheet["C3"].value == "60-69岁" and [sheet.cell(4, c).value for c in (3, 4, 5)] == ["男", "女", "小计"]
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {"A3:A4", "B3:B4", "C3:E3", "A1:T1"} <= merged
    assert sheet.freeze_panes == "A5"
    # Data rows, then 合计 equal to the column sums.
    keys = _r05_keys(truth)
    data = [r for r in sheet.iter_rows(min_row=5, values_only=True) if r[:2] in keys]
    total = next(r for r in sheet.iter_rows(min_row=5, values_only=True) if r[0] == "合计")
    assert [r[:2] for r in data] == keys
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
    shown = [i for i in ids if i]  # a member whose ID no source delivered has none to mask
    assert shown and all(len(i) == 18 and i[6:14] == "********" for i in shown)
    assert all(p is None or "****" in p or not any(ch.isdigit() for ch in p) for p in phones)
    assert header[0] == "序号"
    assert sheet.cell(4, 1).data_type == "n" and sheet.cell(4, header.index("身份证号") + 1).data_type == "s"
    # 序号 is a plain number (2351, never 2,351); counts and amounts keep their separators.
    assert sheet.cell(4, 1).number_format == "0"
    assert sheet.cell(4, header.index("年龄") + 1).number_format == "#,##0"
    assert sheet.cell(4, header.index("月保障金（元）") + 1).number_format == "#,##0.00"


# ------------------------------------------------------------------ notes with a count

def test_r05_counts_the_elderly_whose_house_the_registry_lacks_in_their_own_row(workbooks, truth):
    """R05's row 地址未匹配 counts the people R05 counts (residents 60+) whose house the
    standard address registry lacks, not every such resident; a note explains the row."""
    area_houses = truth.houses.filter(pl.col("grid").is_not_null())
    missing = area_houses.filter(pl.col("address_code").is_null())["house_uid"].to_list()
    people = unmatched_grids(truth, truth.people_at()).filter(pl.col("resident")
                                                             & pl.col("residence_house_uid").is_in(missing))
    elderly = people.filter(pl.col("age") >= 60).height
    assert (0 < elderly < people.height) or AREA != SAMPLE  # the sample has such people, and not all are 60+
    sheet = openpyxl.load_workbook(workbooks / "R05_老年人口分年龄段统计表.xlsx").active
    rows = [r for r in sheet.iter_rows(min_row=5, values_only=True) if r[1] == UNMATCHED]
    if not elderly:  # another area may have none: then no such row (it counts nobody)
        assert rows == []
        return
    row = rows[0]
    assert row[19] == elderly
    notes = [t for t in _lines_below_table(sheet) if UNMATCHED in t]
    assert notes == ["“地址未匹配”一行为地址未能对应到标准地址、无法确定所属社区和网格的记录，已计入合计，请核实其地址。"]


def test_notes_fit_their_report_and_name_no_command(workbooks):
    for name in ("R22_空置房屋统计表.xlsx", "R34_个体工商户统计表.xlsx", "R01_低保对象花名册.xlsx"):
        sheet = openpyxl.load_workbook(workbooks / name).active
        marked = any(UNMATCHED in r for r in sheet.iter_rows(min_row=4, values_only=True))
        lines = _lines_below_table(sheet)
        # the note only where a row lacks a standard address (never in R22, the registry's own houses)
        assert bool([t for t in lines if "未能对应到标准地址" in t]) == marked, name
    for path in workbooks.glob("*.xlsx"):
        lines = _lines_below_table(openpyxl.load_workbook(path).active)
        assert not [t for t in lines if "rootdb" in t], path.name
    # One rule, in the engine: the templates say only how their rows are shown.
    templates = load_templates()
    assert {c for c, t in templates.items() if t.unmatched == "statistics"} == {
        "R05", "R12", "R14", "R16", "R17", "R26", "R30", "R32", "R34", "R35", "R37", "R39", "R41"}
    assert not {c for c, t in templates.items() if t.unmatched} & {"R19", "R22", "R36"}


def test_a_note_of_part_of_the_area_counts_nobody_outside_it(sample_db, truth, tmp_path):
    area = one_grid(truth)
    result = run_reports(select_templates(["R05"], False), as_of=SAMPLE_AS_OF, out=tmp_path,
                         db=str(sample_db), **area)
    lines = _lines_below_table(openpyxl.load_workbook(result.reports[0].file).active)
    assert not [t for t in lines if t.startswith("另有") or t.startswith("其中")]  # no grid can claim them
    assert [t for t in lines if t.startswith(f"本表只含{area['grid']}") and "未列入本表" in t]


def test_count_notes_are_filled_in_and_left_out_at_zero(tmp_path):
    path = tmp_path / "R50_测试.yaml"
    path.write_text(
        "code: R50\ntitle: 测试\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A}]\n"
        "count_notes:\n"
        "  - {sql: SELECT 12345, text: '另有 {n} 名未计入。'}\n"
        "  - {sql: SELECT 0, text: '另有 {n} 户未计入。'}\n"
        "  - sql: SELECT count(*) FROM range(3) WHERE CAST($grid AS VARCHAR) IS NULL\n"
        "    text: 又有 {n} 人。\n",
        encoding="utf-8")
    template = load_template_file(path)
    with duckdb.connect() as con:
        assert count_notes(con, template, {"as_of": SAMPLE_AS_OF, "community": None, "grid": None}) == [
            "另有 12,345 名未计入。", "又有 3 人。"]
    path.write_text("code: R50\ntitle: 测试\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A}]\n"
                    "count_notes: [{sql: \"SELECT 'x'\", text: '另有 {n} 名。'}]\n", encoding="utf-8")
    with duckdb.connect() as con, pytest.raises(SchemaError) as info:
        count_notes(con, load_template_file(path), {})
    assert info.value.field == "count_notes[0].sql" and "R50_测试.yaml" in str(info.value)


# ------------------------------------------------------------------ R01: households, 合计 line

def test_r01_lists_each_household_in_order_with_its_amount_once_and_a_total_line(workbooks, truth):
    sheet = openpyxl.load_workbook(workbooks / "R01_低保对象花名册.xlsx").active
    header = [c.value for c in sheet[3]]
    rows = [dict(zip(header, r)) for r in sheet.iter_rows(min_row=4, values_only=True)
            if isinstance(r[0], int)]
    assert [r["序号"] for r in rows] == list(range(1, len(rows) + 1))
    households: dict[str, list[dict]] = {}
    for r in rows:
        households.setdefault(r["低保证号"], []).append(r)
    # Members of a household are adjacent, 户主 first, then 配偶, children, parents.
    certs = [r["低保证号"] for r in rows]
    assert certs == sorted(certs, key=lambda c: certs.index(c))
    for cert, members in households.items():
        ranks = [RELATION_RANK.get(m["与户主关系"], 9) for m in members]
        assert ranks == sorted(ranks), (cert, [m["与户主关系"] for m in members])
    # 保障人数 and 月保障金 are the household's: on its first row only, as the feed has them.
    feed = truth.feed_rows("dibao", "member").filter(pl.col("status") == "在保")
    amount = dict(feed.group_by("cert_no").agg(pl.col("monthly_amount").first()).iter_rows())
    covered = dict(feed.group_by("cert_no").agg(pl.col("covered_count").first()).iter_rows())
    for cert, members in households.items():
        assert members[0]["月保障金（元）"] == pytest.approx(amount[cert]), cert
        assert members[0]["保障人数"] == covered[cert], cert
        assert all(m["月保障金（元）"] is None and m["保障人数"] is None for m in members[1:]), cert
    assert any(len(m) > 2 for m in households.values())
    # The roster ends with 合计：N 户 M 人 and the households' monthly total.
    total = next(r for r in sheet.iter_rows(min_row=4, values_only=True) if str(r[0]).startswith("合计"))
    assert total[0] == f"合计：{len(households)} 户 {len(rows)} 人"
    assert total[header.index("月保障金（元）")] == pytest.approx(sum(amount[c] for c in households))
    assert sheet.cell(4 + len(rows), 1).value == total[0]  # right under the last member


def test_same_database_and_date_give_the_same_content(sample_db, tmp_path):
    for run in ("a", "b"):
        run_reports(select_templates(["R01", "R05"], False), as_of=SAMPLE_AS_OF, out=tmp_path / run, db=str(sample_db))
    for name in ("R01_低保对象花名册.xlsx", "R05_老年人口分年龄段统计表.xlsx"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_csv_is_data_rows_only_with_bom(sample_db, truth, tmp_path):
    result = run_reports(select_templates(["R05"], False), as_of=SAMPLE_AS_OF, out=tmp_path, fmt="csv",
                         db=str(sample_db))
    raw = Path(result.reports[0].file).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("社区,网格,60-69岁/男") and len(lines) == 1 + len(_r05_keys(truth))  # no 合计


@sample_only
def test_golden_csv_for_a_fixed_date(report_csv):
    """R05 as of the sample date, byte for byte (tests/golden/R05.csv; regenerate with
    `rootdb report R05 --as-of 2026-11-01 --format csv` on the linked sample when the
    sample or the report changes on purpose)."""
    expected = pl.read_csv(Path(__file__).parent / "golden" / "R05.csv", infer_schema=False)
    assert report_csv("R05").equals(expected)


# ------------------------------------------------------------------ area, options, audit

def test_grid_filter_limits_rows_and_people(report_csv, truth):
    area = one_grid(truth)
    key = (area["community"], area["grid"])
    whole = report_csv("R05")
    one = report_csv("R05", **area)
    assert grid_keys(one) == [key]
    assert one.row(0) == whole.row(grid_keys(whole).index(key))
    r01, all_r01 = report_csv("R01", **area), report_csv("R01")
    assert set(grid_keys(r01)) <= {key} and r01.height == grid_keys(all_r01).count(key) < all_r01.height


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
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A}]\n"
     "count_notes: [{sql: SELECT 1, text: 另有若干人}]", "count_notes[0].text", "{n}"),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A}]\n"
     "count_notes: [{sql: SELECT $who, text: '另有 {n} 人'}]", "count_notes[0].sql", "$who"),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A}]\n"
     "total_counts: [{distinct: b, unit: 户}]", "total_counts[0].distinct", "不存在的列 b"),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A, mask: id}]\n"
     "total_counts: [{distinct: a, unit: 人}]", "total_counts[0].distinct", "脱敏"),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A}]\n"
     "total_counts: [{sum: a, unit: 人}]", "total_counts[0].sum", "不是数字列"),
    ("code: R50\ntitle: x\nsql: SELECT 1 AS a ORDER BY 1\ncolumns: [{field: a, header: A}]\n"
     "total_counts: [{unit: 人, colour: red}]", "total_counts[0].colour", "不认识"),
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


# ------------------------------------------------------------------ workers

def test_reports_by_workers_are_the_files_written_in_turn(sample_db, tmp_path, monkeypatch):
    """A large report is masked and written in a worker process (engine.PARALLEL_ROWS)
    while the next one's SQL runs: sent there, every report — counted notes, the note on
    rows without a standard address, masks by column and by content, R41's pictures
    beside it — is the same file, byte for byte, as written in turn."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("workers are used only on a machine with more than one core")
    templates = select_templates(["R01", "R09", "R13", "R19", "R36", "R38", "R41"], False)
    in_turn = run_reports(templates, as_of=SAMPLE_AS_OF, out=tmp_path / "in_turn", db=str(sample_db))
    monkeypatch.setattr(engine, "PARALLEL_ROWS", 0)  # every report to the workers
    by_workers = run_reports(templates, as_of=SAMPLE_AS_OF, out=tmp_path / "workers", db=str(sample_db))

    def files(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    assert [(r.code, r.rows) for r in by_workers.reports] == [(r.code, r.rows) for r in in_turn.reports]
    written = files(tmp_path / "in_turn")
    assert len([name for name in written if name.endswith(".xlsx")]) == len(templates)
    assert files(tmp_path / "workers") == written
