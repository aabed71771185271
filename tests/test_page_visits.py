"""A visit recorded on the page (rootdb.serve.store) counts like a delivered zoufang
row: it takes the person off R40, adds one to R39's visited, and shows on the card —
read from the workspace's database and from its published copy alike."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import SAMPLE_AS_OF

from rootdb.commands.card import card
from rootdb.reports import run_reports, select_templates
from rootdb.reports.engine import prepare
from rootdb.serve.published import PublishedReader, publish
from rootdb.serve.store import User, record_visit, store_path
from rootdb.store import fetch_frame
from rootdb.workspace import connect, locate


def _reports(db, out) -> dict[str, pl.DataFrame]:
    """R39 and R40 run unmasked as CSV on `db` as of SAMPLE_AS_OF, read back as text."""
    run = run_reports(select_templates(["R39", "R40"], False), as_of=SAMPLE_AS_OF, out=out, fmt="csv",
                      unmasked=True, db=str(db))
    return {r.code: pl.read_csv(r.file, infer_schema=False) for r in run.reports}


def _unvisited(db) -> dict:
    """A special-group resident of a known grid not visited in the 90 days (R40 lists them)."""
    with connect(db, read_only=True) as con:
        prepare(con, SAMPLE_AS_OF, None, None)
        assert fetch_frame(con, "SELECT * FROM _r_page_visits").columns == fetch_frame(
            con, "SELECT * FROM golden_visits LIMIT 0").columns  # no store yet: empty, golden_visits' columns
        return fetch_frame(con, """
            SELECT s.person_id, p.id_number, p.community, p.grid, p.house_id FROM r_special_visits s
            JOIN r_persons p USING (person_id)
            WHERE NOT s.visited_90d AND p.id_number IS NOT NULL AND p.grid IS NOT NULL
            ORDER BY s.last_visit NULLS FIRST, s.person_id LIMIT 1""").row(0, named=True)


@pytest.fixture()
def visited(sample_copy, tmp_path):
    """The sample's reports before and after one visit recorded on the page for a
    resident R40 lists: (the resident, the visit number, R39/R40 before, after)."""
    person = _unvisited(sample_copy)
    before = _reports(sample_copy, tmp_path / "before")
    assert not store_path(locate(sample_copy)).exists()
    worker = User("王网格", "grid", person["community"], person["grid"])
    visit_no = record_visit(locate(sample_copy), worker, person["person_id"], None, "入户走访", "独居，腿脚不便",
                            SAMPLE_AS_OF - dt.timedelta(days=3), person["community"], person["grid"])
    return person, visit_no, before, _reports(sample_copy, tmp_path / "after")


def test_a_page_visit_takes_the_resident_off_r40_and_counts_in_r39(visited):
    person, _, before, after = visited
    assert person["id_number"] in before["R40"]["身份证号"].to_list()
    assert person["id_number"] not in after["R40"]["身份证号"].to_list()
    assert after["R40"].height == before["R40"].height - 1

    def grids(frame: pl.DataFrame) -> dict:
        return {(r["社区"], r["网格"]): (int(r["重点人群人数"]), int(r["90天内已走访"]), int(r["未走访"]))
                for r in frame.iter_rows(named=True)}

    old, new = grids(before["R39"]), grids(after["R39"])
    key = (person["community"], person["grid"])
    people, seen, unseen = old[key]
    assert new[key] == (people, seen + 1, unseen - 1)
    assert {k: v for k, v in new.items() if k != key} == {k: v for k, v in old.items() if k != key}


def test_a_page_visit_shows_on_the_card(visited, sample_copy):
    person, visit_no, _, _ = visited
    shown = card(person["person_id"], as_of=SAMPLE_AS_OF, db=sample_copy)
    ours = [v for v in shown.visits if v["visit_no"] == visit_no]
    assert len(ours) == 1
    assert ours[0]["visit_type"] == "入户走访" and ours[0]["problems"] == "独居，腿脚不便"
    assert ours[0]["grid_worker"] == "王网格" and ours[0]["person_entity_id"] == person["person_id"]
    assert ours[0]["visit_date"] == (SAMPLE_AS_OF - dt.timedelta(days=3)).isoformat()


def test_the_published_copy_reads_the_workspace_store(visited, sample_copy):
    person, visit_no, _, _ = visited
    with connect(sample_copy) as writer:
        publish(writer, sample_copy)
    reader = PublishedReader(locate(sample_copy))
    with reader.connect(reader.current()[1]) as copy:
        prepare(copy, SAMPLE_AS_OF, person["community"], person["grid"])
        assert fetch_frame(copy, "SELECT visit_no, feed FROM _r_page_visits").rows() == [(visit_no, "page")]
        assert copy.execute("SELECT visited_90d FROM r_special_visits WHERE person_id = ?",
                            [person["person_id"]]).fetchall() == [(True,)]
