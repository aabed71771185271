"""`rootdb ingest`: delivered files into the workspace (`rootdb.ingest`: writes `files`,
`raw_<feed>`, `rec_<feed>`, `row_issues`, `quarantine`, `batches`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rootdb.ingest import IngestResult
from rootdb.ingest import ingest as ingest_files
from rootdb.ingest.pipeline import IngestProgress
from rootdb.specs.names import resolve_feed


def ingest(paths: Sequence[Path], feed: str | None = None, strict: bool = False, db: str | Path | None = None,
           progress: IngestProgress | None = None) -> IngestResult:
    """Ingest the files and folders of `paths`; `feed` forces one feed (its code, title or
    Chinese name: dibao, 低保); `strict` refuses a file with any unreadable row."""
    return ingest_files(list(paths), db=db, feed=resolve_feed(feed, "--feed"), strict=strict,
                        progress=progress)
