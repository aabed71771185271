"""What an ingest run returns: one `FileResult` per file and the run's `IngestResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from rootdb.errors import ExitCode

FileStatus = Literal["loaded", "unchanged", "failed"]


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
    message: str | None = None
    warnings: list[str] = field(default_factory=list)
    file_id: int | None = None
    encoding: str | None = None
    header_row: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


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
            for key in ("rows_read", "rows_loaded", "rows_quarantined", "rows_flagged")
        }
        return {
            "ok": self.ok,
            "batch_id": self.batch_id,
            "seconds": round(self.seconds, 3),
            "strict": self.strict,
            "totals": {**totals, "files": len(self.files), "failed": len(self.failed)},
            "files": [f.to_dict() for f in self.files],
        }
