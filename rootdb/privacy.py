"""Masking of personal data and the audit log of unmasked output.

身份证号 keeps its first 6 and last 4 characters (150602********123X); phones keep
the first 3 and last 4 digits (138****5678).
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


def mask_phone(expr: pl.Expr) -> pl.Expr:
    """13812345678 → 138****5678."""
    return _mask_middle(expr, 3, 4)


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
