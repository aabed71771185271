"""R41 楼栋慢病分色表（红黄蓝） and its floor plans, on the linked sample area, against the
sample's truth (sample_data/_truth): each residential building's households, their
colours (红 a living chronic patient with 管理等级 三级 or 严重精神障碍 lives there, 黄
another patient, 蓝 none), empty flats and the 责任医生 most of its patients have are
worked out here from the true persons, houses and manbing rows — the level, diseases
and doctor read from the delivered file's cells — never from the report's SQL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from conftest import SAMPLE_AS_OF, TRUTH
from test_reports_unmatched import UNMATCHED, unmatched_grids

from rootdb.reports import run_reports, select_templates
from rootdb.reports.floorplans import CELL_H, TOP, UNPLACED

SVG = "{http://www.w3.org/2000/svg}"
COLOUR_CLASSES = {"r": "红", "y": "黄", "b": "蓝", "e": "空"}
HEADERS = {"diseases": ("疾病类型", "慢病类型", "慢性病种类", "疾病名称", "病种"),
           "level": ("管理等级", "管理级别"), "doctor": ("责任医生", "责任医师", "管理医生")}


# ------------------------------------------------------------------ the truth

def _manbing_cells() -> pl.DataFrame:
    """(file, source_row, diseases, level, doctor) of every data row of the delivered
    manbing files, as written in their cells (source_row: the row number a spreadsheet
    shows, as records.csv counts it)."""
    files = pl.read_csv(TRUTH / "files.csv", infer_schema=False).filter(pl.col("feed") == "manbing")
    rows = []
    for file, header_row in files.select("file", "header_row").iter_rows():
        sheet = openpyxl.load_workbook(TRUTH.parent / file, read_only=True).active
        cells = list(sheet.iter_rows(values_only=True))
        header = [str(h or "").replace(" ", "").replace("\u3000", "") for h in cells[int(header_row) - 1]]
        where = {k: next(i for i, h in enumerate(header) if h in names) for k, names in HEADERS.items()}
        for number, row in enumerate(cells[int(header_row):], start=int(header_row) + 1):
            rows.append({"file": file, "source_row": number,
                         **{k: None if row[i] is None else str(row[i]).strip() for k, i in where.items()}})
    return pl.DataFrame(rows, schema={"file": pl.String, "source_row": pl.Int64, "diseases": pl.String,
                                      "level": pl.String, "doctor": pl.String})


def _residential(truth) -> pl.DataFrame:
    """The registry's 住宅 houses, `compound` as R41 shows it: the standard address between
    the community and the building, so a compound the registry writes after its doorplate
    (健康路171号阳光城花园) keeps it."""
    houses = truth.houses.filter((pl.col("usage") == "住宅") & pl.col("address_code").is_not_null())
    shown = pl.col("standard_address").str.split_exact(pl.col("community"), 1).struct[1] \
        .str.split_exact(pl.col("building"), 1).struct[0]
    return houses.with_columns(pl.when((pl.col("compound").fill_null("") != "") & (pl.col("building").fill_null("") != ""))
                               .then(shown).otherwise(pl.col("compound")).alias("compound"))


def _house_colours(truth) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every residential house of the registry (community, compound, building) and, as
    the row 地址未匹配 (compound and building ""), every house the registry lacks where
    residents live, with its colour (None: empty); and the living chronic patients living
    in a house (entity_uid, house_uid, red, doctor)."""
    people = unmatched_grids(truth, truth.people_at()).filter(pl.col("resident"))
    key = ["community", "compound", "building"]
    houses = _residential(truth).filter(pl.col("grid").is_not_null()).select("house_uid", *key)
    unplaced = people.filter(pl.col("grid") == UNMATCHED).select(
        pl.col("residence_house_uid").unique().alias("house_uid"), pl.lit(UNMATCHED).alias("community"),
        pl.lit("").alias("compound"), pl.lit("").alias("building"))
    houses = pl.concat([houses, unplaced])
    residents = people.group_by(pl.col("residence_house_uid").alias("house_uid")).len("residents")
    patient_rows = (truth.records.filter((pl.col("role") == "person") & pl.col("file").str.starts_with("manbing"))
                    .join(_manbing_cells(), on=["file", "source_row"])
                    .join(people.select(pl.col("person_uid").alias("entity_uid"), "residence_house_uid"),
                          on="entity_uid"))
    red_row = (pl.col("level").str.contains("三|3") | pl.col("diseases").str.contains("严重精神障碍")).fill_null(False)
    patients = patient_rows.sort("file", "source_row").group_by("entity_uid").agg(
        pl.col("residence_house_uid").first().alias("house_uid"), red_row.any().alias("red"),
        pl.col("doctor").drop_nulls().last().alias("doctor"))
    per_house = patients.group_by("house_uid").agg(pl.len().alias("patients"), pl.col("red").any())
    colours = houses.join(residents, on="house_uid", how="left").join(per_house, on="house_uid", how="left") \
        .with_columns(pl.when(pl.col("residents").is_null()).then(None)
                      .when(pl.col("red")).then(pl.lit("红"))
                      .when(pl.col("patients") > 0).then(pl.lit("黄")).otherwise(pl.lit("蓝")).alias("colour"))
    return colours, patients


def _expected(truth) -> pl.DataFrame:
    """Per residential building of the registry (community, compound, building): 户数,
    红, 黄, 蓝, 空置 and 责任医生 as the contract defines them, from the truth; then the
    row 地址未匹配 (compound and building ""): the houses the registry lacks where
    residents live, 空置 unknown."""
    colours, patients = _house_colours(truth)
    key = ["community", "compound", "building"]
    counts = colours.group_by(key).agg(
        pl.col("colour").is_not_null().sum().alias("户数"), (pl.col("colour") == "红").sum().alias("红"),
        (pl.col("colour") == "黄").sum().alias("黄"), (pl.col("colour") == "蓝").sum().alias("蓝"),
        pl.col("colour").is_null().sum().alias("空置（套）")).with_columns(
        pl.when(pl.col("community") != UNMATCHED).then(pl.col("空置（套）")).cast(pl.Int64))
    doctors = (patients.filter(pl.col("doctor").is_not_null())
               .join(colours.select("house_uid", *key), on="house_uid")
               .group_by(*key, "doctor").len().sort(["len", "doctor"], descending=[True, False])
               .group_by(key, maintain_order=True).agg(pl.col("doctor").first().alias("责任医生")))
    return counts.join(doctors, on=key, how="left")


def _report(rows: pl.DataFrame) -> pl.DataFrame:
    """R41's CSV rows keyed as the truth is."""
    return rows.select(pl.col("社区").alias("community"), pl.col("小区（街路）").fill_null("").alias("compound"),
                       pl.col("楼栋").fill_null("").alias("building"),
                       *[pl.col(c).cast(pl.Int64) for c in ("户数", "红", "黄", "蓝", "空置（套）")], "责任医生")


# ------------------------------------------------------------------ the workbook's numbers

def test_r41_counts_every_buildings_households_in_their_colours(report_csv, truth):
    expected = _expected(truth)
    got = _report(report_csv("R41"))
    key = ["community", "compound", "building"]
    assert got.height == expected.height == got.select(key).n_unique(), "one row per residential building"
    both = expected.join(got, on=key, how="full", suffix="_got", coalesce=True)
    wrong = both.filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_got"))
                                          for c in ("户数", "红", "黄", "蓝", "空置（套）", "责任医生")))
    print(f"R41: {expected.height} buildings, {expected['红'].sum()} 红 {expected['黄'].sum()} 黄 "
          f"{expected['蓝'].sum()} 蓝; wrong {wrong.head(5).to_dicts()}")
    assert wrong.is_empty()
    assert expected["红"].sum() > 0 and expected["黄"].sum() > 0 and expected["空置（套）"].sum() > 0
    assert (got["红"] + got["黄"] + got["蓝"] == got["户数"]).all()


def test_r41_lists_buildings_grid_by_grid_with_their_grid(report_csv, truth):
    rows = report_csv("R41")
    assert rows["网格"][-1] == UNMATCHED and rows["社区"][-1] == UNMATCHED, "the sample has such residents"
    rows = rows[:-1]
    houses = _residential(truth)
    grids = dict(houses.group_by("community", "compound", "building").agg(pl.col("grid").first())
                 .select(pl.concat_str("community", "compound", "building"), "grid").iter_rows())
    assert [grids[c + x + b] for c, x, b in rows.select("社区", "小区（街路）", "楼栋").iter_rows()] == rows["网格"].to_list()
    order = houses.group_by("community", "grid").agg(pl.col("address_code").min()).sort("address_code")
    seen = list(dict.fromkeys(rows.select(pl.concat_str("社区", "网格")).to_series().to_list()))
    assert seen == order.select(pl.concat_str("community", "grid")).to_series().to_list()


# ------------------------------------------------------------------ the pictures

@pytest.fixture(scope="module")
def pictures(sample_db, tmp_path_factory):
    """R41 run as a workbook (masked, as a doctor gets it) on a copy of the sample: the
    run and its pictures' folder."""
    from conftest import copy_sample

    root = tmp_path_factory.mktemp("r41")
    db = copy_sample(sample_db, root / "db")
    out = root / "out"
    run = run_reports(select_templates(["R41"], False), as_of=SAMPLE_AS_OF, out=out, db=str(db))
    return run, Path(run.reports[0].pictures)


def _cells(svg: ET.Element, dashed: bool = False) -> list[tuple[str, str, float]]:
    """(colour, room, y) of each house cell of a floor plan, left to right and top down:
    the registry's houses, or (`dashed`) the flats it lacks drawn with a dashed outline."""
    cells = [(float(rect.get("y")), float(rect.get("x")), COLOUR_CLASSES[classes[0]],
              g.find(f"{SVG}text").text)
             for g in svg.iter(f"{SVG}g") for classes in [(g.get("class") or "").split()]
             if classes and classes[0] in COLOUR_CLASSES and (UNPLACED in classes[1:]) == dashed
             for rect in [g.find(f"{SVG}rect")]]
    return [(colour, room, y) for y, _, colour, room in sorted(cells)]


def test_r41_draws_one_floor_plan_per_building_in_its_colours(pictures, truth):
    run, folder = pictures
    assert folder.name == "R41_楼栋平面图" and folder.parent == Path(run.out)
    assert Path(run.reports[0].file).is_file()
    expected = _expected(truth).filter(pl.col("community") != UNMATCHED)  # no floor plan for that row
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.svg"))
    assert files == sorted(f"{c}/{x}{b}.svg" for c, x, b in expected.select("community", "compound", "building")
                           .iter_rows())
    for c, x, b, households, red, yellow, blue, empty, doctor in expected.iter_rows():
        svg = ET.parse(folder / c / f"{x}{b}.svg").getroot()
        assert svg.tag == f"{SVG}svg"
        colours = Counter(colour for colour, _, _ in _cells(svg))
        assert colours == Counter({"红": red, "黄": yellow, "蓝": blue, "空": empty}) - Counter(), (x, b)
        text = "".join(svg.itertext())
        assert f"{x} {b}" in text and (doctor is None or doctor in text)


def test_r41_draws_the_flats_the_registry_lacks_dashed_in_their_building(pictures, truth):
    """A flat of the area the registry lacks where residents live (counted in the row
    地址未匹配, not in its building's: see the test above) is drawn in the plan of the
    registry's residential building its address names, in its colour, dashed, and the
    plan's legend counts them; nothing else is dashed."""
    _, folder = pictures
    colours, _ = _house_colours(truth)
    key = ["community", "compound", "building"]
    registry = truth.houses.filter(pl.col("address_code").is_not_null())
    buildings = (_residential(truth).select("house_uid", pl.col("compound").alias("shown"))
                 .join(registry.select("house_uid", *key), on="house_uid").select(*key, "shown").unique())
    missing = (truth.houses.filter(pl.col("address_code").is_null() & pl.col("community").is_not_null()
                                   & pl.col("room").is_not_null())
               .join(colours.filter(pl.col("colour").is_not_null()).select("house_uid", "colour"),
                     on="house_uid")
               .join(buildings, on=key)
               .join(registry, on=[*key, "unit", "room"], how="anti"))  # a room the registry has is its own
    where = missing.select("community", "shown", "building", "room", "colour")
    expected = Counter((f"{c}/{x}{b}.svg", room, colour) for c, x, b, room, colour in where.iter_rows())
    got = Counter()
    for path in folder.rglob("*.svg"):
        svg = ET.parse(path).getroot()
        cells = _cells(svg, dashed=True)
        got.update((path.relative_to(folder).as_posix(), room, colour) for colour, room, _ in cells)
        if cells:
            assert f"虚线框：标准地址库中没有的房屋，另有 {len(cells)} 户" in "".join(svg.itertext()), path
    print(f"R41 dashed flats: {dict(got)}")
    assert got == expected and len(expected) >= 1


def _page_rows(page: Path) -> list[tuple[str, list[int | None]]]:
    """A community page's list: per line, its first cell (a building, 楼栋小计, 地址未匹配,
    合计) and its 户数, 红, 黄, 蓝 and 空置 (None: blank)."""
    body = re.search(r"<tbody>(.*?)</tbody>", page.read_text(encoding="utf-8"), re.S).group(1)
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]*>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        rows.append((cells[0], [int(c) if c else None for c in cells[2:7]]))
    return rows


def test_r41_community_pages_add_up_to_the_workbook(pictures):
    """Each community page lists its buildings, their 小计, the line 地址未匹配 (its houses
    of the workbook's row of that name) and a 合计 of both; the pages' 合计, with the
    houses no community's page holds (told on every page), are the workbook's 合计."""
    run, folder = pictures
    sheet = openpyxl.load_workbook(run.reports[0].file, read_only=True).active
    header = next(r for r in sheet.iter_rows(values_only=True) if "户数" in r)
    book = next(r for r in sheet.iter_rows(values_only=True) if r[0] == "合计")
    wanted = [book[header.index(h)] for h in ("户数", "红", "黄", "蓝", "空置（套）")]
    lines = ("楼栋小计", "地址未匹配", "合计")
    total, unmatched, elsewhere = [0] * 5, 0, set()
    for page in folder.glob("*.html"):
        rows = _page_rows(page)
        summed = [sum(column) for column in zip(*(v for k, v in rows if k not in lines))]
        named = dict(rows[-3:])
        if "地址未匹配" in named:
            unmatched += 1
            assert [k for k, _ in rows[-3:]] == list(lines) and named["楼栋小计"] == summed
            assert named["地址未匹配"][4] is None, "its empty flats are unknown"
            assert named["合计"] == [a + (b or 0) for a, b in zip(summed, named["地址未匹配"])]
        else:
            assert rows[-1] == ("合计", summed)
        total = [a + b for a, b in zip(total, named["合计"])]
        note = re.search(r"另有 (\d+) 户（红 (\d+) 户、黄 (\d+) 户、蓝 (\d+) 户）的住址不在", page.read_text("utf-8"))
        elsewhere.add(tuple(int(n) for n in note.groups()) if note else (0, 0, 0, 0))
    assert len(elsewhere) == 1, "every page tells the same houses no page holds"
    total = [a + b for a, b in zip(total, [*elsewhere.pop(), 0])]
    assert total == wanted and unmatched >= 1, (total, wanted)


def test_r41_floor_plans_put_each_room_on_its_floor(pictures, truth):
    _, folder = pictures
    houses = _residential(truth)
    community, compound, building = houses.select("community", "compound", "building").row(0)
    svg = ET.parse(folder / community / f"{compound}{building}.svg").getroot()
    labels = {round((float(t.get("y")) - TOP) // CELL_H): int(t.text.removesuffix("层"))
              for t in svg.iter(f"{SVG}text") if (t.text or "").endswith("层")}
    cells = _cells(svg)
    rooms = houses.filter((pl.col("compound") == compound) & (pl.col("building") == building))["room"]
    assert sorted(room for _, room, _ in cells) == sorted(rooms.to_list())
    for _, room, y in cells:
        assert labels[round((y - TOP) // CELL_H)] == int(room[:-2]), room  # 1101 on the 11th floor
    assert max(labels.values()) == max(int(r[:-2]) for r in rooms)


def test_r41_pictures_hold_nothing_personal_and_pages_are_offline(pictures, truth):
    _, folder = pictures
    doctors = set(_manbing_cells()["doctor"].drop_nulls())
    names = set(truth.persons["name"].drop_nulls()) - doctors
    pages = list(folder.glob("*.html"))
    assert sorted(p.stem for p in pages) == sorted(set(truth.houses.filter(pl.col("address_code").is_not_null())
                                                 ["community"]))
    for path in [*folder.rglob("*.svg"), *pages]:
        text = path.read_text(encoding="utf-8")
        words = re.sub(r"<[^>]*>", " ", text)
        for doctor in doctors:  # a resident 李秀 is not named by the doctor 李秀梅
            words = words.replace(doctor, " ")
        assert not re.search(r"\d{15,18}|\d{6}\*+\d{3}|1[3-9]\d{9}|1\d\d\*{4}\d{4}", words), path
        assert not {n for n in names if len(n) >= 2 and n in words}, path
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"https?:|//[a-z]|<link|<script|<img|url\(", text, re.IGNORECASE), page
        buildings = len(list((folder / page.stem).glob("*.svg")))
        assert text.count("<svg") == buildings > 0
        assert "@media print" in text and "A4" in text
        printed = text[text.index("@media print"):]  # the list's building names print as plain text
        assert re.search(r"\.contents a \{[^}]*color: inherit;[^}]*text-decoration: none", printed)


def test_r41_a_second_run_leaves_no_stale_floor_plan(pictures, tmp_path):
    run, folder = pictures
    db = Path(run.reports[0].file).parent.parent / "db" / "rootdb.duckdb"
    first = run_reports(select_templates(["R41"], False), as_of=SAMPLE_AS_OF, out=tmp_path, db=str(db))
    plans = Path(first.reports[0].pictures)
    # The same area and date draw the same bytes (the workbook hashes compare them).
    assert ({p.relative_to(plans): p.read_bytes() for p in plans.rglob("*.*")}
            == {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.*")})
    stale = next(plans.glob("*/")) / "已拆除1号楼.svg"
    stale.write_text("<svg/>", encoding="utf-8")
    kept = plans.parent / "我的笔记.txt"
    kept.write_text("自己的文件", encoding="utf-8")
    run_reports(select_templates(["R41"], False), as_of=SAMPLE_AS_OF, out=tmp_path, db=str(db))
    assert not stale.exists() and kept.exists()
    assert sorted(p.name for p in plans.rglob("*.svg")) == sorted(p.name for p in folder.rglob("*.svg"))


def test_r41_draws_a_row_of_bungalows_on_the_ground_floor(sample_copy, tmp_path):
    """Rooms of one or two digits (a 平房 row: 康宁巷3号 rooms 1, 2, 12) are on floor 1,
    side by side in the order of their numbers; nobody lives there, so all are empty."""
    import duckdb

    with duckdb.connect(str(sample_copy)) as con:
        community, grid = con.execute("SELECT community, grid FROM golden_houses WHERE registry_key IS NOT NULL "
                                      "ORDER BY registry_key LIMIT 1").fetchall()[0]
        for i, room in enumerate(("12", "2", "1")):
            con.execute("INSERT INTO golden_houses (entity_id, registry_key, community, grid, compound, building, "
                        "room, standard_address, usage) VALUES (?, ?, ?, ?, '康宁巷', '3', ?, ?, '住宅')",
                        [f"HTEST{i}", f"99{i}", community, grid, room, f"{community}康宁巷3号{room}室"])
    run = run_reports(select_templates(["R41"], False), as_of=SAMPLE_AS_OF, out=tmp_path, fmt="csv",
                      db=str(sample_copy))
    rows = pl.read_csv(run.reports[0].file, infer_schema=False).filter(pl.col("小区（街路）") == "康宁巷")
    assert rows.select("楼栋", "户数", "空置（套）").rows() == [("3号楼", "0", "3")]
    svg = ET.parse(Path(run.reports[0].pictures) / community / "康宁巷3号楼.svg").getroot()
    cells = _cells(svg)
    assert [room for _, room, _ in cells] == ["1", "2", "12"] and {y for _, _, y in cells} == {TOP + 2}
    assert {colour for colour, _, _ in cells} == {"空"}
    assert [t.text for t in svg.iter(f"{SVG}text") if (t.text or "").endswith("层")] == ["1层"]


def test_a_wild_room_number_or_building_name_never_stops_the_reports(sample_copy, tmp_path):
    """A registry row whose 室号 is a 21-digit code, a compound named in 120 characters and
    two compounds differing only in case: every report still runs, the long name is cut
    to what a file system takes, the two names are two files on any disk."""
    import duckdb

    with duckdb.connect(str(sample_copy)) as con:
        community, grid = con.execute("SELECT community, grid FROM golden_houses WHERE registry_key IS NOT NULL "
                                      "ORDER BY registry_key LIMIT 1").fetchall()[0]
        rows = [("150602001001000000019", "怪号小区", "1"), ("101", "长" * 120, "1"), ("101", "AB小区", "1"),
                ("101", "ab小区", "1")]
        for i, (room, compound, building) in enumerate(rows):
            con.execute("INSERT INTO golden_houses (entity_id, registry_key, community, grid, compound, building, "
                        "room, standard_address, usage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '住宅')",
                        [f"HWILD{i}", f"98{i}", community, grid, compound, building, room,
                         f"{community}{compound}{building}号楼{room}室"])
    run = run_reports(select_templates([], True), as_of=SAMPLE_AS_OF, out=tmp_path, db=str(sample_copy))
    assert len(run.reports) == len(select_templates([], True))
    names = [p.name for p in (Path(run.reports[-1].pictures) / community).glob("*.svg")]
    assert max(len(n.encode()) for n in names) <= 255
    assert len({n.casefold() for n in names}) == len(names)
    assert any(n.startswith("怪号小区") for n in names)
