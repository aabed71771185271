"""`rootdb query`: the people who meet a `PersonQuery` within a `Scope`, as a list or a
file (`rootdb.reports.query.find_people`: reads the golden and link tables, writes
`audit_log`: every query is logged)."""

from __future__ import annotations

from pathlib import Path

from rootdb.commands import Scope
from rootdb.reports.query import PersonQuery, QueryResult, find_people

__all__ = ["PersonQuery", "QueryResult", "query"]


def query(conditions: PersonQuery, scope: Scope | None = None, out: Path | None = None,
          unmasked: bool = False, db: str | Path | None = None) -> QueryResult:
    """The people of `conditions` in `scope`; written to `out` (.xlsx or .csv) when given,
    IDs and phones masked unless `unmasked`."""
    return find_people((scope or Scope()).apply(conditions), out=out, unmasked=unmasked, db=db)
