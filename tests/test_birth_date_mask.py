"""A masked output shows a birth date as its year only (1950年): the masked ID
(150602********123X) hides exactly the birth date, so a full date beside it would give
the whole ID back. Checked on the real files of the linked sample, masked and unmasked:
the reports with a 出生日期 column, R36, `export persons`, `export corrections`, the
review sheet and the quarantine workbook, and splink's charts (masked only); their
headings say so; and `mask_birth_date` on any date however it is written."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLE, SAMPLE_AS_OF, copy_sample
from rootdb.privacy import mask_birth_date

REPORTS = ("R02", "R03", "R04", "R07", "R13", "R18", "R29", "R31")
# A full date as the outputs write one (1985-03-02, 1985-03-02 00:00:00 from a date cell,
# 1985/3/2, 1985年3月2日) or run together (19850302, not inside a longer number).
_FULL_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})|(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MASKED_ID = re.compile(r"\d{6}\*{8}[\dXx]{4}")
_YEAR = re.compile(r"\d{4}年")


def _apply(values, dtype=pl.String) -> list:
    return pl.DataFrame({"v": values}, schema={"v": dtype}).select(mask_birth_date(pl.col("v")))["v"].to_list()


# ---------------------------------------------------------------- mask_birth_date


@given(day=st.dates())
@settings(max_examples=300, deadline=None)
def test_any_date_however_written_shows_only_its_year(day):
    y, m, d = f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"
    written = [f"{y}-{m}-{d}", f"{y}{m}{d}", f"{y}年{day.month}月{day.day}日", f"{y}/{day.month}/{day.day}",
               f"{y}.{m}.{d}", f"{y}-{m}-{d} 00:00:00", f" {y} 年 {m} 月 {d} 日 "]
    serial = (day - dt.date(1899, 12, 30)).days
    if 1 <= serial <= 80000:  # an Excel date cell read as its number
        written.append(str(serial))
    year = f"{day.year}年"
    assert _apply(written) == [year] * len(written)
    assert _apply([day], pl.Date) == [year]
    assert _apply([dt.datetime(day.year, day.month, day.day, 8, 30)], pl.Datetime) == [year]


_WORDS = st.text(alphabet="出生期与身份证号不符（）为，、：死亡状态公安库abcXYZ", max_size=12)


@given(day=st.dates(dt.date(1000, 1, 1)), before=_WORDS, after=_WORDS)
@settings(max_examples=300, deadline=None)
def test_a_note_keeps_its_words_and_each_date_its_year(day, before, after):
    note = f"{before}{day.isoformat()}{after}"
    assert _apply([note]) == [f"{before}{day.year}年{after}"]


def test_what_is_no_date_is_hidden_or_left():
    assert _apply([None, "", "不详", "85.3.2", "19850230", "1970-02-31", "“12”不是规定的取值"]) == [
        None, "", "不详", "*", "*", "1970年", "“12”不是规定的取值"]
    assert _apply(["出生日期与身份证号不符（身份证号为 1995-03-31）"]) == ["出生日期与身份证号不符（身份证号为 1995年）"]


@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["不详", "", "85.3.2", "2024/2/31"]),
                                 st.dates().map(str), st.dates().map(lambda d: d.strftime("%Y%m%d"))),
                       min_size=1, max_size=8),
       repeat=st.integers(1, 4))
@settings(max_examples=50, deadline=None)
def test_a_report_column_masked_once_per_distinct_value_is_masked_row_by_row(values, repeat):
    """A report's column masks (`_masked_column`) work on the distinct values where they
    repeat: the same cells as the mask on every row, nulls kept."""
    from rootdb.privacy import mask_id, mask_phone
    from rootdb.reports.engine import _masked_column

    column = pl.Series("v", values * repeat, dtype=pl.String)
    for mask in (mask_birth_date, mask_id, mask_phone):
        expected = column.to_frame().select(mask(pl.col("v")))["v"]
        assert _masked_column(column, mask).to_list() == expected.to_list()


# ---------------------------------------------------------------- the outputs


@pytest.fixture(scope="module")
def outputs(sample_db, tmp_path_factory) -> dict[bool, dict[str, str]]:
    """masked -> output -> file: the reports, R36, export persons / corrections and the
    review sheet, written masked and unmasked on a copy of the linked sample."""
    from rootdb.golden.exports import export_corrections, export_persons
    from rootdb.link.review import export_review
    from rootdb.reports import run_reports, select_templates

    db = copy_sample(sample_db, tmp_path_factory.mktemp("birth_mask"))
    files = {}
    for masked in (True, False):
        folder = tmp_path_factory.mktemp("masked" if masked else "unmasked")
        result = run_reports(select_templates([*REPORTS, "R36"], False), as_of=SAMPLE_AS_OF, out=folder / "报表",
                             db=str(db), unmasked=not masked)
        files[masked] = {r.code: r.file for r in result.reports} | {
            "persons": export_persons(str(db), folder / "人员.csv", unmasked=not masked).file,
            "corrections": export_corrections(str(db), folder / "纠错清单.xlsx", unmasked=not masked).file,
            "review": export_review(folder / "复核.xlsx", db=str(db), unmasked=not masked).file,
        }
    return files


def _sheets(path: str) -> list[list[tuple]]:
    """Every sheet of a workbook as its rows of cells, all as text (a date cell as
    1985-03-02 00:00:00); a CSV as one sheet, its header the first row."""
    if path.endswith(".csv"):
        frame = pl.read_csv(path, infer_schema=False)
        return [[tuple(frame.columns), *frame.rows()]]
    sheets = pl.read_excel(path, sheet_id=0, has_header=False, infer_schema_length=0)
    return [frame.rows() for frame in sheets.values()]


def _column(rows: list[tuple], header: str) -> list[str]:
    """The values under every column headed `header` (below the row that names it)."""
    for at, row in enumerate(rows):
        cols = [c for c, v in enumerate(row) if v == header]
        if cols:
            return [r[c] for r in rows[at + 1:] for c in cols if r[c] is not None]
    return []


def _groups(rows: list[tuple], keys: tuple[str, ...]) -> list[list]:
    """The cells of each delivered row (the rows sharing the `keys` columns: 文件, 行号),
    or of each row on a sheet without them (a summary)."""
    at = next((i for i, r in enumerate(rows) if keys and set(keys) <= set(r)), None)
    if at is None:
        return [list(r) for r in rows]
    cols = [rows[at].index(k) for k in keys]
    groups: dict = {}
    for i, row in enumerate(rows[at + 1:]):
        key = tuple(row[c] for c in cols)
        groups.setdefault(key if all(key) else i, []).extend(row)
    return list(groups.values())


def _full_dates(cells) -> set[dt.date]:
    found = set()
    for cell in cells:
        for match in _FULL_DATE.finditer(cell or ""):
            y, m, d = [g for g in match.groups() if g is not None]
            try:
                found.add(dt.date(int(y), int(m), int(d)))
            except ValueError:
                pass
    return found


def _births_by_masked_id(sheets: list[list[tuple]]) -> dict[str, set[dt.date]]:
    """Each ID an unmasked output lists, by its masked form: the birth date it holds."""
    births: dict[str, set[dt.date]] = {}
    for rows in sheets:
        for row in rows:
            for cell in row:
                for number in _ID.findall(cell or ""):
                    births.setdefault(number[:6] + "*" * 8 + number[-4:], set()).update(
                        _full_dates([number[6:14]]))
    return births


def _beside_its_id(path: str, births: dict[str, set[dt.date]], keys: tuple[str, ...] = (),
                   masked: bool = True) -> tuple[int, list]:
    """(groups listing an ID, those that show the full birth date of an ID they list)."""
    listed, shown = 0, []
    for rows in _sheets(path):
        for cells in _groups(rows, keys):
            ids = set(_MASKED_ID.findall(" ".join(c or "" for c in cells))) if masked else {
                n[:6] + "*" * 8 + n[-4:] for c in cells for n in _ID.findall(c or "")}
            dates = set().union(*(births.get(i, set()) for i in ids))
            listed += bool(dates)
            if dates & _full_dates(cells):
                shown.append(cells)
    return listed, shown


def _assert_years_masked_dates_unmasked(outputs, output: str, *headers: str) -> None:
    for masked in (True, False):
        values = [v for rows in _sheets(outputs[masked][output]) for h in headers for v in _column(rows, h)]
        assert values, (output, headers)
        if masked:
            assert all(_YEAR.fullmatch(v) or v == "*" for v in values), [v for v in values if not _YEAR.fullmatch(v)]
        else:
            assert all(_FULL_DATE.search(v) for v in values), [v for v in values if not _FULL_DATE.search(v)][:5]


def _assert_no_birth_beside_its_id(outputs, output: str, keys: tuple[str, ...] = (), unmasked_shows: bool = True):
    births = _births_by_masked_id(_sheets(outputs[False][output]))
    listed, leaks = _beside_its_id(outputs[True][output], births, keys)
    assert listed and not leaks, (listed, leaks[:3])
    if unmasked_shows:
        listed, shown = _beside_its_id(outputs[False][output], births, keys, masked=False)
        assert shown, listed


@pytest.mark.parametrize("code", REPORTS)
def test_a_masked_report_shows_the_year_of_birth_only(outputs, code):
    _assert_years_masked_dates_unmasked(outputs, code, "出生日期")
    _assert_no_birth_beside_its_id(outputs, code, unmasked_shows=code != "R18")  # R18: newborns without IDs


def test_r36_masks_the_values_and_notes_of_birth_dates(outputs):
    _assert_years_masked_dates_unmasked(outputs, "R36", "出生日期")
    _assert_no_birth_beside_its_id(outputs, "R36", ("报送文件", "行号"), unmasked_shows=False)
    notes = {m: _column(_sheets(outputs[m]["R36"])[0], "说明") for m in (True, False)}
    assert not [n for n in notes[True] if _FULL_DATE.search(n)]
    assert any(re.search(r"身份证号为 \d{4}-\d{2}-\d{2}", n) for n in notes[False])
    assert any(re.search(r"身份证号为 \d{4}年", n) for n in notes[True])


def test_export_persons_shows_the_year_of_birth_only(outputs):
    _assert_years_masked_dates_unmasked(outputs, "persons", "出生日期")
    _assert_no_birth_beside_its_id(outputs, "persons")


def test_export_corrections_masks_the_birth_dates_it_compares(outputs):
    _assert_years_masked_dates_unmasked_rows(outputs)
    _assert_no_birth_beside_its_id(outputs, "corrections", ("文件", "行号"), unmasked_shows=False)


def _assert_years_masked_dates_unmasked_rows(outputs) -> None:
    """The 报送值 / 公安库值 of the rows about a birth date, and every 说明."""
    for masked in (True, False):
        values, notes = [], []
        for rows in _sheets(outputs[masked]["corrections"]):
            at = next((i for i, r in enumerate(rows) if "公安库值" in r), None)
            if at is None:
                continue  # the summary
            cols = {h: rows[at].index(h) for h in ("问题", "报送值", "公安库值", "说明")}
            for row in rows[at + 1:]:
                if (row[cols["问题"]] or "").startswith("出生日期"):
                    values += [row[cols[h]] for h in ("报送值", "公安库值") if row[cols[h]] is not None]
                notes += [row[cols["说明"]] or ""]
        assert values
        if masked:
            assert all(_YEAR.fullmatch(v) for v in values), values[:5]
            assert not [n for n in notes if _FULL_DATE.search(n)]
        else:
            assert all(_FULL_DATE.search(v) for v in values)
            assert any(_FULL_DATE.search(n) for n in notes)


def test_the_review_sheet_shows_the_year_of_birth_only(outputs):
    _assert_years_masked_dates_unmasked(outputs, "review", "A 出生日期", "B 出生日期")
    _assert_no_birth_beside_its_id(outputs, "review")


# ---------------------------------------------------------------- quarantine and charts


@pytest.fixture(scope="module")
def quarantined(sample_db, tmp_path_factory) -> dict[bool, str]:
    """masked -> the quarantine workbook of a copy of the linked sample to which a new
    医保 delivery came whose first 30 rows lack their 个人编号 (quarantined with their
    IDs and 出生日期, 19491127 as delivered)."""
    from rootdb.ingest import ingest
    from rootdb.quarantine import export_quarantine

    folder = tmp_path_factory.mktemp("quarantined")
    db = copy_sample(sample_db, folder / "db")
    delivery = pl.read_csv(SAMPLE / "yibao_2026-11.csv", infer_schema=False)
    delivery = delivery.with_columns(pl.when(pl.int_range(pl.len()) < 30).then(None).otherwise(pl.col("个人编号"))
                                     .alias("个人编号"))
    delivery.write_csv(folder / "yibao_2026-12.csv", include_bom=True)
    assert ingest([folder / "yibao_2026-12.csv"], db=db).rows_quarantined >= 30
    return {masked: export_quarantine(folder / ("masked" if masked else "unmasked") / "隔离数据.xlsx", db=str(db),
                                      unmasked=not masked).file for masked in (True, False)}


def test_the_quarantine_workbook_shows_the_year_of_birth_only(quarantined):
    outputs = {m: {"quarantine": f} for m, f in quarantined.items()}
    _assert_years_masked_dates_unmasked(outputs, "quarantine", "出生日期")
    _assert_no_birth_beside_its_id(outputs, "quarantine", ("文件", "行号"))
    for masked, words in ((True, "出生日期只显示年份"), (False, "含完整身份证号和电话")):
        headings = [rows[1][0] for rows in _sheets(quarantined[masked])]
        assert headings and all(words in h for h in headings), headings


@pytest.fixture(scope="module")
def charts(sample_db, tmp_path_factory) -> tuple[Path, dict[str, set[dt.date]]]:
    """splink's charts of a copy of the linked sample (linked again with --charts), and
    the birth date each ID its records hold gives, by the ID's masked form."""
    import duckdb

    from rootdb.link import link

    folder = tmp_path_factory.mktemp("charts")
    db = copy_sample(sample_db, folder / "db")
    link(db=db, charts=folder / "charts")
    with duckdb.connect(str(db), read_only=True) as con:
        ids = con.sql("SELECT DISTINCT id_number FROM link_person_records WHERE id_number IS NOT NULL").fetchall()
    return folder / "charts", _births_by_masked_id([ids])


def _chart_records(path: Path) -> list[dict]:
    """Every record and pair a chart holds: the flat JSON objects that have an ID number."""
    text = path.read_text(encoding="utf-8")
    return [json.loads(o) for o in re.findall(r'\{[^{}]*"id_number[^{}]*\}', text)]


@pytest.mark.parametrize("chart", ["comparison_viewer.html", "cluster_studio.html"])
def test_the_charts_show_the_year_of_birth_only(charts, chart):
    folder, births = charts
    records = _chart_records(folder / chart)
    shown = [v for r in records for k, v in r.items() if k.startswith("birth_date") and v is not None]
    assert shown and all(_YEAR.fullmatch(v) for v in shown), [v for v in shown if not _YEAR.fullmatch(v)][:5]
    listed, leaks = 0, []
    for record in records:
        cells = [str(v) for v in record.values() if v is not None]
        dates = set().union(*(births.get(i, set()) for i in _MASKED_ID.findall(" ".join(cells))))
        listed += bool(dates)
        if dates & _full_dates(cells):
            leaks.append(record)
    assert listed and not leaks, (listed, leaks[:2])
