"""`rootdb serve`: the grid worker's page (`rootdb.serve.app`) on uvicorn until stopped.

The page reads the published copy of the database (`rootdb.serve.published`), never
the database itself, so it keeps answering while link or nightly holds it. At start,
when there is no copy yet or the database changed after the current copy was made,
and the database is free, it is published once; when it is busy and there is no copy
at all, that is said and nothing is served. One `rootdb serve` per workspace: it holds
an exclusive lock on `rootdb-serve.lock` beside the database until it ends (the system
frees it when the process exits, however it exits); a second one says which process
runs and stops. Reads the database (to publish it) and the serve store.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from rootdb.errors import DatabaseBusy, UsageError, WorkspaceError
from rootdb.serve.published import PublishedReader, publish
from rootdb.workspace import Workspace, connect, locate, require_existing

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8600
LOCK_FILE = "rootdb-serve.lock"


@dataclass
class ServePlan:
    """What `rootdb serve` will read: the workspace and the published copy's version;
    `published` when it was published at this start, `stale` when the database changed
    after the copy and could not be published (`why`: busy, or no crypto to open it for
    writing): the page shows the older copy."""

    ws: Workspace
    version: int
    published: bool = False
    stale: bool = False
    why: str = ""
    lock: int | None = field(default=None, repr=False)  # the held lock file's descriptor

    def release(self) -> None:
        """Let another `rootdb serve` start on this workspace."""
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None

    def to_dict(self) -> dict:
        return {"database": str(self.ws.db_path), "version": self.version, "published": self.published,
                "stale": self.stale, "why": self.why}


def plan(db: str | Path | None = None) -> ServePlan:
    """Take the workspace's serve lock (a second `rootdb serve` is refused) and make sure
    there is a published copy to read (publishing one when needed and possible)."""
    ws = locate(db)
    require_existing(ws)
    lock = _lock(ws)
    try:
        ready = _ready(ws)
    except BaseException:
        os.close(lock)
        raise
    ready.lock = lock
    return ready


def check_address(host: str, port: int) -> None:
    """A usage error now when the page could not listen on host:port (taken, or no such
    address here), rather than uvicorn's English error after the page said it started."""
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        taken = exc.errno == errno.EADDRINUSE
        raise UsageError(f"端口 {port} 已被占用：请用 --port 换一个端口，或先停止占用它的程序" if taken else
                         f"无法在 {host}:{port} 上监听（{exc.strerror or exc}）：请检查 --host 和 --port") from None


def _lock(ws: Workspace) -> int:
    """The workspace's serve lock taken (its descriptor; it holds our pid), or a
    WorkspaceError naming the process that holds it."""
    fd = os.open(ws.db_path.parent / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        who = f"（进程 {holder}）" if holder.isdigit() else ""
        raise WorkspaceError(f"此工作区已有一个 rootdb serve 在运行{who}：同一工作区只能运行一个页面服务") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _ready(ws: Workspace) -> ServePlan:
    """The plan once a copy to read is there (published now when needed and possible)
    and opens (with a key, only with that key)."""
    reader = PublishedReader(ws)
    current = reader.current()
    if current is not None and current[1].stat().st_mtime >= ws.db_path.stat().st_mtime:
        ready = ServePlan(ws, current[0])
    else:
        ready = _publish(ws, reader, current)
    reader.connect(reader.current()[1]).close()  # no key, a wrong key: said now, not at each login
    return ready


def _publish(ws: Workspace, reader: PublishedReader, current: tuple | None) -> ServePlan:
    """Publish the database now; when it cannot be (busy, or it cannot be opened to write),
    the previous copy with why, or an error when there is none."""
    try:
        con = connect(ws.db_path, wait=0)
    except DatabaseBusy:
        if current is None:
            raise WorkspaceError(f"数据库 {ws.db_path} 正被另一个 rootdb 进程使用，且还没有供页面读取的副本："
                                 "请等它结束后再运行 rootdb serve") from None
        return ServePlan(ws, current[0], stale=True, why="数据库正被占用")
    except WorkspaceError as exc:
        if current is None:
            raise
        return ServePlan(ws, current[0], stale=True, why=f"无法发布最新数据：{exc}")
    try:
        publish(con, ws.db_path)
    finally:
        con.close()
    return ServePlan(ws, reader.current()[0], published=True)


def serve(serve_plan: ServePlan, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the page until stopped (Ctrl+C, SIGTERM: then it returns). Behind nginx the client's scheme
    comes from X-Forwarded-Proto (from 127.0.0.1 only). No access log: its URLs would
    carry the names searched for."""
    import uvicorn

    from rootdb.serve.app import create_app

    app = create_app(serve_plan.ws)
    # uvicorn answers the requests under way, then raises the signal again: a stop asked
    # for (Ctrl+C, or SIGTERM from systemctl stop) ends here, as a normal end.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        uvicorn.run(app, host=host, port=port, access_log=False, server_header=False, proxy_headers=True,
                    forwarded_allow_ips="127.0.0.1", log_level="warning")
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        serve_plan.release()


class _Stopped(BaseException):
    """SIGTERM after uvicorn's shutdown."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped
