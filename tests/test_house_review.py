"""The houses' review round trip: an address two standard houses fit goes to the review
sheet with both candidates; the officer's choice, imported, makes every later link
resolve it (method manual) until the registry no longer has that house.

A small workspace, built end to end through `rootdb.ingest` + `rootdb.link`: a synthetic
registry of three compounds, two of which share the short name 幸福 (幸福小区 and
幸福家园), and a dibao roster of addresses written in several ways.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import openpyxl
import pytest

from conftest import DIBAO_HEADER, dibao_row, query, write_csv, write_xlsx
from rootdb.link.house_review import DECISION, KEY, SHEET
from rootdb.link.review import SHEET as PEOPLE_SHEET
from rootdb.link.review import export_review, import_review

ADMIN = "内蒙古自治区鄂尔多斯市东胜区交通街道"
COMPOUNDS = [  # community, name, doorplate
    ("兰溪社区", "幸福小区", "幸福路1号"),
    ("兰溪社区", "幸福家园", "幸福路3号"),
    ("康城社区", "康城雅苑", "康宁路83号"),
]
GRIDS = {"兰溪社区": "兰溪第一网格", "康城社区": "康城第二网格"}

# delivered address → how many dibao records write it
ROSTER = {
    "幸福1号楼1单元101": 3,             # 幸福小区 or 幸福家园: ambiguous, both candidates
    "幸福小区1号楼1单元102室": 1,        # resolved (by its name)
    "康成雅苑2号楼1单元201": 1,          # a close name (same pinyin): fuzzy, one candidate
    "康城雅苑9号楼1单元101室": 2,        # the compound is known, not that building
    "光明小区3号楼2单元501室": 1,        # no such compound
    "幸福9号楼9单元909": 1,              # two compounds fit, neither has the house
    "东胜区某某处": 1,                   # unparsed
    "内蒙古自治区包头市昆都仑区光明村6社34号": 1,  # outside the area
}


def registry_rows() -> list[dict]:
    rows, n = [], 0
    for community, name, door in COMPOUNDS:
        for b in (1, 2):
            for u in (1, 2):
                for r in (101, 102, 201):
                    n += 1
                    rows.append({"地址编码": f"15060288{n:08d}", "社区": community, "网格": GRIDS[community],
                                 "小区": name, "楼栋": f"{b}号楼", "单元": f"{u}单元", "室号": str(r),
                                 "标准地址": f"{ADMIN}{community}{door}{name}{b}号楼{u}单元{r}室", "房屋用途": "住宅"})
    return rows


def code_of(name: str, b: int, u: int, r: int) -> str:
    return next(row["地址编码"] for row in registry_rows()
                if row["小区"] == name and row["楼栋"] == f"{b}号楼" and row["单元"] == f"{u}单元" and row["室号"] == str(r))


def build_area(root: Path, sample_db: Path) -> Path:
    """Ingest the synthetic registry and roster into a new workspace under `root`, link
    it (reusing the sample's person model: a handful of people cannot train one)."""
    from rootdb import ingest
    from rootdb.link import link

    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    reg = registry_rows()
    header = list(reg[0])
    write_csv(inbox / "registry_addresses_2026-11.csv", [header] + [[row[c] for c in header] for row in reg])
    first = reg[0]["标准地址"]
    write_csv(inbox / "registry_persons_2026-11.csv", [
        ["公民身份号码", "姓名", "性别", "民族", "出生日期", "户号", "与户主关系", "户籍地址", "居住地址", "人员类别", "人员状态",
         "联系电话"],
        ["11010519491231002X", "张三", "女", "汉族", "1949-12-31", "H001", "户主", first, first, "户籍人口", "正常",
         "13812345678"]])
    rows, i = [], 0
    for text, n in ROSTER.items():
        for _ in range(n):
            rows.append(dibao_row(cert=f"DB{i:03d}", address=text))
            i += 1
    write_xlsx(inbox / "dibao_2026-11.xlsx", [DIBAO_HEADER] + rows)
    db = root / "ws" / "rootdb.duckdb"
    ingest([inbox], db=db)
    (db.parent / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_db.parent / "models" / "person_model.json", db.parent / "models" / "person_model.json")
    link(db=db)
    return db


def resolved(db: Path) -> dict[str, tuple[str | None, str]]:
    """delivered address → (地址编码, method) of its dibao residence records (one each)."""
    rows = query(db, """
        SELECT DISTINCT r.address, m.registry_key, m.match_method
        FROM link_house_records r JOIN link_house_matches m USING (record_id)
        WHERE r.feed = 'dibao' AND r.role = 'residence'""")
    out: dict[str, tuple] = {}
    for address, code, method in rows:
        assert address not in out, f"{address} resolved two ways"
        out[address] = (code, method)
    return out


@pytest.fixture(scope="module")
def area(tmp_path_factory, sample_db) -> Path:
    return build_area(tmp_path_factory.mktemp("house_review"), sample_db)


def _sheet(path: Path):
    book = openpyxl.load_workbook(path)
    sheet = book[SHEET]
    assert sheet["A1"].value == "没能唯一对上标准地址的报送地址"
    header = [c.value for c in sheet[3]]  # below the heading
    rows = [dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=4)]
    return book, sheet, header, rows


def test_ambiguous_and_fuzzy_addresses_go_to_the_review_sheet(area, tmp_path):
    out = tmp_path / "review.xlsx"
    exported = export_review(out, db=area)
    book, _, header, rows = _sheet(out)
    assert PEOPLE_SHEET in book.sheetnames  # the people's sheet is still there, first
    assert book.sheetnames.index(PEOPLE_SHEET) < book.sheetnames.index(SHEET)
    assert exported.addresses == len(rows) == 2
    by_address = {r["报送地址"]: r for r in rows}
    ambiguous = by_address["幸福1号楼1单元101"]
    assert ambiguous["记录数"] == 3 and ambiguous["候选数"] == 2 and "最低生活保障" in ambiguous["数据源"]
    assert {ambiguous["候选1 地址编码"], ambiguous["候选2 地址编码"]} == {code_of("幸福小区", 1, 1, 101),
                                                                      code_of("幸福家园", 1, 1, 101)}
    assert {ambiguous["候选1 社区"], ambiguous["候选1 网格"]} == {"兰溪社区", "兰溪第一网格"}
    assert "幸福家园" in (ambiguous["候选1 标准地址"] + ambiguous["候选2 标准地址"])
    fuzzy = by_address["康成雅苑2号楼1单元201"]
    assert fuzzy["候选数"] == 1 and fuzzy["候选1 地址编码"] == code_of("康城雅苑", 2, 1, 201)
    assert "相近" in fuzzy["原因"]
    assert DECISION in header and KEY in header
    # unresolved without any candidate house, or resolved exactly: not asked
    assert "幸福9号楼9单元909" not in by_address and "幸福小区1号楼1单元102室" not in by_address


def test_a_decision_resolves_the_address_on_every_later_link(tmp_path, sample_db):
    from rootdb.link import link

    db = build_area(tmp_path, sample_db)
    before = resolved(db)
    assert before["幸福1号楼1单元101"] == (None, "new")
    assert before["康成雅苑2号楼1单元201"] == (code_of("康城雅苑", 2, 1, 201), "fuzzy_address")
    out = tmp_path / "review.xlsx"
    export_review(out, db=db)
    book, sheet, header, rows = _sheet(out)
    col = {name: i + 1 for i, name in enumerate(header)}
    chosen = code_of("幸福家园", 1, 1, 101)
    for i, row in enumerate(rows, start=4):
        if row["报送地址"] == "幸福1号楼1单元101":  # the officer picks 幸福家园
            pick = 1 if row["候选1 地址编码"] == chosen else 2
            sheet.cell(i, col[DECISION]).value = pick  # a number cell, as Excel keeps a typed 1
        else:  # and says the close name is not 康城雅苑
            sheet.cell(i, col[DECISION]).value = "否"
    book.save(out)
    result = import_review(out, db=db)
    assert result.problems == []
    assert result.addresses["chosen"] == 1 and result.addresses["rejected"] == 1

    for _ in range(2):  # this link and the next
        outcome = link(db=db)
        after = resolved(db)
        assert after["幸福1号楼1单元101"] == (chosen, "manual")
        assert after["康成雅苑2号楼1单元201"] == (None, "new")
        assert after["幸福小区1号楼1单元102室"] == (code_of("幸福小区", 1, 1, 102), "alias_address")
        assert outcome.houses["manual"] == ROSTER["幸福1号楼1单元101"]
        again = export_review(tmp_path / "again.xlsx", db=db)
        assert again.addresses == 0  # decided addresses are not asked again
    with duckdb.connect(str(db), read_only=True) as con:
        kept = con.execute("SELECT address_code, decision, os_user FROM link_house_decisions ORDER BY 2").fetchall()
    assert (chosen, True) in [(c, d) for c, d, _ in kept] and all(u for *_, u in kept)

    # the registry no longer has that house: the decision no longer applies
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE link_house_decisions SET address_code = '1506028899999999' WHERE decision")
    link(db=db)
    assert resolved(db)["幸福1号楼1单元101"] == (None, "new")


def test_import_names_what_it_cannot_read(area, tmp_path):
    out = tmp_path / "review.xlsx"
    export_review(out, db=area)
    book, sheet, header, rows = _sheet(out)
    col = {name: i + 1 for i, name in enumerate(header)}
    for i, row in enumerate(rows, start=4):
        sheet.cell(i, col[DECISION]).value = "是" if row["候选数"] == 2 else "7"
    book.save(out)
    result = import_review(out, db=area)
    assert len(result.problems) == 2
    assert any("请填候选序号" in p for p in result.problems)
    assert any("没有第7个候选" in p for p in result.problems)
    assert result.addresses["decided"] == 0


def test_the_sheet_masks_ids_and_phones(tmp_path):
    import polars as pl

    from rootdb.link import house_review

    con = duckdb.connect()
    con.execute("CREATE TABLE link_house_records AS SELECT 1::BIGINT AS record_id, 'dibao' AS feed, "
                "'幸福1号楼1单元101 电联13812345678' AS address")
    con.execute("CREATE TABLE link_house_review AS SELECT 1::BIGINT AS record_id, 'k' AS address_key, "
                "'ambiguous' AS kind, '1506028800000001' AS address_code, NULL::DOUBLE AS probability")
    con.execute("CREATE TABLE link_houses AS SELECT '1506028800000001' AS registry_key, '标准' AS standard_address, "
                "'兰溪社区' AS community, '网格' AS grid")
    sheet = house_review.review_frame(con)
    assert "13812345678" not in sheet["报送地址"][0] and sheet["候选1 地址编码"][0] == "1506028800000001"
    assert sheet.filter(pl.col(KEY) == "k").height == 1
