"""`rootdb quarantine`: the quarantined rows of the current snapshots, to send back to
departments — as a workbook (`rootdb.quarantine.export_quarantine`) or, without a file,
counted per feed, file and reason (`quarantine_summary`). Reads `quarantine`, `files`;
an unmasked export writes `audit_log`."""

from __future__ import annotations

from pathlib import Path

from rootdb.errors import UsageError
from rootdb.exports import ExportResult
from rootdb.quarantine import QuarantineSummary, export_quarantine, quarantine_summary


def quarantine(out: Path | None = None, feed: str | None = None, unmasked: bool = False,
               db: str | Path | None = None) -> ExportResult | QuarantineSummary:
    """The workbook `out` (rows masked unless `unmasked`), or with no `out` the counts;
    `feed`: one feed only (code, title or Chinese name)."""
    if out is None:
        if unmasked:
            raise UsageError("--unmasked 只用于导出文件：请同时用 --out 指定 Excel 文件")
        return quarantine_summary(db=db, feed=feed)
    return export_quarantine(out, db=db, feed=feed, unmasked=unmasked)
