"""`rootdb nightly`: the unattended run — the inbox ingested, linked, the reports
replaced, the files archived or rejected. The command is `rootdb.nightly.run_nightly`
(its `NightlyRun` carries the exit code: 0, 1, 3 or 4); named here so that the CLI and
the page reach every command through `rootdb.commands`."""

from __future__ import annotations

from rootdb.nightly import NightlyRun
from rootdb.nightly import run_nightly as nightly

__all__ = ["NightlyRun", "nightly"]
