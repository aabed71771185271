"""`rootdb audit`: the audit log — unmasked exports, every query and message list.
Reads `audit_log`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rootdb.privacy import audit_rows
from rootdb.workspace import open_existing


@dataclass
class AuditLog:
    entries: list[dict] = field(default_factory=list)  # newest first

    def to_dict(self) -> dict:
        return {"entries": self.entries}


def audit(limit: int = 50, db: str | Path | None = None) -> AuditLog:
    """The last `limit` entries (0: all)."""
    with open_existing(db) as con:
        return AuditLog(entries=audit_rows(con, limit))
