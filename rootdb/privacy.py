"""Masking of personal data and the audit log of unmasked output.

身份证号 keeps its first 6 and last 4 characters (150602********123X). A mobile keeps
its first 3 and last 4 digits (138****5678); a landline keeps its area code, written
with a dash, and the last 4 digits of the subscriber number (0477-****8872, 010-****5678),
so the reader still sees which city it is.
"""

from __future__ import annotations

import datetime as dt
import getpass
import re
from collections.abc import Iterable

import duckdb
import polars as pl


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
_PHONE_SEPARATORS = r"[\s\-－—–()（）]"
_MOBILE = r"^1\d{10}$"
_LANDLINE_AREA3 = r"^0(?:10|2\d)\d{7,8}$"  # 010 and 020-029 are the only three-digit area codes
_LANDLINE_AREA4 = r"^0[3-9]\d{9,10}$"  # every other area code has four digits
_LOCAL = r"^[2-9]\d{6,7}$"  # a subscriber number without its area code


def mask_phone(expr: pl.Expr) -> pl.Expr:
    """13812345678 → 138****5678; landlines 04778268872 (or 0477-8268872) →
    0477-****8872, 01062345678 → 010-****5678, 8268872 → ****8872; anything else
    with digits keeps its first 3 and last 4 characters."""
    digits = expr.str.replace_all(_PHONE_SEPARATORS, "")
    last4 = digits.str.slice(-4)
    return (
        pl.when(digits.str.contains(_MOBILE)).then(digits.str.slice(0, 3) + "****" + last4)
        .when(digits.str.contains(_LANDLINE_AREA3)).then(digits.str.slice(0, 3) + "-****" + last4)
        .when(digits.str.contains(_LANDLINE_AREA4)).then(digits.str.slice(0, 4) + "-****" + last4)
        .when(digits.str.contains(_LOCAL)).then("****" + last4)
        .otherwise(_mask_middle(expr, 3, 4))
    )


# --- Masking by content ---------------------------------------------------------------
# Whatever a column is called and whatever a template says, a masked output never holds
# a resident ID or a mobile number: every text cell is searched. An ID is found inside a
# longer code too (残疾人证号 = the ID + 2 digits), written with full-width digits
# (４１０１…), or in groups (150602 19850302 123X); a 15-digit (first-generation) ID only
# standing alone, since 15 digits inside a longer run are too often something else.
_ID18 = (r"[1-9]\d{5}[ \-]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[ \-]?\d{3}[\dXx]")
_ID15 = r"(?<![\dA-Za-z])[1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?!\d)"
_MOBILE_ANY = r"(?<!\d)(?:\+?86[\s\-]?)?(?P<head>1[3-9]\d)[\s\-]?\d{4}[\s\-]?(?P<tail>\d{4})(?!\d)"
_CONTENT = re.compile(f"(?P<id18>{_ID18})|(?P<id15>{_ID15})|(?P<mobile>{_MOBILE_ANY})", re.ASCII)
# A cheap test first, in polars, so Python only sees values that may hold one (polars'
# \d also matches full-width digits).
_MAYBE_PERSONAL = r"\d{7}|\d{3}[\s\-]\d{4}[\s\-]\d{4}|\d{6}[\s\-]\d{8}"
# Full-width digits, X, plus, space and dash searched as their ASCII twins: one character
# for one, so a match's place in the searched text is its place in the original.
_HALF_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ＋－\u3000", "0123456789Xx+- ")


def _masked_span(text: str, start: int, end: int, keep_start: int, keep_end: int) -> str:
    """text[start:end] with every digit but the first `keep_start` and last `keep_end`
    (counted in digits and X, separators kept) replaced by *."""
    part = text[start:end]
    positions = [i for i, ch in enumerate(part.translate(_HALF_WIDTH)) if ch.isdigit() or ch in "Xx"]
    hidden = set(positions[keep_start:len(positions) - keep_end])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(part))


def mask_text(text: str | None) -> str | None:
    """Every resident ID and mobile number in a piece of text, masked:
    '联系人13812345678' → '联系人138****5678', '残疾证 15060219850302123X11' →
    '残疾证 150602********123X11' (the ID inside the code)."""
    if not text or not isinstance(text, str):
        return text
    searched = text.translate(_HALF_WIDTH)
    pieces, last = [], 0
    for match in _CONTENT.finditer(searched):
        pieces.append(text[last:match.start()])
        if match.group("mobile"):
            # +86 and separators go; what stays is 138****5678 as in mask_phone
            head, tail = match.group("head"), match.group("tail")
            pieces.append(f"{head}****{tail}")
        else:
            pieces.append(_masked_span(text, match.start(), match.end(), 6, 4))
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


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
    candidates = values.filter(values.str.contains(_MAYBE_PERSONAL)).unique()
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


def audit_rows(con: duckdb.DuckDBPyConnection, limit: int = 50) -> list[dict]:
    """The latest audit entries, newest first."""
    if not con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'audit_log'").fetchall():
        return []
    rows = con.execute(
        "SELECT strftime(happened_at, '%Y-%m-%d %H:%M:%S'), os_user, command, detail, rows, file FROM audit_log "
        "ORDER BY happened_at DESC LIMIT ?", [limit]).fetchall()
    keys = ("happened_at", "os_user", "command", "detail", "rows", "file")
    return [dict(zip(keys, row)) for row in rows]
