"""Cleaners for plain values: text, dates, dates with times, year-months, money, integers, phones,
enums and unified social credit codes. All vectorised in polars; the credit-code
check runs once per distinct value.
"""

from __future__ import annotations

import functools

import polars as pl
from stdnum.cn import uscc as stdnum_uscc

# What departments write in a cell that has nothing to say.
BLANK_MARKERS = ["无", "暂无", "不详", "未知", "空", "-", "--", "—", "/", "\\", "NULL", "null", "None", "N/A", "n/a"]

_EXCEL_EPOCH = pl.date(1899, 12, 30)


def clean_text(raw: pl.Expr) -> pl.Expr:
    """NFKC, control characters dropped (a terminal escape in a cell never reaches a
    screen), whitespace runs collapsed, trimmed; blank markers become null."""
    text = (
        raw.str.normalize("NFKC")
        .str.replace_all(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]", "")
        .str.replace_all(r"[\s\u3000\u00a0]+", " ")
        .str.strip_chars()
    )
    return pl.when(text.is_in(BLANK_MARKERS) | (text == "")).then(None).otherwise(text)


def _ymd(y: pl.Expr, m: pl.Expr, d: pl.Expr) -> pl.Expr:
    return pl.format("{}-{}-{}", y, m.str.zfill(2), d.str.zfill(2)).str.strptime(
        pl.Date, "%Y-%m-%d", strict=False
    )


def parse_dates(raw: pl.Expr) -> pl.Expr:
    """Dates written as 1985-03-02, 1985/3/2, 1985.3.2, 19850302, 1985年3月2日,
    '1985-03-02 00:00:00' (an Excel date cell read back) or an Excel serial number.
    Impossible dates (1985-02-30) become null."""
    text = clean_text(raw)
    sep = text.str.extract_groups(
        r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$"
    )
    compact = text.str.extract_groups(r"^(\d{4})(\d{2})(\d{2})$")
    serial = text.str.extract(r"^(\d{1,5})(?:\.0+)?$", 1).cast(pl.Int64, strict=False)
    from_serial = pl.when((serial >= 1) & (serial <= 80000)).then(
        _EXCEL_EPOCH + pl.duration(days=serial)
    )
    return pl.coalesce(
        _ymd(sep.struct[0], sep.struct[1], sep.struct[2]),
        _ymd(compact.struct[0], compact.struct[1], compact.struct[2]),
        from_serial,
    )


_DAY = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
_CLOCK = r"(?:\s*T?\s*(\d{1,2})\s*[:：时]\s*(\d{1,2})\s*(?:[:：分]\s*(\d{1,2})(?:\.\d+)?\s*秒?)?\s*分?)?"


def parse_datetimes(raw: pl.Expr) -> pl.Expr:
    """Dates with or without a time of day: '2025-06-03 14:22', '2025/6/3 14:22:05',
    '2025年6月3日14时22分', '2025-06-03T14:22', an Excel date-time cell read back or its
    serial number (45811.5986); a date alone (any form parse_dates reads but a stray
    suffix) is its midnight. An impossible date or time (24:10) becomes null."""
    text = clean_text(raw)
    parts = text.str.extract_groups("^" + _DAY + _CLOCK + "$")
    hour, minute, second = (parts.struct[i].cast(pl.Int64) for i in (3, 4, 5))
    clock_ok = hour.is_null() | ((hour < 24) & (minute < 60) & (second.fill_null(0) < 60))
    written = pl.when(clock_ok).then(
        _ymd(parts.struct[0], parts.struct[1], parts.struct[2]).cast(pl.Datetime("us"))
        + pl.duration(hours=hour.fill_null(0), minutes=minute.fill_null(0), seconds=second.fill_null(0))
    )
    serial = text.str.extract(r"^(\d{1,5}(?:\.\d+)?)$", 1).cast(pl.Float64, strict=False)
    from_serial = pl.when((serial >= 1) & (serial < 80000)).then(
        pl.datetime(1899, 12, 30) + pl.duration(seconds=(serial * 86_400).round(0).cast(pl.Int64))
    )
    compact = pl.when(text.str.contains(r"^\d{8}$")).then(parse_dates(raw).cast(pl.Datetime("us")))
    return pl.coalesce(written, from_serial, compact)


def parse_yearmonths(raw: pl.Expr) -> pl.Expr:
    """Year-months (2024-07, 2024/7, 2024.07, 202407, 2024年7月) as the month's
    first day; a full date counts as its month."""
    text = clean_text(raw)
    ym = text.str.extract_groups(r"^(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*月?$")
    month_only = _ymd(ym.struct[0], ym.struct[1], pl.lit("1"))
    return pl.coalesce(month_only, parse_dates(raw).dt.month_start())


def parse_money(raw: pl.Expr) -> pl.Expr:
    """Amounts like '1,234.50', '￥800', '800元'."""
    text = clean_text(raw).str.replace_all(r"[,￥¥元\s]", "")
    return text.cast(pl.Float64, strict=False)


def parse_ints(raw: pl.Expr) -> pl.Expr:
    """Counts like '3', '3人', '3.0'."""
    text = clean_text(raw).str.replace_all(r"[,\s人户个岁年]", "")
    as_float = text.cast(pl.Float64, strict=False)
    return pl.when(as_float == as_float.round(0)).then(as_float.cast(pl.Int64, strict=False))


_PHONE_SPLIT = r"[、/,;|]+"
_PHONE = r"1[3-9]\d{9}|0\d{9,11}|[2-9]\d{6,7}"


def parse_phones(raw: pl.Expr) -> pl.Expr:
    """All phone numbers of a cell as a list of digit strings: mobiles, landlines
    with area code (0477-8512345 → 04778512345), several per cell."""
    text = (
        raw.str.normalize("NFKC")
        .str.replace_all(_PHONE_SPLIT, " , ")
        .str.replace_all(r"(\d)[\s\-()]+(\d)", "$1$2")
        .str.replace_all(r"(\d)[\s\-()]+(\d)", "$1$2")
    )
    return text.str.extract_all(_PHONE)


def plain_or(text: pl.Series, pattern: str, plain: pl.Expr, other: pl.Expr) -> pl.Series:
    """A column worked out per cell, the text as the column "t": `plain` where the cell
    matches `pattern` (the common, already clean shape), `other` elsewhere, so that the
    many plain cells are spared `other`'s work; the two must agree on plain cells. (In a
    pattern, write digits as [0-9]: \\d also matches full-width and other digits.)"""
    frame = text.cast(pl.String).rename("t").to_frame().with_row_index("i")
    matches = pl.col("t").str.contains(pattern).fill_null(False)
    return pl.concat([
        frame.filter(matches).select("i", plain.alias("out")),
        frame.filter(~matches).select("i", other.alias("out")),
    ]).sort("i").get_column("out")


def parse_phone_column(text: pl.Series) -> pl.Series:
    """`parse_phones` of every cell of a column; a cell that is just a mobile number (most
    are) is its own list, without the regular expressions."""
    return plain_or(text, r"^1[3-9][0-9]{9}$", pl.concat_list("t"), parse_phones(pl.col("t")))


def clean_enum(raw: pl.Expr, synonyms: dict[str, str], values: list[str] | None = None) -> pl.Expr:
    """Spaces out, synonyms mapped; a blank marker that is itself an allowed value
    (无 in 两项补贴) is kept."""
    text = raw.str.normalize("NFKC").str.replace_all(r"\s+", "")
    if synonyms:
        text = text.replace(synonyms)
    allowed = pl.lit(False) if not values else text.is_in(values)
    return pl.when(allowed).then(text).otherwise(clean_text(text))


@functools.lru_cache(maxsize=None)
def _uscc_valid(code: str) -> bool:
    return stdnum_uscc.is_valid(code)


def clean_uscc(raw: pl.Series) -> pl.DataFrame:
    """Row-aligned `uscc` (normalised) and `valid` (GB 32100 check character)."""
    code = pl.DataFrame({"raw": raw.cast(pl.String)}).select(
        clean_text(pl.col("raw")).str.replace_all(r"[\s\-]", "").str.to_uppercase().alias("uscc")
    )["uscc"]
    distinct = code.drop_nulls().unique()
    lookup = dict(zip(distinct.to_list(), map(_uscc_valid, distinct.to_list())))
    valid = code.replace_strict(lookup, default=False, return_dtype=pl.Boolean)
    return pl.DataFrame({"uscc": code, "valid": valid.fill_null(False)})
