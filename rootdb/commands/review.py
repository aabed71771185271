"""`rootdb review`: the pairs and addresses the link was unsure of, exported side by side
for a data officer (`rootdb.link.review.export_review`), and the officer's decisions
read back (`import_review`: writes `link_review_decisions` and the address decisions,
used from the next link on)."""

from __future__ import annotations

from pathlib import Path

from rootdb.errors import ExitCode
from rootdb.link.review import ReviewExport, ReviewImport, export_review, import_review

__all__ = ["ReviewExport", "ReviewImport", "import_exit_code", "review_export", "review_import"]


def review_export(out: Path, unmasked: bool = False, db: str | Path | None = None) -> ReviewExport:
    return export_review(out, db=db, unmasked=unmasked)


def review_import(path: Path, db: str | Path | None = None) -> ReviewImport:
    return import_review(path, db=db)


def import_exit_code(result: ReviewImport) -> ExitCode:
    """A partial import is done (the readable decisions are saved, the others listed);
    it failed only when rows could not be read and not one decision was saved."""
    saved = result.decided + (result.addresses or {}).get("decided", 0)
    return ExitCode.FAILED if result.problems and not saved else ExitCode.OK
