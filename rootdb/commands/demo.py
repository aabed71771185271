"""`rootdb demo`: the whole job on the bundled sample area, in a fresh workspace:
ingest, link, and every report as of the sample's reference date. Writes what
`init`, `ingest` and `link` write, and the workbooks under the workspace's reports/."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from rootdb.errors import ExitCode
from rootdb.ingest import IngestResult, ingest
from rootdb.ingest.pipeline import IngestProgress
from rootdb.ingest.readers import READABLE_SUFFIXES
from rootdb.link import LinkResult, link
from rootdb.reports import ReportRun, run_reports, select_templates
from rootdb.resources import bundled_dir
from rootdb.workspace import Workspace, init_workspace


@dataclass
class DemoResult:
    workspace: Workspace
    ingest: IngestResult
    link: LinkResult | None
    reports: ReportRun | None

    @property
    def exit_code(self) -> ExitCode:
        return self.ingest.exit_code

    def to_dict(self) -> dict:
        return {"workspace": str(self.workspace.root), "ingest": self.ingest.to_dict(),
                "link": self.link.to_dict() if self.link else None,
                "reports": self.reports.to_dict() if self.reports else None}


# The day the sample area describes (sample_data/_truth/README.md): its reports are as of
# then, so that they match the truth whatever today's date.
SAMPLE_AS_OF = dt.date(2026, 11, 1)


def demo(directory: Path, progress: IngestProgress | None = None) -> DemoResult:
    """Create (or reuse) a workspace in `directory`, copy the sample files into its
    inbox, ingest them, link people, houses and places, and write every report to the
    workspace's reports/ folder."""
    ws = init_workspace(directory)
    inbox = ws.folder("inbox", "inbox")
    inbox.mkdir(parents=True, exist_ok=True)
    for source in sorted(bundled_dir("sample_data").iterdir()):
        if source.suffix.lower() in READABLE_SUFFIXES and not source.name.startswith((".", "_")):
            shutil.copy2(source, inbox / source.name)
    result = ingest([inbox], db=ws.db_path, progress=progress, command="demo")
    linked = link(db=ws.db_path) if result.ok else None
    reports = None
    if linked is not None:
        reports = run_reports(select_templates([], True), as_of=SAMPLE_AS_OF, out=ws.root / "reports",
                              db=str(ws.db_path))
    return DemoResult(workspace=ws, ingest=result, link=linked, reports=reports)
