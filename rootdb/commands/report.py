"""`rootdb report`: the report workbooks (or CSV files) for an as-of date and a part of
the area (`rootdb.reports.run_reports`: reads the golden, link and feed tables, writes
`audit_log` for unmasked or custom-template reports); `report_list`: the templates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rootdb.commands import Scope
from rootdb.reports import ReportRun, ReportTemplate, load_templates, run_reports, select_templates


class ReportProgress(Protocol):
    def start(self, total: int) -> None: ...

    def report_started(self, template: ReportTemplate) -> None: ...


@dataclass
class ReportList:
    templates: dict[str, ReportTemplate]  # code → template, by code

    def to_dict(self) -> dict:
        return {c: {"title": t.title, "department": t.department} for c, t in self.templates.items()}


def report_list() -> ReportList:
    return ReportList(templates=load_templates())


def report(codes: Sequence[str] = (), all_reports: bool = False, as_of: dt.date | None = None,
           out: Path | None = None, fmt: str = "xlsx", scope: Scope | None = None, unmasked: bool = False,
           db: str | None = None, progress: ReportProgress | None = None) -> ReportRun:
    """The reports `codes` names (R01, r5) or all of them, as of `as_of` (today), for the
    `scope` (the whole area), into `out` (报表/<统计日期>/ of the workspace)."""
    templates = select_templates(codes, all_reports)
    scope = (scope or Scope()).resolved(db)
    if progress is not None:
        progress.start(len(templates))
    return run_reports(templates, as_of=as_of, out=out, fmt=fmt, community=scope.community, grid=scope.grid,
                       unmasked=unmasked, db=db, progress=progress.report_started if progress else None)
