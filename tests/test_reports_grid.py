"""Reports R37–R40 (the grid platform's events and the grid workers' visits) on the
linked sample area, checked against the sample's truth (sample_data/_truth: events.csv,
special_groups.csv, persons.csv, houses.csv, places.csv), never against the reports' SQL."""

from __future__ import annotations

import datetime as dt
import unicodedata

import openpyxl
import polars as pl
import pytest
from conftest import SAMPLE_AS_OF, TRUTH, copy_sample
from test_reports_unmatched import UNMATCHED_KEY, area_grids, grid_keys, unmatched_grids

from rootdb.reports import run_reports, select_templates

EVALUATED = ("满意", "基本满意", "不满意")


def _events() -> pl.DataFrame:
    return pl.read_csv(TRUTH / "events.csv", infer_schema=False)


def _number(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)


@pytest.fixture(scope="module")
def r37_at(sample_db, tmp_path_factory):
    """`r37_at(date)`: R37 run unmasked as CSV at that as-of date, read back as text."""
    db = copy_sample(sample_db, tmp_path_factory.mktemp("r37_db"))
    out = tmp_path_factory.mktemp("r37")

    def run(as_of: dt.date) -> pl.DataFrame:
        result = run_reports(select_templates(["R37"], False), as_of=as_of, out=out / as_of.isoformat(), fmt="csv",
                             unmasked=True, db=str(db))
        return pl.read_csv(result.reports[0].file, infer_schema=False)

    return run


# ------------------------------------------------------------------ R37

def _r37_expected(truth, as_of: dt.date) -> dict:
    """Per (社区, 网格): the events reported from the 1st of the month to the as-of date, as
    they stood on it (one closed later was open then: not closed, not on time, not evaluated)."""
    later = (pl.col("status") == "已办结") & (pl.col("closed_at").str.slice(0, 10) > as_of.isoformat())
    month = _events().filter(pl.col("reported_at").str.slice(0, 10).is_between(
        pl.lit(as_of.replace(day=1).isoformat()), pl.lit(as_of.isoformat()))).with_columns(
        pl.when(later).then(pl.lit("处置中")).otherwise(pl.col("status")).alias("status"),
        pl.when(later).then(None).otherwise(pl.col("on_time")).alias("on_time"),
        pl.when(later).then(None).otherwise(pl.col("satisfaction")).alias("satisfaction"))
    expected = {}
    for key in area_grids(truth):
        here = month.filter((pl.col("community") == key[0]) & (pl.col("grid") == key[1]))
        if key == UNMATCHED_KEY and here.is_empty():
            continue
        closed = here.filter(pl.col("status") == "已办结")
        evaluated = here.filter(pl.col("satisfaction").is_in(EVALUATED))
        satisfied = evaluated.filter(pl.col("satisfaction") != "不满意")
        on_time = here.filter(pl.col("on_time") == "true")
        expected[key] = {
            "事件数": here.height, "办理情况/已办结": closed.height, "办理情况/按时办结": on_time.height,
            "办理情况/办结率": closed.height / here.height if here.height else None,
            "办理情况/按时办结率": on_time.height / closed.height if closed.height else None,
            "满意度评价/参评件数": evaluated.height, "满意度评价/满意及基本满意": satisfied.height,
            "满意度评价/不满意": evaluated.height - satisfied.height,
            "满意度评价/满意率": satisfied.height / evaluated.height if evaluated.height else None,
        }
    return expected


@pytest.mark.parametrize("as_of", [dt.date(2026, 10, 31), SAMPLE_AS_OF], ids=["october", "as_of_day"])
def test_r37_counts_the_months_events_per_grid_exactly(r37_at, truth, as_of):
    rows = r37_at(as_of)
    expected = _r37_expected(truth, as_of)
    assert grid_keys(rows) == list(expected)
    assert sum(e["事件数"] for e in expected.values()) > 0, "the area has events in the month"
    for key, row in zip(grid_keys(rows), rows.iter_rows(named=True)):
        for column, want in expected[key].items():
            got = _number(row[column])
            if want is None or isinstance(want, float):
                assert (got is None) == (want is None) and (want is None or abs(got - want) < 5e-5), (key, column)
            else:
                assert got == want, (key, column, got, want)


# ------------------------------------------------------------------ R38

def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _short(address: str) -> str:
    return address.split("社区", 1)[1]


def test_r38_lists_exactly_the_overdue_events_with_days_person_place_and_grid(report_csv, truth):
    rows = report_csv("R38")
    overdue = _events().filter(pl.col("overdue") == "true")
    assert overdue.height > 0, "the area has overdue events"
    assert sorted(rows["事件编号"]) == sorted(overdue["event_no"])
    days = [int(d) for d in rows["超期天数"]]
    assert days == sorted(days, reverse=True), "most overdue first"
    names = dict(zip(truth.persons["person_uid"], truth.persons["name"]))
    houses = {h: (a, c) for h, a, c in truth.houses.select("house_uid", "standard_address", "address_code").iter_rows()}
    places = dict(zip(truth.places["place_uid"], truth.places["name"]))
    got = {r["事件编号"]: r for r in rows.iter_rows(named=True)}
    for event in overdue.iter_rows(named=True):
        row = got[event["event_no"]]
        assert int(row["超期天数"]) == int(event["days_overdue"]), event["event_no"]
        assert (row["社区"], row["网格"]) == (event["community"], event["grid"]), event["event_no"]
        assert row["办理状态"] == event["status"] and row["办理状态"] not in ("已办结", "已退回")
        assert row["办理期限"] in (event["deadline"], event["deadline"][:10])  # a date alone: as delivered
        assert row["当事人"] == names.get(event["person_uid"]), event["event_no"]
        if event["location_type"] == "place":  # names as delivered: （二分店） or (二分店)
            assert nfkc(row["事发地点"]) == nfkc(places[event["location_uid"]])
        elif event["location_type"] == "house" and houses[event["location_uid"]][1]:
            assert row["事发地点"] == _short(houses[event["location_uid"]][0])
        elif event["location_type"] == "spot":
            assert nfkc(row["事发地点"]) == nfkc(event["location_text"])
        assert row["处置部门"]


# ------------------------------------------------------------------ R39 / R40

def _special(truth) -> pl.DataFrame:
    """special_groups.csv with the 社区 / 网格 reports show (地址未匹配 for a house the
    standard address registry lacks)."""
    seen = unmatched_grids(truth, truth.people_at()).select("person_uid", "community", "grid")
    return (pl.read_csv(TRUTH / "special_groups.csv", infer_schema=False)
            .drop("community", "grid").join(seen, on="person_uid", how="left"))


def _death_untold(truth) -> pl.DataFrame:
    """Truth persons dead by the as-of date whose death no delivered file tells: every
    report still counts them as living residents (unmatched_grids), so R39/R40 may list
    one special.csv leaves out. None of them had a visit in the 90 days (so R39 counts
    each as not visited, and R40 lists each)."""
    seen = unmatched_grids(truth, truth.people_at())
    untold = seen.filter(pl.col("resident") & ~pl.col("living")).select("person_uid", "residence_house_uid",
                                                                         "community", "grid")
    visits = pl.read_csv(TRUTH / "visits.csv", infer_schema=False).filter(
        pl.col("visit_date").is_between(pl.lit((SAMPLE_AS_OF - dt.timedelta(days=89)).isoformat()),
                                        pl.lit(SAMPLE_AS_OF.isoformat())))
    recent = set(visits["person_uid"].drop_nulls()) | set(
        untold.join(visits, left_on="residence_house_uid", right_on="house_uid")["person_uid"])
    assert not recent & set(untold["person_uid"]), "a visit to someone dead would hide among the visited"
    return untold


def test_r39_counts_special_group_residents_and_their_visits_per_grid(report_csv, truth):
    rows = report_csv("R39")
    special = _special(truth)
    # Someone dead whose death no file tells counts where R40 lists them (checked there).
    listed = set(truth.uids(report_csv("R40")))
    untold = _death_untold(truth).filter(pl.col("person_uid").is_in(list(listed)))
    expected = {}
    for key in area_grids(truth):
        here = special.filter((pl.col("community") == key[0]) & (pl.col("grid") == key[1]))
        if key == UNMATCHED_KEY and here.is_empty():
            continue
        visited = here.filter(pl.col("visited_90d") == "true").height
        dead = untold.filter((pl.col("community") == key[0]) & (pl.col("grid") == key[1])).height
        expected[key] = (here.height + dead, visited, here.height - visited + dead)
    assert grid_keys(rows) == list(expected)
    got = {k: (int(r["重点人群人数"]), int(r["90天内已走访"]), int(r["未走访"]))
           for k, r in zip(grid_keys(rows), rows.iter_rows(named=True))}
    assert got == expected
    for row in rows.iter_rows(named=True):
        assert abs(float(row["走访覆盖率"]) - int(row["90天内已走访"]) / int(row["重点人群人数"])) < 5e-5
    assert 0 < sum(v[2] for v in expected.values()) < sum(v[0] for v in expected.values())


def test_r40_names_exactly_the_special_group_residents_not_visited_in_90_days(report_csv, truth):
    rows = report_csv("R40")
    special = _special(truth).filter(pl.col("visited_90d") == "false")
    assert special.filter(pl.col("last_visit").is_null()).height > 0, "some never visited"
    assert special.filter(pl.col("last_visit").is_not_null()).height > 0, "some visited long ago"
    # by ID; a row without one (a newborn no file gives an ID) by a name no one else bears
    by_id = {i: u for i, u in zip(truth.persons["id_number"], truth.persons["person_uid"]) if i}
    uids = [by_id.get(i) if i else named for i, named in zip(rows["身份证号"], truth.uids(rows))]
    assert None not in uids, "a row names nobody in the truth"
    untold = set(_death_untold(truth)["person_uid"])
    print(f"R40: {len(set(uids) & untold)} listed whose death no file tells")
    assert sorted(u for u in uids if u not in untold) == sorted(special["person_uid"])
    names = dict(zip(truth.persons["person_uid"], truth.persons["name"]))
    want = {r["person_uid"]: r for r in special.iter_rows(named=True)}
    for uid, row in zip(uids, rows.iter_rows(named=True)):
        if uid in untold:
            continue
        person = want[uid]
        assert row["姓名"] == names[uid]
        assert (row["社区"], row["网格"]) == (person["community"], person["grid"]), uid
        assert row["最近走访日期"] == (person["last_visit"] or "从未走访"), uid
        assert row["重点人群"] == person["groups"], uid
        if person["last_visit"]:
            assert int(row["距今天数"]) == (SAMPLE_AS_OF - dt.date.fromisoformat(person["last_visit"])).days >= 90


# ------------------------------------------------------------------ the workbooks as printed

@pytest.fixture(scope="module")
def workbooks(sample_db, tmp_path_factory):
    db = copy_sample(sample_db, tmp_path_factory.mktemp("grid_xlsx_db"))
    result = run_reports(select_templates(["R37", "R38", "R39", "R40"], False), as_of=dt.date(2026, 10, 31),
                         out=tmp_path_factory.mktemp("grid_xlsx"), db=str(db))
    return {r.code: openpyxl.load_workbook(r.file).active for r in result.reports}


def test_r37_workbook_totals_are_sums_and_rates_of_the_totals(workbooks):
    sheet = workbooks["R37"]
    assert sheet["A1"].value == "网格事件办理情况统计表" and "单位：件" in str(sheet["F2"].value)
    assert [sheet.cell(3, c).value for c in (3, 4, 8)] == ["事件数", "办理情况", "满意度评价"]
    values = list(sheet.iter_rows(min_row=5, values_only=True))
    total = next(r for r in values if r[0] == "合计")
    data = values[:values.index(total)]
    for c in (2, 3, 4, 7, 8, 9):
        assert total[c] == sum(r[c] for r in data), c
    assert total[5] == pytest.approx(total[3] / total[2]) and total[6] == pytest.approx(total[4] / total[3])
    assert total[10] == pytest.approx(total[8] / total[7])
    assert sheet.cell(5, 6).number_format == "0.0%"


def test_r38_and_r40_workbooks_mask_phones_and_ids(workbooks):
    r38 = list(workbooks["R38"].iter_rows(min_row=4, values_only=True))
    header = [c.value for c in workbooks["R38"][3]]
    phones = [r[header.index("联系电话")] for r in r38 if isinstance(r[0], int) and r[header.index("联系电话")]]
    assert phones and all("****" in p for p in phones)
    assert any(str(r[0]).startswith("合计：") and "件" in str(r[0]) for r in r38)
    r40 = list(workbooks["R40"].iter_rows(min_row=4, values_only=True))
    header = [c.value for c in workbooks["R40"][3]]
    people = [r for r in r40 if isinstance(r[0], int)]
    ids = [r[header.index("身份证号")] for r in people]
    assert people and any(ids) and all("********" in i for i in ids if i)  # empty: a person no file gives an ID
    assert "从未走访" in {r[header.index("最近走访日期")] for r in people}
