"""Resident ID cleaning, checked against python-stdnum's GB 11643 implementation."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from rootdb.clean.ids import clean_ids

regions = st.sampled_from(["150602", "110105", "130102", "410102", "510104", "152701"])
births = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31))
seqs = st.integers(min_value=0, max_value=999)


def make_id(region: str, birth: dt.date, seq: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + ric.calc_check_digit(first17 + "?")  # stdnum takes the whole number


def clean_one(value: str | None) -> dict:
    return clean_ids(pl.Series([value], dtype=pl.String)).row(0, named=True)


@settings(max_examples=200, deadline=None)
@given(regions, births, seqs)
def test_valid_ids_pass_and_give_birth_and_sex(region, birth, seq):
    number = make_id(region, birth, seq)
    row = clean_one(number)
    assert row["check"] == "ok" and row["valid"]
    assert row["birth"] == birth
    assert row["sex"] == ("男" if seq % 2 else "女")


@settings(max_examples=200, deadline=None)
@given(regions, births, seqs)
def test_15_digit_ids_become_the_18_digit_id(region, birth, seq):
    full = make_id(region, birth, seq)
    legacy = full[:6] + full[8:17]
    row = clean_one(legacy)
    assert row["id"] == full
    assert row["check"] == "from15" and row["valid"]


@settings(max_examples=200, deadline=None)
@given(regions, births, seqs, st.sampled_from("0123456789X"))
def test_a_wrong_check_digit_is_flagged_not_dropped(region, birth, seq, wrong):
    number = make_id(region, birth, seq)
    if wrong == number[-1]:
        return
    row = clean_one(number[:-1] + wrong)
    assert row["id"] == number[:-1] + wrong
    assert row["check"] in ("checksum", "excel") and not row["valid"]
    assert row["birth"] == birth or row["check"] == "excel"


@settings(max_examples=100, deadline=None)
@given(regions, births, seqs, st.lists(st.integers(min_value=0, max_value=17), max_size=4))
def test_full_width_spaces_and_lowercase_x_are_normalised(region, birth, seq, spaces):
    number = make_id(region, birth, seq)
    messy = number.translate(str.maketrans("0123456789X", "０１２３４５６７８９ｘ"))
    for pos in sorted(spaces, reverse=True):
        messy = messy[:pos] + " " + messy[pos:]
    row = clean_one(messy)
    assert row["id"] == number and row["valid"]


def test_ids_that_excel_stored_as_numbers_are_recognised():
    number = "150602198503021234"
    as_read_back = str(int(float(int(number[:15]) * 1000)))  # what the xlsx reader returns
    assert as_read_back == "150602198503020992"
    for text in (as_read_back, "1.50602198503021E+17", "150602198503021000"):
        row = clean_one(text)
        assert row["check"] == "excel" and not row["valid"], text


def test_impossible_birth_date_and_bad_format():
    assert clean_one("110105194902310021")["check"] == "birthdate"
    assert clean_one("11010519491231")["check"] == "format"
    assert clean_one("ABCDEFGHIJKLMNOPQR")["check"] == "format"


def test_blank_markers_are_empty_not_invalid():
    for text in (None, "", "  ", "无", "不详", "-"):
        row = clean_one(text)
        assert row["id"] is None and row["check"] is None and not row["valid"]


def test_unknown_region_code_is_a_warning_not_invalid():
    number = make_id("999999", dt.date(1980, 1, 1), 1)
    row = clean_one(number)
    assert row["check"] == "region" and row["valid"] and row["birth"] == dt.date(1980, 1, 1)
    assert clean_one(make_id("150602", dt.date(1980, 1, 1), 1))["check"] == "ok"
