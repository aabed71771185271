"""`rootdb serve`: the grid worker's page (`rootdb.serve.app`) on uvicorn until stopped.

The page reads the published copy of the database (`rootdb.serve.published`), never
the database itself, so it keeps answering while link or nightly holds it. At start,
when there is no copy yet or the database changed after the current copy was made,
and the database is free, it is published once; when it is busy and there is no copy
at all, that is said and nothing is served. Reads the database (to publish it) and
the serve store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rootdb.errors import WorkspaceError
from rootdb.serve.published import PublishedReader, publish
from rootdb.workspace import Workspace, connect, locate, require_existing

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8600


@dataclass
class ServePlan:
    """What `rootdb serve` will read: the workspace and the published copy's version;
    `published` when it was published at this start, `stale` when the database changed
    after the copy and could not be published (busy): the page shows the older copy."""

    ws: Workspace
    version: int
    published: bool = False
    stale: bool = False

    def to_dict(self) -> dict:
        return {"database": str(self.ws.db_path), "version": self.version, "published": self.published,
                "stale": self.stale}


def plan(db: str | Path | None = None) -> ServePlan:
    """Make sure there is a published copy to read (publishing one when needed and possible)."""
    ws = locate(db)
    require_existing(ws)
    reader = PublishedReader(ws)
    current = reader.current()
    if current is not None and current[1].stat().st_mtime >= ws.db_path.stat().st_mtime:
        return ServePlan(ws, current[0])
    try:
        con = connect(ws.db_path, wait=0)
    except WorkspaceError:
        if current is None:
            raise WorkspaceError(f"数据库 {ws.db_path} 正被另一个 rootdb 进程使用，且还没有供页面读取的副本："
                                 "请等它结束后再运行 rootdb serve") from None
        return ServePlan(ws, current[0], stale=True)
    try:
        publish(con, ws.db_path)
    finally:
        con.close()
    return ServePlan(ws, reader.current()[0], published=True)


def serve(serve_plan: ServePlan, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the page until stopped (Ctrl+C, SIGTERM). Behind nginx the client's scheme
    comes from X-Forwarded-Proto (from 127.0.0.1 only). No access log: its URLs would
    carry the names searched for."""
    import uvicorn

    from rootdb.serve.app import create_app

    app = create_app(serve_plan.ws)
    uvicorn.run(app, host=host, port=port, access_log=False, server_header=False, proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", log_level="warning")
