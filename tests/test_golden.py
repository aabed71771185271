"""Golden records, relations and corrections on the sample area, scored against its
ground truth (sample_data/_truth), plus the persons and corrections exports."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from conftest import TRUTH, copy_sample
from rootdb.errors import UsageError
from rootdb.golden import build_golden, stages
from rootdb.specs import load_specs
from rootdb.golden.exports import CORRECTION_HEADERS, PERSON_HEADERS, export_corrections, export_persons

REFERENCE_FEEDS = ("registry_persons", "registry_addresses", "registry_places")


@pytest.fixture(scope="module")
def db(sample_db, tmp_path_factory) -> Path:
    """A copy of the linked sample: the exports write to its audit log."""
    return copy_sample(sample_db, tmp_path_factory.mktemp("golden"))


def _frame(db: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(sql).pl()


@pytest.fixture(scope="module")
def truth_persons(db) -> pl.DataFrame:
    """Golden persons beside the true person each entity stands for (the true person
    most of its records belong to)."""
    crosswalk = _frame(db, "SELECT source_file AS file, source_row, role, entity_id FROM crosswalk "
                           "WHERE entity_type = 'person'")
    records = pl.read_csv(TRUTH / "records.csv", infer_schema=False).filter(
        pl.col("entity_type") == "person").with_columns(pl.col("source_row").cast(pl.Int64))
    best = (records.join(crosswalk, on=["file", "source_row", "role"]).group_by("entity_id", "entity_uid").len()
            .sort("len", "entity_uid", descending=[True, False]).unique("entity_id", keep="first", maintain_order=True))
    persons = pl.read_csv(TRUTH / "persons.csv", infer_schema=False)
    golden = _frame(db, "SELECT * FROM golden_persons").with_columns(
        pl.col("birth_date").cast(pl.String), pl.col("death_date").cast(pl.String))
    return golden.join(best.select("entity_id", "entity_uid"), on="entity_id").join(
        persons, left_on="entity_uid", right_on="person_uid", suffix="_t")


@pytest.fixture(scope="module")
def corrections_vs_defects(db) -> pl.DataFrame:
    corrections = _frame(db, "SELECT source_file AS file, source_row, trim(field) AS column, kind, "
                             "delivered_value, registry_value, detail FROM corrections")
    defects = pl.read_csv(TRUTH / "defects.csv", infer_schema=False).with_columns(
        pl.col("source_row").cast(pl.Int64), pl.col("column").str.strip_chars())
    return defects.join(corrections, on=["file", "source_row", "column"], how="left")


# ------------------------------------------------------------------ golden persons

def test_one_golden_person_per_entity(db):
    counts = _frame(db, """
        SELECT (SELECT count(*) FROM golden_persons) AS rows,
               (SELECT count(DISTINCT entity_id) FROM golden_persons) AS entities,
               (SELECT count(DISTINCT entity_id) FROM crosswalk WHERE entity_type = 'person') AS crosswalk,
               (SELECT count(*) FROM golden_persons WHERE in_registry) AS in_registry,
               (SELECT count(*) FROM registry_persons) AS registry,
               (SELECT count(*) FROM golden_persons WHERE NOT in_registry AND person_type <> '流动人口') AS odd_type,
               (SELECT count(*) FROM golden_persons WHERE len(feeds) = 0) AS no_feeds
    """).row(0, named=True)
    assert counts["rows"] == counts["entities"] == counts["crosswalk"]
    assert counts["in_registry"] == counts["registry"]
    assert counts["odd_type"] == 0 and counts["no_feeds"] == 0


@pytest.mark.parametrize("field, truth", [
    ("name", "name_t"), ("sex", "sex_t"), ("birth_date", "birth_date_t"), ("status", "status_t"),
    ("id_number", "id_number_t"), ("ethnicity", "ethnicity_t"), ("household_no", "household_no_t"),
])
def test_registry_persons_golden_fields_match_truth(truth_persons, field, truth):
    registry = truth_persons.filter(pl.col("in_registry"))
    right = registry.filter(pl.col(field).eq_missing(pl.col(truth))).height
    print(f"\n{field}: {right}/{registry.height} = {right / registry.height:.4f}")
    assert right / registry.height >= 0.995


def test_person_type_follows_registry(truth_persons):
    registry = truth_persons.filter(pl.col("in_registry"))
    expected = pl.when(pl.col("registered") == "true").then(pl.lit("户籍人口")).otherwise(pl.lit("流动人口"))
    right = registry.filter(pl.col("person_type") == expected).height
    assert right / registry.height >= 0.995


def test_deaths_known_only_from_binzang(truth_persons):
    late = truth_persons.filter((pl.col("status_t") == "死亡") & (pl.col("registry_status") == "正常"))
    assert late.height >= 1
    assert late["status"].to_list() == ["死亡"] * late.height
    assert late["death_date"].to_list() == late["death_date_t"].to_list()


def test_phone_is_the_registry_phone_first(truth_persons):
    registry = truth_persons.filter(pl.col("in_registry") & pl.col("phone_t").is_not_null())
    digits = pl.col("phone_t").str.replace_all(r"\D", "")
    right = registry.filter(pl.col("phone") == digits).height
    assert right / registry.height >= 0.98


def test_people_outside_the_registry_get_fields_from_the_feeds(truth_persons):
    outside = truth_persons.filter(~pl.col("in_registry") & (pl.col("in_registry_t") == "false"))
    assert outside.height > 50
    for field, truth in (("name", "name_t"), ("sex", "sex_t"), ("birth_date", "birth_date_t")):
        right = outside.filter(pl.col(field).eq_missing(pl.col(truth))).height
        assert right / outside.height >= 0.95, field


# ------------------------------------------------------------------ houses, places, relations

def test_golden_houses_and_places(db):
    houses = _frame(db, """
        SELECT (SELECT count(*) FROM golden_houses) AS houses, (SELECT count(*) FROM link_houses) AS linked,
               (SELECT sum(residents_count) FROM golden_houses) AS residents,
               (SELECT count(*) FROM golden_persons WHERE status = '正常' AND house_entity_id IN
                    (SELECT entity_id FROM golden_houses)) AS living_housed,
               (SELECT count(owner_entity_id) FROM golden_houses) AS owned,
               (SELECT count(*) FROM golden_places) AS places,
               (SELECT count(*) FROM link_places) AS linked_places,
               (SELECT count(legal_rep_entity_id) FROM golden_places) AS with_rep
    """).row(0, named=True)
    assert houses["houses"] == houses["linked"]
    assert houses["residents"] == houses["living_housed"] > 2000
    assert houses["owned"] > 0
    assert houses["places"] == houses["linked_places"]
    assert houses["with_rep"] >= houses["places"] * 0.8


def test_relations(db):
    kinds = dict(_frame(db, "SELECT kind, count(*) FROM rel_person_house GROUP BY 1").iter_rows())
    assert {"residence", "registered", "owner", "tenant"} <= set(kinds)
    households = _frame(db, """
        SELECT r.source, count(*) AS n,
               count(*) FILTER (WHERE r.head_entity_id = r.member_entity_id AND r.relation <> '户主') AS self_not_head
        FROM rel_household r GROUP BY 1
    """)
    assert set(households["source"]) == {"registry_persons", "dibao"}
    assert households["self_not_head"].sum() == 0
    places = dict(_frame(db, "SELECT kind, count(*) FROM rel_place_person GROUP BY 1").iter_rows())
    assert places.get("legal_rep", 0) > 0 and places.get("employee", 0) > 0


def test_registry_households_match_truth(db, truth_persons):
    """The registry head of each member is the true 户主 of the member's household."""
    rel = _frame(db, "SELECT head_entity_id, member_entity_id FROM rel_household WHERE source = 'registry_persons'")
    ids = truth_persons.select("entity_id", "household_no_t")
    joined = rel.join(ids.rename({"entity_id": "member_entity_id", "household_no_t": "member_hh"}),
                      on="member_entity_id").join(
        ids.rename({"entity_id": "head_entity_id", "household_no_t": "head_hh"}), on="head_entity_id")
    assert joined.height > 2000
    assert joined.filter(pl.col("member_hh") == pl.col("head_hh")).height == joined.height


# ------------------------------------------------------------------ corrections

@pytest.mark.parametrize("defect, kind, share", [
    ("bad_checksum", "身份证号无效", 0.95),
    ("excel_number_id", "身份证号无效", 0.95),
    ("other_persons_id", "身份证号属于他人", 0.9),
    ("name_typo", "姓名与公安库不一致", 0.9),
    ("homophone", "姓名与公安库不一致", 0.9),
    ("swapped_day_month", "出生日期与公安库不一致", 0.9),
    ("id15", "身份证号为15位旧号码", 0.95),
])
def test_planted_defects_become_corrections(corrections_vs_defects, defect, kind, share):
    cells = corrections_vs_defects.filter(pl.col("defect") == defect)
    total = cells.select("file", "source_row", "column").unique().height
    found = cells.filter(pl.col("kind") == kind).select("file", "source_row", "column").unique().height
    print(f"\n{defect} -> {kind}: {found}/{total}")
    assert total > 0 and found / total >= share


def test_swapped_dates_carry_the_registry_date(corrections_vs_defects):
    swapped = corrections_vs_defects.filter(
        (pl.col("defect") == "swapped_day_month") & (pl.col("kind") == "出生日期与公安库不一致"))
    assert swapped.height > 0
    assert swapped["registry_value"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    assert (swapped["detail"] == "日、月颠倒").all()


def test_registry_rows_never_produce_corrections(db):
    rows = _frame(db, f"""
        SELECT count(*) AS n FROM corrections c
        WHERE c.feed IN {REFERENCE_FEEDS}
           OR c.source_file IN (SELECT file_name FROM files WHERE feed IN {REFERENCE_FEEDS})
    """)
    assert rows["n"][0] == 0
    kinds = _frame(db, "SELECT count(*) AS n, count(department) AS dep, count(field) AS field FROM corrections")
    assert kinds["n"][0] == kinds["dep"][0] == kinds["field"][0] > 500


def test_dead_people_still_active_are_listed(db, truth_persons):
    dead = _frame(db, """
        SELECT c.feed, c.kind, c.entity_id FROM corrections c
        WHERE c.kind IN ('公安库登记已死亡但仍在享受/登记', '殡葬登记已死亡但仍在享受/登记')
    """)
    assert {"dibao", "tekun", "gaoling", "yanglao", "canji", "tuiyi"} <= set(dead["feed"])
    status = dict(truth_persons.select("entity_id", "status_t").iter_rows())
    assert all(status.get(e) == "死亡" for e in dead["entity_id"])


def test_corrections_only_from_current_snapshots(db):
    stale = _frame(db, "SELECT count(*) AS n FROM corrections c JOIN files f USING (file_id) WHERE NOT f.is_current")
    assert stale["n"][0] == 0


def test_build_golden_runs_inside_the_callers_transaction(db, tmp_path):
    with duckdb.connect(str(db)) as con:
        before = con.execute("SELECT count(*) FROM corrections").fetchall()[0][0]
        con.begin()
        counts = build_golden(con)
        con.execute("DELETE FROM corrections")
        con.rollback()  # build_golden did not commit: the delete is undone with it
        assert con.execute("SELECT count(*) FROM corrections").fetchall()[0][0] == before == counts["corrections"]


def test_build_golden_times_its_stages_and_leaves_no_working_table(db):
    seconds: dict[str, float] = {}
    with duckdb.connect(str(db)) as con:
        con.begin()
        build_golden(con, seconds=seconds)
        left = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
        con.rollback()
    assert left == []
    assert list(seconds) == [f"golden_{stage.name}" for stage in stages(load_specs())]


# ------------------------------------------------------------------ exports

def _read_csv(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_persons_masked_and_unmasked(db, tmp_path):
    masked = export_persons(db, tmp_path / "persons.csv", unmasked=False)
    plain = export_persons(db, tmp_path / "persons_plain.csv", unmasked=True)
    rows, rows_plain = _read_csv(tmp_path / "persons.csv"), _read_csv(tmp_path / "persons_plain.csv")
    assert list(rows[0]) == PERSON_HEADERS
    assert masked.rows == plain.rows == len(rows) == len(rows_plain)
    with_id = [(m, p) for m, p in zip(rows, rows_plain) if p["身份证号"]]
    assert with_id
    for m, p in with_id:
        assert len(p["身份证号"]) == 18 and "*" not in p["身份证号"]
        assert m["身份证号"] == p["身份证号"][:6] + "********" + p["身份证号"][-4:]
    mobiles = [(m, p) for m, p in zip(rows, rows_plain) if len(p["联系电话"]) == 11 and p["联系电话"][0] == "1"]
    assert mobiles and all(m["联系电话"] == p["联系电话"][:3] + "****" + p["联系电话"][-4:] for m, p in mobiles)
    landlines = [(m, p) for m, p in zip(rows, rows_plain) if p["联系电话"].startswith("0477")]
    assert all(m["联系电话"] == "0477-****" + p["联系电话"][-4:] for m, p in landlines)
    assert any(r["住址"] for r in rows) and all(r["所在数据源"] for r in rows)
    audit = _frame(db, "SELECT command, rows FROM audit_log WHERE command LIKE 'export persons%'")
    assert audit.height == 1 and audit["rows"][0] == plain.rows


def test_export_corrections_by_department(db, tmp_path):
    everything = export_corrections(db, tmp_path / "all.xlsx")
    civil = export_corrections(db, tmp_path / "minzheng.xlsx", department="民政")
    assert 0 < civil.rows < everything.rows
    book = openpyxl.load_workbook(tmp_path / "minzheng.xlsx")
    assert book.sheetnames[0] == "汇总"
    feeds = set()
    summary = book["汇总"]
    assert summary["A1"].value == "数据比对纠错清单" and f"共 {civil.rows:,} 条" in summary["A2"].value
    assert "部门：民政" in summary["A2"].value and "已脱敏" in summary["A2"].value
    for name in book.sheetnames[1:]:
        sheet = book[name]
        assert sheet["A1"].value.endswith("：纠错清单") and "报送部门：民政" in sheet["A2"].value
        assert [c.value for c in sheet[3]] == CORRECTION_HEADERS  # below the heading
        feeds.add(sheet.cell(4, 1).value)
        for row in sheet.iter_rows(min_row=4, values_only=True):
            value = row[5] or ""
            if row[4] and "身份证" in row[4] and len(value) == 18:
                assert value[6:14] == "********"
    assert feeds <= {"城乡最低生活保障对象花名册", "特困人员供养名册", "高龄津贴发放名册", "死亡及火化登记"}
    with pytest.raises(UsageError) as err:
        export_corrections(db, tmp_path / "x.xlsx", department="不存在的部门")
    assert "民政" in str(err.value)


def test_export_corrections_writes_formula_looking_text_as_text(db, tmp_path):
    out = tmp_path / "formula.xlsx"
    with duckdb.connect(str(db)) as con:
        con.begin()
        con.execute("""
            UPDATE corrections SET delivered_value = '=HYPERLINK("http://x","点我")', person_name = '+1-2'
            WHERE rowid = (SELECT min(rowid) FROM corrections WHERE feed = 'dibao' AND value_type = 'text')
        """)
        export_corrections(con, out, department="民政")
        con.rollback()
    book = openpyxl.load_workbook(out)
    sheet = book["城乡最低生活保障对象花名册"]
    cells = [c for row in sheet.iter_rows(min_row=4) for c in row]
    formula = [c for c in cells if isinstance(c.value, str) and c.value.startswith("=HYPERLINK")]
    assert formula and all(c.data_type == "s" for c in formula)
    assert any(c.value == "+1-2" and c.data_type == "s" for c in cells)


def test_before_link_they_say_so_in_one_wording(tmp_path):
    con = duckdb.connect()  # nothing linked: no table names to puzzle an officer
    for call in (lambda: build_golden(con), lambda: export_persons(con, tmp_path / "p.csv"),
                 lambda: export_corrections(con, tmp_path / "c.xlsx")):
        with pytest.raises(UsageError, match="^还没有比对结果：请先运行 rootdb link$"):
            call()
    con.execute("CREATE TABLE link_person_records (x INT)")  # a link of an older version, or cut short
    with pytest.raises(UsageError, match="^比对结果不完整（缺少 link_person_matches.*）：请重新运行 rootdb link$"):
        build_golden(con)
