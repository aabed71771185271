"""Masking of personal data and the audit log of unmasked output.

身份证号 keeps its first 6 and last 4 characters (150602********123X). A mobile keeps
its first 3 and last 4 digits (138****5678); a landline keeps its area code, written
with a dash, and the last 4 digits of the subscriber number (0477-****8872, 010-****5678),
so the reader still sees which city it is. A birth date keeps its year only (1985年): the
masked ID hides exactly its birth date, which beside it would give the whole ID back.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable, Iterable

import duckdb
import polars as pl

from rootdb.clean.values import parse_dates
from rootdb.masking import _MAYBE_PERSONAL, _SEPARATOR, mask_text


def _mask_middle(expr: pl.Expr, keep_start: int, keep_end: int) -> pl.Expr:
    length = expr.str.len_chars()
    middle = expr.str.slice(keep_start, length - keep_start - keep_end).str.replace_all(".", "*")
    return (
        pl.when(expr.is_null() | ~expr.str.contains(r"\d"))
        .then(expr)  # empty, 无, 不详: nothing personal to hide
        .when(length > keep_start + keep_end)
        .then(expr.str.slice(0, keep_start) + middle + expr.str.slice(-keep_end))
        .otherwise(pl.lit("*"))
    )


def mask_id(expr: pl.Expr) -> pl.Expr:
    """150602198503021234 → 150602********1234."""
    return _mask_middle(expr, 6, 4)


# Phones arrive cleaned to digits (ingest: 0477-8268872 → 04778268872); values as
# delivered (R36) may still hold the separators, which are ignored here.
_MOBILE = r"^1\d{10}$"
_LANDLINE_AREA3 = r"^0(?:10|2\d)\d{7,8}$"  # 010 and 020-029 are the only three-digit area codes
_LANDLINE_AREA4 = r"^0[3-9]\d{9,10}$"  # every other area code has four digits
_LOCAL = r"^[2-9]\d{6,7}$"  # a subscriber number without its area code


def mask_phone(expr: pl.Expr) -> pl.Expr:
    """13812345678 → 138****5678; landlines 04778268872 (or 0477-8268872) →
    0477-****8872, 01062345678 → 010-****5678, 8268872 → ****8872; anything else
    with digits keeps its first 3 and last 4 characters."""
    digits = expr.str.replace_all(_SEPARATOR, "")
    last4 = digits.str.slice(-4)
    return (
        pl.when(digits.str.contains(_MOBILE)).then(digits.str.slice(0, 3) + "****" + last4)
        .when(digits.str.contains(_LANDLINE_AREA3)).then(digits.str.slice(0, 3) + "-****" + last4)
        .when(digits.str.contains(_LANDLINE_AREA4)).then(digits.str.slice(0, 4) + "-****" + last4)
        .when(digits.str.contains(_LOCAL)).then("****" + last4)
        .otherwise(_mask_middle(expr, 3, 4))
    )


# A date written with separators inside a text (身份证号为 1985-03-02), or an impossible
# one on its own (1985-02-30); group 1 is its year.
_DATE_IN_TEXT = r"(\d{4})\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"
# Nothing but a date's characters (85.3.2, 19850230): a date rootdb cannot read.
_DATE_CHARACTERS = r"^[\d\s\-/.:年月日T]+$"


def mask_birth_date(expr: pl.Expr) -> pl.Expr:
    """1985-03-02 → 1985年: a birth date shown as its year only, since the masked ID
    hides exactly its date of birth (an age or a year tells nothing the ID's first 6
    and last 4 do not). A Date, or a date written in any form rootdb reads (19850302,
    1985年3月2日, an Excel serial number), becomes its year; a note keeps its words,
    each date in it its year (身份证号为 1985年); digits that are no readable date
    (85.3.2) become *."""
    text = expr.cast(pl.String)
    year = parse_dates(text).dt.year().cast(pl.String)
    return (
        pl.when(text.is_null() | ~text.str.contains(r"\d")).then(text)  # empty, 不详
        .when(year.is_not_null()).then(year + "年")
        .when(text.str.contains(_DATE_IN_TEXT)).then(text.str.replace_all(_DATE_IN_TEXT, "${1}年"))
        .when(text.str.normalize("NFKC").str.contains(_DATE_CHARACTERS)).then(pl.lit("*"))
        .otherwise(text)  # a note that quotes no date
    )


def mask_strings(value, text: Callable[[str], str] = mask_text):
    """Every text inside a value (dicts, lists, tuples; keys too) through `text`
    (`mask_text`): for results shown or printed as JSON, whose file names and messages
    may quote an ID or a mobile (tekun_150602198503021234_13912345678_2026-12.xlsx)."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {mask_strings(k, text): mask_strings(v, text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_strings(v, text) for v in value)
    return value


# A value of ASCII digits alone (a code: 个人编号, 地址编码) that `mask_text` can change:
# one that holds an 18-digit ID anywhere, is a 15-digit one, or is mobiles alone (after
# 86 or 0086). With no separator and no other character in it, every other match of
# `mask_text` needs a digit before or after it to be missing (an ID15 stands alone; a
# mobile has no digit before it, and ends the value or runs into an ID). So a column of
# codes goes to Python only for these, not once per distinct code.
_DIGITS_MAY_HOLD = (r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{4}"
                    r"|^\d{15}$|^(?:0086|86)?(?:1[3-9]\d{9})+$")


def mask_series(values: pl.Series) -> pl.Series:
    """`mask_text` on a column: Python once per distinct value that may hold one. An
    integer column holding an ID or a mobile (a number cell) becomes text, masked."""
    if values.dtype.is_integer():
        digits = values.cast(pl.String)
        if digits.str.contains(_MAYBE_PERSONAL).any() and not mask_series(digits).equals(digits):
            return mask_series(digits)
        return values
    if values.dtype in (pl.Categorical, pl.Enum):
        text = values.cast(pl.String)
        masked = mask_series(text)
        return values if masked.equals(text) else masked
    if values.dtype != pl.String:
        return values
    candidates = values.filter(values.str.contains(_MAYBE_PERSONAL)
                               & (~values.str.contains(r"^[0-9]+$") | values.str.contains(_DIGITS_MAY_HOLD))).unique()
    if candidates.is_empty():
        return values
    masked = [mask_text(v) for v in candidates.to_list()]
    changed = {v: m for v, m in zip(candidates.to_list(), masked) if v != m}
    if not changed:
        return values
    return values.replace(changed)


def mask_frame(frame: pl.DataFrame, keep: Iterable[str] = ()) -> pl.DataFrame:
    """Every text column (and list of text, and integer column that holds an ID or a
    mobile) of an output masked by content; `keep`: columns left as they are (keys
    rootdb makes, such as entity_id, which a hash could make look like a number)."""
    columns = []
    kept = set(keep)
    for name, dtype in frame.schema.items():
        if name in kept:
            continue
        if dtype == pl.String or dtype.is_integer() or dtype in (pl.Categorical, pl.Enum):
            series = frame[name]
            masked = mask_series(series)
            if masked is not series:
                columns.append(masked.alias(name))
        elif isinstance(dtype, pl.List) and dtype.inner in (pl.String, pl.Categorical):
            inner = frame[name].explode().cast(pl.String)
            masked = mask_series(inner)
            if not masked.equals(inner, null_equal=True):
                changed = {a: b for a, b in zip(inner.to_list(), masked.to_list()) if a != b}
                columns.append(frame[name].cast(pl.List(pl.String)).list.eval(
                    pl.element().replace(changed)).alias(name))
        elif isinstance(dtype, pl.Struct):
            fields = frame[name].struct.unnest()
            masked_fields = mask_frame(fields)
            if masked_fields is not fields:
                columns.append(frame.select(pl.when(pl.col(name).is_not_null())
                                            .then(masked_fields.to_struct(name)).alias(name))[name])
    return frame.with_columns(columns) if columns else frame


_AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit_log (
    happened_at TIMESTAMP, os_user VARCHAR, command VARCHAR, detail VARCHAR, rows BIGINT, file VARCHAR
)
"""


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers and schedulers
        return "unknown"


def record_audit(con: duckdb.DuckDBPyConnection, command: str, detail: str, rows: int, file: str) -> None:
    con.execute(_AUDIT_DDL)
    con.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?)",
        [dt.datetime.now(), os_user(), command, detail, rows, file],
    )


def audit_rows(con: duckdb.DuckDBPyConnection, limit: int | None = 50) -> list[dict]:
    """The latest `limit` audit entries, newest first; every entry when `limit` is 0 or None."""
    if limit is not None and limit < 0:
        from rootdb.errors import UsageError

        raise UsageError(f"--limit 不能小于 0（给的是 {limit}）；--limit 0 显示全部")
    if not con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'audit_log'").fetchall():
        return []
    rows = con.execute(
        "SELECT strftime(happened_at, '%Y-%m-%d %H:%M:%S'), os_user, command, detail, rows, file FROM audit_log "
        "ORDER BY happened_at DESC LIMIT ?", [limit or None]).fetchall()
    keys = ("happened_at", "os_user", "command", "detail", "rows", "file")
    return [dict(zip(keys, row)) for row in rows]
