"""Named pause points for the fault tests: with ROOTDB_PAUSE_AT=<point> a run stops
there (inside its transaction, or with its reports half written), writes the file
named by ROOTDB_PAUSE_FILE and waits, so that a test can kill it at a known moment.
Without the variable, nothing happens."""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_point(name: str) -> None:
    if os.environ.get("ROOTDB_PAUSE_AT") != name:
        return
    marker = os.environ.get("ROOTDB_PAUSE_FILE")
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
    time.sleep(float(os.environ.get("ROOTDB_PAUSE_SECONDS", "120")))
