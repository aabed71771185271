"""`rootdb card` (rootdb.commands.card) on the linked sample, against the sample's truth
(sample_data/_truth: persons.csv's residence_house_uid says who lives together,
events.csv / visits.csv what concerns them; records.csv maps our entity ids to the true
uids): a household's members, events and visits exactly; namesakes give the candidates;
the scope hides another grid's person like an unknown one; masking; the audit log; the
CLI end to end."""

from __future__ import annotations

import json
import re

import duckdb
import polars as pl
import pytest
from conftest import SAMPLE_AS_OF, TRUTH, copy_sample, query
from typer.testing import CliRunner

from rootdb.cli import render
from rootdb.cli.main import app
from rootdb.commands import Scope
from rootdb.commands.card import VISITS_SHOWN, NotFound, card, detail_fields
from rootdb.errors import ExitCode
from rootdb.specs import load_specs

runner = CliRunner()
MASKED_ID = re.compile(r"\d{6}\*{8}[\dX]{4}")
AS_OF = SAMPLE_AS_OF.isoformat()


@pytest.fixture(scope="module")
def db(sample_db, tmp_path_factory):
    """A copy of the linked sample: every card writes a row into the audit log."""
    return copy_sample(sample_db, tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def uid(sample_db) -> dict:
    """Our person and house entity ids → the true uids, through the records they hold."""
    records = pl.read_csv(TRUTH / "records.csv", infer_schema=False)
    found = {}
    for entity in ("person", "house"):
        rows = query(sample_db, f"""
            SELECT f.file_name, r.source_row::VARCHAR, r.role, m.entity_id
            FROM link_{entity}_records r JOIN link_{entity}_matches m USING (record_id) JOIN files f USING (file_id)""")
        ours = pl.DataFrame(rows, schema=["file", "source_row", "role", "entity_id"], orient="row")
        pairs = ours.join(records, on=["file", "source_row", "role"]).unique(["entity_id", "entity_uid"])
        found |= dict(zip(pairs["entity_id"], pairs["entity_uid"]))
    return found


def _busiest_households(truth, n: int = 5) -> list[str]:
    """The true houses of two or more residents with the most events and visits (ties
    by uid): the households whose cards have the most to show."""
    people = truth.people_at(SAMPLE_AS_OF).filter(pl.col("living") & (pl.col("status") != "迁出"))
    size = people.group_by(pl.col("residence_house_uid").alias("h")).len("n")
    events = pl.read_csv(TRUTH / "events.csv", infer_schema=False)
    visits = pl.read_csv(TRUTH / "visits.csv", infer_schema=False)
    at_house = events.filter(pl.col("location_type") == "house").select(pl.col("location_uid").alias("h"))
    of_people = events.join(people.select("person_uid", pl.col("residence_house_uid").alias("h")),
                            on="person_uid").select("h")
    score = pl.concat([at_house, of_people, visits.select(pl.col("house_uid").alias("h"))]).group_by("h").len("k")
    ranked = size.filter(pl.col("n") >= 2).join(score, on="h").sort(["k", "h"], descending=[True, False])
    return ranked["h"].head(n).to_list()


def _truth_card(truth, house_uid: str) -> dict:
    """What the card of a true house should hold: its residents, the events that name
    one of them or happen at the house, its visits (to the house or one of them)."""
    people = truth.people_at(SAMPLE_AS_OF)
    members = set(people.filter(pl.col("living") & (pl.col("status") != "迁出")
                                & (pl.col("residence_house_uid") == house_uid))["person_uid"])
    events = pl.read_csv(TRUTH / "events.csv", infer_schema=False).filter(
        (pl.col("person_uid").is_in(list(members))
         | ((pl.col("location_type") == "house") & (pl.col("location_uid") == house_uid)))
        & (pl.col("reported_at").str.slice(0, 10) <= AS_OF))
    visits = pl.read_csv(TRUTH / "visits.csv", infer_schema=False).filter(
        ((pl.col("house_uid") == house_uid) | pl.col("person_uid").is_in(list(members)))
        & (pl.col("visit_date") <= AS_OF)).sort(["visit_date", "visit_no"], descending=True)
    return {"members": members, "events": dict(zip(events["event_no"], events["overdue"] == "true")),
            "visits": visits}


def _house_id(uid: dict, house_uid: str) -> str:
    (ours,) = [e for e, u in uid.items() if u == house_uid and e.startswith("H")]
    return ours


def test_a_household_is_its_true_members_events_and_last_visits(db, truth, uid):
    houses = _busiest_households(truth)
    assert len(houses) == 5
    for house_uid in houses:
        want = _truth_card(truth, house_uid)
        got = card(_house_id(uid, house_uid), as_of=SAMPLE_AS_OF, db=db)
        assert uid[got.house["entity_id"]] == house_uid
        assert {uid.get(m["entity_id"]) for m in got.members} == want["members"], house_uid
        assert {e["event_no"]: e["overdue"] for e in got.events} == want["events"], house_uid
        assert got.visits_total == want["visits"].height, house_uid
        assert [v["visit_no"] for v in got.visits] == want["visits"]["visit_no"].head(VISITS_SHOWN).to_list()
        assert got.visits[0]["visit_date"] == want["visits"]["visit_date"][0]
        assert got.focus is None and got.exit_code == ExitCode.OK


def test_a_person_gives_their_household_with_age_relation_and_groups(db, truth, uid):
    house_uid = _busiest_households(truth, 1)[0]
    by_house = card(_house_id(uid, house_uid), as_of=SAMPLE_AS_OF, db=db)
    head = by_house.members[0]
    got = card(head["entity_id"], as_of=SAMPLE_AS_OF, db=db)
    assert got.focus == head["entity_id"] and got.members == by_house.members
    people = truth.people_at(SAMPLE_AS_OF)
    ages = dict(zip(people["person_uid"], people["age"]))
    assert all(m["age"] == ages[uid[m["entity_id"]]] for m in got.members)
    golden = dict(query(db, "SELECT entity_id, person_type FROM golden_persons"))
    assert all(m["person_type"] == golden[m["entity_id"]] for m in got.members)
    assert head["relation_to_head"] in ("户主", "本人")


def test_chronic_disease_and_doctor_come_from_the_groups_feed(db, truth, uid):
    """Who is in 慢病 on the card has the disease, level and doctor of their record."""
    rows = truth.feed_rows("manbing").filter(pl.col("person_uid").is_not_null())
    patient_ids = [e for e, u in uid.items() if e.startswith("P") and u in set(rows["person_uid"])]
    patient = min(patient_ids)
    got = card(patient, as_of=SAMPLE_AS_OF, db=db)
    (me,) = [m for m in got.members if m["entity_id"] == patient]
    assert "慢病" in me["groups"]
    (chronic,) = [d for d in me["details"] if d["grp"] == "慢病"]
    shown = {f["field"]: f["value"] for f in chronic["fields"]}
    row = rows.filter(pl.col("person_uid") == uid[patient]).row(0, named=True)
    assert shown.get("diseases") == row["diseases"]
    assert shown.get("responsible_doctor") == row["responsible_doctor"]
    assert {f["label"] for f in chronic["fields"]} <= {"疾病类型", "管理等级", "责任医生"}


def test_the_details_of_a_group_are_its_fields_beyond_who_and_where():
    specs = load_specs()
    chronic = next(s for s in specs.values() if s.group == "慢病")
    assert [c.field for c in detail_fields(chronic)] == ["diseases", "management_level", "responsible_doctor"]
    for spec in specs.values():
        named = {f for r in spec.roles for f in r.fields.values()}
        assert not named & {c.field for c in detail_fields(spec)}, spec.code


def _namesakes(db) -> tuple[str, list[str]]:
    """A name exactly two living people have, and their entity ids."""
    name, ids = query(db, """SELECT name, list_sort(list(entity_id)) FROM golden_persons
                             WHERE status IS DISTINCT FROM '死亡' AND name IS NOT NULL
                             GROUP BY name HAVING count(*) = 2 ORDER BY name LIMIT 1""")[0]
    return name, ids


def test_a_name_two_people_share_gives_both_as_candidates(db, uid, truth):
    name, ids = _namesakes(db)
    got = card(name, as_of=SAMPLE_AS_OF, db=db)
    assert got.exit_code == ExitCode.USAGE and not got.members and got.house is None
    assert sorted(c["entity_id"] for c in got.candidates) == ids
    assert all(MASKED_ID.fullmatch(c["id_number"]) for c in got.candidates if c["id_number"])
    assert "请用身份证号或人员编号指定" in got.ambiguity
    names = dict(zip(truth.persons["person_uid"], truth.persons["name"]))
    assert len({uid[i] for i in ids}) == 2 and {names[uid[i]] for i in ids} == {name}


def test_another_grids_person_is_not_found_exactly_like_an_unknown_one(db):
    person, grid = query(db, """SELECT p.entity_id, h.grid FROM golden_persons p
                                JOIN golden_houses h ON h.entity_id = p.house_entity_id
                                WHERE h.grid IS NOT NULL AND p.status = '正常' ORDER BY p.entity_id LIMIT 1""")[0]
    other = query(db, "SELECT min(grid) FROM golden_houses WHERE grid IS NOT NULL AND grid <> ?", [grid])[0][0]
    assert card(person, Scope(grid=grid), as_of=SAMPLE_AS_OF, db=db).focus == person
    with pytest.raises(NotFound) as hidden:
        card(person, Scope(grid=other), as_of=SAMPLE_AS_OF, db=db)
    with pytest.raises(NotFound) as unknown:
        card("P99999999", Scope(grid=other), as_of=SAMPLE_AS_OF, db=db)
    assert str(hidden.value).replace(person, "?") == str(unknown.value).replace("P99999999", "?")
    assert hidden.value.exit_code == unknown.value.exit_code
    house = query(db, "SELECT house_entity_id FROM golden_persons WHERE entity_id = ?", [person])[0][0]
    with pytest.raises(NotFound):
        card(house, Scope(grid=other), as_of=SAMPLE_AS_OF, db=db)


def test_ids_and_phones_are_masked_unless_asked_and_unmasked_is_audited(db, truth, uid):
    house = _house_id(uid, _busiest_households(truth, 1)[0])
    real = query(db, "SELECT id_number, phone FROM golden_persons WHERE house_entity_id = ?", [house])
    secrets = {v for row in real for v in row if v}
    assert secrets
    masked = card(house, as_of=SAMPLE_AS_OF, db=db)
    text = json.dumps(masked.to_dict(), ensure_ascii=False)
    assert masked.masked and not [s for s in secrets if s in text]
    assert all(MASKED_ID.fullmatch(m["id_number"]) for m in masked.members if m["id_number"])
    # The stars hide the birth date's digits: a birth date beside them gives the ID back.
    assert all("birth_date" not in m and m["age"] is not None for m in masked.members + masked.former)
    births = {b for (b,) in query(db, "SELECT strftime(birth_date, '%Y%m%d') FROM golden_persons "
                                      "WHERE house_entity_id = ? AND birth_date IS NOT NULL", [house])}
    assert births and not [b for b in births if f"{b[:4]}-{b[4:6]}-{b[6:]}" in text]

    def audit_rows():
        return query(db, "SELECT command, detail, rows FROM audit_log ORDER BY happened_at")

    before = len(audit_rows())
    unmasked = card(house, as_of=SAMPLE_AS_OF, unmasked=True, db=db)
    text = json.dumps(unmasked.to_dict(), ensure_ascii=False)
    assert not unmasked.masked and all(s in text for s in secrets)
    assert all(m["birth_date"] for m in unmasked.members if m["age"] is not None)
    rows = audit_rows()
    assert len(rows) == before + 1
    command, detail, count = rows[-1]
    assert command == "card --unmasked" and house in detail and count == len(unmasked.members + unmasked.former)
    assert not [s for s in secrets if s in detail]


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_the_cli_prints_a_card_in_80_columns_and_json(db, truth, uid, monkeypatch):
    from rich.cells import cell_len
    from rich.console import Console

    monkeypatch.setattr(render, "out", Console(highlight=False, width=80))
    house = _house_id(uid, _busiest_households(truth, 1)[0])
    shown = _invoke("card", house, "--as-of", AS_OF, "--db", db)
    assert shown.exit_code == 0, shown.output
    assert "户卡" in shown.stdout and "同住人员" in shown.stdout and "入户走访" in shown.stdout
    assert max(cell_len(line) for line in shown.stdout.splitlines()) <= 80
    data = json.loads(_invoke("card", house, "--as-of", AS_OF, "--db", db, "--json").stdout)
    assert data == json.loads(json.dumps(card(house, as_of=SAMPLE_AS_OF, db=db).to_dict()))
    assert set(data) >= {"house", "members", "former", "events", "visits", "candidates"}
    assert all(ord(ch) < 128 for member in data["members"] for key in member for ch in key)


def test_the_cli_asks_for_an_id_for_namesakes_and_says_when_no_one_is_found(db, monkeypatch):
    from rich.console import Console

    monkeypatch.setattr(render, "out", Console(highlight=False, width=80))
    name, ids = _namesakes(db)
    several = _invoke("card", name, "--as-of", AS_OF, "--db", db)
    assert several.exit_code == ExitCode.USAGE
    assert all(i in several.stdout for i in ids)
    assert "请用身份证号或人员编号指定" in re.sub(r"[\s│╭╮╰╯─]", "", several.output)
    nobody = _invoke("card", "查无此人", "--db", db)
    assert nobody.exit_code == ExitCode.USAGE
    assert "没有找到“查无此人”" in re.sub(r"[\s│╭╮╰╯─]", "", nobody.output)
    data = json.loads(_invoke("card", name, "--as-of", AS_OF, "--db", db, "--json").stdout)
    assert sorted(c["entity_id"] for c in data["candidates"]) == ids and data["message"]
