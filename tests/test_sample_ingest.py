"""The bundled sample area, ingested whole and checked against its ground truth
(sample_data/_truth): row accounting per file, which rows are quarantined, and that
every planted defect (IDs, dates, phones, addresses) comes out as the truth says."""

from __future__ import annotations

import re

import duckdb
import polars as pl
import pytest

from conftest import AREA, TRUTH
from rootdb import ingest
from rootdb.ingest.detect import header_keys
from rootdb.specs import load_specs

pytestmark = pytest.mark.sample  # ingests the whole sample itself: ingest's own result is checked


def truth(name: str) -> pl.DataFrame:
    return pl.read_csv(TRUTH / f"{name}.csv", infer_schema=False)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    db = tmp_path_factory.mktemp("sample") / "rootdb.duckdb"
    result = ingest([AREA], db=db)
    con = duckdb.connect(str(db), read_only=True)
    yield result, con
    con.close()


def _field_of(con, feed: str, file: str, header: str) -> str:
    """The schema field a delivered header became in that file."""
    (headers,) = con.execute("SELECT headers FROM files WHERE file_name = ?", [file]).fetchall()[0]
    import json

    keys = set(header_keys(header))
    for field, delivered in json.loads(headers).items():
        if keys.intersection(header_keys(delivered)):
            return field
    raise AssertionError(f"{file}: header {header!r} not mapped")


def _defects(con, codes: set[str]) -> list[tuple[str, str, int, str]]:
    """(file, feed, source_row, field) of each data-cell defect with one of these codes."""
    files = dict(truth("files").select("file", "feed").iter_rows())
    out = []
    for file, row, column, defect in truth("defects").iter_rows():
        if defect in codes:
            out.append((file, files[file], int(row), _field_of(con, files[file], file, column)))
    assert out, codes
    return out


def _value(con, feed: str, file: str, row: int, column: str):
    rows = con.execute(
        f'SELECT "{column}" FROM "{feed}" r JOIN files f USING (file_id) WHERE f.file_name = ? AND r.source_row = ?',
        [file, row],
    ).fetchall()
    assert len(rows) == 1, (file, row)
    return rows[0][0]


def test_every_file_loads_with_the_expected_row_counts(loaded):
    result, _ = loaded
    expected = {r["file"]: r for r in truth("files").iter_rows(named=True)}
    got = {f.file: f for f in result.files}
    assert set(got) == set(expected)
    for name, f in got.items():
        want = expected[name]
        assert f.status == "loaded", (name, f.message)
        assert f.feed == want["feed"], name
        assert f.header_row == int(want["header_row"]), name
        assert (f.rows_read, f.rows_quarantined) == (int(want["rows_read"]), int(want["rows_quarantined"])), name
        assert f.rows_read == f.rows_loaded + f.rows_quarantined
        if want["encoding"]:
            assert f.encoding == want["encoding"], name


def test_exactly_the_unidentifiable_rows_are_quarantined(loaded):
    _, con = loaded
    got = set(con.execute("SELECT source_file, source_row FROM quarantine").fetchall())
    want = {(f, int(r)) for f, r, _ in truth("quarantine").iter_rows()}
    assert got == want
    reasons = {r for (r,) in con.execute("SELECT DISTINCT reason FROM quarantine").fetchall()}
    assert all("缺少" in r for r in reasons), reasons


def test_every_truth_record_row_is_loaded(loaded):
    _, con = loaded
    loaded_rows = set(
        con.execute(
            "SELECT f.file_name, r.source_row FROM files f JOIN "
            "(SELECT file_id, source_row FROM raw_dibao WHERE false) r USING (file_id)"
        ).fetchall()
    )
    specs = load_specs()
    for feed in {f for (f,) in con.execute("SELECT DISTINCT feed FROM files").fetchall()}:
        assert feed in specs
        loaded_rows |= set(
            con.execute(f'SELECT f.file_name, r.source_row FROM "{feed}" r JOIN files f USING (file_id)').fetchall()
        )
    want = {(f, int(r)) for f, r in truth("records").select("file", "source_row").unique().iter_rows()}
    assert want <= loaded_rows, sorted(want - loaded_rows)[:5]


def _true_ids(con) -> dict[tuple[str, int, str], str]:
    """(file, row, field) -> the true ID of the person the ID column belongs to."""
    specs = load_specs()
    persons = dict(truth("persons").select("person_uid", "id_number").iter_rows())
    files = dict(truth("files").select("file", "feed").iter_rows())
    out = {}
    for file, row, role, etype, uid in truth("records").iter_rows():
        if etype != "person":
            continue
        for spec_role in specs[files[file]].roles:
            if spec_role.role == role and "id" in spec_role.fields:
                out[(file, int(row), spec_role.fields["id"])] = persons[uid]
    return out


def test_messy_ids_are_restored_to_the_true_id(loaded):
    _, con = loaded
    true_ids = _true_ids(con)
    cases = _defects(con, {"id15", "fullwidth_digits", "id_spaces", "lowercase_x"})
    for file, feed, row, field in cases:
        got = _value(con, feed, file, row, field)
        assert got == true_ids[(file, row, field)], (file, row, field)
        assert _value(con, feed, file, row, f"{field}_valid"), (file, row, field)


@pytest.mark.parametrize(("defect", "check"), [("excel_number_id", "excel"), ("bad_checksum", "checksum")])
def test_broken_ids_are_kept_and_flagged(loaded, defect, check):
    _, con = loaded
    for file, feed, row, field in _defects(con, {defect}):
        assert _value(con, feed, file, row, f"{field}_check") == check, (file, row, field)
        assert _value(con, feed, file, row, field) is not None


def test_every_date_style_parses_and_impossible_dates_are_flagged(loaded):
    _, con = loaded
    styles = {"date_format_slash", "date_format_dot", "date_format_compact", "date_format_cn",
              "excel_date", "excel_serial", "swapped_day_month", "yearmonth_compact"}
    for file, feed, row, field in _defects(con, styles):
        assert _value(con, feed, file, row, field) is not None, (file, row, field)
    for file, feed, row, field in _defects(con, {"impossible_date"}):
        assert _value(con, feed, file, row, field) is None
        issues = con.execute(
            "SELECT code FROM row_issues i JOIN files f USING (file_id) WHERE f.file_name = ? AND source_row = ? AND field = ?",
            [file, row, field],
        ).fetchall()
        assert ("date_invalid",) in issues, (file, row, field)


def test_birth_dates_in_other_styles_equal_the_truth(loaded):
    _, con = loaded
    birth = dict(truth("persons").select("person_uid", "birth_date").iter_rows())
    records = truth("records").filter(pl.col("entity_type") == "person")
    subject = {(f, int(r)): uid for f, r, role, _, uid in records.iter_rows() if role in ("person", "member", "child", "student", "newborn")}
    checked = 0
    for file, feed, row, field in _defects(con, {"date_format_slash", "date_format_dot", "date_format_compact",
                                                  "date_format_cn", "excel_date", "excel_serial"}):
        if field != "birth_date" or (file, row) not in subject:
            continue
        assert str(_value(con, feed, file, row, field)) == birth[subject[(file, row)]], (file, row)
        checked += 1
    assert checked


def test_several_phones_in_a_cell_are_split(loaded):
    _, con = loaded
    for file, feed, row, field in _defects(con, {"multi_phone"}):
        phones = _value(con, feed, file, row, f"{field}_all")
        assert len(phones) >= 2 and all(re.fullmatch(r"\d{7,12}", p) for p in phones), (file, row, phones)


def test_address_variants_parse_to_the_true_house(loaded):
    _, con = loaded
    houses = {
        r["house_uid"]: r for r in truth("houses").iter_rows(named=True)
    }
    files = dict(truth("files").select("file", "feed").iter_rows())
    specs = load_specs()
    residence = {}
    for file, row, role, etype, uid in truth("records").iter_rows():
        if etype == "house":
            for spec_role in specs[files[file]].roles:
                if spec_role.role == role and "address" in spec_role.fields:
                    residence[(file, int(row), spec_role.fields["address"])] = uid
    checked = 0
    for file, feed, row, field in _defects(con, {"address_dash", "address_cn_numerals", "address_partial_prefix"}):
        uid = residence.get((file, row, field))
        if uid is None:
            continue
        h = houses[uid]
        if not h["compound"]:
            continue  # street-front houses have no compound/building/unit/room parts in the truth
        digits = lambda s: re.sub(r"\D", "", s or "")  # noqa: E731
        want = f"{h['compound']}|{digits(h['building'])}|{digits(h['unit'])}|{digits(h['room'])}"
        assert _value(con, feed, file, row, f"{field}_house_key") == want, (file, row, field)
        checked += 1
    assert checked > 100
