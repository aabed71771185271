"""The grid feeds (shijian: the grid platform's events; zoufang: the grid workers' visits):
ingested with their times, local event classes and public spots kept, and linked like
any feed, checked against the sample's truth (sample_data/_truth/events.csv, visits.csv)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from rootdb import ingest
from conftest import SAMPLE, TRUTH, query

SHIJIAN, ZOUFANG = SAMPLE / "shijian_2026-11.xlsx", SAMPLE / "zoufang_2026-11.xlsx"


@pytest.fixture(scope="module")
def grid_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("grid") / "rootdb.duckdb"
    result = ingest([SHIJIAN, ZOUFANG], db=db)
    return db, {f.feed: f for f in result.files}


def _events() -> pl.DataFrame:
    return pl.read_csv(TRUTH / "events.csv", infer_schema=False)


def test_every_event_and_visit_is_read_and_counted(grid_db):
    _, files = grid_db
    truth = {f["file"]: f for f in pl.read_csv(TRUTH / "files.csv", infer_schema=False).iter_rows(named=True)}
    for feed, path in (("shijian", SHIJIAN), ("zoufang", ZOUFANG)):
        f = files[feed]
        assert f.status == "loaded"
        assert f.rows_read == int(truth[path.name]["rows_read"]) == f.rows_loaded + f.rows_quarantined
        assert f.rows_quarantined == int(truth[path.name]["rows_quarantined"])


def test_report_and_closing_times_keep_the_time_of_day(grid_db):
    db, _ = grid_db
    loaded = dict(query(db, "SELECT event_no, reported_at FROM shijian"))
    closed = dict(query(db, "SELECT event_no, closed_at FROM shijian"))
    no_time = {(r["source_row"], r["column"]) for r in pl.read_csv(TRUTH / "defects.csv", infer_schema=False)
               .filter(pl.col("defect") == "datetime_no_time").iter_rows(named=True)}
    rows = dict(query(db, "SELECT event_no, source_row FROM shijian"))
    for e in _events().iter_rows(named=True):
        for column, header, got in (("reported_at", "上报时间", loaded), ("closed_at", "办结时间", closed)):
            want = dt.datetime.fromisoformat(e[column]) if e[column] else None
            if want is not None and (str(rows[e["event_no"]]), header) in no_time:
                want = want.replace(hour=0, minute=0)   # the date alone was delivered
            assert got[e["event_no"]] == want, (e["event_no"], column)
    assert query(db, "SELECT count(*) FROM row_issues WHERE feed = 'shijian' AND code LIKE 'date%'") == [(0,)]


def test_local_event_classes_are_kept_and_not_flagged(grid_db):
    db, _ = grid_db
    classes = dict(query(db, "SELECT category, count(*) FROM shijian GROUP BY 1"))
    truth = _events().group_by("category").len()
    assert classes == dict(truth.iter_rows())
    assert {"环境卫生", "物业管理"} <= set(classes)
    assert query(db, "SELECT count(*) FROM row_issues WHERE feed = 'shijian' AND field = 'category'") == [(0,)]


def test_public_spots_are_loaded_not_quarantined(grid_db):
    db, _ = grid_db
    spots = _events().filter(pl.col("location_type") == "spot")
    assert spots.height > 50
    loaded = dict(query(db, "SELECT event_no, incident_address FROM shijian"))
    assert all(loaded[no] is not None for no in spots["event_no"])
    assert query(db, "SELECT count(*) FROM quarantine WHERE feed = 'shijian'") == [(0,)]


def test_locations_link_to_their_house_or_place_and_spots_to_nothing(sample_db):
    """Every location the truth names has its crosswalk row, of the right entity type and
    entity; a public spot (or an anonymous call about one) has none."""
    crosswalk = pl.DataFrame(query(sample_db, """
        SELECT source_row, entity_type, entity_id FROM crosswalk WHERE feed = 'shijian' AND role = 'location'"""),
        schema=["source_row", "entity_type", "entity_id"], orient="row")
    records = pl.read_csv(TRUTH / "records.csv", infer_schema=False).filter(
        pl.col("file") == SHIJIAN.name, pl.col("role") == "location").with_columns(pl.col("source_row").cast(pl.Int64))
    assert sorted(crosswalk["source_row"]) == sorted(records["source_row"])
    both = records.join(crosswalk, on="source_row")
    assert (both["entity_type"] == both["entity_type_right"]).all()
    # one entity per true house or place, and no two of them share one
    assert both.group_by("entity_uid").agg(pl.col("entity_id").n_unique()).get_column("entity_id").max() == 1
    assert both.group_by("entity_id").agg(pl.col("entity_uid").n_unique()).get_column("entity_uid").max() == 1


def test_visits_link_to_the_house_visited(sample_db):
    crosswalk = dict(query(sample_db, """
        SELECT source_row, entity_id FROM crosswalk WHERE feed = 'zoufang' AND role = 'residence'"""))
    records = pl.read_csv(TRUTH / "records.csv", infer_schema=False).filter(
        pl.col("file") == ZOUFANG.name, pl.col("role") == "residence")
    by_house: dict[str, set] = {}
    for r in records.iter_rows(named=True):
        by_house.setdefault(r["entity_uid"], set()).add(crosswalk[int(r["source_row"])])
    assert all(len(ids) == 1 for ids in by_house.values())
    assert len({i for ids in by_house.values() for i in ids}) == len(by_house)


def test_a_visit_places_nobody(sample_db):
    """A visit is no evidence of residence (zoufang's house role: `places_residents:
    false`), nor is an event: a person only the grid feeds know lives nowhere."""
    grid_only = query(sample_db, """
        SELECT count(*), count(house_entity_id) FROM golden_persons
        WHERE list_has_all(['shijian', 'zoufang'], feeds)""")
    assert grid_only[0][0] > 0 and grid_only[0][1] == 0


def test_grid_feed_persons_join_their_person(sample_db, truth):
    """The 当事人 of an event and the person visited, linked as accurately as any feed's:
    one written with a phone (and no ID) is the registry person with that phone, one
    written with a name alone is the one person of the area who bears it. What is left
    says too little: a name that several people bear, a typo of a name at the visited
    house with nothing else (offered for review)."""
    rows = pl.DataFrame(query(sample_db, """
        SELECT r.feed, r.source_file, r.source_row, r.role, r.name, r.id_number, r.phone, m.entity_id
        FROM link_person_records r JOIN link_person_matches m USING (record_id)"""),
        schema=["feed", "file", "source_row", "role", "name", "id_number", "phone", "entity_id"], orient="row")
    rows = rows.join(truth.records.select("file", "source_row", "role", "entity_uid"),
                     on=["file", "source_row", "role"])
    # each true person's entity: the one most of its records got
    entity_of = rows.group_by("entity_uid", "entity_id").len().sort("len", descending=True).unique(
        "entity_uid", keep="first").select("entity_uid", pl.col("entity_id").alias("want"))
    persons = truth.persons.with_columns(pl.len().over("name").alias("bearers"))
    grid = rows.filter(pl.col("feed").is_in(["shijian", "zoufang"])).join(entity_of, on="entity_uid").join(
        persons.select(pl.col("person_uid").alias("entity_uid"), "in_registry", "bearers"), on="entity_uid")
    wrong = grid.filter(pl.col("entity_id") != pl.col("want"))
    assert wrong.filter(pl.col("phone").is_not_null() | pl.col("id_number").is_not_null()).is_empty()
    named_only = grid.filter(pl.col("phone").is_null() & pl.col("id_number").is_null())
    assert named_only.filter(pl.col("feed") == "shijian").height > 10
    assert wrong.join(named_only.filter(pl.col("in_registry") & (pl.col("bearers") == 1)
                                        & (pl.col("feed") == "shijian")),
                      on=["feed", "source_row"], how="semi").is_empty()
    for feed in ("shijian", "zoufang"):
        assert wrong.filter(pl.col("feed") == feed).height <= 3, wrong.filter(pl.col("feed") == feed)
