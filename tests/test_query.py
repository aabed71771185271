"""`rootdb query` and `rootdb notify` on the linked sample area, as a grid worker uses
them: find people by age, family tag, feeds, sex, 民族 and grid, checked against the
sample's truth; then one text message per recipient, children's to their guardians,
masked, audited, and the people without a mobile listed apart."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from conftest import SAMPLE_AS_OF, TRUTH, assert_same_people, unname_newborns
from typer.testing import CliRunner

from rootdb.cli.main import app
from rootdb.errors import SchemaError, UsageError
from rootdb.reports.notify import find_template, notify, salutation
from rootdb.reports.query import PersonQuery, find_people, parse_age_range, run_query, write_people

TEMPLATE = "托育服务通知"
MOBILE = re.compile(r"1[3-9]\d{9}")
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def panel_text(output: str) -> str:
    """An error panel's text without its frame and line breaks."""
    return re.sub(r"[\s│╭╮╰╯─]", "", output)


@pytest.fixture(scope="module")
def work_db(sample_db, tmp_path_factory):
    """A copy of the linked sample: query and notify write the audit log."""
    path = tmp_path_factory.mktemp("query") / "rootdb.duckdb"
    shutil.copy(sample_db, path)
    return path


@pytest.fixture(scope="module")
def uid_of(sample_db, truth) -> dict:
    """person entity id → the true person, by what the records it holds say."""
    with duckdb.connect(str(sample_db), read_only=True) as con:
        crosswalk = con.sql("SELECT source_file AS file, source_row, role, entity_id FROM crosswalk "
                            "WHERE entity_type = 'person'").pl()
    votes = crosswalk.join(truth.records.select("file", "source_row", "role", "entity_uid"),
                           on=["file", "source_row", "role"])
    best = votes.group_by("entity_id").agg(pl.col("entity_uid").mode().first())
    return dict(zip(best["entity_id"], best["entity_uid"]))


def query(sample_db, **conditions) -> pl.DataFrame:
    return run_query(PersonQuery(as_of=conditions.pop("as_of", SAMPLE_AS_OF), **conditions), db=sample_db).people


def listed(truth, as_of: dt.date = SAMPLE_AS_OF) -> pl.DataFrame:
    """The truth people a query may return: living and not moved out."""
    return truth.people_at(as_of).filter(pl.col("living") & (pl.col("status") != "迁出"))


def uids(frame: pl.DataFrame, uid_of: dict) -> list:
    return [uid_of.get(p) for p in frame["人员编号"]]


def feed_members(truth, feed: str) -> set:
    files = pl.read_csv(TRUTH / "files.csv", infer_schema=False).filter(pl.col("feed") == feed)["file"]
    records = truth.records.filter(pl.col("file").is_in(files.to_list()) & (pl.col("entity_type") == "person"))
    return set(records["entity_uid"])


# ------------------------------------------------------------------ query vs the truth

def test_children_0_3_whose_family_wants_childcare(sample_db, truth, uid_of):
    """The issue's example: every child aged 0-3 whose family (same 户号 or same house)
    has someone tagged 托幼服务需求 in the community roster."""
    got = query(sample_db, age="0-3", family_tags=["托幼服务需求"])
    roster = truth.feed_rows("community_residents")
    tagged = set(roster.filter(pl.col("tags").str.contains("托幼服务需求"))["person_uid"])
    families = truth.persons.filter(pl.col("person_uid").is_in(tagged))
    people = listed(truth)
    expected = people.filter(
        pl.col("age").is_between(0, 3)
        & (pl.col("person_uid").is_in(tagged)
           | pl.col("household_no").is_in(families["household_no"].drop_nulls().to_list())
           | pl.col("residence_house_uid").is_in(families["residence_house_uid"].drop_nulls().to_list())))
    assert expected.height > 50
    assert_same_people("0-3, family tag 托幼服务需求", uids(got, uid_of), set(expected["person_uid"]))
    # More than the children tagged themselves: some are in the roster without the tag, or not at all.
    own = query(sample_db, age="0-3", tags=["托幼服务需求"])
    assert own.height < got.height
    assert set(own["人员编号"]) <= set(got["人员编号"])
    assert got["年龄"].is_between(0, 3).all()


def test_in_one_feed_and_not_in_another(sample_db, truth, uid_of):
    got = query(sample_db, in_feeds=["canji"], not_in_feeds=["manbing"])
    expected = (set(listed(truth)["person_uid"]) & feed_members(truth, "canji")) - feed_members(truth, "manbing")
    assert len(expected) > 20
    assert_same_people("in canji, not in manbing", uids(got, uid_of), expected)
    both = query(sample_db, in_feeds=["canji", "manbing"])
    assert not set(both["人员编号"]) & set(got["人员编号"])


@pytest.mark.parametrize("as_of", [SAMPLE_AS_OF, dt.date(2025, 6, 30)])
def test_age_bounds_count_full_years_at_the_as_of_date(sample_db, truth, uid_of, as_of):
    got = query(sample_db, age="60-64", as_of=as_of)
    people = listed(truth, as_of)
    expected = set(people.filter(pl.col("age").is_between(60, 64))["person_uid"])
    assert_same_people(f"60-64 at {as_of}", uids(got, uid_of), expected)
    assert got["年龄"].min() == 60 and got["年龄"].max() == 64
    oldest = query(sample_db, age="90+", as_of=as_of)
    assert_same_people(f"90+ at {as_of}", uids(oldest, uid_of),
                       set(people.filter(pl.col("age") >= 90)["person_uid"]))


def test_sex_minorities_and_grid(sample_db, truth, uid_of):
    got = query(sample_db, sex="女", ethnicity="少数民族", grid="第二网格")
    expected = listed(truth).filter((pl.col("sex") == "女") & (pl.col("ethnicity") != "汉族")
                                    & (pl.col("grid") == "第二网格"))
    assert expected.height > 20
    assert_same_people("女, 少数民族, 第二网格", uids(got, uid_of), set(expected["person_uid"]))
    assert set(got["网格"]) == {"第二网格"} and set(got["性别"]) == {"女"}
    mongol = query(sample_db, ethnicity="蒙古", grid="第二网格")  # 蒙古 means 蒙古族
    assert mongol.height and set(mongol["人员编号"]) <= set(query(sample_db, ethnicity="少数民族", grid="第二网格")["人员编号"])


def test_dead_people_are_never_listed(sample_db, truth, uid_of):
    everyone = set(uids(query(sample_db, moved_out=True), uid_of))
    dead = set(truth.people_at().filter(~pl.col("living"))["person_uid"])
    moved = set(truth.people_at().filter(pl.col("living") & (pl.col("status") == "迁出"))["person_uid"])
    # A death no delivered file records (a floating person without a 殡葬 row) cannot be known.
    assert dead and len(everyone & dead) <= 2, everyone & dead
    assert moved and moved <= everyone
    assert not moved & set(uids(query(sample_db), uid_of))


def test_groups_and_own_tags(sample_db):
    alone = query(sample_db, groups=["独居"], age="60-")
    assert alone.height and alone["所属群体"].str.contains("独居").all()
    members = query(sample_db, tags=["党员"], grid="第一网格")
    assert members.height and members["标签"].str.contains("党员").all()


@pytest.mark.parametrize("text, bounds", [
    ("0-3", (0, 3)), ("60-", (60, None)), ("80+", (80, None)), ("5", (5, 5)), ("-17", (None, 17)),
    ("６０岁以上", (60, None)), ("0～3", (0, 3)),
])
def test_age_ranges(text, bounds):
    assert parse_age_range(text) == bounds


@pytest.mark.parametrize("text", ["abc", "3-0", "+", "80+5", ""])
def test_bad_age_ranges_are_usage_errors(text):
    with pytest.raises(UsageError, match="--age"):
        parse_age_range(text)


def test_unknown_feed_or_group_names_what_there_is(sample_db):
    with pytest.raises(UsageError, match="没有数据源 nosuch.*dibao"):
        run_query(PersonQuery(in_feeds=["nosuch"]), db=sample_db)
    with pytest.raises(UsageError, match="没有群体 孤寡.*独居"):
        run_query(PersonQuery(groups=["孤寡"]), db=sample_db)


def test_sql_in_a_filter_value_finds_no_one_and_changes_nothing(work_db):
    def counts():
        with duckdb.connect(str(work_db), read_only=True) as con:
            return con.execute("SELECT (SELECT count(*) FROM golden_persons), (SELECT count(*) FROM files)").fetchall()

    before = counts()
    for conditions in ({"tags": ["党员' OR '1'='1"]}, {"family_tags": ["x'); DROP TABLE golden_persons; --"]},
                       {"ethnicity": "汉族' OR 1=1 --"}, {"compound": "幸福小区' OR ''='"}):
        result = find_people(PersonQuery(as_of=SAMPLE_AS_OF, **conditions), db=work_db)
        assert result.rows == 0 and result.warnings, conditions
    assert counts() == before


# ------------------------------------------------------------------ the list written

@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_list_is_masked_unless_asked_and_every_run_is_audited(work_db, tmp_path, suffix):
    conditions = PersonQuery(as_of=SAMPLE_AS_OF, age="80+", grid="第一网格")
    masked = find_people(conditions, out=tmp_path / f"masked{suffix}", db=work_db)
    plain = find_people(conditions, out=tmp_path / f"plain{suffix}", unmasked=True, db=work_db)
    assert masked.rows == plain.rows > 0

    def read(path):
        if suffix == ".csv":
            assert path.read_bytes().startswith(b"\xef\xbb\xbf")
            return pl.read_csv(path, infer_schema=False)
        rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
        # The header under the title and the conditions.
        return pl.DataFrame(rows[3:], schema=list(rows[2]), orient="row").drop("序号")

    hidden, shown = read(tmp_path / f"masked{suffix}"), read(tmp_path / f"plain{suffix}")
    assert hidden.columns == shown.columns == ["人员编号", "姓名", "性别", "年龄", "身份证号", "联系电话", "社区",
                                               "网格", "住址", "所属群体", "标签"]
    assert all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", v) for v in hidden["身份证号"].drop_nulls())
    assert all(re.fullmatch(r"[\dX]{18}", v) for v in shown["身份证号"].drop_nulls())
    assert all("****" in v for v in hidden["联系电话"].drop_nulls())
    with duckdb.connect(str(work_db), read_only=True) as con:
        audit = con.execute("SELECT command, detail, rows, file FROM audit_log WHERE file LIKE ? ORDER BY happened_at",
                            [f"{tmp_path}%"]).fetchall()
    assert [(a[0], a[2]) for a in audit] == [("query", masked.rows), ("query --unmasked", plain.rows)]
    assert audit[0][1].startswith("年龄 80+，网格 第一网格") and audit[1][3].endswith(f"plain{suffix}")


def test_the_workbook_says_what_the_list_is_above_the_table(work_db, tmp_path):
    """As an office's lists begin: a title, then the date, the conditions in words
    (feeds by their titles) and the count, then the header."""
    conditions = PersonQuery(as_of=SAMPLE_AS_OF, in_feeds=["canji"], not_in_feeds=["manbing"], grid="第二网格")
    result = find_people(conditions, out=tmp_path / "名单.xlsx", db=work_db)
    sheet = openpyxl.load_workbook(result.file)["人员名单"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "人员名单" and [str(r) for r in sheet.merged_cells.ranges] == ["A1:L1"]
    assert rows[1][0] == ("统计日期：2026年11月1日　　查询条件：网格 第二网格，在“持证残疾人花名册”，"
                          f"不在“慢性病患者健康管理档案”　　共 {result.rows} 人　　身份证号、联系电话已脱敏")
    assert rows[2][:3] == ("序号", "人员编号", "姓名") and len(rows) == 3 + result.rows > 3
    assert sheet.freeze_panes == "A4"
    assert "在 canji，不在 manbing" in result.query.describe()  # the terminal and the audit log keep the codes
    csv = find_people(conditions, out=tmp_path / "名单.csv", db=work_db)
    assert Path(csv.file).read_text(encoding="utf-8-sig").startswith("人员编号,姓名,")  # a CSV is the table alone


def test_unknown_output_suffix_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"\.xlsx 或 \.csv"):
        write_people(pl.DataFrame({"姓名": ["王芳"]}), tmp_path / "名单.txt", PersonQuery(), SAMPLE_AS_OF)


@pytest.fixture(scope="module")
def unnamed_db(work_db, tmp_path_factory):
    """A copy of the linked sample with its newborns unnamed (conftest.unname_newborns)."""
    path = tmp_path_factory.mktemp("unnamed") / "rootdb.duckdb"
    shutil.copy(work_db, path)
    unname_newborns(path)
    return path


def test_an_unnamed_newborn_is_listed_by_its_mother(unnamed_db):
    """A newborn whose 出生医学证明 has no name yet: 王芳之女（未取名）, not an empty cell."""
    sample_db = unnamed_db
    with duckdb.connect(str(sample_db), read_only=True) as con:
        unnamed = con.execute("""
            SELECT g.entity_id, b.mother_name, g.sex FROM golden_persons g
            JOIN crosswalk c ON c.entity_id = g.entity_id AND c.feed = 'chusheng' AND c.role = 'newborn'
            JOIN files f ON f.file_name = c.source_file AND f.is_current
            JOIN chusheng b ON b.file_id = f.file_id AND b.source_row = c.source_row
            WHERE g.name IS NULL AND b.newborn_name IS NULL""").fetchall()
    assert unnamed  # the sample has some
    everyone = query(sample_db, moved_out=True)
    assert everyone["姓名"].null_count() == 0
    names = dict(zip(everyone["人员编号"], everyone["姓名"]))
    for person_id, mother, sex in unnamed:
        assert names[person_id] == f"{mother}{'之女' if sex == '女' else '之子'}（未取名）"



# ------------------------------------------------------------------ notify

@pytest.fixture(scope="module")
def children_messages(work_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("notify") / "短信.xlsx"
    result = notify(PersonQuery(as_of=SAMPLE_AS_OF, age="0-3", family_tags=["托幼服务需求"]), TEMPLATE, out=out,
                    unmasked=True, db=work_db)
    return result


def test_one_message_per_recipient_each_naming_its_people(children_messages):
    result = children_messages
    messages = result.messages
    assert messages.height > 40
    assert messages.select("接收人", "手机号").is_unique().all()
    about = [name for names in messages["关于"] for name in names.split("、")]
    assert len(about) + result.no_phone.height == result.people  # everyone once: a message or the other sheet
    for row in messages.iter_rows(named=True):
        text = row["短信内容"]
        assert text.startswith("【建设社区】") and "{" not in text and len(text) <= 70
        assert all(name in text for name in row["关于"].split("、"))
        assert MOBILE.fullmatch(row["手机号"])


def test_children_messages_go_to_the_guardian_with_the_guardians_phone(children_messages, truth, uid_of):
    """Checked against the ertong rows: the message about a child goes to the guardian
    named there, at the phone written there or the guardian's own."""
    ertong = truth.feed_rows("ertong", "child").join(
        truth.feed_rows("ertong", "guardian").select("file_id", "source_row",
                                                     pl.col("person_uid").alias("guardian_uid")),
        on=["file_id", "source_row"])
    phone_of = dict(zip(truth.persons["person_uid"], truth.persons["phone"]))
    guardians = {}
    for row in ertong.iter_rows(named=True):
        guardians.setdefault(row["person_uid"], {})[row["guardian_uid"]] = {phone_of[row["guardian_uid"]],
                                                                           row["guardian_phone"]}
    phone_of_message = dict(zip(children_messages.messages["序号"], children_messages.messages["手机号"]))
    checked = agree = 0
    for n, child, recipient in children_messages.about.iter_rows():
        known = guardians.get(uid_of.get(child))
        if known:
            checked += 1
            agree += phone_of_message[n] in known.get(uid_of.get(recipient), ())
    print(f"\nchildren's messages: {agree} of {checked} go to the ertong guardian at that guardian's phone")
    assert checked > 50
    assert agree >= checked - max(2, checked // 100), (agree, checked)


def test_people_without_a_mobile_are_listed_apart(work_db):
    result = notify(PersonQuery(as_of=SAMPLE_AS_OF, age="80+"), TEMPLATE, db=work_db)
    assert result.no_phone.height > 10 and result.messages.height > 10
    assert set(result.no_phone["原因"]) <= {"本人只有座机", "本人没有电话"}
    for row in result.no_phone.iter_rows(named=True):
        assert row["联系电话"] is None or not MOBILE.fullmatch(row["联系电话"])
    assert result.no_phone.height + sum(len(a.split("、")) for a in result.messages["关于"]) == result.people


def test_children_without_a_reachable_guardian_are_listed_with_why(work_db):
    result = notify(PersonQuery(as_of=SAMPLE_AS_OF, age="-17"), TEMPLATE, db=work_db)
    assert result.messages.height > 300
    reasons = set(result.no_phone["原因"])
    assert reasons and reasons <= {"监护人没有手机号", "未满18岁，找不到监护人"}
    named = result.no_phone.filter(pl.col("原因") == "监护人没有手机号")
    assert named["应联系人"].str.contains(r"（(儿童保健监护人|学籍监护人|出生证明母亲|出生证明父亲|户主)）$").all()
    assert not set(result.about["人员编号"]) & set(result.about["接收人编号"])  # no child receives a message
    assert result.about["人员编号"].is_unique().all()


def test_the_workbook_masks_phones_unless_asked_and_the_runs_are_audited(work_db, tmp_path, children_messages):
    out = tmp_path / "masked.xlsx"
    masked = notify(PersonQuery(as_of=SAMPLE_AS_OF, age="0-3", family_tags=["托幼服务需求"]), TEMPLATE, out=out,
                    db=work_db)
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["短信", "无手机号"]
    rows = list(workbook["短信"].iter_rows(values_only=True))
    assert rows[0][0] == "群发短信（模板：托育服务通知）"
    assert rows[1][0] == (f"统计日期：2026年11月1日　　查询条件：年龄 0-3，家庭标签 托幼服务需求　　"
                          f"查到 {masked.people} 人，共 {masked.messages.height} 条短信　　手机号已脱敏")
    assert rows[2] == ("序号", "接收人", "手机号", "关于", "住址", "短信内容")
    assert len(rows) - 3 == masked.messages.height == children_messages.messages.height
    assert all(re.fullmatch(r"1\d\d\*{4}\d{4}", r[2]) for r in rows[3:])
    missing = list(workbook["无手机号"].iter_rows(values_only=True))
    assert missing[0][0] == "没有手机号、收不到短信的人员" and f"共 {masked.no_phone.height} 人" in missing[1][0]
    assert missing[2][-1] == "原因" and len(missing) - 3 == masked.no_phone.height
    plain = list(openpyxl.load_workbook(children_messages.file)["短信"].iter_rows(values_only=True))
    assert plain[1][0].endswith("手机号未脱敏，请妥善保管")
    assert all(MOBILE.fullmatch(r[2]) for r in plain[3:])
    assert [r[5] for r in plain[3:]] == [r[5] for r in rows[3:]]  # the same messages
    with duckdb.connect(str(work_db), read_only=True) as con:
        audit = dict(con.execute("SELECT file, command FROM audit_log WHERE command LIKE 'notify%'").fetchall())
    assert audit[str(out.resolve())] == "notify"
    assert audit[str(Path(children_messages.file).resolve())] == "notify --unmasked"


def test_template_errors_name_the_file_and_line(work_db, tmp_path):
    people = PersonQuery(as_of=SAMPLE_AS_OF, age="80+")
    broken = tmp_path / "坏模板.txt.j2"
    broken.write_text("【建设社区】\n{{ 称呼 }您好\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="坏模板.txt.j2 第2行：短信模板语法错误") as info:
        notify(people, broken, db=work_db)
    assert info.value.line == 2
    unknown = tmp_path / "变量.txt.j2"
    unknown.write_text("【建设社区】{{ 称呼 }}您好！\n{{ 名字 }}\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="第2行.*名字.*可用：姓名、称呼"):
        notify(people, unknown, db=work_db)
    escape = tmp_path / "越权.txt.j2"
    escape.write_text("{{ 称呼.__class__.__mro__ }}", encoding="utf-8")
    with pytest.raises(SchemaError, match="不允许"):
        notify(people, escape, db=work_db)


def test_the_shipped_template_is_found_by_name():
    assert find_template(TEMPLATE).name == "托育服务通知.txt.j2"
    with pytest.raises(UsageError, match="托育服务通知"):
        find_template("没有这个模板")


@pytest.mark.parametrize("name, sex, ethnicity, expected", [
    ("王芳", "女", "汉族", "王女士"), ("欧阳明", "男", "汉族", "欧阳先生"), ("乌兰", "女", "蒙古族", "乌兰女士"),
    ("孙悦洁", "女", "蒙古族", "孙女士"),
    ("李雷", None, None, "李雷"), (None, "男", None, "居民朋友"),
])
def test_salutation(name, sex, ethnicity, expected):
    assert salutation(name, sex, ethnicity) == expected


# ------------------------------------------------------------------ the command line

def test_cli_query_table_and_json_agree_with_the_library(work_db):
    args = ["query", "--age", "0-3", "--family-tag", "托幼服务需求", "--grid", "第三网格", "--as-of", "2026-11-01",
            "--db", work_db]
    shown = invoke(*args, "--limit", 5)
    assert shown.exit_code == 0
    assert "年龄 0-3，网格 第三网格，家庭标签 托幼服务需求" in shown.stdout and "显示前 5 人" in shown.stdout
    assert not re.search(r"1[3-9]\d{9}", shown.stdout)  # phones masked in the terminal
    cli = json.loads(invoke(*args, "--json").stdout)
    library = find_people(PersonQuery(as_of=SAMPLE_AS_OF, age="0-3", family_tags=["托幼服务需求"], grid="第三网格"),
                          db=work_db).to_dict()
    assert cli == library and cli["rows"] == len(cli["people"]) > 5
    assert all("*" in p["身份证号"] for p in cli["people"] if p["身份证号"])


def test_cli_query_names_an_unnamed_newborn(unnamed_db):
    work_db = unnamed_db
    shown = invoke("query", "--age", "0", "--limit", 500, "--as-of", "2026-11-01", "--db", work_db).stdout
    people = find_people(PersonQuery(as_of=SAMPLE_AS_OF, age="0"), db=work_db).people
    newborns = people.filter(pl.col("姓名").str.ends_with("（未取名）"))["姓名"].to_list()
    assert newborns
    lines = shown.splitlines()
    for name in newborns:  # the mother's name in the column, the note on the line below
        (at,) = [n for n, line in enumerate(lines) if line.split()[:1] == [name.removesuffix("（未取名）")]]
        assert lines[at + 1].split() == ["（未取名）"]


def test_cli_unknown_feed_is_exit_2_with_a_chinese_message(work_db):
    result = invoke("query", "--in", "nosuch", "--db", work_db)
    assert result.exit_code == 2
    assert "--in：没有数据源nosuch；可用代码或名称：" in panel_text(result.output)


def test_cli_notify_writes_the_workbook_and_tells_about_unmasked(work_db, tmp_path):
    out = tmp_path / "托育短信.xlsx"
    result = invoke("notify", "--age", "0-3", "--family-tag", "托幼服务需求", "--template", TEMPLATE, "--out", out,
                    "--as-of", "2026-11-01", "--db", work_db)
    assert result.exit_code == 0, result.output
    assert out.exists() and "--unmasked" in result.stdout and "【建设社区】" in result.stdout
    data = json.loads(invoke("notify", "--age", "80+", "--template", TEMPLATE, "--as-of", "2026-11-01", "--db",
                             work_db, "--json").stdout)
    assert data["masked"] and data["no_phone"] and all("****" in m["手机号"] for m in data["messages"])
    bad = invoke("notify", "--age", "80+", "--template", tmp_path / "none.txt.j2", "--db", work_db)
    assert bad.exit_code == 2 and "找不到短信模板" in panel_text(bad.output)
