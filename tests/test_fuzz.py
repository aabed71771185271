"""Property-based fuzzing (hypothesis): the readers and cleaners never crash on any
bytes or strings. A file either reads or fails with rootdb's own InputFileError (a
message naming the file); a row is either kept or quarantined with a reason."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rootdb.clean.addresses import parse_address
from rootdb.clean.frame import clean_frame
from rootdb.clean.ids import clean_ids
from rootdb.clean.names import clean_name
from rootdb.errors import InputFileError
from rootdb.ingest.readers import read_grid
from rootdb.specs import load_specs

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text as departments type it, and worse: CJK, full-width forms, digits, separators,
# control characters, formulas, very long runs.
cells = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(alphabet="张王李赵一二三〇号楼单元室小区社区０１２３４５６７８９Xx-—/、，, \t\n=+@", max_size=30),
    st.from_regex(r"[0-9Xx ]{0,20}", fullmatch=True),
    st.from_regex(r"(19|20)\d\d[-/.年]\d{1,2}[-/.月]\d{1,2}日?", fullmatch=True),
)


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from([".csv", ".xlsx", ".xls", ".txt"]))
def test_read_grid_never_crashes_on_bytes(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"dibao_2026-11{suffix}"
        path.write_bytes(data)
        try:
            grid = read_grid(path)
        except InputFileError as exc:
            assert path.name in str(exc)
        else:
            assert grid is not None


@FUZZ
@given(st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=6), max_size=8))
def test_read_grid_never_crashes_on_a_broken_workbook(rows):
    """A zip that looks like a workbook but is not one (truncated or with junk parts)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", "".join(",".join(r) for r in rows))
    data = buffer.getvalue()
    with tempfile.TemporaryDirectory() as folder:
        for cut in (len(data), len(data) // 2):
            path = Path(folder) / "dibao_2026-11.xlsx"
            path.write_bytes(data[:cut])
            try:
                read_grid(path)
            except InputFileError as exc:
                assert path.name in str(exc)


@FUZZ
@given(st.sampled_from(["dibao", "registry_persons", "shichang", "chusheng", "fangwu"]), st.data())
def test_clean_frame_keeps_or_quarantines_every_row(feed, data):
    spec = load_specs()[feed]
    n = data.draw(st.integers(min_value=1, max_value=12))
    raw = pl.DataFrame(
        {"source_row": list(range(2, n + 2)),
         **{c.field: data.draw(st.lists(cells, min_size=n, max_size=n)) for c in spec.columns}},
        schema={"source_row": pl.Int64, **{c.field: pl.String for c in spec.columns}},
    )
    result = clean_frame(spec, raw)
    assert result.records.height + result.quarantine.height == n
    assert result.quarantine.get_column("reason").null_count() == 0


@FUZZ
@given(st.lists(cells, max_size=20))
def test_id_cleaning_never_crashes(values):
    out = clean_ids(pl.Series(values, dtype=pl.String))
    assert out.height == len(values)
    assert out.filter(pl.col("valid")).get_column("id").str.len_chars().eq(18).all()


@FUZZ
@given(cells)
def test_name_and_address_parsing_never_crash(value):
    clean_name(value)
    parsed = parse_address(value)
    assert isinstance(parsed, dict)


@FUZZ
@given(st.sampled_from(["dibao", "registry_persons", "yibao", "shichang", "chusheng"]), st.data())
def test_cleaning_by_value_and_row_by_row_give_the_same_result(feed, data):
    """`clean_frame` cleans a column once per distinct value or row by row, by how often
    its values repeat (`frame._by_value`): both ways give the same records, issues and
    quarantine, for values that repeat and values that do not, numbers a workbook stored too."""
    from unittest import mock

    from rootdb.clean import frame

    spec = load_specs()[feed]
    n = data.draw(st.integers(min_value=1, max_value=14))
    columns = {}
    for c in spec.columns:  # a few values, drawn again and again: repeats as in real files
        pool = data.draw(st.lists(cells, min_size=1, max_size=4))
        columns[c.field] = data.draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    raw = pl.DataFrame({"source_row": list(range(2, n + 2)), **columns},
                       schema={"source_row": pl.Int64, **{c.field: pl.String for c in spec.columns}})
    number_cells = {c.field: set(data.draw(st.lists(st.integers(2, n + 1), max_size=3))) for c in spec.columns}
    results = []
    for share, inside in ((2.0, set()), (0.0, frame._DISTINCT_INSIDE)):  # all by value, all row by row
        with mock.patch.object(frame, "_BY_VALUE_SHARE", share), mock.patch.object(frame, "_DISTINCT_INSIDE", inside):
            results.append(clean_frame(spec, raw, number_cells))
    by_value, by_row = results
    assert by_value.records.equals(by_row.records)
    assert by_value.issues.equals(by_row.issues)
    assert by_value.quarantine.equals(by_row.quarantine)


ids_and_phones = st.one_of(cells, st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
                           st.from_regex(r"[0-9０-９]{17}[0-9Xx]", fullmatch=True))


@FUZZ
@given(st.lists(ids_and_phones, max_size=20))
def test_plain_cells_spared_the_regular_expressions_read_the_same(values):
    """Phones and IDs already in their plain shape skip the normalising (`plain_or`):
    the same result as normalising every cell, full-width digits included."""
    from rootdb.clean.ids import normalize_id_text
    from rootdb.clean.values import parse_phone_column, parse_phones, plain_or

    text = pl.Series("t", values, dtype=pl.String)
    assert parse_phone_column(text).to_list() == text.to_frame().select(parse_phones(pl.col("t")))["t"].to_list()
    ids = plain_or(text, r"^[0-9]{17}[0-9X]$", pl.col("t"), normalize_id_text(pl.col("t")))
    assert ids.to_list() == text.to_frame().select(normalize_id_text(pl.col("t")).alias("t"))["t"].to_list()
