"""A workspace: a folder with `rootdb.toml` and one DuckDB file.

The database is found as the contract says: `--db`, else `ROOTDB_DB`, else the
`rootdb.toml` of the current folder or a parent, else `./rootdb.duckdb`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from rootdb.errors import DatabaseBusy, UsageError, WorkspaceError
from rootdb.store import SCHEMA_VERSION, table_exists
from rootdb.store.sql import scalar

CONFIG_NAME = "rootdb.toml"
DEFAULT_DB_NAME = "rootdb.duckdb"
LOCK_WAIT_SECONDS = float(os.environ.get("ROOTDB_LOCK_WAIT", "60"))
# DuckDB takes 80% of the machine's memory by default; rootdb shares it with polars
# and a second, in-memory DuckDB for splink, so it asks for less and spills to disk.
MEMORY_LIMIT = os.environ.get("ROOTDB_MEMORY_LIMIT", "2GB")


def out_of_memory_message() -> str:
    """What a data officer is told when DuckDB ran out of `MEMORY_LIMIT` (`errors.out_of_memory`)."""
    return (f"内存不够（DuckDB 的内存上限 {MEMORY_LIMIT} 已用完），本次操作未完成，数据库和已有的输出保持原样。"
            "请调高环境变量 ROOTDB_MEMORY_LIMIT 后重试，例如 ROOTDB_MEMORY_LIMIT=4GB（几百万居民的区域：4GB 或更多，"
            "并留出同样多的磁盘空间给数据库旁的临时目录）")
# Encryption at rest: with ROOTDB_KEY set the database file is opened (and created)
# encrypted with DuckDB's own AES encryption; without the key it does not open.
KEY_ENV = "ROOTDB_KEY"
# DuckDB writes encrypted files with OpenSSL from its httpfs extension. Offline, where
# that extension cannot be installed, its built-in implementation can be allowed (DuckDB
# itself calls it not secure) by setting this to 1.
BUILTIN_CRYPTO_ENV = "ROOTDB_ALLOW_BUILTIN_CRYPTO"

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


def workspace_exists(directory: Path) -> bool:
    """Whether `directory` already holds a workspace: its `rootdb.toml` and the database
    that names (init then leaves both as they are)."""
    config = Path(directory).resolve() / CONFIG_NAME
    if not config.is_file():
        return False
    return (config.parent / _read_config(config).get("database", DEFAULT_DB_NAME)).exists()


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
    ws.folder("inbox", "inbox").mkdir(parents=True, exist_ok=True)
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
            con = _open(db_path, read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise _open_failure(db_path, exc) from exc
            if time.monotonic() >= deadline:
                raise DatabaseBusy(
                    f"数据库 {db_path} 正被另一个 rootdb 进程使用，等待 {wait:.0f} 秒后仍未释放；"
                    "请稍后再试（可用环境变量 ROOTDB_LOCK_WAIT 调整等待时间）"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        except duckdb.Error as exc:
            raise _open_failure(db_path, exc) from exc
        try:
            _require_known_schema(con, db_path)
        except BaseException:
            con.close()
            raise
        return con


def _require_known_schema(con: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    """A database a newer rootdb wrote (its tables may mean what this version does not
    know) is neither read nor written: a Chinese error, the database as it was."""
    if not table_exists(con, "rootdb_meta"):
        return
    rows = con.execute("SELECT value FROM rootdb_meta WHERE key = 'schema_version'").fetchall()
    version = rows[0][0] if rows else None
    if version is not None and not (version.isascii() and version.isdigit() and int(version) <= SCHEMA_VERSION):
        raise WorkspaceError(f"数据库 {db_path} 由更新版本的 rootdb 写入（数据库版本 {version}，"
                             f"本程序只支持到版本 {SCHEMA_VERSION}）：请升级 rootdb 后再用；数据库未作任何改动")


def _open(db_path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    key = os.environ.get(KEY_ENV)
    limit = memory_limit("ROOTDB_MEMORY_LIMIT", MEMORY_LIMIT)
    if not key:
        return duckdb.connect(str(db_path), read_only=read_only, config={"memory_limit": limit})
    # DuckDB spills an encrypted database's temporary data in plain text unless told.
    con = duckdb.connect(config={"memory_limit": limit, "temp_directory": f"{db_path}.tmp",
                                 "temp_file_encryption": True})
    try:
        try:
            _writing_crypto(con)  # encrypted spill files are written even by a reader
        except WorkspaceError:
            if not read_only:
                raise
            con.execute("SET temp_directory = ''")  # a reader without crypto never spills
        mode = ", READ_ONLY" if read_only else ""
        con.execute(f"ATTACH ? AS rootdb (ENCRYPTION_KEY ?{mode})", [str(db_path), _key_text(key)])
        con.execute("USE rootdb")
    except BaseException:
        con.close()
        raise
    return con


_MEMORY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:I?B)?|(%))\s*", re.IGNORECASE | re.ASCII)
_MEMORY_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def memory_limit(variable: str, value: str) -> str:
    """`value` of the environment variable `variable` as DuckDB's memory_limit, or a usage
    error in Chinese: DuckDB's own words otherwise (`abc`), or no limit at all (`-5MB`)."""
    match = _MEMORY.fullmatch(value)
    if match is None:
        raise UsageError(f"环境变量 {variable}={value} 无法识别：请写数字加单位，如 {variable}=4GB"
                         "（单位可用 MB、GB、TB，或写百分比表示本机内存的几成，如 50%）")
    number, unit, percent = match.groups()
    if percent and not 1 <= float(number) <= 100:
        raise UsageError(f"环境变量 {variable}={value}：百分比须在 1% 到 100% 之间（本机内存的几成）")
    if not percent and float(number) * _MEMORY_UNITS[unit.upper()] < 1e6:
        raise UsageError(f"环境变量 {variable}={value} 太小：至少 1MB，通常 2GB 或更多")
    return value.strip()  # DuckDB refuses "50%" followed by a space


@contextmanager
def side_connection(workspace_con: duckdb.DuckDBPyConnection, memory_limit: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB beside the workspace's (splink works on its own: it probes
    with statements that may fail, which would abort the workspace's transaction). It
    spills into a folder of its own inside the workspace's temporary folder, removed
    afterwards; with a key, its spill files are encrypted like the database (PITFALLS:
    an encrypted database does not protect what other connections write)."""
    base = Path(scalar(workspace_con, "SELECT current_setting('temp_directory')") or ".tmp")
    base_existed = base.exists()
    _remove_dead_side_folders(base)
    folder = base / f"side-{os.getpid()}-{time.monotonic_ns()}"
    encrypted = bool(os.environ.get(KEY_ENV))
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(folder),
                                 "temp_file_encryption": encrypted})
    try:
        if encrypted:
            _writing_crypto(con)
        yield con
    finally:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)
        if not base_existed:  # the workspace's rootdb.duckdb.tmp/, made for this: gone when empty
            try:
                base.rmdir()
            except OSError:
                pass  # DuckDB spills into it meanwhile, or another side connection does


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (the owner of a staging or spill folder)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_side_folders(base: Path) -> None:
    """The spill folders of side connections whose process was killed (kill -9 skips
    the clean-up above): removed, so they do not pile up in the workspace."""
    for folder in base.glob("side-*-*") if base.is_dir() else ():
        pid = folder.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _key_text(key: str) -> str:
    """The key's UTF-8 bytes as DuckDB reads a key: ASCII as is, other bytes (a Chinese
    passphrase) and backslashes as \\xNN escapes."""
    return "".join(chr(b) if b < 0x80 and b != 0x5C else f"\\x{b:02X}" for b in key.encode("utf-8"))


def _writing_crypto(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("LOAD httpfs")
        return
    except duckdb.Error:
        pass
    if os.environ.get(BUILTIN_CRYPTO_ENV) == "1":
        con.execute("SET force_mbedtls_unsafe = 'true'")
        return
    raise WorkspaceError(
        "要写入加密数据库，DuckDB 需要它的 httpfs 扩展（OpenSSL），本机没有安装。"
        "联网时运行一次 python -c \"import duckdb; duckdb.connect().execute('INSTALL httpfs')\"，"
        "或把 httpfs.duckdb_extension 复制到 ~/.duckdb/extensions/ 下对应版本的目录；"
        f"离线又必须加密时，可设置 {BUILTIN_CRYPTO_ENV}=1 使用 DuckDB 内置的实现（DuckDB 认为它不够安全）"
    )


def _open_failure(db_path: Path, exc: duckdb.Error) -> WorkspaceError | UsageError:
    """A file that is not a DuckDB database is bad usage (exit 2: no database), like a
    missing one; anything else failed to open (exit 1)."""
    message = _open_error(db_path, exc)
    if _NOT_A_DATABASE in str(exc):
        return UsageError(message)
    return WorkspaceError(message)


_NOT_A_DATABASE = "not a valid DuckDB database file"


def _open_error(db_path: Path, exc: duckdb.Error) -> str:
    text = str(exc)
    if _NOT_A_DATABASE in text:
        return (f"{db_path} 不是 rootdb 的数据库文件：请用 --db 指定工作区的数据库（如 rootdb.duckdb），"
                "或先运行 rootdb init 创建工作区")
    if "without a key" in text:
        return f"数据库 {db_path} 已加密：请在环境变量 {KEY_ENV} 中提供密钥"
    if "Wrong encryption key" in text:
        return f"无法打开数据库 {db_path}：环境变量 {KEY_ENV} 中的密钥不对"
    if "is not encrypted" in text:
        return f"数据库 {db_path} 没有加密，却设置了 {KEY_ENV}：不加密的工作区请取消这个环境变量"
    return f"无法打开数据库 {db_path}：{text.splitlines()[0]}"


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
