"""Feeds delivered in parts: one file per community (or grid) of one feed. Each part
replaces only its own earlier delivery, the feed's current data is the union of the
latest delivery of every part, an older delivery of a part is history, a whole-feed
file replaces every part; parts named in the file name (Chinese or pinyin) or evident
from the content; `status` lists them; the nightly changes do not read a part that was
not delivered as everyone in it leaving. Real files in tmp_path, a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import openpyxl
import polars as pl
import pytest
from conftest import SAMPLE, query, write_csv, write_xlsx

from rootdb import ingest
from rootdb.ingest.parts import Vocabulary, name_word, part_key
from rootdb.specs import load_specs
from rootdb.commands.status import status

ROSTER_HEADER = ["网格", "姓名", "身份证号", "性别", "民族", "出生日期", "联系电话", "现住址", "人员类型", "工作单位", "标签",
                 "备注"]
# community -> (its grids, its compound)
AREA = {"康城社区": (["康城第一网格", "康城第二网格"], "康城雅苑"),
        "兰溪社区": (["兰溪第一网格", "兰溪第二网格"], "兰溪花园"),
        "富安社区": (["富安第一网格", "富安第二网格"], "富安家园")}
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = "伟芳娜敏静丽强磊军洋"


def _id(n: int) -> str:
    """A valid 18-digit resident ID, distinct for each n."""
    body = f"150602{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def _registry(tmp_path) -> str:
    rows = [["地址编码", "社区", "网格", "小区", "楼栋", "单元", "室号", "标准地址", "房屋用途"]]
    code = 1
    for community, (grids, compound) in AREA.items():
        for g, grid in enumerate(grids):
            for room in (101, 102):
                rows.append([f"1506020010{code:010d}", community, grid, compound, f"{g + 1}号楼", "1单元", str(room),
                             f"交通街道{community}{compound}{g + 1}号楼1单元{room}室", "住宅"])
                code += 1
    return write_csv(tmp_path / "registry_addresses_2025-06.csv", rows)


def _roster(path, community: str, people: range, with_community: bool = True, grid: str | None = None):
    grids, compound = AREA[community]
    rows = [["交通街道社区居民花名册"], ROSTER_HEADER]
    for n in people:
        g = grid or grids[n % 2]
        prefix = community if with_community else ""
        rows.append([g, SURNAMES[n % 10] + GIVEN[(n // 10) % 10], _id(n), "男" if n % 2 else "女", "汉族",
                     f"{1950 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d}", "", f"{prefix}{compound}1号楼1单元{100 + n}室",
                     "户籍", "", "", ""])
    return write_xlsx(path, rows)


KANGCHENG, LANXI, FUAN = range(0, 30), range(100, 125), range(200, 222)


@pytest.fixture()
def area(tmp_path, db_path):
    ingest([_registry(tmp_path)], db=db_path)
    return tmp_path


def _current(db_path) -> list[tuple]:
    return query(db_path, "SELECT part, file_name FROM files WHERE feed = 'community_residents' AND is_current "
                          "ORDER BY part NULLS LAST, file_name")


def _rows_by_community(db_path) -> dict[str, int]:
    return dict(query(db_path, "SELECT address_community, count(*) FROM community_residents GROUP BY 1"))


def _three_parts(area, db_path):
    files = [_roster(area / "community_residents_康城社区_2025-06.xlsx", "康城社区", KANGCHENG),
             _roster(area / "community_residents_lanxi_2025-06.xlsx", "兰溪社区", LANXI),
             _roster(area / "community_residents_富安_2025-06.xlsx", "富安社区", FUAN)]
    return ingest(files, db=db_path)


def test_three_community_rosters_in_one_batch_all_stay_current(area, db_path):
    result = _three_parts(area, db_path)
    assert [f.status for f in result.files] == ["loaded"] * 3 and all(f.current for f in result.files)
    # The parts are the registry's names, whether the file wrote 康城社区, lanxi or 富安.
    assert [(f.part, f.part_basis) for f in result.files] == [("康城社区", "文件名"), ("兰溪社区", "文件名"),
                                                              ("富安社区", "文件名")]
    assert sorted(p for p, _ in _current(db_path)) == sorted(["康城社区", "兰溪社区", "富安社区"])
    assert _rows_by_community(db_path) == {"康城社区": 30, "兰溪社区": 25, "富安社区": 22}
    assert any("只替换该部分" in w for w in result.files[1].warnings)
    assert not any("已替换" in w for f in result.files for w in f.warnings)


def test_a_first_batch_loads_the_registry_before_the_parts_it_names(tmp_path, db_path):
    """A first delivery of everything at once: the parts are recognised although the
    rosters' names sort before the registry's."""
    files = [_roster(tmp_path / "community_residents_康城社区_2025-06.xlsx", "康城社区", KANGCHENG),
             _roster(tmp_path / "community_residents_富安_2025-06.xlsx", "富安社区", FUAN), _registry(tmp_path)]
    result = ingest(files, db=db_path)
    loaded_first = min(result.files, key=lambda f: f.file_id)  # file ids are given in load order
    assert loaded_first.feed == "registry_addresses" and result.files[-1] is loaded_first  # listed as given
    assert sorted(p for p, _ in _current(db_path)) == ["富安社区", "康城社区"]


def test_a_new_delivery_of_a_part_replaces_only_that_part(area, db_path):
    _three_parts(area, db_path)
    again = ingest([_roster(area / "community_residents_kangcheng_2025-07.xlsx", "康城社区", range(0, 12))],
                   db=db_path)
    assert again.files[0].current and again.files[0].part == "康城社区"
    assert any("已替换 康城社区 部分" in w for w in again.files[0].warnings)
    # the feed by its title, as an officer knows it, not by its code
    assert any(w.startswith("本文件是“社区居民花名册”的一个部分：康城社区") for w in again.files[0].warnings), \
        again.files[0].warnings
    assert _rows_by_community(db_path) == {"康城社区": 12, "兰溪社区": 25, "富安社区": 22}
    assert dict(_current(db_path))["康城社区"] == "community_residents_kangcheng_2025-07.xlsx"
    replaced = query(db_path, "SELECT is_current, replaced_by IS NOT NULL FROM files "
                              "WHERE file_name = 'community_residents_康城社区_2025-06.xlsx'")
    assert replaced == [(False, True)]


def test_an_older_delivery_of_a_part_becomes_history(area, db_path):
    _three_parts(area, db_path)
    late = ingest([_roster(area / "community_residents_兰溪社区_2025-05.xlsx", "兰溪社区", range(100, 105))], db=db_path)
    (f,) = late.files
    assert f.status == "loaded" and f.current is False and f.part == "兰溪社区"
    assert any("比兰溪社区部分的当前数据" in w and "历史" in w for w in f.warnings)
    assert dict(_current(db_path))["兰溪社区"] == "community_residents_lanxi_2025-06.xlsx"
    assert _rows_by_community(db_path) == {"康城社区": 30, "兰溪社区": 25, "富安社区": 22}
    # An older delivery of another part is no reason to keep this one out: 富安 of 2025-05
    # would be history only against 富安's own 2025-06.
    assert query(db_path, "SELECT count(*) FROM community_residents_history WHERE NOT is_current") == [(5,)]


def test_a_whole_feed_file_after_parts_replaces_them_all(area, db_path):
    _three_parts(area, db_path)
    whole = area / "whole.xlsx"
    _roster(whole, "康城社区", range(0, 5))
    wb = openpyxl.load_workbook(whole)
    sheet = wb.active
    for n in range(100, 103):  # the same workbook also holds 兰溪's people
        sheet.append(["兰溪第一网格", "李" + GIVEN[n % 10], _id(n), "女", "汉族", "1960-01-01", "", "兰溪社区兰溪花园1号楼1单元101室",
                      "户籍", "", "", ""])
    target = area / "community_residents_2025-08.xlsx"
    wb.save(target)
    (f,) = ingest([target], db=db_path).files
    assert f.current and f.part is None
    assert any("整份数据" in w and "3 个部分" in w for w in f.warnings)
    assert _current(db_path) == [(None, target.name)]
    assert _rows_by_community(db_path) == {"康城社区": 5, "兰溪社区": 3}


def test_a_part_after_a_whole_feed_file_replaces_only_its_own_rows(area, db_path):
    whole = area / "community_residents_2025-06.xlsx"
    _roster(whole, "康城社区", KANGCHENG)
    wb = openpyxl.load_workbook(whole)
    for n in LANXI:
        wb.active.append(["兰溪第一网格", "李" + GIVEN[n % 10], _id(n), "女", "汉族", "1960-01-01", "",
                          "兰溪花园1号楼1单元101室", "户籍", "", "", ""])
    wb.save(whole)
    ingest([whole], db=db_path)
    (f,) = ingest([_roster(area / "community_residents_康城_2025-07.xlsx", "康城社区", range(0, 10))], db=db_path).files
    assert f.current and f.part == "康城社区"
    assert any("其余 25 行仍为当前数据" in w for w in f.warnings)
    # 兰溪's rows (known by their grid, their addresses name no community) stay current.
    assert query(db_path, "SELECT count(*) FROM community_residents WHERE grid LIKE '兰溪%'") == [(25,)]
    assert query(db_path, "SELECT count(*) FROM community_residents WHERE grid LIKE '康城%'") == [(10,)]
    assert _current(db_path) == [("康城社区", f.file), (None, whole.name)]
    assert query(db_path, "SELECT count(*) FROM files WHERE file_name = ? AND NOT is_current", [whole.name]) == [(1,)]


def test_a_grid_replaces_its_rows_in_its_community_and_the_community_replaces_its_grids(area, db_path):
    ingest([_roster(area / "community_residents_康城社区_2025-06.xlsx", "康城社区", KANGCHENG),
            _roster(area / "community_residents_兰溪社区_2025-06.xlsx", "兰溪社区", LANXI)], db=db_path)
    grid = _roster(area / "community_residents_康城第一网格_2025-07.xlsx", "康城社区", range(0, 5), grid="康城第一网格")
    (f,) = ingest([grid], db=db_path).files
    assert f.part == "康城第一网格" and f.current
    assert any("属于 康城第一网格 的 15 行" in w and "其余 15 行" in w for w in f.warnings)
    assert dict(query(db_path, "SELECT grid, count(*) FROM community_residents WHERE grid LIKE '康城%' GROUP BY 1")) == {
        "康城第一网格": 5, "康城第二网格": 15}
    (f,) = ingest([_roster(area / "community_residents_康城社区_2025-08.xlsx", "康城社区", range(0, 8))], db=db_path).files
    assert any("康城第一网格 部分的数据" in w for w in f.warnings)
    assert _rows_by_community(db_path) == {"康城社区": 8, "兰溪社区": 25}
    assert sorted(p for p, _ in _current(db_path)) == ["兰溪社区", "康城社区"]


def test_a_part_by_its_content_a_grid_column_or_the_addresses(area, db_path):
    # No part in the name: the 网格 column says 兰溪第二网格 throughout.
    grid_file = _roster(area / "社区居民花名册_2025-06.xlsx", "兰溪社区", LANXI, with_community=False,
                        grid="兰溪第二网格")
    # No part in the name, no grid in common: every address names 富安社区.
    addressed = _roster(area / "居民花名册2025年6月.xlsx", "富安社区", FUAN)
    result = ingest([grid_file, addressed], db=db_path)
    assert [(f.part, f.part_basis) for f in result.files] == [("兰溪第二网格", "网格列"), ("富安社区", "住址所属社区")]
    assert all(f.current for f in result.files)
    # Too few rows to tell a part from a coincidence: a whole-feed delivery.
    few = _roster(area / "community_residents_2025-07.xlsx", "康城社区", range(0, 5))
    (f,) = ingest([few], db=db_path).files
    assert f.part is None and _current(db_path) == [(None, few.name)]


def test_a_word_the_registry_does_not_know_names_no_part(tmp_path, db_path):
    # Without the registry loaded no word is a known part: each file is a whole delivery
    # replacing the one before, as before parts existed.
    a = _roster(tmp_path / "community_residents_康城_2025-06.xlsx", "康城社区", KANGCHENG)
    b = _roster(tmp_path / "community_residents_xinhe_2025-07.xlsx", "兰溪社区", LANXI)
    result = ingest([a, b], db=db_path)
    assert [f.part for f in result.files] == [None, None]
    assert _current(db_path) == [(None, b.name)]


@pytest.mark.parametrize(("feed", "name"), [
    ("gaoling", "高龄津贴名单_2026-12.csv"), ("gaoling", "高龄津贴_2026-12.csv"), ("manbing", "慢病患者_2026-12.csv"),
    ("jiuye", "就业登记_2026-12.csv"), ("gaoling", "交通街道高龄津贴发放名册2026年12月.csv"),
    ("gaoling", "高龄津贴_修改版_2026-12.csv"), ("gaoling", "gaoling_2026-12(1).csv"),
    ("gaoling", "gaoling_张三150602198503021234电话13912345678_2026-12.csv"),
    ("community_residents", "community_residents_xinhe_2025-06.xlsx"),
    ("community_residents", "交通街道社区居民花名册_2025-06.xlsx"),
])
def test_ordinary_file_names_name_no_part(feed, name):
    from rootdb.ingest.parts import part_from_name

    vocab = Vocabulary(communities={part_key(c): c for c in AREA},
                       grids={part_key(g): g for gs, _ in AREA.values() for g in gs},
                       grid_communities={g: {c} for c, (gs, _) in AREA.items() for g in gs})
    assert part_from_name(name, load_specs()[feed], vocab) is None


@pytest.mark.parametrize(("name", "part"), [
    ("community_residents_康城社区_2025-06.xlsx", "康城社区"), ("community_residents_lanxi_2025-06.xlsx", "兰溪社区"),
    ("community_residents_富安_2025-06.xlsx", "富安社区"), ("community_residents_KangCheng_shequ_2025-06.xlsx", "康城社区"),
    ("交通街道兰溪社区社区居民花名册_2025-06.xlsx", "兰溪社区"), ("community_residents_康城第一网格_2025-07.xlsx", "康城第一网格"),
    ("高龄津贴_康城社区_2026-12.csv", "康城社区"), ("gaoling_fuan_2026-12.csv", "富安社区"),
])
def test_a_known_community_or_grid_in_the_name_is_a_part(name, part):
    from rootdb.ingest.parts import part_from_name

    vocab = Vocabulary(communities={part_key(c): c for c in AREA},
                       grids={part_key(g): g for gs, _ in AREA.values() for g in gs},
                       grid_communities={g: {c} for c, (gs, _) in AREA.items() for g in gs})
    feed = "gaoling" if "aoling" in name or "高龄" in name else "community_residents"
    found = part_from_name(name, load_specs()[feed], vocab)
    assert found is not None and found.name == part


@pytest.mark.parametrize(("name", "word"), [
    ("community_residents_康城社区_2025-06.xlsx", "康城社区"),
    ("community_residents_kangcheng_2025-06.xlsx", "kangcheng"),
    ("康城社区居民花名册2025年6月.xlsx", "康城"),
    ("交通街道兰溪社区社区居民花名册_2025-06.xlsx", "兰溪社区"),
    ("community_residents_2026.xlsx", None),
    ("社区居民花名册_2026.xlsx", None),
    ("community_residents_v2_2025-06.xlsx", None),
    ("community_residents_A_2025-06.xlsx", None),
])
def test_the_word_a_file_name_writes_for_its_part(name, word):
    assert name_word(name, load_specs()["community_residents"]) == word


@pytest.mark.parametrize(("name", "word"), [
    ("低保名册_2026年9月.xlsx", None), ("dibao_2026-12_更正.xlsx", None), ("低保名单A.xlsx", None),
    ("低保对象花名册（民政局报送）_2026-11.xlsx", None), ("dibao_fuan_2026-11.xlsx", "fuan"),
    ("低保_兰溪_2026-11.xlsx", "兰溪"),
])
def test_generic_words_and_senders_name_no_part(name, word):
    assert name_word(name, load_specs()["dibao"]) == word


def test_parts_are_compared_by_pinyin_without_suffix():
    assert part_key("康城社区") == part_key("康城") == part_key("KangCheng") == part_key("kangcheng_shequ") == "kangcheng"
    vocab = Vocabulary(communities={"kangcheng": "康城社区"}, grids={"kangchengdiyi": "康城第一网格"})
    assert vocab.match("kangcheng") == ("康城社区", "community")
    assert vocab.match("康城第一网格") == ("康城第一网格", "grid")
    assert vocab.match("新河") == ("新河", None)


def test_status_lists_each_feed_s_parts_with_their_dates(area, db_path):
    from typer.testing import CliRunner

    from rootdb.cli.main import app

    _three_parts(area, db_path)
    ingest([_roster(area / "community_residents_kangcheng_2025-07.xlsx", "康城社区", range(0, 12))], db=db_path)
    (feed,) = [f for f in status(str(db_path)).feeds if f.feed == "community_residents"]
    assert {(p.part, p.delivery_date, p.rows_loaded) for p in feed.parts} == {
        ("康城社区", "2025-07-01", 12), ("兰溪社区", "2025-06-01", 25), ("富安社区", "2025-06-01", 22)}
    assert feed.rows_loaded == 59 and "3 个部分" in feed.current_file
    assert not [f for f in status(str(db_path)).feeds if f.feed == "registry_addresses"][0].parts
    out = CliRunner().invoke(app, ["status", "--db", str(db_path)], catch_exceptions=False, terminal_width=160)
    assert out.exit_code == 0 and "分部分报送" in out.stdout
    assert "康城社区" in out.stdout and "2025-07-01" in out.stdout and "富安社区" in out.stdout
    data = json.loads(CliRunner().invoke(app, ["status", "--db", str(db_path), "--json"]).stdout)
    (roster,) = [f for f in data["feeds"] if f["feed"] == "community_residents"]
    assert {p["part"] for p in roster["parts"]} == {"康城社区", "兰溪社区", "富安社区"}


def test_a_database_from_before_parts_gets_the_column_on_open(area, db_path):
    tmp_path = area
    ingest([_roster(tmp_path / "community_residents_2025-05.xlsx", "康城社区", KANGCHENG)], db=db_path)
    with duckdb.connect(str(db_path)) as con:  # as a database written before parts existed
        con.execute("ALTER TABLE files DROP COLUMN part_basis")
        con.execute("ALTER TABLE files DROP COLUMN part")
    (feed,) = [f for f in status(str(db_path)).feeds  # read-only: no column, no parts
               if f.feed == "community_residents"]
    assert feed.parts == [] and feed.rows_loaded == 30
    ingest([_roster(tmp_path / "community_residents_康城_2025-06.xlsx", "康城社区", range(0, 29))], db=db_path)
    assert query(db_path, "SELECT part, is_current FROM files WHERE feed = 'community_residents' ORDER BY file_id") == [
        (None, False), ("康城社区", True)]


def test_link_records_built_incrementally_follow_the_parts(area, db_path):
    """After parts, a re-delivered part and a split whole, the incremental build of the
    link's record tables holds what a full build holds."""
    from rootdb.link.records import build_record_tables

    whole = area / "community_residents_2025-05.xlsx"
    _roster(whole, "康城社区", KANGCHENG)
    ingest([whole], db=db_path)
    specs = load_specs()

    def records(con):
        return sorted(con.execute("SELECT record_id, file_id, name FROM link_person_records").fetchall())

    with duckdb.connect(str(db_path)) as con:
        build_record_tables(con, specs, incremental=True)
    ingest([_roster(area / "community_residents_兰溪社区_2025-06.xlsx", "兰溪社区", LANXI),
            _roster(area / "community_residents_kangcheng_2025-06.xlsx", "康城社区", range(0, 7))], db=db_path)
    with duckdb.connect(str(db_path)) as con:
        build_record_tables(con, specs, incremental=True)
        incremental = records(con)
        build_record_tables(con, specs, incremental=False)
        assert incremental == records(con)
    assert len(incremental) == 25 + 7


# ---------------------------------------------------------------- nightly

def _manbing_rows() -> tuple[list, list]:
    sheet = openpyxl.load_workbook(SAMPLE / "manbing_2026-11.xlsx", read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header_at = next(i for i, r in enumerate(rows) if r and r[0] == "档案编号")
    data = [r for r in rows[header_at + 1:] if r[0] and str(r[0]).isdigit()]
    return rows[header_at], data


@pytest.mark.sample  # the sample's files ingested, linked and reported by nightly
def test_nightly_with_one_part_delivered_reports_no_one_leaving_from_the_others(tmp_path):
    from rootdb.nightly import run_nightly
    from rootdb.workspace import init_workspace

    ws = init_workspace(tmp_path / "街道")
    inbox = ws.root / "inbox"
    for source in SAMPLE.iterdir():
        if source.is_file() and not source.name.startswith("manbing"):
            shutil.copy(source, inbox / source.name)
    # The parts are the registry's grids; the first night's batch holds the registry too
    # (loaded first, though manbing_ comes before registry_ by name).
    header, data = _manbing_rows()
    first, second = data[: len(data) // 2], data[len(data) // 2:]
    # 慢病 is delivered by the two halves of the area, one file each (the sample's grids).
    write_xlsx(inbox / "manbing_第一网格_2026-11.xlsx", [header, *first])
    write_xlsx(inbox / "manbing_第二网格_2026-11.xlsx", [header, *second])
    night = run_nightly(db=str(ws.db_path), as_of=dt.date(2026, 11, 1), settle_seconds=0, wait=1)
    assert night.status == "done", night.message
    (loaded,) = query(ws.db_path, "SELECT count(*) FROM manbing")[0]
    assert loaded > len(data) - 5  # a defective sample row or two is quarantined
    assert query(ws.db_path, "SELECT part FROM files WHERE feed = 'manbing' AND is_current ORDER BY part") == [
        ("第一网格",), ("第二网格",)]

    # Night 2: only 第一网格 delivers again, one patient fewer; 第二网格 sends nothing.
    ids = [r[2] for r in data]
    dropped = next(r for r in first if ids.count(r[2]) == 1 and query(
        ws.db_path, "SELECT count(*) FROM manbing WHERE id_number = ?", [r[2]]) == [(1,)])
    write_xlsx(inbox / "manbing_第一网格_2026-11-02.xlsx", [header, *(r for r in first if r is not dropped)])
    night = run_nightly(db=str(ws.db_path), as_of=dt.date(2026, 11, 2), settle_seconds=0, wait=1)
    assert night.status == "done", night.message
    assert query(ws.db_path, "SELECT count(*) FROM manbing") == [(loaded - 1,)]
    changes = pl.read_excel(ws.root / "reports" / "变动情况_2026-11-02.xlsx", read_options={"header_row": 2}) \
        .filter(pl.col("序号").is_not_null())
    left = changes.filter((pl.col("变动类型") == "移出名单") & pl.col("说明").str.contains("慢病"))
    # The one patient 第一网格 left out is listed; no one of 第二网格, which did not deliver.
    assert left["姓名"].to_list() == [dropped[1]]
    assert night.changes.get("移出名单", 0) == 1


def test_status_masks_a_part_s_id_numbers_and_phones(area, db_path):
    from typer.testing import CliRunner

    from rootdb.cli.main import app

    _three_parts(area, db_path)
    with duckdb.connect(str(db_path)) as con:  # a part stored before parts had to be known ones
        con.execute("UPDATE files SET part = '张三150602198503021234电话13912345678' WHERE part = '兰溪社区'")
    (feed,) = [f for f in status(str(db_path)).feeds if f.feed == "community_residents"]
    assert "150602198503021234" not in str(feed.parts) and "13912345678" not in str(feed.parts)
    for args in (["status", "--db", str(db_path)], ["status", "--db", str(db_path), "--json"]):
        out = CliRunner().invoke(app, args, catch_exceptions=False, terminal_width=200).stdout
        assert "150602198503021234" not in out and "13912345678" not in out and "张三" in out
