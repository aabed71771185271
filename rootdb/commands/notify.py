"""`rootdb notify`: one message per recipient (a guardian for a child) for the people of
a `PersonQuery` within a `Scope` (`rootdb.reports.notify.notify`: reads the golden and
link tables, writes `audit_log`: every message list is logged)."""

from __future__ import annotations

from pathlib import Path

from rootdb.commands import Scope
from rootdb.reports.notify import NotifyResult
from rootdb.reports.notify import notify as write_messages
from rootdb.reports.query import PersonQuery

__all__ = ["NotifyResult", "PersonQuery", "notify"]


def notify(conditions: PersonQuery, template: Path | str, scope: Scope | None = None, out: Path | None = None,
           unmasked: bool = False, db: str | Path | None = None) -> NotifyResult:
    """The messages of `template` (a jinja2 file, or a bundled template's name) for the
    people of `conditions` in `scope`; written to `out` (.xlsx) when given, else only
    previewed."""
    scope = (scope or Scope()).resolved(db)
    return write_messages(scope.apply(conditions), template, out=out, unmasked=unmasked, db=db)
