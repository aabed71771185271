"""`rootdb user add | list | disable`: who may log in to the page (`rootdb serve`) and
which part of the area each sees — a grid worker one grid, a community user one
community, a street user all of it.

The community and grid are the standard address registry's (建设 → 建设社区, 第三 →
第三网格, as `rootdb report --grid` resolves them), read from the published copy the
page reads or, when nothing was published yet, from the database read-only; when
neither can be opened (a run holds the database, nothing linked yet) they are kept as
typed, with a warning. Writes and reads the serve store (`rootdb.serve.store`) only;
passwords go to it as argon2 hashes and are never in a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from rootdb.errors import UsageError, WorkspaceError
from rootdb.reports.query import resolve_area
from rootdb.serve import store
from rootdb.serve.published import PublishedReader
from rootdb.store import table_exists
from rootdb.workspace import Workspace, connect, locate, require_existing


@dataclass
class UserAdded:
    name: str
    role: str
    community: str | None
    grid: str | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "community": self.community, "grid": self.grid,
                "warnings": self.warnings}


@dataclass
class UserList:
    users: list[dict] = field(default_factory=list)  # name, role, community, grid, disabled, created_at

    def to_dict(self) -> dict:
        return {"users": self.users}


@dataclass
class UserDisabled:
    name: str
    changed: bool  # False: the user was disabled already

    def to_dict(self) -> dict:
        return {"name": self.name, "disabled": True, "changed": self.changed}


def user_add(name: str, role: str, community: str | None, grid: str | None, password: str,
             db: str | Path | None = None) -> UserAdded:
    """Add a user of the page; the community and grid resolved against the registry."""
    ws = _workspace(db)
    store.check_user(store.User(name.strip(), role, community or None, grid or None), password)
    warnings: list[str] = []
    if community or grid:
        community, grid, warnings = _registry_area(ws, community, grid)
    user = store.add_user(ws, name, role, community, grid, password)
    return UserAdded(user.name, user.role, user.community, user.grid, warnings)


def user_list(db: str | Path | None = None) -> UserList:
    return UserList(store.list_users(_workspace(db)))


def user_disable(name: str, db: str | Path | None = None) -> UserDisabled:
    """Disable a user; their open sessions end at once."""
    return UserDisabled(name.strip(), store.disable_user(_workspace(db), name))


def _workspace(db: str | Path | None) -> Workspace:
    """The workspace, which must exist: the store lives beside its database."""
    ws = locate(db)
    require_existing(ws)
    return ws


def _registry_area(ws: Workspace, community: str | None,
                   grid: str | None) -> tuple[str | None, str | None, list[str]]:
    """(community, grid, warnings): the registry's names of what was typed, a grid's
    community filled in when one community has that grid."""
    try:
        con = _registry_connection(ws)
    except (WorkspaceError, duckdb.Error) as exc:
        return community, grid, [f"未能读取标准地址库（{exc}）：社区和网格按输入保存，请确认名称无误"]
    with con:
        if not table_exists(con, "golden_houses"):
            return community, grid, ["还没有运行过 rootdb link：社区和网格按输入保存，请确认名称无误"]
        community, grid = resolve_area(con, community, grid)
        if grid and not community:
            community = _community_of(con, grid)
    return community, grid, []


def _registry_connection(ws: Workspace) -> duckdb.DuckDBPyConnection:
    """The published copy, else the database, read-only and without waiting for a run."""
    current = PublishedReader(ws).current()
    return connect(current[1] if current else ws.db_path, read_only=True, wait=0)


def _community_of(con: duckdb.DuckDBPyConnection, grid: str) -> str:
    communities = [r[0] for r in con.execute(
        "SELECT community FROM golden_houses WHERE registry_key IS NOT NULL AND grid = ? AND community IS NOT NULL "
        "GROUP BY 1 ORDER BY min(registry_key)", [grid]).fetchall()]
    if len(communities) != 1:
        listed = "、".join(communities) or "（无）"
        raise UsageError(f"{grid}不止一个社区有（{listed}）：请再用 --community 指定社区")
    return communities[0]
