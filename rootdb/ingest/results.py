"""What an ingest run returns: one `FileResult` per file and the run's `IngestResult`.

File names, paths, messages and warnings are masked by content in `to_dict` (what
--json prints and run records keep) and in the table `rootdb ingest` prints.

Row counts of a file (data rows only: not title, header, blank, repeated-header or
closing rows), which always balance:

    rows_read = rows_loaded + rows_quarantined + rows_failed

- `rows_read`: data rows found in the file (every sheet read). 0 when the file failed
  before its rows could be counted (unreadable, no header, …).
- `rows_loaded`: rows stored as records (with `rows_flagged` of them carrying issues).
- `rows_quarantined`: rows stored in `quarantine` with a reason, not as records.
- `rows_failed`: rows of a file that failed as a whole and was not loaded: nothing of
  it is stored (e.g. `--strict` and some rows would have been quarantined: all its rows
  count here, and the message says how many would have been quarantined).

For a loaded file `rows_failed` is 0, so rows_read = rows_loaded + rows_quarantined as
the contract says; for a failed file rows_loaded = rows_quarantined = 0.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Literal

from rootdb.errors import ExitCode

FileStatus = Literal["loaded", "unchanged", "failed"]


def readable_path(text: str) -> str:
    """A path as the system gave it, as valid text. A name written in another encoding
    than UTF-8 (most often GBK: unzipped from an archive made on Windows) reaches Python
    as undecodable bytes that no database, file or terminal takes: each such part of the
    path is read as GB18030 where it can be, and any byte left over shown as \\xNN."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "/".join(gbk_name(part) or os.fsencode(part).decode("utf-8", "backslashreplace")
                        for part in text.split("/"))


def gbk_name(name: str) -> str | None:
    """A file or folder name the system gave as undecodable bytes, read as GB18030;
    None when it is valid text already, or not GB18030 either."""
    try:
        name.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    try:
        return os.fsencode(name).decode("gb18030")
    except UnicodeDecodeError:
        return None


@dataclass
class FileResult:
    file: str  # name as delivered
    path: str
    feed: str | None
    status: FileStatus
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_flagged: int = 0  # loaded rows with at least one issue (bad ID, impossible date, …)
    rows_failed: int = 0  # rows of a file that failed whole (see the module's docstring)
    message: str | None = None
    # Failed for want of memory or disk space, not for what the file holds: the same
    # file may load when run again (a night leaves it in the inbox, not in rejected/).
    retry: bool = False
    warnings: list[str] = field(default_factory=list)
    file_id: int | None = None
    encoding: str | None = None
    header_row: int | None = None
    sheets: list[str] = field(default_factory=list)  # the sheets read (workbooks)
    skipped_sheets: dict[str, str] = field(default_factory=dict)  # sheet -> why it was not read
    # The date the delivery states and on what basis (文件名 / 标题行 / 文件修改时间), and
    # whether it became the feed's current snapshot (False: an older delivery, kept as history).
    delivery_date: str | None = None
    delivery_basis: str | None = None
    current: bool | None = None
    # The part of the feed the delivery is (a community or grid; None: the whole feed)
    # and what named it (文件名 / 社区列 / 网格列 / 住址所属社区): `rootdb.ingest.parts`.
    part: str | None = None
    part_basis: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """As shown (--json, run records): a file name may hold an ID or a mobile
        (tekun_150602198503021234_13912345678_2026-12.xlsx), so every text — file, path,
        message, warnings, sheets — is masked by content. The `files` table keeps the
        real name; `path` of the object itself stays real (ingest reads the file by it),
        here it is shown as it reads (`readable_path`)."""
        from rootdb.privacy import mask_strings

        return mask_strings({**asdict(self), "path": readable_path(self.path)})


@dataclass
class IngestResult:
    batch_id: int | None
    files: list[FileResult]
    seconds: float = 0.0
    strict: bool = False

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def ok(self) -> bool:
        """Every file loaded or unchanged (with --strict, a file with rows that
        would be quarantined fails and is not loaded)."""
        return not self.failed

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.ok else ExitCode.FAILED

    def to_dict(self) -> dict:
        totals = {
            key: sum(getattr(f, key) for f in self.files)
            for key in ("rows_read", "rows_loaded", "rows_quarantined", "rows_flagged", "rows_failed")
        }
        return {
            "ok": self.ok,
            "batch_id": self.batch_id,
            "seconds": round(self.seconds, 3),
            "strict": self.strict,
            "totals": {**totals, "files": len(self.files), "failed": len(self.failed)},
            "files": [f.to_dict() for f in self.files],
        }
