"""House and place linking: the bundled sample scored against its ground truth, and the
hard cases on small hand-made workspaces (duplicate street-front addresses across
communities, addresses from elsewhere, fuzzy compound names, employers whose name
names two places)."""

from __future__ import annotations


import duckdb
import polars as pl
import pytest

from conftest import SAMPLE, TRUTH, copy_sample, house_records

from rootdb import ingest
from rootdb.link.evaluate import pairwise_scores
from rootdb.link.houses import admin_prefix, compound_core, link_houses, prefix_compatible, similar_compounds
from rootdb.link.places import link_places, normalize_place_name
from rootdb.link.records import build_record_tables
from rootdb.specs import load_specs

KEY = ["source_file", "source_row", "role"]


# ---------------------------------------------------------------- the sample, scored

@pytest.fixture(scope="module")
def linked(sample_db, tmp_path_factory):
    """Houses and places linked again on a copy of the linked sample (its record tables)."""
    con = duckdb.connect(str(copy_sample(sample_db, tmp_path_factory.mktemp("link_hp"))))
    houses = link_houses(con)
    places = link_places(con)
    yield con, houses, places
    con.close()


def _predicted(con, entity: str) -> pl.DataFrame:
    return con.sql(f"""
        SELECT r.source_file, r.source_row::VARCHAR AS source_row, r.role, m.entity_id, m.registry_key,
               m.match_method, m.match_probability
        FROM link_{entity}_records r JOIN link_{entity}_matches m USING (record_id)""").pl()


def _truth(entity: str) -> pl.DataFrame:
    records = pl.read_csv(TRUTH / "records.csv", infer_schema=False).rename({"file": "source_file"})
    records = records.filter(pl.col("entity_type") == entity)
    if entity == "house":
        ents = pl.read_csv(TRUTH / "houses.csv", infer_schema=False).select(
            pl.col("house_uid").alias("entity_uid"), pl.col("address_code").alias("true_key"))
    else:
        ents = pl.read_csv(TRUTH / "places.csv", infer_schema=False).select(
            pl.col("place_uid").alias("entity_uid"), pl.col("place_code").alias("true_key"))
    return records.join(ents, on="entity_uid", how="left")


@pytest.mark.parametrize("entity", ["house", "place"])
def test_sample_pairwise_f1(linked, entity):
    con, *_ = linked
    scores = pairwise_scores(_predicted(con, entity), _truth(entity), KEY)
    print(entity, scores)
    assert scores["f1"] >= 0.98


@pytest.mark.parametrize("entity", ["house", "place"])
def test_sample_registry_keys(linked, entity):
    con, *_ = linked
    both = _truth(entity).join(_predicted(con, entity), on=KEY, how="full", coalesce=True)
    keyed = both.filter(pl.col("true_key").is_not_null())
    recall = (keyed["registry_key"] == keyed["true_key"]).fill_null(False).mean()
    claimed = both.filter(pl.col("registry_key").is_not_null())
    precision = (claimed["registry_key"] == claimed["true_key"]).fill_null(False).mean()
    print(entity, "registry_key recall", recall, "precision", precision)
    assert recall >= 0.99
    assert precision >= 0.995


def test_sample_every_house_record_resolves_once(linked):
    con, houses, _ = linked
    n_records, n_matches, n_distinct = con.execute("""
        SELECT (SELECT count(*) FROM link_house_records), count(*), count(DISTINCT record_id)
        FROM link_house_matches""").fetchall()[0]
    # every record resolves once, but a shijian location that is a place or a public spot
    unresolved = con.execute("""
        SELECT count(*) FROM link_house_records WHERE role = 'location'
          AND record_id NOT IN (SELECT record_id FROM link_house_matches)""").fetchall()[0][0]
    assert n_records - unresolved == n_matches == n_distinct
    assert n_matches <= houses["records"]  # less the locations found to be places
    # every entity has its row in link_houses, and registry houses keep their code
    orphans = con.execute("""SELECT count(*) FROM link_house_matches m
        WHERE entity_id NOT IN (SELECT entity_id FROM link_houses)""").fetchall()[0][0]
    assert orphans == 0
    bad = con.execute("""SELECT count(*) FROM link_houses
        WHERE (registry_key IS NULL) <> starts_with(entity_id, 'HN')
           OR (registry_key IS NOT NULL AND entity_id <> 'H' || registry_key)""").fetchall()[0][0]
    assert bad == 0
    methods = {m for (m,) in con.execute("SELECT DISTINCT match_method FROM link_house_matches").fetchall()}
    assert methods <= {"exact_code", "exact_address", "alias_address", "fuzzy_address", "new"}


def test_sample_places_tables(linked):
    con, _, places = linked
    assert places["employers_unmatched"] > 0  # big employers that are not places of the area
    orphans = con.execute("""SELECT count(*) FROM link_place_matches
        WHERE entity_id NOT IN (SELECT entity_id FROM link_places)""").fetchall()[0][0]
    assert orphans == 0
    # every place's premises house is a house entity
    missing = con.execute("""SELECT count(*) FROM link_places WHERE house_entity_id IS NOT NULL
        AND house_entity_id NOT IN (SELECT entity_id FROM link_houses)""").fetchall()[0][0]
    assert missing == 0


def test_linking_is_deterministic(linked):
    con, *_ = linked
    before = con.sql("SELECT * FROM link_house_matches ORDER BY record_id").fetchall()
    before_p = con.sql("SELECT * FROM link_place_matches ORDER BY record_id").fetchall()
    link_houses(con)
    link_places(con)
    assert con.sql("SELECT * FROM link_house_matches ORDER BY record_id").fetchall() == before
    assert con.sql("SELECT * FROM link_place_matches ORDER BY record_id").fetchall() == before_p


# ---------------------------------------------------------------- hand-made workspaces

PRE = "内蒙古自治区鄂尔多斯市东胜区"


def _registry_house(code, street, community, tail, grid="第一网格", usage="住宅"):
    return {"code": code, "street": street, "community": community, "address": f"{PRE}{street}{community}{tail}",
            "grid": grid, "usage": usage}


def _workspace(registry: list[dict], records: list[tuple], places: list[dict] | None = None):
    """An in-memory workspace holding just the tables the linkers read. records:
    (feed, role, address) or (feed, role, address, address_code)."""
    con = duckdb.connect()
    rows = []
    reg_rows = []
    for i, h in enumerate(registry):
        rows.append(("registry_addresses", 1, i + 2, "house", h["code"], h["code"], h["address"]))
        reg_rows.append({"file_id": 1, "source_row": i + 2, "community": h["community"], "grid": h["grid"],
                         "address": h["address"], "usage": h["usage"]})
    for i, rec in enumerate(records):
        feed, role, address, *code = rec
        rows.append((feed, 2, i + 2, role, f"k{i}", code[0] if code else None, address))
    con.register("hr", house_records(rows))
    con.execute("CREATE TABLE link_house_records AS SELECT * FROM hr")
    con.register("ra", pl.DataFrame(reg_rows))
    con.execute("CREATE TABLE registry_addresses AS SELECT * FROM ra")
    if places is not None:
        con.register("pr", pl.DataFrame(places, schema={
            "record_id": pl.Int64, "feed": pl.String, "file_id": pl.Int64, "source_row": pl.Int64,
            "role": pl.String, "place_code": pl.String, "uscc": pl.String, "uscc_valid": pl.Boolean,
            "name": pl.String, "kind": pl.String}))
        con.execute("CREATE TABLE link_place_records AS SELECT * FROM pr")
    return con


def _matches(con) -> dict[str, tuple]:
    """address -> (entity_id, registry_key, match_method, match_probability) for the non-registry records."""
    return {a: (e, k, m, p) for a, e, k, m, p in con.execute("""
        SELECT r.address, m.entity_id, m.registry_key, m.match_method, m.match_probability
        FROM link_house_records r JOIN link_house_matches m USING (record_id)
        WHERE r.feed <> 'registry_addresses'""").fetchall()}


def test_street_front_house_in_several_communities():
    registry = [
        _registry_house("A1", "交通街道", "建设社区", "交通街84号", usage="商业"),
        _registry_house("A2", "交通街道", "振兴社区", "交通街84号", usage="商业"),
        _registry_house("A3", "公园街道", "团结社区", "交通街84号", usage="商业"),
        _registry_house("A4", "交通街道", "建设社区", "幸福小区3号楼2单元501室"),
    ]
    con = _workspace(registry, [
        ("shichang", "premises", "建设社区交通街84号"),           # community decides
        ("shichang", "premises", "东胜区公园街道交通街84号"),     # street decides: one community there
        ("fangwu", "property", "东胜区交通街道交通街84号"),       # street leaves two: ambiguous
        ("fangwu", "property", "交通街八十四号"),                 # nothing decides: ambiguous
        ("yibao", "residence", "幸福小区3号楼2单元501"),
        ("yibao", "residence", "鄂尔多斯市东胜区交通街道建设社区幸福小区三号楼二单元五〇一室"),
        ("registry_places", "premises", "随便写的地址", "A4"),    # the code decides
    ])
    summary = link_houses(con)
    m = _matches(con)
    assert m["建设社区交通街84号"][:3] == ("HA1", "A1", "exact_address")
    assert m["东胜区公园街道交通街84号"][:3] == ("HA3", "A3", "exact_address")
    for ambiguous in ("东胜区交通街道交通街84号", "交通街八十四号"):
        assert m[ambiguous][1] is None and m[ambiguous][2] == "new"
    assert m["东胜区交通街道交通街84号"][0] != m["交通街八十四号"][0]  # not merged: need not be the same house
    assert summary["ambiguous"] == 2
    assert m["幸福小区3号楼2单元501"][:3] == ("HA4", "A4", "exact_address")
    assert m["鄂尔多斯市东胜区交通街道建设社区幸福小区三号楼二单元五〇一室"][0] == "HA4"
    assert m["随便写的地址"][:3] == ("HA4", "A4", "exact_code")
    registry_rows = con.execute("""SELECT match_method, count(*) FROM link_house_matches m
        JOIN link_house_records r USING (record_id) WHERE r.feed = 'registry_addresses' GROUP BY 1""").fetchall()
    assert registry_rows == [("exact_code", 4)]
    # the registry's own values in link_houses
    assert con.execute("SELECT community, grid, usage FROM link_houses WHERE entity_id = 'HA2'").fetchall() == [
        ("振兴社区", "第一网格", "商业")]


def test_addresses_elsewhere_are_not_registry_houses():
    registry = [_registry_house("B1", "交通街道", "建设社区", "建设路24号", usage="商业")]
    con = _workspace(registry, [
        ("registry_persons", "registered_residence", "内蒙古自治区鄂尔多斯市达拉特旗树林召镇建设路24号"),
        ("binzang", "registered_residence", "内蒙古自治区鄂尔多斯市达拉特旗树林召镇建设路24号"),
        ("registry_persons", "registered_residence", "内蒙古自治区鄂尔多斯市东胜区建设路24号"),  # full form, no street
        ("registry_persons", "registered_residence", "河北省石家庄市长安区和平村5社41号"),
        ("registry_persons", "registered_residence", "河南省郑州市中原区和平村5社41号"),
        ("shichang", "premises", "东胜区建设路24号"),  # a partial prefix of ours
    ])
    link_houses(con)
    m = _matches(con)
    dalate = m["内蒙古自治区鄂尔多斯市达拉特旗树林召镇建设路24号"]
    assert dalate[1] is None and dalate[2] == "new"
    assert m["内蒙古自治区鄂尔多斯市东胜区建设路24号"][1] is None
    assert m["河北省石家庄市长安区和平村5社41号"][0] != m["河南省郑州市中原区和平村5社41号"][0]
    assert m["东胜区建设路24号"][:3] == ("HB1", "B1", "exact_address")
    # the same text twice is one house
    same = con.execute("""SELECT count(DISTINCT entity_id) FROM link_house_matches JOIN link_house_records
        USING (record_id) WHERE address = '内蒙古自治区鄂尔多斯市达拉特旗树林召镇建设路24号'""").fetchall()[0][0]
    assert same == 1


def test_fuzzy_compound_names():
    registry = [
        _registry_house("C1", "交通街道", "建设社区", "幸福小区3号楼2单元501室"),
        _registry_house("C2", "交通街道", "建设社区", "阳光花园1号楼1单元101室"),
        _registry_house("C3", "交通街道", "建设社区", "阳光家园1号楼1单元101室"),
        _registry_house("C4", "交通街道", "振兴社区", "锦绣名邸2号楼1单元302室"),
    ]
    con = _workspace(registry, [
        ("yibao", "residence", "兴福小区3号楼2单元501"),      # same pinyin
        ("yibao", "residence", "幸福花园3号楼2单元501"),      # another suffix
        ("yibao", "residence", "幸福小区一期3号楼2单元501"),  # a 期 part
        ("yibao", "residence", "幸运小区3号楼2单元501"),      # one character off
        ("yibao", "residence", "幸福小区3号楼2单元502"),      # another room: a house not in the registry
        ("yibao", "residence", "建设社区幸福小区3号楼2单元502室"),
        ("yibao", "residence", "阳光小区1号楼1单元101"),      # 阳光花园 or 阳光家园: not guessed
        ("yibao", "residence", "建设社区锦绣名苑2号楼1单元302"),  # right name, wrong community
    ])
    summary = link_houses(con)
    m = _matches(con)
    assert m["兴福小区3号楼2单元501"][:3] == ("HC1", "C1", "fuzzy_address")
    assert m["幸福花园3号楼2单元501"][:3] == ("HC1", "C1", "fuzzy_address")
    assert m["幸福小区一期3号楼2单元501"][:3] == ("HC1", "C1", "fuzzy_address")
    assert m["幸运小区3号楼2单元501"][:3] == ("HC1", "C1", "fuzzy_address")
    assert all(0 < m[a][3] < 1 for a in ("兴福小区3号楼2单元501", "幸福花园3号楼2单元501", "幸运小区3号楼2单元501"))
    assert m["兴福小区3号楼2单元501"][3] > m["幸运小区3号楼2单元501"][3]  # pinyin is the stronger evidence
    new502 = m["幸福小区3号楼2单元502"]
    assert new502[1] is None and new502[2] == "new" and new502[0].startswith("HN")
    assert m["建设社区幸福小区3号楼2单元502室"][0] == new502[0]  # one new house, community taken from the compound
    assert m["阳光小区1号楼1单元101"][2] == "new"
    assert m["建设社区锦绣名苑2号楼1单元302"][1] is None
    assert summary["fuzzy_address"] == 4 and summary["ambiguous"] == 1
    new_house = con.execute("SELECT community, compound, building, unit, room FROM link_houses WHERE entity_id = ?",
                            [new502[0]]).fetchall()
    assert new_house == [("建设社区", "幸福小区", "3", "2", "502")]


def test_new_house_ids_are_stable():
    registry = [_registry_house("D1", "交通街道", "建设社区", "幸福小区3号楼2单元501室")]
    first = _workspace(registry, [("yibao", "residence", "幸福小区9号楼1单元101")])
    link_houses(first)
    again = _workspace(registry, [("manbing", "residence", "建设社区幸福小区9号楼1单元101室")])
    link_houses(again)
    assert _matches(first)["幸福小区9号楼1单元101"][0] == _matches(again)["建设社区幸福小区9号楼1单元101室"][0]


def _place(rid, feed, row, role, name, uscc=None, valid=None, code=None, kind=None):
    return {"record_id": rid, "feed": feed, "file_id": 2, "source_row": row, "role": role, "place_code": code,
            "uscc": uscc, "uscc_valid": valid, "name": name, "kind": kind}


def test_places_and_employers():
    registry = [
        _registry_house("E1", "交通街道", "建设社区", "建设路8号", usage="商业"),
        _registry_house("E2", "交通街道", "建设社区", "交通街44号", usage="商业"),
        _registry_house("E3", "交通街道", "建设社区", "建设路10号", usage="商业"),
    ]
    # house records of the premises: (file 2, row) as the place rows below
    records = [
        ("registry_places", "premises", f"{PRE}交通街道建设社区建设路8号", "E1"),   # row 2
        ("shichang", "premises", "建设路8号"),                                      # row 3
        ("shichang", "premises", "交通街44号"),                                     # row 4
        ("shichang", "premises", "建设路10号"),                                     # row 5
        ("registry_places", "premises", f"{PRE}交通街道建设社区建设路10号", "E3"),  # row 6
        ("shichang", "premises", "建设路10号"),                                     # row 7
    ]
    places = [
        _place(1, "registry_places", 2, "place", "东胜区永盛蒙餐馆", "92150602MA0RD4E10D", True, "CS1", "个体工商户"),
        _place(2, "shichang", 3, "place", "东胜区永盛蒙餐馆", "92150602MA0RD4E10D", True, kind="个体工商户"),
        _place(3, "shichang", 4, "place", "东胜区永盛蒙餐馆（二分店）", "92150602MA0NGC3L9P", True, kind="个体工商户"),
        _place(4, "shichang", 5, "place", "东胜区永盛蒙餐馆", "92150602MA0C6L1T1C", True, kind="个体工商户"),
        _place(5, "registry_places", 6, "place", "鄂尔多斯市蒙富建筑工程有限公司", None, None, "CS2", "企业"),
        _place(6, "shichang", 7, "place", "鄂尔多斯市蒙富建筑工程有限公司", "91150602MA0DMTK56X", False, kind="企业"),
        _place(7, "jiuye", 2, "employer", "东胜区永盛蒙餐馆"),            # two places bear this name
        _place(8, "jiuye", 3, "employer", "东胜区永盛蒙餐馆(二分店)"),     # one does
        _place(9, "jiuye", 4, "employer", "鄂尔多斯市蒙富建筑工程有限责任公司"),  # normalised name
        _place(10, "jiuye", 5, "employer", "内蒙古伊泰集团有限公司"),      # not a place of ours
    ]
    con = _workspace(registry, records, places)
    link_houses(con)
    summary = link_places(con)
    got = {rid: (e, k, m, p) for rid, e, k, m, p in con.execute(
        "SELECT record_id, entity_id, registry_key, match_method, match_probability FROM link_place_matches").fetchall()}
    assert got[1][:3] == ("SCS1", "CS1", "exact_code")
    assert got[2][:3] == ("SCS1", "CS1", "exact_uscc")
    assert got[3][2] == "new" and got[3][0].startswith("SN") and got[3][1] is None
    assert got[4][2] == "new" and got[4][0] not in (got[3][0], "SCS1")  # same name, another code and house
    assert got[6][:3] == ("SCS2", "CS2", "probabilistic") and got[6][3] < 1  # bad code, same name and house
    assert 7 not in got and 10 not in got
    assert got[8][0] == got[3][0] and got[8][2] == "exact_name"
    assert got[9][:3] == ("SCS2", "CS2", "fuzzy_name")
    assert summary["employers_unmatched"] == 2
    rows = {e: (k, u, n, kind, h) for e, k, u, n, kind, h in con.execute("SELECT * FROM link_places").fetchall()}
    assert rows["SCS1"] == ("CS1", "92150602MA0RD4E10D", "东胜区永盛蒙餐馆", "个体工商户", "HE1")
    assert rows["SCS2"][0] == "CS2" and rows["SCS2"][1] is None and rows["SCS2"][4] == "HE3"
    assert rows[got[3][0]][4] == "HE2"
    assert len(rows) == 4


def test_a_shop_on_a_floor_of_a_doorplate_written_in_chinese_numerals():
    """康宁路二号一楼 is the ground floor of 康宁路2号, not building 1 of a compound
    康宁路二号: its house is the registry's 康宁路2号, and so the place there is the
    registry's place."""
    registry = [
        _registry_house("F1", "交通街道", "康城社区", "康宁路2号", usage="商业"),
        _registry_house("F2", "交通街道", "康城社区", "康宁路108号", usage="商业"),
        _registry_house("F3", "交通街道", "康城社区", "康宁路83号康城雅苑1号楼1单元101室"),
    ]
    records = [
        ("registry_places", "premises", f"{PRE}交通街道康城社区康宁路2号", "F1"),  # row 2
        ("shichang", "premises", "康宁路二号一楼"),                                # row 3
        ("shichang", "premises", "交通街道康宁路一百零八号B1层"),                  # row 4
        ("fangwu", "property", "康宁路2号3层"),
        ("fangwu", "property", "康宁路二号底商"),
        ("fangwu", "property", "康宁路八十三号康城雅苑1号楼1单元101室 东户"),
    ]
    places = [
        _place(1, "registry_places", 2, "place", "东胜区康宁便利店", None, None, "CS3", "个体工商户"),
        _place(2, "shichang", 3, "place", "东胜区康宁便利店", "92150602MA0RD4E10D", True, kind="个体工商户"),
    ]
    con = _workspace(registry, records, places)
    link_houses(con)
    m = _matches(con)
    for text in ("康宁路二号一楼", "康宁路2号3层", "康宁路二号底商"):
        assert m[text][:3] == ("HF1", "F1", "exact_address"), text
    assert m["交通街道康宁路一百零八号B1层"][:2] == ("HF2", "F2")
    assert m["康宁路八十三号康城雅苑1号楼1单元101室 东户"][:2] == ("HF3", "F3")
    link_places(con)
    got = dict(con.execute("SELECT record_id, registry_key FROM link_place_matches").fetchall())
    assert got == {1: "CS3", 2: "CS3"}


def test_helpers():
    assert compound_core("幸福小区二期") == "幸福" == compound_core("幸福花园")
    assert ("兴福小区", "幸福小区", "pinyin") in similar_compounds(["兴福小区"], ["幸福小区", "阳光花园"])
    assert similar_compounds(["阳光花园"], ["幸福小区"]) == []
    assert admin_prefix("东胜区交通街道交通街84号", None, "交通街") == "东胜区交通街道"
    assert admin_prefix("鄂尔多斯市东胜区交通街道建设社区幸福小区3号楼", "建设社区", "幸福小区") == "鄂尔多斯市东胜区交通街道"
    std = "内蒙古自治区鄂尔多斯市东胜区交通街道"
    assert prefix_compatible("", std) and prefix_compatible("东胜区", std) and prefix_compatible(std, std)
    assert not prefix_compatible("内蒙古自治区鄂尔多斯市东胜区", std)
    assert not prefix_compatible("内蒙古自治区鄂尔多斯市达拉特旗树林召镇", std)
    assert normalize_place_name("鄂尔多斯市 蒙富建筑工程有限责任公司") == "鄂尔多斯市蒙富建筑工程"
    assert normalize_place_name("东胜区永盛蒙餐馆（二分店）") != normalize_place_name("东胜区永盛蒙餐馆")
    assert similar_compounds(["幸福小区三期"], ["幸福小区二期"]) == []
    assert similar_compounds(["幸福小区三期"], ["幸福小区"]) == [("幸福小区三期", "幸福小区", "suffix")]


# ---------------------------------------------------------------- incremental records

def _records(con, table: str) -> pl.DataFrame:
    return con.sql(f"SELECT * FROM {table} ORDER BY record_id").pl()


def test_record_tables_read_only_new_files_and_match_a_full_build(sample_copy, tmp_path):
    """After a re-delivery of one feed, the incremental build reads that feed's new
    file only, drops the replaced file's records, and ends with exactly the rows a
    full build gives; a file whose SELECT changed is read again."""
    db = sample_copy  # its record tables built by the link
    lines = (SAMPLE / "yibao_2026-11.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    redelivered = tmp_path / "yibao_2026-12.csv"
    redelivered.write_text("".join(lines[:-10]), encoding="utf-8")
    ingest([redelivered], db=db)
    con = duckdb.connect(str(db))
    timings: dict = {}
    counts = build_record_tables(con, load_specs(), timings, incremental=True)
    incremental = {t: _records(con, f"link_{t}_records") for t in ("person", "house", "place")}
    files = con.sql("SELECT DISTINCT source_file FROM link_person_records WHERE feed = 'yibao'").fetchall()
    assert files == [("yibao_2026-12.csv",)]
    # A file built by another SELECT (a changed feed schema) is read again.
    con.execute("UPDATE link_record_files SET part_sql = 'old' WHERE entity = 'person' AND file_id = "
                "(SELECT min(file_id) FROM files WHERE is_current)")
    con.execute("DELETE FROM link_person_records WHERE file_id = (SELECT min(file_id) FROM files WHERE is_current)")
    build_record_tables(con, load_specs(), incremental=True)
    again = _records(con, "link_person_records")
    # A table built before the bookkeeping existed (no notes of its files) is rebuilt.
    con.execute("DELETE FROM link_record_files")
    build_record_tables(con, load_specs(), incremental=True)
    upgraded = _records(con, "link_person_records")
    build_record_tables(con, load_specs(), incremental=False)
    for table, frame in incremental.items():
        full = _records(con, f"link_{table}_records")
        assert frame.equals(full), table
        assert counts[table] == full.height
    assert again.equals(_records(con, "link_person_records"))
    assert upgraded.equals(_records(con, "link_person_records"))
    assert counts["person"] > 10_000
    con.close()
