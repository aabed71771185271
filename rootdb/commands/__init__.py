"""The commands: one module per `rootdb` command (`init`, `ingest`, `status`, `quarantine`,
`link`, `report`, `query`, `card`, `notify`, `nightly`, `audit`, `review`, `export`, `feeds`,
`demo`), each with one entry function that takes plain typed arguments and returns a
result object (`to_dict()`, and `exit_code` where it can be non-zero).

The CLI (`rootdb.cli`) parses options into these arguments and renders the results;
`rootdb serve` calls the same functions. Nothing here prints, and nothing here knows
of typer or rich. A command reads and writes the tables of the library functions it
calls; the modules say which.

This module holds what several commands share: the `Scope` a person query is limited
to, and the dates users type.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rootdb.errors import UsageError

if TYPE_CHECKING:
    from rootdb.reports.query import PersonQuery

DATE_FORMS = "2026-11-01、2026/11/01、2026.11.01、20261101 或 2026年11月1日"


@dataclass(frozen=True)
class Scope:
    """The part of the area a command reads: one community, one grid of it, or (both
    None) the whole area. The CLI's --community / --grid; for the page, the user's own."""

    community: str | None = None
    grid: str | None = None

    def __post_init__(self) -> None:
        # An empty name (a script's unset $GRID) must not widen the scope to the whole area.
        for option, value in (("--community", self.community), ("--grid", self.grid)):
            if value is not None and not value.strip():
                raise UsageError(f"{option} 不能为空：不限范围请不给此选项")

    def __bool__(self) -> bool:
        return bool(self.community or self.grid)

    def apply(self, query: PersonQuery) -> PersonQuery:
        """`query` limited to the scope: the community and grid the scope sets replace
        the query's own (both are conditions that must hold), so that no query reaches
        outside its scope."""
        return replace(query, community=self.community or query.community, grid=self.grid or query.grid)

    def resolved(self, db: str | Path | None) -> Scope:
        """As the standard address registry names them (建设 → 建设社区, 第三 → 第三网格);
        an unknown name is a usage error. Without a database or before the first link,
        as given (the command itself then says what is missing)."""
        if not self:
            return self
        from rootdb.reports.query import resolve_area
        from rootdb.workspace import locate, open_existing

        if not locate(db).db_path.exists():
            return self
        with open_existing(db, read_only=True) as con:
            return Scope(*resolve_area(con, self.community, self.grid))


def parse_date(value: str | None, option: str = "--as-of") -> dt.date | None:
    """A date as offices write it: 2026-11-01, 2026/11/1, 2026.11.01, 20261101,
    2026年11月1日 (full-width digits too); None stays None."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    found = (re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
             or re.fullmatch(r"(\d{4})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{1,2})", text)
             or re.fullmatch(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?", text))
    if found:
        year, month, day = (int(g) for g in found.groups() if g.isdigit())
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise UsageError(f"{option}：没有 {value} 这一天") from None
    raise UsageError(f"{option} 应为日期，如 {DATE_FORMS}，而不是 {value!r}")


def out_of_memory_message() -> str:
    """What a command that ran out of DuckDB's memory says (`rootdb.workspace`, which
    knows the limit in force)."""
    from rootdb.workspace import out_of_memory_message as message

    return message()
