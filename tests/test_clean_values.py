"""Dates, year-months, phones, money and credit codes."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rootdb.clean.values import clean_uscc, parse_dates, parse_datetimes, parse_ints, parse_money, parse_phones, parse_yearmonths

FORMATS = [
    lambda d: f"{d:%Y-%m-%d}",
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d:%Y%m%d}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: f"{d:%Y-%m-%d} 00:00:00",
    lambda d: str((d - dt.date(1899, 12, 30)).days),  # Excel serial
    lambda d: f" {d:%Y/%m/%d} ",
]


def apply(expr_fn, values: list) -> list:
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr_fn(pl.col("v")).alias("v"))["v"].to_list()


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2099, 12, 31)), st.sampled_from(range(len(FORMATS))))
def test_every_contract_date_format_parses(date, fmt):
    assert apply(parse_dates, [FORMATS[fmt](date)]) == [date]


def test_impossible_and_garbage_dates_are_null():
    assert apply(parse_dates, ["1985-02-30", "1985-13-01", "abc", "无", None, "", "0"]) == [None] * 7


def test_dates_with_times_keep_the_time():
    at = dt.datetime(2025, 6, 3, 14, 22)
    cells = ["2025-06-03 14:22", "2025/6/3 14:22:00", "2025年6月3日14时22分", "2025年6月3日 14:22",
             "2025-06-03T14:22", "45811.598611"]
    assert apply(parse_datetimes, cells) == [at] * len(cells)
    assert apply(parse_datetimes, ["2025-06-03", "20250603", "45811"]) == [dt.datetime(2025, 6, 3)] * 3
    assert apply(parse_datetimes, ["2025-06-03 24:10", "2025-02-30 10:00", "2025-06-03 下午", "无", None]) == [None] * 5


def test_year_months():
    got = apply(parse_yearmonths, ["2024-07", "202407", "2024/7", "2024.07", "2024年7月", "2024-07-15", "2024-13"])
    assert got == [dt.date(2024, 7, 1)] * 6 + [None]


def test_phones_split_and_normalised():
    got = apply(parse_phones, ["13812345678", "0477-8512345", "138 1234 5678、13987654321", "无",
                               "13812345678/0477-8512345", "１３８１２３４５６７８", None])
    assert got == [["13812345678"], ["04778512345"], ["13812345678", "13987654321"], [],
                   ["13812345678", "04778512345"], ["13812345678"], None]


def test_money_and_ints():
    assert apply(parse_money, ["1,234.50", "800元", "￥12", "x", None]) == [1234.5, 800.0, 12.0, None, None]
    assert apply(parse_ints, ["3", "3人", "3.0", "3.5", "x"]) == [3, 3, 3, None, None]


def test_uscc_check_character():
    from stdnum.cn import uscc

    base = "91150602MA0N4Y7X1"
    valid = base + uscc.calc_check_digit(base)
    wrong = base + ("0" if valid[-1] != "0" else "1")
    frame = clean_uscc(pl.Series([valid, valid.lower(), wrong, None], dtype=pl.String))
    assert frame["valid"].to_list() == [True, True, False, False]
    assert frame["uscc"].to_list()[:2] == [valid, valid]
