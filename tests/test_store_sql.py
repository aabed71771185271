"""The SQL helpers (`rootdb.store.sql`): one value, temporary tables owned by a run and
dropped at its end (also when it fails, also inside a transaction), frames seen as
views for a block, named stages timed one by one; and the house and place linkers,
which run on them, leaving no working table behind."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from conftest import house_records

from rootdb.link.houses import STAGES as HOUSE_STAGES, link_houses
from rootdb.link.places import STAGES as PLACE_STAGES, link_places
from rootdb.store import append_frame, fetch_frame, frame_to_table
from rootdb.store.sql import Stage, Stopwatch, registered, run_stages, scalar, scratch, sql_stage, temp_tables


def test_scalar_returns_the_one_value():
    con = duckdb.connect()
    assert scalar(con, "SELECT 42") == 42
    assert scalar(con, "SELECT ? || ?", ["甲", "乙"]) == "甲乙"
    assert scalar(con, "SELECT count(*) FROM range(5) WHERE range > $n", {"n": 2}) == 2


def test_scratch_drops_every_table_of_its_prefix():
    con = duckdb.connect()
    con.execute("CREATE TABLE _t_kept AS SELECT 1 AS x")  # not temporary: not the scratch's
    with scratch(con, "_t_"):
        con.execute("CREATE TEMP TABLE _t_a AS SELECT 1 AS x")
        frame_to_table(con, "_t_b", pl.DataFrame({"x": [1]}), temp=True)
        con.execute("CREATE TEMP TABLE _other AS SELECT 1 AS x")
        assert temp_tables(con, "_t_") == ["_t_a", "_t_b"]
    assert temp_tables(con, "_t_") == []
    assert temp_tables(con, "_other") == ["_other"]
    assert scalar(con, "SELECT count(*) FROM _t_kept") == 1


def test_scratch_drops_on_failure():
    con = duckdb.connect()
    with pytest.raises(duckdb.CatalogException), scratch(con, "_t_"):
        con.execute("CREATE TEMP TABLE _t_a AS SELECT 1 AS x")
        con.execute("SELECT * FROM no_such_table")
    assert temp_tables(con, "_t_") == []


def test_scratch_in_an_aborted_transaction_leaves_them_to_the_rollback():
    con = duckdb.connect()
    con.begin()
    with pytest.raises(duckdb.CatalogException), scratch(con, "_t_"):  # the original error, not the drop's
        con.execute("CREATE TEMP TABLE _t_a AS SELECT 1 AS x")
        con.execute("SELECT * FROM no_such_table")
    con.rollback()
    assert temp_tables(con, "_t_") == []


def test_scratch_wants_a_private_prefix():
    for shared in ("link", "_", ""):
        with pytest.raises(ValueError), scratch(duckdb.connect(), shared):
            pass


def test_registered_frame_is_gone_after_the_block():
    con = duckdb.connect()
    with registered(con, "_frame", pl.DataFrame({"x": [1, 2]})):
        assert scalar(con, "SELECT sum(x) FROM _frame") == 3
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM _frame")


def test_a_registered_frame_of_every_kind_of_column_is_stored_as_it_is():
    """What ingest and link store through `registered` comes back value for value: text
    short and long (Arrow keeps up to 12 bytes inside a string view, longer ones in its
    buffers), empty and missing, lists of text, dates, datetimes, decimals, yes/no, numbers."""
    frame = pl.DataFrame({
        "short": ["张三", "", None, "=1+2"],
        "long": ["北京市朝阳区建国路88号院3号楼2单元501室", None, "x" * 5000, "公民身份号码110101199003071234"],
        "names": [["低保", "特困"], [], None, ["高龄" * 10]],
        "day": [dt.date(1949, 10, 1), None, dt.date(2026, 12, 5), dt.date(1900, 1, 1)],
        "at": [dt.datetime(2026, 11, 2, 8, 30), None, dt.datetime(2000, 1, 1), dt.datetime(2026, 12, 31, 23, 59, 59)],
        "amount": pl.Series([Decimal("1560.00"), None, Decimal("0.01"), Decimal("-3.50")], dtype=pl.Decimal(12, 2)),
        "flag": [True, False, None, True],
        "n": pl.Series([1, None, 2**40, -7], dtype=pl.Int64),
        "x": [1.5, None, float("inf"), -0.0],
    })
    con = duckdb.connect()
    append_frame(con, "t", frame)
    append_frame(con, "t", frame)  # into the table that is there now
    back = fetch_frame(con, "SELECT * FROM t")
    assert back.schema == frame.schema
    assert back.equals(pl.concat([frame, frame]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), min_size=1, max_size=30))
def test_any_text_registered_is_read_back_as_it_was(values):
    """Whatever text a delivered cell holds (any Unicode, either side of Arrow's 12 bytes
    kept inline), DuckDB reads through `registered` exactly that text."""
    frame = pl.DataFrame({"v": pl.Series(values, dtype=pl.String)})
    con = duckdb.connect()
    with registered(con, "_frame", frame):
        back = [v for (v,) in con.execute("SELECT v FROM _frame").fetchall()]
    assert back == values


def test_stages_run_in_order_and_are_timed():
    con = duckdb.connect()
    seen = []
    stages = (
        sql_stage("make", "CREATE TEMP TABLE _s_t (x INTEGER)", "INSERT INTO _s_t VALUES (1)"),
        Stage("add", lambda c: c.execute("INSERT INTO _s_t VALUES (2)")),
        Stage("look", lambda c: seen.append(scalar(c, "SELECT list(x ORDER BY x) FROM _s_t"))),
    )
    seconds: dict[str, float] = {}
    with scratch(con, "_s_"):
        run_stages(con, stages, seconds, prefix="demo_")
    assert seen == [[1, 2]]
    assert list(seconds) == ["demo_make", "demo_add", "demo_look"]
    assert all(isinstance(s, float) and s >= 0 for s in seconds.values())
    assert temp_tables(con, "_s_") == []


def test_stopwatch_laps():
    seconds: dict[str, float] = {}
    watch = Stopwatch(seconds)
    watch.lap("one")
    watch.lap("two")
    assert list(seconds) == ["one", "two"]


def test_house_and_place_links_leave_no_working_table():
    con = duckdb.connect()
    frame_to_table(con, "link_house_records", house_records([
        ("registry_addresses", 1, 2, "house", "A1", "A1", "交通街道建设社区幸福小区3号楼2单元501室"),
        ("yibao", 2, 2, "residence", None, None, "幸福小区3号楼2单元501"),
        ("shichang", 3, 2, "premises", None, None, "建设路10号"),
    ]))
    frame_to_table(con, "link_place_records", pl.DataFrame({
        "record_id": [1], "feed": ["shichang"], "file_id": [3], "source_file": ["shichang.csv"], "source_row": [2],
        "role": ["place"], "record_key": [None], "place_code": [None], "uscc": [None], "uscc_valid": [None],
        "name": ["永盛蒙餐馆"], "address": ["建设路10号"], "house_key": [None], "kind": ["个体工商户"],
    }, schema_overrides={"record_key": pl.String, "place_code": pl.String, "uscc": pl.String,
                         "uscc_valid": pl.Boolean, "house_key": pl.String}))
    seconds: dict[str, float] = {}
    houses = link_houses(con, seconds)
    places = link_places(con, seconds)
    assert houses["exact_code"] == 1 and houses["exact_address"] == 1 and houses["new"] == 1
    assert places["new"] == 1
    assert scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE temporary") == 0
    stages = [f"houses_{s.name}" for s in HOUSE_STAGES] + [f"places_{s.name}" for s in PLACE_STAGES]
    assert list(seconds) == stages  # every stage timed, under a name of its own


def test_a_failure_with_a_registered_frame_is_raised_as_itself():
    """In a transaction the failure aborted (as an interrupted insert's: Ctrl+C), letting
    the frame go fails too; the block's own error is what is raised, so the caller can tell
    an interruption from a failure."""
    con = duckdb.connect()
    con.begin()
    with pytest.raises(duckdb.ConversionException):
        with registered(con, "_incoming", pl.DataFrame({"a": ["x"]})):
            con.execute("SELECT CAST(a AS INTEGER) FROM _incoming").fetchall()
    con.rollback()
    with registered(con, "_incoming", pl.DataFrame({"a": ["1"]})):  # and the name is free again
        assert con.execute("SELECT CAST(a AS INTEGER) FROM _incoming").fetchall() == [(1,)]
