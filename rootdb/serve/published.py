"""The published copy: what the page reads while a CLI run holds the database.

DuckDB lets one process write a database file or several read it, never both, so the
page never opens the workspace's database. The writer (`rootdb link`, hence nightly)
publishes a copy right after its commit: `published/rootdb-<n>.duckdb` beside the
database, n increasing, and `published/CURRENT` naming the complete copy to read. A copy
is written as a hidden `.partial` file and renamed only once complete and on disk, and
CURRENT is replaced atomically, so a killed or failed publish leaves CURRENT on the
previous copy. The folder is its owner's alone (0700), the copies and CURRENT 0600
(a copy is the whole database). An encrypted database gives an encrypted copy (the same
bytes, the same key). The copy before the current one is kept for a reader that has just read CURRENT;
older ones are removed before the next copy is written, so the folder holds at most two
copies and the one being written (a reader still holding a removed copy open keeps
reading it: Linux frees the file only when it is closed).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb

from rootdb.errors import WorkspaceError
from rootdb.faults import pause_point
from rootdb.workspace import Workspace, connect

FOLDER = "published"
CURRENT = "CURRENT"
_COPY = re.compile(r"rootdb-(\d+)\.duckdb")
_PARTIAL = ".rootdb-{n}.duckdb.partial"


def published_folder(db_path: Path) -> Path:
    """Where the copies of the database `db_path` are published."""
    return Path(db_path).parent / FOLDER


def database_folder(path: Path) -> Path:
    """The folder of the workspace database that the file `path` is, or is a published
    copy of (where the workspace's other files, such as the page's store, lie)."""
    path = Path(path)
    return path.parent.parent if path.parent.name == FOLDER and _COPY.fullmatch(path.name) else path.parent


def publish(con: duckdb.DuckDBPyConnection, db_path: Path) -> Path:
    """Copy the database `db_path` into the published folder and make the copy CURRENT;
    the copy's path. `con` is the writer's open connection to it, its work committed:
    it holds DuckDB's exclusive lock, so nothing changes the file while it is copied."""
    db_path = Path(db_path)
    folder = published_folder(db_path)
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)  # a full copy of the database: its owner's alone, like the database
    for stale in folder.glob(_PARTIAL.format(n="*")):  # of a killed publish: only one writer runs
        stale.unlink(missing_ok=True)
    con.execute("CHECKPOINT")
    _require_checkpointed(db_path)
    previous = _named_by_current(folder)
    n = max((_version(p.name) for p in folder.glob("rootdb-*.duckdb")), default=0) + 1
    for old in folder.glob("rootdb-*.duckdb"):  # before copying: never more than two copies on disk
        if old.name != previous:
            old.unlink()
    partial = folder / _PARTIAL.format(n=n)
    target = folder / f"rootdb-{n}.duckdb"
    try:
        _create_private(partial)
        shutil.copyfile(db_path, partial)  # into the file made 0600: its mode stays
        pause_point("publish.copying")
        _fsync(partial)
        os.replace(partial, target)
        _write_atomically(folder / CURRENT, target.name + "\n")
    finally:
        partial.unlink(missing_ok=True)
    return target


class PublishedReader:
    """The page's view of the published copies of workspace `ws`: which is current
    (CURRENT read again only when it changed on disk) and a read-only connection to one."""

    def __init__(self, ws: Workspace) -> None:
        self.folder = published_folder(ws.db_path)
        self._seen: tuple[tuple, tuple[int, Path]] | None = None  # (CURRENT's stat, its answer)

    def current(self) -> tuple[int, Path] | None:
        """(version, path) of the current copy; None while nothing was published."""
        pointer = self.folder / CURRENT
        try:
            stat = pointer.stat()
        except FileNotFoundError:
            return None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        seen = self._seen
        if seen is not None and seen[0] == key:
            return seen[1]
        name = _named_by_current(self.folder)
        if name is None:  # removed since the stat
            return None
        answer = (_version(name), self.folder / name)
        self._seen = (key, answer)
        return answer

    def connect(self, path: Path) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the copy `path` (with the workspace's key, if any)."""
        return connect(Path(path), read_only=True, wait=0)


def _version(name: str) -> int:
    match = _COPY.fullmatch(name)
    if match is None:
        raise WorkspaceError(f"发布目录里的文件名 {name!r} 不是 rootdb-<编号>.duckdb；请重新运行 rootdb link 发布")
    return int(match.group(1))


def _named_by_current(folder: Path) -> str | None:
    try:
        return (folder / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _require_checkpointed(db_path: Path) -> None:
    """After CHECKPOINT every committed change is in the database file itself: a
    write-ahead log left beside it would be missing from the copy."""
    wal = Path(f"{db_path}.wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise WorkspaceError(f"数据库 {db_path} 的预写日志未能写回数据库文件，本次不发布只读副本")


def _create_private(path: Path) -> None:
    """`path` made anew, empty, readable and writable by its owner only (0600, whatever the umask)."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` by `text` so that a reader sees the old content or the new, and
    the new survives a power cut once this returns."""
    temporary = path.with_name(f".{path.name}.tmp")
    _create_private(temporary)
    temporary.write_text(text, encoding="utf-8")
    _fsync(temporary)
    os.replace(temporary, path)
    _fsync(path.parent)
