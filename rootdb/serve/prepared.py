"""The report tables of each user's scope, built once on the published copy and kept.

Building the shared report tables (`rootdb.reports.engine.prepare`) for a scope takes
seconds on a city. The part no area, day or visit changes (which record names whom, the
special groups, …) is built once per published copy, into an in-memory database attached
to it (`prepare_shared`), and read there by every scope. The page keeps one prepared
cursor per (published version, scope, as-of date), each behind its own lock (a DuckDB
cursor serves one request at a time; cursors of one database run side by side). When
CURRENT names a new copy, the next request opens it and the cursors of the old copy are
closed once the requests still using them are done. A visit recorded on the page marks
the cursors of the scopes that hold it stale: the next request rebuilds their tables,
so the visit counts at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb

from rootdb.commands import Scope
from rootdb.errors import UsageError, WorkspaceError
from rootdb.faults import pause_point
from rootdb.reports.engine import lock_down, prepare, prepare_shared
from rootdb.reports.query import guardian_phones, resolve_area
from rootdb.specs.meaning import sql_name
from rootdb.store import table_exists
from rootdb.store.sql import scalar
from rootdb.serve.published import PublishedReader


@dataclass
class _Copy:
    """One published copy opened: its connection and how many requests use it."""

    version: int
    con: duckdb.DuckDBPyConnection
    catalog: str  # the copy's: with a key the connection's own database is in memory
    users: int = 0
    retired: bool = False
    shared_lock: threading.Lock = field(default_factory=threading.Lock)
    shared_ready: bool = False

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the copy (a cursor starts in the connection's own database)."""
        cursor = self.con.cursor()
        cursor.execute(f"USE {sql_name(self.catalog)}")
        return cursor


@dataclass
class _Entry:
    """The prepared cursor of one scope and as-of date on one copy."""

    cursor: duckdb.DuckDBPyConnection
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    generation: int = 0  # how many times it was made stale: a build it overtook is not ready


SHARED = "rootdb_shared"  # the in-memory catalog of a copy's shared report tables


class NotPublished(WorkspaceError):
    """No published copy to read yet."""


class PreparedCache:
    """Prepared cursors of the published copies `reader` names."""

    def __init__(self, reader: PublishedReader) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        self._copy: _Copy | None = None
        self._entries: dict[tuple[Scope, dt.date], _Entry] = {}
        self._grids: dict[tuple[str | None, str | None], Scope | None] = {}  # of the current copy

    @contextlib.contextmanager
    def use(self, scope: Scope, as_of: dt.date) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the current copy whose report tables are those of `scope` at
        `as_of` (built now when needed), with the guardians' phones of the list of people;
        the caller has it alone until the block ends."""
        copy, entry = self._checkout(scope, as_of)
        try:
            with copy.shared_lock:
                if not copy.shared_ready:
                    with contextlib.closing(copy.cursor()) as cursor:
                        prepare_shared(cursor, SHARED)
                    copy.shared_ready = True
            with entry.lock:
                if not entry.ready:
                    generation = entry.generation
                    prepare(entry.cursor, as_of, scope.community, scope.grid, shared=SHARED)
                    guardian_phones(entry.cursor)  # every search lists them (collect_people)
                    pause_point("serve.prepared")
                    with self._lock:  # a visit recorded meanwhile: built again at the next use
                        entry.ready = entry.generation == generation
                yield entry.cursor
        finally:
            self._checkin(copy)

    def warm(self, scope: Scope, as_of: dt.date) -> threading.Thread:
        """Build the tables of `scope` in the background (at login: the first page is quick)."""
        def build() -> None:
            with contextlib.suppress(Exception), self.use(scope, as_of):
                pass

        thread = threading.Thread(target=build, daemon=True, name="rootdb-serve-warm")
        thread.start()
        return thread

    def follow(self, as_of: dt.date) -> bool:
        """When CURRENT names a new copy (a nightly or link published one), open it and
        build the tables of every scope the old copy served at `as_of`, one after another,
        before their users ask; whether there was a new copy. A build that fails is left
        to the next request, which says why."""
        with self._lock:
            current = self._reader.current()
            if current is None or self._copy is None or current[0] == self._copy.version:
                return False
            scopes = [scope for scope, day in self._entries if day == as_of]
        for scope in scopes:
            try:
                with self.use(scope, as_of):
                    pass
            except Exception:  # noqa: BLE001 (logged; the user's request builds it again)
                logging.getLogger(__name__).warning("预先准备 %s 的数据失败", scope, exc_info=True)
        return True

    def grid_area(self, community: str | None, grid: str | None) -> Scope | None:
        """The registry's (community, grid) of a grid worker stored with `community` /
        `grid` (as `resolve_area` has them; a grid name the registry has in one community
        only fills the community); None when the copy's registry has no such grid, or
        has that grid name in several communities and none is given: no area to show."""
        copy = self._checkout_copy()
        try:
            key = (community or None, grid or None)
            with self._lock:
                if key in self._grids:
                    return self._grids[key]
            with contextlib.closing(copy.cursor()) as cursor:
                area = _grid_area(cursor, *key)
            with self._lock:
                if copy is self._copy:
                    self._grids[key] = area
            return area
        finally:
            self._checkin(copy)

    def stale(self, community: str | None, grid: str | None) -> None:
        """The tables of every scope holding `community` / `grid` are rebuilt at their next use."""
        with self._lock:
            for (scope, _), entry in self._entries.items():
                if (scope.community in (None, community)) and (scope.grid in (None, grid)):
                    entry.ready = False
                    entry.generation += 1

    def version(self) -> int | None:
        """The version of the copy now read (None before any)."""
        current = self._reader.current()
        return current[0] if current else None

    def close(self) -> None:
        with self._lock:
            if self._copy is not None:
                self._copy.retired = True
                self._close_if_done(self._copy)
            self._copy, self._entries = None, {}

    def _checkout_copy(self) -> _Copy:
        """The current copy (opened when CURRENT names a new one), counted as in use."""
        with self._lock:
            copy = self._current()
            copy.users += 1
            return copy

    def _current(self) -> _Copy:
        """The current copy; the caller holds the lock."""
        current = self._reader.current()
        if current is None:
            raise NotPublished("还没有可供页面读取的数据副本：请先运行 rootdb link（或 nightly）")
        version, path = current
        if self._copy is None or self._copy.version != version:
            con = self._reader.connect(path)
            con.execute(f"ATTACH ':memory:' AS {SHARED} (READ_WRITE)")
            lock_down(con)  # once, before its cursors prepare side by side (a check-then-set race)
            self._swap(version, con, scalar(con, "SELECT current_database()"))
        return self._copy

    def _checkout(self, scope: Scope, as_of: dt.date) -> tuple[_Copy, _Entry]:
        with self._lock:
            copy = self._current()
            key = (scope, as_of)
            entry = self._entries.get(key)
            if entry is None:
                # A new day: yesterday's tables go (a cursor still in use is freed after it).
                self._entries = {k: e for k, e in self._entries.items() if k[1] == as_of}
                entry = self._entries[key] = _Entry(copy.cursor())
            copy.users += 1
            return copy, entry

    def _swap(self, version: int, con: duckdb.DuckDBPyConnection, catalog: str) -> None:
        """Read copy `version` from now on; the old one closes when its last request ends."""
        old = self._copy
        self._copy, self._entries, self._grids = _Copy(version, con, catalog), {}, {}
        if old is not None:
            old.retired = True
            self._close_if_done(old)

    def _checkin(self, copy: _Copy) -> None:
        with self._lock:
            copy.users -= 1
            self._close_if_done(copy)

    @staticmethod
    def _close_if_done(copy: _Copy) -> None:
        if copy.retired and copy.users == 0:
            copy.con.close()  # its cursors with it


def _grid_area(con: duckdb.DuckDBPyConnection, community: str | None, grid: str | None) -> Scope | None:
    """`PreparedCache.grid_area` on a cursor of the copy."""
    if not grid or not table_exists(con, "golden_houses"):
        return None
    try:
        community, grid = resolve_area(con, community, grid)
    except UsageError:
        return None
    communities = con.execute(
        "SELECT DISTINCT community FROM golden_houses WHERE registry_key IS NOT NULL AND grid = $grid "
        "AND (CAST($community AS VARCHAR) IS NULL OR community = $community)",
        {"grid": grid, "community": community}).fetchall()
    return Scope(communities[0][0], grid) if len(communities) == 1 else None
