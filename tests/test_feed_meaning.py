"""What a feed means lives in its schema file: a site adds a 19th department feed — a
临时救助 roster — with one YAML file in a folder of ROOTDB_SCHEMAS and no Python, and
its people are in `query --group 临时救助`, in the special groups every report reads
(r_persons.groups), in nightly's 新列入名单, and a dead one still receiving it is a
correction. No department feed is named in rootdb's Python."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from conftest import copy_sample, query

from rootdb.errors import SchemaError, UsageError
from rootdb.ingest import ingest
from rootdb.link import link
from rootdb.nightly import _changes, _save_state
from rootdb.reports.engine import prepare
from rootdb.reports.query import PersonQuery, run_query
from rootdb.specs import load_spec_file, load_specs
from rootdb.workspace import open_existing

AS_OF = dt.date(2026, 11, 1)
GROUP = "临时救助"
LINSHI = """# 临时救助对象名单 (民政): a feed this site receives, added without Python.
code: linshi_jiuzhu
kind: feed
department: 民政
title: 临时救助对象名单
file_patterns: ["linshi_jiuzhu_*.csv", "*临时救助*.csv"]
record_key: [case_no]
columns:
  - {field: case_no, header: 救助编号, type: text, required: true}
  - {field: name, header: 姓名, type: name, required: true, required_unless_valid: id_number}
  - {field: id_number, header: 身份证号, type: id18}
  - {field: relief_status, header: 救助状态, type: enum, values: [救助中, 已结束]}
roles:
  - {role: person, entity: person, fields: {name: name, id: id_number}}
subject: person
active: {field: relief_status, values: [救助中]}
group: 临时救助
"""


@pytest.fixture(scope="module")
def linshi(sample_db, tmp_path_factory):
    """The linked sample with the 临时救助 schema in ROOTDB_SCHEMAS, its state saved as a
    nightly run saves it, then a delivery of four rows ingested and linked: two living
    people receiving relief, one whose relief has ended, one who died still receiving it."""
    folder = tmp_path_factory.mktemp("linshi")
    (folder / "schemas").mkdir()
    (folder / "schemas" / "linshi_jiuzhu.yaml").write_text(LINSHI, encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ROOTDB_SCHEMAS", str(folder / "schemas"))
        db = copy_sample(sample_db, folder / "ws")
        _save_state(db, _changes(db, AS_OF)[0])
        living = query(db, "SELECT name, id_number FROM registry_persons WHERE status = '正常' "
                           "AND id_number IS NOT NULL ORDER BY id_number LIMIT 3")
        dead = query(db, "SELECT name, id_number FROM registry_persons WHERE status = '死亡' "
                         "AND id_number IS NOT NULL ORDER BY id_number LIMIT 1")
        people = {"receiving": living[:2], "ended": living[2:], "dead": dead}
        status = {"receiving": "救助中", "ended": "已结束", "dead": "救助中"}
        rows = [f"LS{i:03d},{name},{pid},{status[kind]}"
                for i, (kind, (name, pid)) in enumerate((k, p) for k in people for p in people[k])]
        delivery = folder / "linshi_jiuzhu_2026-11.csv"
        delivery.write_text("救助编号,姓名,身份证号,救助状态\n" + "\n".join(rows) + "\n", encoding="utf-8")
        result = ingest([delivery], db=db)
        assert [f.feed for f in result.files] == ["linshi_jiuzhu"]
        link(db=db)
        yield db, {kind: {pid for _, pid in group} for kind, group in people.items()}


def _spec(folder: Path, text: str):
    path = folder / "linshi_jiuzhu.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec_file(path)


def test_the_schema_declares_the_group(tmp_path):
    spec = _spec(tmp_path, LINSHI)
    assert (spec.subject, spec.group, spec.active.values) == ("person", GROUP, ["救助中"])


def test_query_group_finds_the_people_receiving_it(linshi):
    db, people = linshi
    found = run_query(PersonQuery(groups=[GROUP], as_of=AS_OF), db=db).people
    assert set(found["身份证号"]) == people["receiving"]
    assert all(GROUP in groups for groups in found["所属群体"])


def test_an_unknown_group_lists_the_new_one(linshi):
    with pytest.raises(UsageError, match=f"可用：.*{GROUP}"):
        run_query(PersonQuery(groups=["临时补助"]), db=linshi[0])


def test_the_reports_special_groups_hold_it(linshi):
    db, people = linshi
    with open_existing(db, read_only=True) as con:
        prepare(con, AS_OF, None, None)
        members = {pid for (pid,) in con.execute(
            "SELECT id_number FROM r_persons WHERE list_contains(groups, ?)", [GROUP]).fetchall()}
    assert members == people["receiving"] | people["dead"]  # the dead too: the reports ask `living`


def test_nightly_lists_who_started_receiving_it(linshi):
    db, people = linshi
    changes = _changes(db, AS_OF)[1]
    started = changes.filter(changes["变动类型"] == "新列入名单")
    listed = set(started.filter(started["说明"].str.contains(GROUP))["id_number"])
    assert listed == people["receiving"] | people["dead"]  # as for every group: a dead one newly on a roster too


def test_a_dead_person_still_receiving_it_is_a_correction(linshi):
    db, people = linshi
    rows = query(db, "SELECT registry_key, field, delivered_value FROM corrections "
                     "WHERE feed = 'linshi_jiuzhu' AND code = 'dead_in_registry_active'")
    assert {r[0] for r in rows} == people["dead"]
    assert {(r[1], r[2]) for r in rows} == {("救助状态", "救助中")}


@pytest.mark.parametrize(("text", "field"), [
    (LINSHI.replace("subject: person\n", ""), "group"),  # a group needs the role that belongs to it
    (LINSHI.replace("values: [救助中]}", "values: [在册]}"), "active.values"),  # not a value of the column
    (LINSHI.replace("subject: person", "subject: applicant"), "subject"),  # not a role of the feed
])
def test_a_wrong_meaning_names_its_key_and_line(tmp_path, text, field):
    with pytest.raises(SchemaError) as caught:
        _spec(tmp_path, text)
    assert re.search(rf"第\d+行 字段 {re.escape(field)}：", str(caught.value)), str(caught.value)


def test_no_department_feed_is_named_in_the_code():
    codes = sorted(code for code, spec in load_specs().items() if spec.kind == "feed")
    quoted = re.compile(r"""["'](%s)["']""" % "|".join(codes))
    package = Path(__file__).resolve().parent.parent / "rootdb"
    named = [f"{path.relative_to(package.parent)}:{number}: {line.strip()}"
             for path in sorted(package.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if quoted.search(line)]
    assert not named, "a feed's meaning belongs in its schema file:\n" + "\n".join(named)
