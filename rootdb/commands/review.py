"""`rootdb review`: the pairs and addresses the link was unsure of, exported side by side
for a data officer (`rootdb.link.review.export_review`), and the officer's decisions
read back (`import_review`: writes `link_review_decisions` and the address decisions,
used from the next link on)."""

from __future__ import annotations

from pathlib import Path

from rootdb.link.review import ReviewExport, ReviewImport, export_review, import_review

__all__ = ["ReviewExport", "ReviewImport", "review_export", "review_import"]


def review_export(out: Path, unmasked: bool = False, db: str | Path | None = None) -> ReviewExport:
    return export_review(out, db=db, unmasked=unmasked)


def review_import(path: Path, db: str | Path | None = None) -> ReviewImport:
    """The decisions of the filled-in workbook `path`; its `exit_code` is 1 only when not
    one decision could be saved."""
    return import_review(path, db=db)
