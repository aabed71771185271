"""Where report, query and notify files are put together before anyone can see them.

Every file is first written into a staging folder inside the workspace's private area
(`.rootdb-staging/<pid>-…`, readable by its owner only), and moved to where the user
asked only after the run's audit row is committed: an unmasked list never becomes
visible without its audit row. A run that is killed leaves its staging folder behind;
the next report, query or notify of the workspace removes it (its process is gone).

Also the safe file name part of a community or grid name, and the rule that keeps a
hand-run report out of the folder nightly replaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rootdb.workspace import Workspace, process_alive

PRIVATE_STAGING = ".rootdb-staging"
# A report run by hand goes to 报表/<统计日期>/ of the workspace: never into reports/,
# which every nightly run replaces as a whole.
HAND_RUN_FOLDER = "报表"
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def safe_name(text: str) -> str:
    """A community, grid or building name as part of a file name: 一/二网格 → 一_二网格;
    at most 80 characters (240 bytes in UTF-8: every file system takes 255)."""
    cleaned = _UNSAFE.sub("_", text).strip(" .")[:80].rstrip(" .")
    return cleaned or "_"


def hand_run_folder(ws: Workspace, as_of) -> Path:
    return ws.root / HAND_RUN_FOLDER / as_of.isoformat()


def remove_stale_staging(ws: Workspace) -> None:
    """Staging folders of runs that were killed (their process is gone)."""
    root = ws.root / PRIVATE_STAGING
    if not root.is_dir():
        return
    for folder in root.iterdir():
        pid = folder.name.split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True) if folder.is_dir() else folder.unlink(missing_ok=True)


@contextlib.contextmanager
def staging_folder(ws: Workspace) -> Iterator[Path]:
    """A private folder for this run's files, removed at the end whatever happens."""
    remove_stale_staging(ws)
    root = ws.root / PRIVATE_STAGING
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        root.chmod(0o700)
    folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(staged: Path, target: Path) -> None:
    """Move a staged file to where the user asked: one rename on the same disk, else a
    copy to a hidden name beside the target, renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staged, target)
        return
    except OSError:
        pass
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        shutil.copyfile(staged, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
        staged.unlink(missing_ok=True)
