"""The report tables of each user's scope, built once on the published copy and kept.

Building the shared report tables (`rootdb.reports.engine.prepare`) for a scope takes
seconds on a city, so the page keeps one prepared cursor per (published version, scope,
as-of date), each behind its own lock (a DuckDB cursor serves one request at a time;
cursors of one database run side by side). When CURRENT names a new copy, the next
request opens it and the cursors of the old copy are closed once the requests still
using them are done. A visit recorded on the page marks the cursors of the scopes that
hold it stale: the next request rebuilds their tables, so the visit counts at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb

from rootdb.commands import Scope
from rootdb.errors import WorkspaceError
from rootdb.reports.engine import lock_down, prepare
from rootdb.serve.published import PublishedReader


@dataclass
class _Copy:
    """One published copy opened: its connection and how many requests use it."""

    version: int
    con: duckdb.DuckDBPyConnection
    users: int = 0
    retired: bool = False


@dataclass
class _Entry:
    """The prepared cursor of one scope and as-of date on one copy."""

    cursor: duckdb.DuckDBPyConnection
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False


class NotPublished(WorkspaceError):
    """No published copy to read yet."""


class PreparedCache:
    """Prepared cursors of the published copies `reader` names."""

    def __init__(self, reader: PublishedReader) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        self._copy: _Copy | None = None
        self._entries: dict[tuple[Scope, dt.date], _Entry] = {}

    @contextlib.contextmanager
    def use(self, scope: Scope, as_of: dt.date) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the current copy whose report tables are those of `scope` at
        `as_of` (built now when needed); the caller has it alone until the block ends."""
        copy, entry = self._checkout(scope, as_of)
        try:
            with entry.lock:
                if not entry.ready:
                    prepare(entry.cursor, as_of, scope.community, scope.grid)
                    entry.ready = True
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

    def stale(self, community: str | None, grid: str | None) -> None:
        """The tables of every scope holding `community` / `grid` are rebuilt at their next use."""
        with self._lock:
            for (scope, _), entry in self._entries.items():
                if (scope.community in (None, community)) and (scope.grid in (None, grid)):
                    entry.ready = False

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

    def _checkout(self, scope: Scope, as_of: dt.date) -> tuple[_Copy, _Entry]:
        current = self._reader.current()
        if current is None:
            raise NotPublished("还没有可供页面读取的数据副本：请先运行 rootdb link（或 nightly）")
        version, path = current
        with self._lock:
            if self._copy is None or self._copy.version != version:
                con = self._reader.connect(path)
                lock_down(con)  # once, before its cursors prepare side by side (a check-then-set race)
                self._swap(version, con)
            copy = self._copy
            key = (scope, as_of)
            entry = self._entries.get(key)
            if entry is None:
                # A new day: yesterday's tables go (a cursor still in use is freed after it).
                self._entries = {k: e for k, e in self._entries.items() if k[1] == as_of}
                entry = self._entries[key] = _Entry(copy.con.cursor())
            copy.users += 1
            return copy, entry

    def _swap(self, version: int, con: duckdb.DuckDBPyConnection) -> None:
        """Read copy `version` from now on; the old one closes when its last request ends."""
        old = self._copy
        self._copy, self._entries = _Copy(version, con), {}
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
