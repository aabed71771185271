"""The one check of an output path (`--out`) every writer makes before it writes.

A file to write (an export, a list, a workbook) must not be an existing folder; a folder
to write into (`rootdb report --out`) must not be an existing file; and no part of the
way there may be a file. Folders that do not exist yet are created when the file is
written. Checked before the database is read and before anything is written or audited,
so a wrong path costs nothing and leaves no audit row for a file that never appears.
A file is written whole or not at all (`written_whole`): a failure leaves what was there.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rootdb.errors import UsageError


def _blocking_file(path: Path) -> Path | None:
    """The first existing part of the way to `path` that is a file, not a folder."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def output_file(path: Path | str, example: str = "导出.xlsx") -> Path:
    """`path` as a file to write, or a UsageError (exit 2) saying what is wrong with it."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"--out {path} 是一个已有的文件夹，不是文件：请给出要写的文件名，如 --out {path / example}")
    blocking = _blocking_file(path)
    if blocking is not None:
        raise UsageError(f"--out {path}：{blocking} 是一个文件，不是文件夹，无法在其中写文件")
    return path


def output_folder(path: Path | str, example: str = "我的报表") -> Path:
    """`path` as a folder to write files into, or a UsageError (exit 2)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path} 是一个已有的文件，不是文件夹：这里的 --out 是输出目录（文件写在其中），"
                         f"请换一个目录名，如 --out {example}")
    blocking = _blocking_file(path)
    if blocking is not None:
        raise UsageError(f"--out {path}：{blocking} 是一个文件，不是文件夹，无法在其中建目录")
    return path


def partial_name(path: Path) -> Path:
    """The hidden file beside `path` that becomes it once written whole: named by a hash
    of `path`'s name, so that a name near the file system's 255 bytes still fits."""
    return path.with_name(f"{_partial_prefix(path)}{os.getpid()}.part")


def _partial_prefix(path: Path) -> str:
    return f".rootdb-{hashlib.sha256(path.name.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}."


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """The file to write instead of `path`, put in its place only when the block ends
    well: a failure (a full disk, Ctrl+C) leaves `path` as it was and nothing beside it.
    What a killed writer (kill -9) left beside `path` (its partial file, and the
    workbook's spliced copy of it) is removed by the next."""
    from rootdb.workspace import process_alive

    prefix = _partial_prefix(path)
    for stale in path.parent.glob(f"{prefix}*") if path.parent.is_dir() else ():
        pid = stale.name[len(prefix):].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            stale.unlink(missing_ok=True)
    partial = partial_name(path)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
