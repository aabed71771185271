"""Resident ID numbers (GB 11643), vectorised in polars.

Full-width digits and spaces out, upper-case X, 15-digit legacy numbers converted to
18 digits, the ISO 7064 MOD 11-2 check digit verified, birth date and sex read from
the number. Numbers that Excel stored as a number have lost their last digits: they
cannot be repaired, only recognised and flagged.
"""

from __future__ import annotations

import datetime
import functools

import polars as pl

from rootdb.clean.values import BLANK_MARKERS, plain_or

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

@functools.lru_cache(maxsize=None)
def _region_known(code: str) -> bool:
    """Whether python-stdnum's GB 2260 table knows a 6-digit region code. Its table
    lacks some abolished and new districts, so an unknown code is a warning only."""
    from stdnum import numdb

    return any("county" in props for _, props in numdb.get("cn/loc").info(code))


def region_known(ids: pl.Series) -> pl.Series:
    """Per row: is the region code of a valid ID known (null where no valid ID)."""
    prefixes = ids.str.slice(0, 6)
    distinct = [p for p in prefixes.drop_nulls().unique().to_list() if p.isdigit()]
    return prefixes.replace_strict({p: _region_known(p) for p in distinct}, default=None, return_dtype=pl.Boolean)


def check_digit(first17: pl.Expr) -> pl.Expr:
    """The 18th character for a column of 17-digit strings."""
    total = pl.sum_horizontal(
        first17.str.slice(i, 1).cast(pl.Int32, strict=False) * w for i, w in enumerate(WEIGHTS)
    )
    return (total % 11).replace_strict(
        list(range(11)), list(CHECK_CHARS), return_dtype=pl.String, default=None
    )


def normalize_id_text(raw: pl.Expr) -> pl.Expr:
    """Full-width to ASCII, whitespace and quote marks out, upper case."""
    text = raw.str.normalize("NFKC").str.replace_all(r"[\s'‘’\"“”]", "")
    return pl.when(text.is_in(BLANK_MARKERS) | (text == "")).then(None).otherwise(text.str.to_uppercase())


def looks_like_excel_number(text: pl.Expr) -> pl.Expr:
    """True where the text is what reading an Excel number back gives: scientific
    notation, or an 18-digit integer that a double with 15 significant digits
    produces exactly."""
    scientific = text.str.contains(r"^\d(\.\d+)?E\+?1[4-7]$")
    digits18 = text.str.contains(r"^\d{18}$")
    as_float = text.cast(pl.Float64, strict=False)
    round_trips = as_float.round_sig_figs(15).cast(pl.Int64, strict=False) == text.cast(
        pl.Int64, strict=False
    )
    trailing_zeros = text.str.contains(r"0{3}$")
    return scientific | (digits18 & (round_trips | trailing_zeros))


def clean_ids(raw: pl.Series, stored_as_number: pl.Series | None = None) -> pl.DataFrame:
    """Row-aligned frame: `id` (normalised text, 18 characters when it could be made
    so), `check` (ok / from15 / region / excel / format / birthdate / checksum, null
    when empty), `valid`, `birth` (date from the number) and `sex` (男/女).

    `stored_as_number` marks cells a spreadsheet held as numbers: 16 digits or more
    there have lost their tail even when the check digit happens to fit."""
    frame = pl.DataFrame({"raw": raw.cast(pl.String)})
    if stored_as_number is not None:
        frame = frame.with_columns(stored_as_number.alias("_number_cell"))
    else:
        frame = frame.with_columns(pl.lit(False).alias("_number_cell"))
    # Most IDs arrive as 18 plain characters, which normalising leaves as they are.
    text = plain_or(frame["raw"], r"^[0-9]{17}[0-9X]$", pl.col("t"), normalize_id_text(pl.col("t")))
    frame = frame.with_columns(text.alias("text"))
    is15 = pl.col("text").str.contains(r"^\d{15}$")
    is18 = pl.col("text").str.contains(r"^\d{17}[\dX]$")
    # The first 17 digits (a 15-digit number gets its century), and their check digit.
    first17 = (
        pl.when(is15)
        .then(pl.col("text").str.slice(0, 6) + "19" + pl.col("text").str.slice(6, 9))
        .otherwise(pl.col("text").str.slice(0, 17))
    )
    frame = frame.with_columns(first17.alias("_first17"), is15.alias("_is15"), is18.alias("_is18"))
    frame = frame.with_columns(
        check_digit(pl.col("_first17")).alias("_check_digit"),
        looks_like_excel_number(pl.col("text")).alias("_excel"),
    ).with_columns(
        pl.when(pl.col("_is15")).then(pl.col("_first17") + pl.col("_check_digit")).otherwise(pl.col("text")).alias("id")
    )
    cut_by_excel = pl.col("_number_cell") & pl.col("text").str.contains(r"^\d{16,}$")
    birth = pl.col("id").str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    birth_ok = birth.is_not_null() & (birth >= pl.date(1890, 1, 1)) & (birth <= pl.lit(datetime.date.today()))
    checksum_ok = pl.col("_check_digit") == pl.col("id").str.slice(17, 1)
    check = (
        pl.when(pl.col("text").is_null())
        .then(None)
        .when(~pl.col("_is18") & ~pl.col("_is15") & pl.col("_excel"))
        .then(pl.lit("excel"))
        .when(~pl.col("_is18") & ~pl.col("_is15"))
        .then(pl.lit("format"))
        .when(cut_by_excel)
        .then(pl.lit("excel"))
        .when(~birth_ok)
        .then(pl.lit("birthdate"))
        .when(~checksum_ok & pl.col("_excel"))
        .then(pl.lit("excel"))
        .when(~checksum_ok)
        .then(pl.lit("checksum"))
        .when(pl.col("_is15"))
        .then(pl.lit("from15"))
        .otherwise(pl.lit("ok"))
    )
    frame = frame.with_columns(check.alias("check"))
    frame = frame.with_columns(region_known(frame["id"]).alias("_region"))
    # A valid number from an unknown region: still valid, flagged for a look.
    frame = frame.with_columns(
        pl.when((pl.col("check") == "ok") & (pl.col("_region") == False))  # noqa: E712
        .then(pl.lit("region"))
        .otherwise(pl.col("check"))
        .alias("check")
    )
    valid = pl.col("check").is_in(["ok", "from15", "region"]).fill_null(False)
    has_birth = pl.col("check").is_in(["ok", "from15", "region", "checksum"]).fill_null(False)
    return frame.select(
        "id",
        "check",
        valid.alias("valid"),
        pl.when(has_birth).then(birth).alias("birth"),
        pl.when(has_birth)
        .then(
            pl.when(pl.col("id").str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1)
            .then(pl.lit("男"))
            .otherwise(pl.lit("女"))
        )
        .alias("sex"),
    )


