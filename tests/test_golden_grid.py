"""Golden events and visits (rootdb.golden.grid) on the linked sample, against the
sample's truth (sample_data/_truth/events.csv, visits.csv, records.csv): each event and
visit once, with its deadline, on-time flag, place and grid as they really are."""

from __future__ import annotations

import polars as pl
import pytest
from conftest import TRUTH, query

from rootdb.specs import load_specs
from rootdb.specs.models import FeedSpec


def _golden(db, table: str) -> pl.DataFrame:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(f"SELECT * FROM {table}").pl()


def _entity_uids(db, entity: str) -> dict:
    """Our entity id -> the true uid, through the crosswalk truth of the registry rows."""
    records = pl.read_csv(TRUTH / "records.csv", infer_schema=False)
    rows = query(db, f"""
        SELECT f.file_name, r.source_row, r.role, m.entity_id
        FROM link_{entity}_records r JOIN link_{entity}_matches m USING (record_id) JOIN files f USING (file_id)""")
    ours = pl.DataFrame(rows, schema=["file", "source_row", "role", "entity_id"], orient="row").with_columns(
        pl.col("source_row").cast(pl.String))
    pairs = ours.join(records, on=["file", "source_row", "role"])
    return dict(zip(pairs["entity_id"], pairs["entity_uid"]))


def test_every_event_once_with_deadline_on_time_and_grid(sample_db):
    got = _golden(sample_db, "golden_events")
    truth = pl.read_csv(TRUTH / "events.csv", infer_schema=False)
    assert got["event_no"].n_unique() == got.height == truth.height
    # a 上报时间 written as a date alone (defect datetime_no_time) keeps its deadline's date
    both = truth.join(got.with_columns(pl.col("deadline").dt.strftime("%Y-%m-%d").alias("deadline_g"),
                                       pl.col("on_time").cast(pl.String).fill_null("").alias("on_time_g")),
                      on="event_no")
    assert both.filter(pl.col("deadline").str.slice(0, 10) != pl.col("deadline_g")).height == 0
    assert both.filter(pl.col("on_time").fill_null("") != pl.col("on_time_g")).height == 0
    wrong_grid = both.filter((pl.col("community") != pl.col("community_right"))
                             | (pl.col("grid") != pl.col("grid_right")))
    assert wrong_grid.height == 0, wrong_grid.select("event_no", "location_type", "grid", "grid_right")


def test_event_locations_are_the_true_house_or_place_and_spots_are_nothing(sample_db):
    got = _golden(sample_db, "golden_events")
    truth = pl.read_csv(TRUTH / "events.csv", infer_schema=False)
    houses, places = _entity_uids(sample_db, "house"), _entity_uids(sample_db, "place")
    at = {e: (houses.get(h) if h else None, places.get(p) if p else None)
          for e, h, p in got.select("event_no", "house_entity_id", "place_entity_id").iter_rows()}
    for row in truth.iter_rows(named=True):
        house, place = at[row["event_no"]]
        kind = row["location_type"]
        assert (house, place) == ((row["location_uid"], None) if kind == "house" else
                                  (None, row["location_uid"]) if kind == "place" else (None, None)), row


def test_every_visit_once_at_its_true_house(sample_db):
    got = _golden(sample_db, "golden_visits")
    truth = pl.read_csv(TRUTH / "visits.csv", infer_schema=False)
    houses = _entity_uids(sample_db, "house")
    assert got["visit_no"].n_unique() == got.height == truth.height
    at = dict(zip(got["visit_no"], (houses.get(h) for h in got["house_entity_id"])))
    assert {v: at[v] for v in truth["visit_no"]} == dict(zip(truth["visit_no"], truth["house_uid"]))
    assert got["grid"].null_count() == 0


def test_a_hotline_callers_missing_id_is_no_correction(sample_db):
    kinds = dict(query(sample_db, """SELECT kind, count(*) FROM corrections
                                     WHERE feed IN ('shijian', 'zoufang') GROUP BY kind"""))
    assert "身份证号缺失" not in kinds and "姓名缺失" not in kinds and "无法与公安库比对" not in kinds
    assert kinds.get("身份证号无效", 0) > 0   # a wrong ID is still one


def test_a_schema_that_keeps_events_must_have_their_fields():
    spec = load_specs()["shijian"].model_dump()
    spec["columns"] = [c for c in spec["columns"] if c["field"] != "closed_at"]
    with pytest.raises(ValueError, match="keeps: events 需要字段 \\['closed_at'\\]"):
        FeedSpec.model_validate(spec)


SHIJIAN_HEADER = ["事件编号", "上报时间", "事件来源", "事件大类", "事件小类", "事件描述", "事发地址", "当事人",
                  "当事人身份证号", "联系电话", "所属网格", "处置部门", "办理状态", "办理时限（天）", "办结时间", "满意度"]


def _event(no: str, status: str, limit: str, closed: str = "") -> list:
    return [no, "2026-10-02 09:00", "12345热线", "城市管理", "路灯", "路灯不亮", "康宁路与文化路交叉口", "", "", "",
            "第一网格", "城管局", status, limit, closed, ""]


def test_an_older_export_never_replaces_a_newer_one_and_a_wild_time_limit_gives_no_deadline(sample_copy, tmp_path):
    """An event moved between grids is in both grids' exports: the newer export's state
    stands, whichever was loaded last. A 办理时限 that is a phone number or negative
    gives the event no deadline (and the link still runs)."""
    from conftest import write_csv

    from rootdb import ingest
    from rootdb.link import link

    newer = write_csv(tmp_path / "shijian_第一网格_2027-02.csv", [
        SHIJIAN_HEADER, _event("SJDUP1", "已办结", "3", "2026-10-03 10:00"), _event("SJBIG", "处置中", "13912345678"),
        _event("SJNEG", "处置中", "-5")])
    older = write_csv(tmp_path / "shijian_第二网格_2027-01.csv", [SHIJIAN_HEADER, _event("SJDUP1", "处置中", "3")])
    for path in (newer, older):
        assert ingest([path], db=sample_copy).exit_code == 0
    link(db=sample_copy)
    got = dict((no, (status, deadline)) for no, status, deadline in query(
        sample_copy, "SELECT event_no, status, deadline FROM golden_events WHERE event_no IN ('SJDUP1', 'SJBIG', 'SJNEG')"))
    assert got["SJDUP1"][0] == "已办结"
    assert got["SJBIG"][1] is None and got["SJNEG"][1] is None
