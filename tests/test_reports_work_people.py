"""Reports R25–R36 (work, pensions, disability, veterans, schools, businesses, the
population overview and the correction report) checked against the sample's truth.

Every expectation is computed from sample_data/_truth (persons, houses, places, the
crosswalk of feed rows to true entities, defects.csv), never from the report SQL.
Rosters are compared person by person (assert_same_people allows 1%, at least 2,
for imperfect linking); per-grid statistics figure by figure within ±1, with the
differences printed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import duckdb
import openpyxl
import polars as pl
import pytest
from conftest import SAMPLE_AS_OF, TRUTH, assert_same_people
from test_reports_unmatched import (UNMATCHED, UNMATCHED_KEY, area_grids, grid_keys, in_grid, one_grid,
                                    unmatched_grids)

from rootdb.reports import run_reports, select_templates

CODES = [f"R{n}" for n in range(25, 37)]
CANJI_CATEGORIES = ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]
CANJI_GRADES = ["一级", "二级", "三级", "四级"]
TUIYI_CATEGORIES = ["退役士兵", "退役军官", "伤残军人", "烈士遗属", "因公牺牲军人遗属", "带病回乡退伍军人"]
TUIYI_BANDS = [("40岁以下", 0, 39), ("40-59岁", 40, 59), ("60-79岁", 60, 79), ("80岁及以上", 80, 999)]
GRADES = ["一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "七年级", "八年级", "九年级"]
BUSINESS_KINDS = ["企业", "个体工商户", "农民专业合作社"]
BUSINESS_STATES = ["存续", "在业", "注销", "吊销"]


# ------------------------------------------------------------------ helpers

def residents(truth, as_of: dt.date = SAMPLE_AS_OF) -> pl.DataFrame:
    """Truth residents (living, not moved out, in a house of the area, placed there by a
    delivered row). The contract takes grids from the standard address registry, so the
    few households in houses missing from registry_addresses (a planted gap) have the grid
    地址未匹配."""
    people = unmatched_grids(truth, truth.people_at(as_of)).filter(pl.col("resident"))
    print(f"\ntruth residents {people.height}, of them in houses missing from the address registry "
          f"{people.filter(in_grid(UNMATCHED_KEY)).height}")
    return people


def uids_of(frame: pl.DataFrame, column: str = "person_uid") -> set:
    return set(frame.get_column(column).drop_nulls())


def compare_grids(label: str, rows: pl.DataFrame, expected: dict[tuple[str, str], dict[str, int]],
                  tolerance: int = 1) -> None:
    """rows: the report CSV (社区 and 网格 columns, figures as text); expected: (community,
    grid) -> column -> figure, in area_grids order (the row 地址未匹配 is left out when it
    counts nobody). Prints every difference; fails when one is larger than the tolerance."""
    if not any(expected.get(UNMATCHED_KEY, {}).values()):
        expected = {k: e for k, e in expected.items() if k != UNMATCHED_KEY}
    got_grids = grid_keys(rows)
    assert got_grids == list(expected), (label, got_grids, list(expected))
    worst, diffs = 0, []
    for key, row in zip(got_grids, rows.iter_rows(named=True)):
        for column, want in expected[key].items():
            got = int(row[column])
            if got != want:
                diffs.append(f"{'/'.join(key)} {column}: got {got}, expected {want}")
                worst = max(worst, abs(got - want))
    total = {c: sum(e[c] for e in expected.values()) for c in next(iter(expected.values()))}
    got_total = {c: sum(int(v) for v in rows[c]) for c in total}
    print(f"\n{label}: expected totals {total}\n{label}: report totals   {got_total}")
    print(f"{label}: {len(diffs)} differing figures, largest {worst}" + "".join(f"\n  {d}" for d in diffs))
    assert worst <= tolerance, diffs


def latest_jiuye(truth) -> pl.DataFrame:
    rows = truth.feed_rows("jiuye", "person").filter(pl.col("person_uid").is_not_null())
    return (rows.sort(["registered_on", "file_id", "source_row"], descending=True, nulls_last=True)
            .unique("person_uid", keep="first", maintain_order=True))


def group_members(truth) -> dict[str, set]:
    dibao = truth.feed_rows("dibao", "member")
    return {
        "dibao": uids_of(dibao.filter(pl.col("status") == "在保")),
        "tekun": uids_of(truth.feed_rows("tekun", "person")),
        "canji": uids_of(truth.feed_rows("canji", "person")),
        "tuiyi": uids_of(truth.feed_rows("tuiyi", "person")),
    }


def run_csv(sample_db, tmp_path, code: str, as_of: dt.date) -> pl.DataFrame:
    result = run_reports(select_templates([code], False), as_of=as_of, out=tmp_path, fmt="csv", unmasked=True,
                         db=str(sample_db))
    return pl.read_csv(result.reports[0].file, infer_schema=False)


def cohort(truth, as_of: dt.date) -> tuple[dt.date, set]:
    """Living children who turn 6 by the first 31 August on or after as_of (born in the
    year up to six years before it)."""
    aug31 = dt.date(as_of.year if as_of <= dt.date(as_of.year, 8, 31) else as_of.year + 1, 8, 31)
    latest, earliest = dt.date(aug31.year - 6, 8, 31), dt.date(aug31.year - 7, 9, 1)
    people = truth.people_at(as_of).filter(
        pl.col("living") & pl.col("birth_date").is_between(earliest, latest))
    return aug31, uids_of(people)


# ------------------------------------------------------------------ R25 养老保险待遇领取人员名单

def test_r25_lists_living_pension_recipients_with_normal_status(report_csv, truth):
    rows = report_csv("R25")
    yanglao = truth.feed_rows("yanglao", "person")
    living = uids_of(truth.people_at().filter(pl.col("living")))
    expected = uids_of(yanglao.filter(pl.col("receiving_status") == "正常")) & living
    assert_same_people("R25", truth.uids(rows), expected)
    assert set(rows["领取状态"]) == {"正常"}
    # The dead recipients still marked 正常 (a forced case) are left out.
    dead = uids_of(yanglao.filter(pl.col("receiving_status") == "正常")) - living
    assert dead and not dead & set(truth.uids(rows))


# ------------------------------------------------------------------ R26 劳动年龄人口就业状况统计表

def test_r26_counts_working_age_residents_by_registration(report_csv, truth):
    rows = report_csv("R26")
    people = residents(truth).filter(pl.col("age").is_between(16, 59))
    latest = latest_jiuye(truth).select("person_uid", "registration_type", "hard_to_employ")
    people = people.join(latest, on="person_uid", how="left")
    expected = {}
    for key in area_grids(truth):
        here = people.filter(in_grid(key))
        kind = here["registration_type"]
        expected[key] = {
            "劳动年龄人口/合计": here.height,
            "劳动年龄人口/男": here.filter(pl.col("sex") == "男").height,
            "劳动年龄人口/女": here.filter(pl.col("sex") == "女").height,
            "就业失业登记情况/登记就业": int((kind == "就业").sum()),
            "就业失业登记情况/登记失业": int((kind == "失业").sum()),
            "就业失业登记情况/未登记（情况不明）": int(kind.is_null().sum()),
            "其中：失业人员中就业困难人员": here.filter((pl.col("registration_type") == "失业")
                                                 & (pl.col("hard_to_employ") == "是")).height,
        }
    compare_grids("R26", rows, expected)
    for row in rows.iter_rows(named=True):
        employed, unemployed = int(row["就业失业登记情况/登记就业"]), int(row["就业失业登记情况/登记失业"])
        assert int(row["就业失业登记情况/小计"]) == employed + unemployed
        assert int(row["劳动年龄人口/合计"]) == employed + unemployed + int(row["就业失业登记情况/未登记（情况不明）"])
        assert float(row["登记失业率"]) == pytest.approx(unemployed / (employed + unemployed), abs=5e-5)  # CSV: 4 decimals


# ------------------------------------------------------------------ R27 残疾人花名册

def test_r27_lists_living_disabled_persons_by_category_and_grade(report_csv, truth):
    rows = report_csv("R27")
    canji = truth.feed_rows("canji", "person")
    living = uids_of(truth.people_at().filter(pl.col("living")))
    got = truth.uids(rows)
    assert_same_people("R27", got, uids_of(canji) & living)
    dead = uids_of(canji) - living
    assert dead and not dead & set(got)  # dead certificate holders (a forced case) are left out
    # Ordered by category, then grade (in the schema's order).
    order = [(CANJI_CATEGORIES.index(c), CANJI_GRADES.index(g)) for c, g in zip(rows["残疾类别"], rows["残疾等级"])]
    assert order == sorted(order)
    # Each row shows the person's own certificate, category and grade.
    truth_cert = {u: (c, cat, g) for u, c, cat, g in canji.select(
        "person_uid", "disability_cert_no", "disability_category", "disability_grade").iter_rows()}
    wrong = [(u, r) for u, r in zip(got, rows.select("残疾人证号", "残疾类别", "残疾等级").iter_rows())
             if u in truth_cert and truth_cert[u] != r]
    print(f"R27: {len(wrong)} rows whose certificate/category/grade differ from the person's")
    assert len(wrong) <= 1, wrong[:5]


# ------------------------------------------------------------------ R28 残疾人两项补贴核查表

def test_r28_lists_disability_subsidy_misfits(report_csv, truth):
    rows = report_csv("R28")
    canji = truth.feed_rows("canji", "person")
    groups = group_members(truth)
    supported = groups["dibao"] | groups["tekun"]
    living_misfit = (pl.col("subsidies").is_in(["困难残疾人生活补贴", "两项均享受"])
                     & ~pl.col("person_uid").is_in(list(supported)))
    care_misfit = (pl.col("subsidies").is_in(["重度残疾人护理补贴", "两项均享受"])
                   & pl.col("disability_grade").is_in(["三级", "四级"]))
    expected = canji.filter(living_misfit | care_misfit)
    assert expected.height >= 2  # the sample forces both kinds of misfit
    got = truth.uids(rows)
    assert_same_people("R28", got, uids_of(expected))
    # Each row names exactly the misfits the truth shows for that person.
    flags = {u: (lm, cm) for u, lm, cm in canji.select(
        "person_uid", living_misfit.alias("lm"), care_misfit.alias("cm")).iter_rows()}
    wrong = [(u, reason) for u, reason in zip(got, rows["核查问题"])
             if u in flags and flags[u] != ("生活补贴" in reason, "护理补贴" in reason)]
    assert not wrong, wrong


# ------------------------------------------------------------------ R29 退役军人及优抚对象台账

def test_r29_lists_every_veteran_with_status(report_csv, truth):
    rows = report_csv("R29")
    tuiyi = truth.feed_rows("tuiyi", "person")
    got = truth.uids(rows)
    assert_same_people("R29", got, uids_of(tuiyi))
    dead = uids_of(truth.people_at().filter(~pl.col("living")))
    status = dict(zip(got, rows["人员状态"]))
    assert dead & set(status)  # a dead veteran still paid is in the sample
    assert all((status[u] == "死亡") == (u in dead) for u in status if u), status
    cats = [TUIYI_CATEGORIES.index(c) for c in rows["人员类别"]]
    assert cats == sorted(cats)


# ------------------------------------------------------------------ R30 退役军人统计表

def test_r30_counts_resident_veterans_per_grid_by_category_and_age(report_csv, truth):
    rows = report_csv("R30")
    tuiyi = truth.feed_rows("tuiyi", "person").select("person_uid", "person_category").unique("person_uid")
    people = residents(truth).join(tuiyi, on="person_uid")
    expected = {}
    for key in area_grids(truth):
        here = people.filter(in_grid(key))
        figures = {"总人数": here.height, "其中：女": here.filter(pl.col("sex") == "女").height}
        figures |= {f"人员类别/{c}": here.filter(pl.col("person_category") == c).height for c in TUIYI_CATEGORIES}
        figures |= {f"年龄段/{label}": here.filter(pl.col("age").is_between(lo, hi)).height
                    for label, lo, hi in TUIYI_BANDS}
        expected[key] = figures
    compare_grids("R30", rows, expected, tolerance=0)  # a few dozen people: every one counts
    for row in rows.iter_rows(named=True):
        assert int(row["总人数"]) == sum(int(row[f"人员类别/{c}"]) for c in TUIYI_CATEGORIES)
        assert int(row["总人数"]) == sum(int(row[f"年龄段/{b[0]}"]) for b in TUIYI_BANDS)


# ------------------------------------------------------------------ R31 适龄儿童入学名单

def test_r31_lists_children_turning_six_by_the_coming_31_august(report_csv, truth):
    rows = report_csv("R31")
    aug31, expected = cohort(truth, SAMPLE_AS_OF)
    assert aug31 == dt.date(2027, 8, 31)
    got = truth.uids(rows)
    assert_same_people("R31", got, expected)
    # Nobody of this cohort is in school yet (the school year 2026/27 began with
    # those born before September 2020): all 未登记.
    students = uids_of(truth.feed_rows("xueji", "student"))
    assert not expected & students
    assert set(rows["学籍状态"]) == {"未登记"}


def test_r31_shows_the_school_of_children_already_registered(sample_db, truth, tmp_path):
    """As of 1 June 2026 the coming 31 August is 2026-08-31: the children born from
    September 2019 to August 2020, whom the school register (year 2026/27) holds in
    一年级."""
    as_of = dt.date(2026, 6, 1)
    rows = run_csv(sample_db, tmp_path, "R31", as_of)
    aug31, expected = cohort(truth, as_of)
    assert aug31 == dt.date(2026, 8, 31)
    got = truth.uids(rows)
    assert_same_people("R31 as of 2026-06-01", got, expected)
    xueji = truth.feed_rows("xueji", "student").filter(pl.col("person_uid").is_not_null())
    grade = dict(zip(xueji["person_uid"], xueji["grade"]))
    school = dict(zip(xueji["person_uid"], xueji["school"]))
    wrong = []
    for uid, status, row_school, row_grade in zip(got, rows["学籍状态"], rows["就读学校"], rows["年级"]):
        want = ("在籍", school[uid], grade[uid]) if uid in grade else ("未登记", None, None)
        if uid and (status, row_school, row_grade) != want:
            wrong.append((uid, status, row_school, row_grade, want))
    enrolled = sum(1 for s in rows["学籍状态"] if s == "在籍")
    print(f"\nR31 as of 2026-06-01: {enrolled} of {rows.height} 在籍, {len(wrong)} wrong statuses")
    assert enrolled >= 0.8 * rows.height and len(wrong) <= 2, wrong[:5]


# ------------------------------------------------------------------ R32 在校学生统计表

def test_r32_counts_resident_students_per_grid_by_grade(report_csv, truth):
    rows = report_csv("R32")
    xueji = truth.feed_rows("xueji", "student").select("person_uid", "grade").unique("person_uid")
    people = residents(truth).join(xueji, on="person_uid")
    expected = {}
    for key in area_grids(truth):
        here = people.filter(in_grid(key))
        figures = {f"{'小学' if n < 6 else '初中'}/{g}": here.filter(pl.col("grade") == g).height
                   for n, g in enumerate(GRADES)}
        figures["在校学生/合计"] = here.height
        figures["在校学生/其中：女"] = here.filter(pl.col("sex") == "女").height
        expected[key] = figures
    compare_grids("R32", rows, expected)
    for row in rows.iter_rows(named=True):
        primary = sum(int(row[f"小学/{g}"]) for g in GRADES[:6])
        middle = sum(int(row[f"初中/{g}"]) for g in GRADES[6:])
        assert (int(row["小学/小计"]), int(row["初中/小计"])) == (primary, middle)
        assert int(row["在校学生/合计"]) == primary + middle


# ------------------------------------------------------------------ R33 市场主体台账

def test_r33_lists_every_business_with_premises_and_legal_representative(report_csv, truth):
    # A credit code delivered with a wrong check digit, for a business the registry of places
    # lacks, is shown as delivered (R36 lists it): the report's code names that business.
    delivered = truth.feed_rows("shichang", "place").join(
        truth.places.select(pl.col("place_uid"), pl.col("uscc").alias("true_uscc")), on="place_uid")
    true_uscc = dict(delivered.select("uscc", "true_uscc").iter_rows())
    rows = report_csv("R33").with_columns(pl.col("统一社会信用代码").replace(true_uscc))
    businesses = truth.places.filter(pl.col("status").is_not_null() & (pl.col("status") != ""))
    persons = dict(zip(truth.persons["person_uid"], truth.persons["id_number"]))
    coded = truth.houses.filter(pl.col("address_code").is_not_null())
    grids = {h: (c, g) for h, c, g in coded.select("house_uid", "community", "grid").iter_rows()}
    businesses = businesses.select("uscc", "kind", "status", "legal_rep_uid", "house_uid")
    want = {u: (k, s, persons.get(r), grids.get(h, UNMATCHED_KEY))  # premises the registry lacks: 地址未匹配
            for u, k, s, r, h in businesses.iter_rows()}
    shown = rows.select("统一社会信用代码", "主体类型", "登记状态", "法定代表人（经营者）/身份证号", "经营场所/社区",
                        "经营场所/网格")
    got = {u: (k, s, r, (c, g)) for u, k, s, r, c, g in shown.iter_rows()}
    missing, extra = set(want) - set(got), set(got) - set(want)
    wrong = {u: (got[u], want[u]) for u in set(got) & set(want) if got[u] != want[u]}
    print(f"\nR33: expected {len(want)} businesses, got {rows.height} rows; missing {len(missing)}, "
          f"extra {len(extra)}, wrong type/status/legal rep/grid {len(wrong)}")
    assert rows.height == len(got)  # one row per business
    assert len(missing) + len(extra) + len(wrong) <= 2, (missing, extra, wrong)


# ------------------------------------------------------------------ R34 个体工商户统计表

def test_r34_counts_businesses_per_grid_by_type_and_status(report_csv, truth):
    rows = report_csv("R34")
    businesses = (truth.places.filter(pl.col("status").is_not_null() & (pl.col("status") != ""))
                  .join(truth.houses.select("house_uid", "community", "grid", "address_code"), on="house_uid",
                        how="left")
                  .with_columns(pl.when(pl.col("address_code").is_null()).then(pl.lit(UNMATCHED))
                                .otherwise(pl.col(c)).alias(c) for c in ("community", "grid")))
    expected = {}
    for key in area_grids(truth):
        here = businesses.filter(in_grid(key))
        figures = {"市场主体合计": here.height}
        figures |= {f"按主体类型/{k}": here.filter(pl.col("kind") == k).height for k in BUSINESS_KINDS}
        figures |= {f"按登记状态/{s}": here.filter(pl.col("status") == s).height for s in BUSINESS_STATES}
        individual = here.filter(pl.col("kind") == "个体工商户")
        figures |= {f"其中：个体工商户登记状态/{s}": individual.filter(pl.col("status") == s).height
                    for s in BUSINESS_STATES}
        expected[key] = figures
    compare_grids("R34", rows, expected, tolerance=0)  # places link by credit code: exact


# ------------------------------------------------------------------ R35 社区人口综合统计表

def r35_expected(truth) -> dict[tuple[str, str], dict[str, int]]:
    people = residents(truth)
    houses = people.group_by("residence_house_uid").agg((pl.col("age") < 60).sum().alias("under_60"))
    people = people.join(houses, on="residence_house_uid")
    groups = group_members(truth)
    # Only the registry and the community roster say a person's 民族; only the registry
    # says 户籍 (people missing from it are counted as 流动人口: contract, golden_persons).
    roster = truth.feed_rows("community_residents", "person").filter(pl.col("ethnicity").is_not_null())
    told = uids_of(roster) | uids_of(truth.persons.filter(pl.col("in_registry")))
    lost = people.filter(pl.col("registered") & ~pl.col("in_registry")).height
    print(f"R35: {lost} truth 户籍 residents are missing from the registry (counted as 流动人口)")
    expected = {}
    for key in area_grids(truth):
        here = people.filter(in_grid(key))
        known = here.filter(pl.col("person_uid").is_in(list(told)))
        registered = pl.col("registered") & pl.col("in_registry")
        expected[key] = {
            "常住人口": here.height,
            "性别/男": here.filter(pl.col("sex") == "男").height,
            "性别/女": here.filter(pl.col("sex") == "女").height,
            "年龄段/0-6岁": here.filter(pl.col("age") <= 6).height,
            "年龄段/7-17岁": here.filter(pl.col("age").is_between(7, 17)).height,
            "年龄段/18-59岁": here.filter(pl.col("age").is_between(18, 59)).height,
            "年龄段/60岁及以上": here.filter(pl.col("age") >= 60).height,
            "民族/汉族": known.filter(pl.col("ethnicity") == "汉族").height,
            "民族/少数民族": known.filter(pl.col("ethnicity") != "汉族").height,
            "民族/未登记": here.height - known.height,
            "户籍/户籍人口": here.filter(registered).height,
            "户籍/流动人口": here.filter(~registered).height,
            "重点人群/高龄老人（80岁及以上）": here.filter(pl.col("age") >= 80).height,
            "重点人群/独居/空巢老人": here.filter((pl.col("age") >= 60) & (pl.col("under_60") == 0)).height,
            "重点人群/持证残疾人": here.filter(pl.col("person_uid").is_in(list(groups["canji"]))).height,
            "重点人群/优抚对象": here.filter(pl.col("person_uid").is_in(list(groups["tuiyi"]))).height,
            "重点人群/低保对象": here.filter(pl.col("person_uid").is_in(list(groups["dibao"]))).height,
            "重点人群/特困人员": here.filter(pl.col("person_uid").is_in(list(groups["tekun"]))).height,
        }
    return expected


def test_r35_counts_residents_per_grid_by_sex_age_ethnicity_registration_and_group(report_csv, truth):
    compare_grids("R35", report_csv("R35"), r35_expected(truth))


@pytest.fixture(scope="module")
def masked_workbooks(sample_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("work_people_xlsx")
    result = run_reports(select_templates(CODES, False), as_of=SAMPLE_AS_OF, out=out, db=str(sample_db),
                         unmasked=False)
    return {r.code: r.file for r in result.reports}


def test_r35_workbook_total_row_is_the_column_sums_and_prints_landscape(masked_workbooks, report_csv, truth):
    sheet = openpyxl.load_workbook(masked_workbooks["R35"]).active
    assert sheet["A1"].value == "社区人口综合统计表"
    assert sheet["C3"].value == "常住人口" and sheet["D3"].value == "性别"
    assert [sheet.cell(4, c).value for c in (4, 5)] == ["男", "女"]
    keys = area_grids(truth)
    data = [r for r in sheet.iter_rows(min_row=5, values_only=True) if r[:2] in keys]
    total = next(r for r in sheet.iter_rows(min_row=5, values_only=True) if r[0] == "合计")
    assert [r[:2] for r in data] == grid_keys(report_csv("R35"))  # the rows test_r35 checks
    width = len(data[0])
    for c in range(2, width):
        assert total[c] == sum(r[c] for r in data), c
    # Each breakdown adds up to the residents (sex / age / ethnicity / registration): a
    # person whose sex or birth date nobody delivered counts under 不详.
    groups, header = [], []
    for c in range(1, width + 1):
        if sheet.cell(3, c).value and sheet.cell(4, c).value:  # a group header starts here
            groups.append(sheet.cell(3, c).value)
        lone = sheet.cell(4, c).value is None
        header.append(sheet.cell(3, c).value if lone else f"{groups[-1]}/{sheet.cell(4, c).value}")
        if lone:
            groups.append(None)
    ages = ["0-6岁", "7-17岁", "18-59岁", "60岁及以上", "不详"]
    for row in data + [total]:
        figures = dict(zip(header, row))
        residents = figures["常住人口"]
        assert figures["性别/男"] + figures["性别/女"] + figures["性别/不详"] == residents, row
        assert sum(figures[f"年龄段/{a}"] for a in ages) == residents, row
        assert figures["户籍/户籍人口"] + figures["户籍/流动人口"] == residents, row
        assert figures["民族/汉族"] + figures["民族/少数民族"] + figures["民族/未登记"] == residents, row
    figures = dict(zip(header, total))
    print(f"R35 合计: 常住人口 {figures['常住人口']} = 男 {figures['性别/男']} + 女 {figures['性别/女']} "
          f"+ 不详 {figures['性别/不详']}")
    assert sheet.page_setup.orientation == "landscape" and sheet.sheet_properties.pageSetUpPr.fitToPage


# ------------------------------------------------------------------ R36 数据比对纠错报告

# defect code -> the kinds of correction that report it
DEFECT_KINDS = {
    "bad_checksum": {"身份证号无效"},
    "excel_number_id": {"身份证号无效"},
    "id15": {"身份证号为15位旧号码"},
    "other_persons_id": {"身份证号属于他人"},
    "missing_id": {"身份证号缺失", "无法与公安库比对"},
    "homophone": {"姓名与公安库不一致"},
    "name_typo": {"姓名与公安库不一致"},
    "empty_name": {"姓名缺失"},
    "swapped_day_month": {"出生日期与公安库不一致"},
    "impossible_date": {"日期无法识别"},
    "bad_uscc_checksum": {"统一社会信用代码无效"},
}
# Only reportable when the row's person is in the registry (the comparison needs them).
NEEDS_REGISTRY = {"homophone", "name_typo", "empty_name", "swapped_day_month"}


def test_r36_lists_the_planted_defects_with_file_row_and_field(report_csv, truth):
    rows = report_csv("R36")
    defects = pl.read_csv(TRUTH / "defects.csv", infer_schema=False).with_columns(
        pl.col("source_row").cast(pl.Int64))
    registry = set(truth.persons.filter(pl.col("in_registry"))["person_uid"])
    row_people = (truth.records.filter(pl.col("entity_type") == "person")
                  .group_by("file", "source_row").agg(pl.col("entity_uid")))
    people_of = {(f, r): set(u) for f, r, u in row_people.iter_rows()}
    reported = {}
    for file, row, field, kind in rows.select("报送文件", "行号", "字段", "问题类型").iter_rows():
        reported.setdefault((file, int(row), field.strip()), set()).add(kind)
    shortfalls = []
    for code, kinds in DEFECT_KINDS.items():
        planted = defects.filter(pl.col("defect") == code)
        if code in NEEDS_REGISTRY:
            planted = planted.filter(pl.struct("file", "source_row").map_elements(
                lambda k: bool(people_of.get((k["file"], k["source_row"]))) and
                people_of[(k["file"], k["source_row"])] <= registry, return_dtype=pl.Boolean))
        found = sum(1 for f, r, c in planted.select("file", "source_row", "column").iter_rows()
                    if reported.get((f, r, c.strip()), set()) & kinds)
        print(f"R36 {code}: {found} of {planted.height} reported with file, row, field and kind")
        if planted.height and found < 0.9 * planted.height:
            shortfalls.append((code, found, planted.height))
    assert not shortfalls, shortfalls


def test_r36_lists_dead_people_still_active_and_every_correction(report_csv, truth, sample_db):
    rows = report_csv("R36")
    dead = uids_of(truth.persons.filter(pl.col("status") == "死亡"))
    active = [("dibao", "member", pl.col("status") == "在保"), ("tekun", "person", None),
              ("gaoling", "person", pl.col("payment_status") == "正常发放"),
              ("yanglao", "person", pl.col("receiving_status") == "正常"), ("tuiyi", "person", None)]
    reported = {(f, int(r)) for f, r, k in rows.select("报送文件", "行号", "问题类型").iter_rows() if "死亡" in k}
    expected = set()
    for feed, role, condition in active:
        feed_rows = truth.feed_rows(feed, role)
        if condition is not None:
            feed_rows = feed_rows.filter(condition)
        expected |= {(f, r) for f, r, u in feed_rows.select("file", "source_row", "person_uid").iter_rows()
                     if u in dead}
    print(f"\nR36 dead but active: expected {len(expected)} rows, reported {len(expected & reported)}")
    assert expected and len(expected - reported) <= max(2, len(expected) // 100), sorted(expected - reported)
    # The death date once, in full (as R07 shows it), in 公安库的值; not again in 说明, whose
    # dates are cut to the year as birth dates are.
    dead_rows = rows.filter(pl.col("问题类型").str.contains("已死亡但仍在享受"))
    assert dead_rows["公安库的值/其他"].str.contains(r"^死亡（\d{4}-\d{2}-\d{2}）$").any()
    assert not dead_rows["说明"].str.contains(r"\d{4}").any()
    with duckdb.connect(str(sample_db), read_only=True) as con:
        n, delivered, registry = con.execute(
            "SELECT count(*), count(delivered_value), count(registry_value) FROM corrections").fetchall()[0]
    assert rows.height == n
    # Each value lands in exactly one of the ID / phone / birth date / other columns.
    for side, want in (("报送的值", delivered), ("公安库的值", registry)):
        parts = [rows[f"{side}/{c}"].is_not_null().cast(int) for c in ("身份证号", "电话", "出生日期", "其他")]
        assert int((sum(parts) > 1).sum()) == 0
        assert sum(int(p.sum()) for p in parts) == want, side


_LONG_NUMBER = re.compile(r"\d{15,}")


def test_masked_workbooks_show_no_full_id_number(masked_workbooks):
    """A masked run shows no 15- or 18-digit number anywhere (IDs in R36's delivered and
    registry values, the ID inside a 残疾人证号, legal representatives)."""
    assert set(masked_workbooks) == set(CODES)
    leaks, masked_ids = [], 0
    for code, path in masked_workbooks.items():
        for row in openpyxl.load_workbook(path).active.iter_rows(values_only=True):
            for value in row:
                if isinstance(value, str):
                    text = re.sub(r"\s", "", unicodedata.normalize("NFKC", value))
                    if _LONG_NUMBER.search(text):
                        leaks.append((code, value))
                    masked_ids += bool(re.fullmatch(r"\d{6}\*{6,}[\dXx]{4}", text))
    assert not leaks, leaks[:10]
    assert masked_ids > 1000  # the masked IDs are there, only hidden


def test_r36_row_numbers_have_no_thousands_separator_and_the_list_ends_with_its_count(masked_workbooks):
    sheet = openpyxl.load_workbook(masked_workbooks["R36"]).active
    assert sheet["D3"].value == "行号"
    rows = [r for r in sheet.iter_rows(min_row=5) if isinstance(r[0].value, int)]
    assert rows and all(r[3].number_format == "0" for r in rows)
    after = sheet.cell(rows[-1][0].row + 1, 1).value
    assert after == f"合计：{len(rows):,} 条"


def test_landlines_keep_their_area_code_when_masked(masked_workbooks):
    phones = [v for path in masked_workbooks.values() for r in openpyxl.load_workbook(path).active.iter_rows(
        values_only=True) for v in r if isinstance(v, str) and "****" in v and len(v) <= 14]
    landlines = [v for v in phones if v.startswith("0")]
    assert landlines and all(re.fullmatch(r"0\d{2,3}-\*{4}\d{4}", v) for v in landlines), landlines[:5]
    assert all(re.fullmatch(r"1\d{2}\*{4}\d{4}", v) for v in phones if v.startswith("1"))


def test_the_area_filter_limits_businesses_and_corrections(report_csv, truth):
    area = one_grid(truth)
    whole, one = report_csv("R33"), report_csv("R33", **area)
    assert set(grid_keys(one, "经营场所/社区", "经营场所/网格")) == {(area["community"], area["grid"])}
    assert 0 < one.height < whole.height
    corrections = report_csv("R36", **area)
    assert 0 < corrections.height < report_csv("R36").height
