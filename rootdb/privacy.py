"""Masking of personal data and the audit log of unmasked output.

身份证号 keeps its first 6 and last 4 characters (150602********123X). A mobile keeps
its first 3 and last 4 digits (138****5678); a landline keeps its area code, written
with a dash, and the last 4 digits of the subscriber number (0477-****8872, 010-****5678),
so the reader still sees which city it is.
"""

from __future__ import annotations

import datetime as dt
import getpass

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
