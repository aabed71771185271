"""A workspace: a folder with `rootdb.toml` and one DuckDB file.

The database is found as the contract says: `--db`, else `ROOTDB_DB`, else the
`rootdb.toml` of the current folder or a parent, else `./rootdb.duckdb`.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from rootdb.errors import UsageError, WorkspaceError

CONFIG_NAME = "rootdb.toml"
DEFAULT_DB_NAME = "rootdb.duckdb"
LOCK_WAIT_SECONDS = float(os.environ.get("ROOTDB_LOCK_WAIT", "60"))
# DuckDB takes 80% of the machine's memory by default; rootdb shares it with polars
# and a second, in-memory DuckDB for splink, so it asks for less and spills to disk.
MEMORY_LIMIT = os.environ.get("ROOTDB_MEMORY_LIMIT", "2GB")

_CONFIG_TEMPLATE = """\
# rootdb 工作区配置 (workspace configuration)
[workspace]
# 数据库文件，相对于本文件所在目录 (database file, relative to this folder)
database = "{database}"
# 收件箱：待导入的文件放这里 (inbox: files waiting to be ingested; rootdb demo fills it)
inbox = "inbox"
"""


@dataclass(frozen=True)
class Workspace:
    root: Path
    db_path: Path
    config_path: Path | None

    def folder(self, key: str, default: str) -> Path:
        return self.root / _read_config(self.config_path).get(key, default) if self.config_path else self.root / default


def _read_config(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh).get("workspace", {})
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(f"{path}：配置文件格式错误（{exc}）") from exc


def _find_config(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def locate(db: str | Path | None = None, cwd: Path | None = None) -> Workspace:
    """Where the database is, by the contract's order of precedence."""
    cwd = (cwd or Path.cwd()).resolve()
    if db is None and os.environ.get("ROOTDB_DB"):
        db = os.environ["ROOTDB_DB"]
    if db is not None:
        path = Path(db).expanduser().resolve()
        return Workspace(root=path.parent, db_path=path, config_path=None)
    config = _find_config(cwd)
    if config is not None:
        settings = _read_config(config)
        path = (config.parent / settings.get("database", DEFAULT_DB_NAME)).resolve()
        return Workspace(root=config.parent, db_path=path, config_path=config)
    return Workspace(root=cwd, db_path=cwd / DEFAULT_DB_NAME, config_path=None)


def init_workspace(directory: Path, database: str = DEFAULT_DB_NAME) -> Workspace:
    """Create `rootdb.toml` and an empty database with rootdb's tables."""
    from rootdb.store import ensure_schema

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / CONFIG_NAME
    if not config.exists():
        config.write_text(_CONFIG_TEMPLATE.format(database=database), encoding="utf-8")
    ws = locate(cwd=directory)
    if ws.config_path != config:
        ws = Workspace(root=directory, db_path=(directory / database).resolve(), config_path=config)
    with connect(ws.db_path) as con:
        ensure_schema(con)
    return ws


def connect(db_path: Path, read_only: bool = False, wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the database; when another rootdb process holds it, wait a bounded time."""
    if read_only and not db_path.exists():
        raise WorkspaceError(
            f"找不到数据库 {db_path}：请先运行 rootdb init 创建工作区，或用 --db 指定数据库"
        )
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    deadline = time.monotonic() + wait
    delay = 0.2
    while True:
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            return duckdb.connect(str(db_path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT})
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise WorkspaceError(f"无法打开数据库 {db_path}：{text.splitlines()[0]}") from exc
            if time.monotonic() >= deadline:
                raise WorkspaceError(
                    f"数据库 {db_path} 正被另一个 rootdb 进程使用，等待 {wait:.0f} 秒后仍未释放；"
                    "请稍后再试（可用环境变量 ROOTDB_LOCK_WAIT 调整等待时间）"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        except duckdb.Error as exc:
            raise WorkspaceError(f"无法打开数据库 {db_path}：{str(exc).splitlines()[0]}") from exc


@contextmanager
def open_existing(db: str | Path | None = None, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """The workspace's database, which must already exist (a read only never creates it)."""
    ws = locate(db)
    require_existing(ws)
    with connect(ws.db_path, read_only=read_only) as con:
        yield con


def require_existing(ws: Workspace) -> None:
    if not ws.db_path.exists():
        raise UsageError(
            f"找不到数据库 {ws.db_path}：请先运行 rootdb init 创建工作区，或用 --db / ROOTDB_DB 指定数据库"
        )
