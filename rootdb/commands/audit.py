"""`rootdb audit`: the audit log — unmasked exports, every query, message list and
household card of the command line (`audit_log` in the database) and every view of a
person's data and every visit recorded on the page (`rootdb serve`: the serve store's
`audit`), newest first, in one list."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rootdb.privacy import audit_rows
from rootdb.workspace import locate, open_existing


@dataclass
class AuditLog:
    entries: list[dict] = field(default_factory=list)  # newest first

    def to_dict(self) -> dict:
        return {"entries": self.entries}


def _page_entries(ws, limit: int) -> list[dict]:
    """The page's audit rows in the command line's keys: the page user as the user (no
    os_user: the page's process runs as a service's account), the action as the command
    (页面：…), the person or house viewed in the detail."""
    from rootdb.serve.store import page_audit

    return [{"happened_at": r["at"].replace("T", " ")[:19], "user": r["user"], "os_user": None,
             "command": f"页面：{r['action']}", "detail": " ".join(x for x in (r["entity_id"], r["detail"]) if x), "rows": 1, "file": None,
             "source": "页面"}
            for r in page_audit(ws, limit or None)]


def audit(limit: int = 50, db: str | Path | None = None) -> AuditLog:
    """The last `limit` entries of both logs (0: all)."""
    with open_existing(db) as con:
        entries = [{**row, "user": row["os_user"], "source": "命令行"} for row in audit_rows(con, limit)]
    entries += _page_entries(locate(db), limit)
    entries.sort(key=lambda e: e["happened_at"], reverse=True)
    return AuditLog(entries=entries[:limit] if limit else entries)
