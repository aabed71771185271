"""`rootdb demo`: the whole job on the bundled sample area, in a fresh workspace."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from rootdb.ingest import IngestResult, ingest
from rootdb.link import LinkResult, link
from rootdb.ingest.pipeline import IngestProgress
from rootdb.ingest.readers import READABLE_SUFFIXES
from rootdb.resources import bundled_dir
from rootdb.workspace import Workspace, init_workspace


@dataclass
class DemoResult:
    workspace: Workspace
    ingest: IngestResult
    link: LinkResult | None


def run_demo(directory: Path, progress: IngestProgress | None = None) -> DemoResult:
    """Create (or reuse) a workspace in `directory`, copy the sample files into its
    inbox, ingest them and link people, houses and places."""
    ws = init_workspace(directory)
    inbox = ws.folder("inbox", "inbox")
    inbox.mkdir(parents=True, exist_ok=True)
    for source in sorted(bundled_dir("sample_data").iterdir()):
        if source.suffix.lower() in READABLE_SUFFIXES and not source.name.startswith((".", "_")):
            shutil.copy2(source, inbox / source.name)
    result = ingest([inbox], db=ws.db_path, progress=progress, command="demo")
    linked = link(db=ws.db_path) if result.ok else None
    return DemoResult(workspace=ws, ingest=result, link=linked)
