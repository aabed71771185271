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
import unicodedata
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


# --- Masking by content ---------------------------------------------------------------
# Whatever a column is called and whatever a template says, a masked output never holds
# a resident ID or a mobile number: every text cell is searched. An ID is found inside a
# longer code too (残疾人证号 = the ID + 2 digits), written with full-width digits
# (４１０１…), or in groups however they are cut (150602 19850302 123X, 1101 0119 9003…,
# 110101.19900307.4514, 110101–19900307–4514); a 15-digit (first-generation) ID only
# standing alone, since 15 digits inside a longer run are too often something else.
#
# The text is first normalised one character for one, so that a match's place in the
# normalised text is its place in the original: every decimal digit of any script becomes
# its ASCII twin, full-width X and + their ASCII twins, and every separator (spaces of
# all kinds, dashes of all widths, dots, slashes, underscores, brackets) one space. The
# patterns then allow up to three separators between any two digits. The cheap polars
# pre-filter (`_MAYBE_PERSONAL`) is built from the same two character sets: "7 digits
# once separators are removed". Every match holds at least 11 digits with only
# separators between them, so a value the pre-filter passes over can never hold one.
# (Every space and every decimal digit Unicode knows lies below U+20000.)
_SEPARATOR_CHARS = "".join(sorted(
    {chr(c) for c in range(0x3001) if chr(c).isspace()}
    | set("\u200b\u200c\u200d\u2060\ufeff")  # zero-width
    | set("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d\u30fc\uff70")  # dashes
    | set(".\u00b7\u2022\u2027\u2219\u22c5\u3002\u30fb\uff0e\uff61\uff65")  # dots
    | set("/\\\u2044\u2215\uff0f\uff3c")  # slashes
    | set("_\uff3f")  # underscores
    | set("()[]{}\uff08\uff09\uff3b\uff3d\uff5b\uff5d\u3010\u3011\u3014\u3015\u3016\u3017")))  # brackets
_DIGIT_CHARS = {ch: str(unicodedata.decimal(ch)) for ch in map(chr, range(0x20000))
                if unicodedata.decimal(ch, None) is not None}


def _char_class(chars) -> str:
    """A regex character class (valid in Python's re and in polars' Rust regex) of `chars`,
    written as ranges of code points."""
    points = sorted(ord(c) for c in chars)
    ranges, start, prev = [], points[0], points[0]
    for p in points[1:] + [None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        ranges.append(f"\\U{start:08x}" if start == prev else f"\\U{start:08x}-\\U{prev:08x}")
        if p is not None:
            start = prev = p
    return "[" + "".join(ranges) + "]"


_SEPARATOR = _char_class(_SEPARATOR_CHARS)
_DIGIT = _char_class(_DIGIT_CHARS)
_MAYBE_PERSONAL = f"{_DIGIT}(?:{_SEPARATOR}*{_DIGIT}){{6}}"
_NORMALISE = str.maketrans({**{c: " " for c in _SEPARATOR_CHARS}, **_DIGIT_CHARS,
                            "Ｘ": "X", "ｘ": "x", "＋": "+"})
_GAP = " {0,3}"  # separators between two digits, once normalised


def _spaced(*atoms: str) -> str:
    """Digit patterns with any separators between them: _spaced('1', '[3-9]') → 1 {0,3}[3-9]."""
    return _GAP.join(atoms)


_D = r"\d"
_MONTH = f"(?:{_spaced('0', '[1-9]')}|{_spaced('1', '[0-2]')})"
_DAY = f"(?:{_spaced('0', '[1-9]')}|{_spaced('[12]', _D)}|{_spaced('3', '[01]')})"
_CENTURY = f"(?:{_spaced('1', '[89]')}|{_spaced('2', '0')})"
_ID18 = _spaced("[1-9]", *[_D] * 5, _CENTURY, _D, _D, _MONTH, _DAY, _D, _D, _D, "[\\dXx]")
_ID15 = r"(?<![\dA-Za-z])" + _spaced("[1-9]", *[_D] * 7, _MONTH, _DAY, _D, _D, _D) + r"(?!\d)"
_ONE_MOBILE = _spaced("1", "[3-9]", *[_D] * 9)
# +86 / 0086 / 86 before it; two or more run together (1391234567813812345670) are one
# match, each masked; a mobile may be followed directly by an ID.
_MOBILE_ANY = (rf"(?<!\d)(?:(?:\+|0{_GAP}0{_GAP})?8{_GAP}6{_GAP})?(?P<number>{_ONE_MOBILE}(?:{_GAP}{_ONE_MOBILE})*)"
               rf"(?:(?!\d)|(?={_ID18}))")
_CONTENT = re.compile(f"(?P<id18>{_ID18})|(?P<id15>{_ID15})|(?P<mobile>{_MOBILE_ANY})", re.ASCII)


def _masked_span(text: str, searched: str, start: int, end: int, keep_start: int, keep_end: int) -> str:
    """text[start:end] with every digit but the first `keep_start` and last `keep_end`
    (counted in digits and X, separators kept) replaced by *."""
    positions = [i for i in range(start, end) if searched[i] in "0123456789Xx"]
    hidden = set(positions[keep_start:len(positions) - keep_end])
    return "".join("*" if i in hidden else text[i] for i in range(start, end))


def _masked_mobiles(searched: str, start: int, end: int) -> str:
    """Each mobile of searched[start:end] as 138****5678 (separators and +86 dropped)."""
    digits = [ch for ch in searched[start:end] if ch.isdigit()]
    return "".join(f"{''.join(digits[i:i + 3])}****{''.join(digits[i + 7:i + 11])}"
                   for i in range(0, len(digits), 11))


def mask_text(text: str | None) -> str | None:
    """Every resident ID and mobile number in a piece of text, masked:
    '联系人13812345678' → '联系人138****5678', '残疾证 15060219850302123X11' →
    '残疾证 150602********123X11' (the ID inside the code), '110101 1990 0307 4514' →
    '110101 **** **** 4514', '(139)1234-5678' → '(139****5678'."""
    if not text or not isinstance(text, str):
        return text
    searched = text.translate(_NORMALISE)
    pieces, last = [], 0
    match = _CONTENT.search(searched)
    while match:
        start, end = match.span()
        pieces.append(text[last:start])
        if match.group("mobile"):
            pieces.append(_masked_mobiles(searched, match.start("number"), match.end("number")))
        else:
            pieces.append(_masked_span(text, searched, start, end, 6, 4))
        last = end
        # A number that follows this one directly (an ID, then a mobile) is searched as if
        # it stood alone: its "no digit before" must not see this one's last digit.
        searched = searched[:start] + "#" * (end - start) + searched[end:]
        match = _CONTENT.search(searched, end)
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def mask_strings(value):
    """Every text inside a value (dicts, lists, tuples; keys too) through `mask_text`:
    for results shown or printed as JSON, whose file names and messages may quote an ID
    or a mobile (tekun_150602198503021234_13912345678_2026-12.xlsx)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_strings(k): mask_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_strings(v) for v in value)
    return value


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
