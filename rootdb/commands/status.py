"""`status`: what the workspace holds — feeds, files, snapshots, rows, recent runs.

File names (current files, parts, the commands and headlines of runs) are masked by
content: a delivered name may hold an ID or a mobile. The `files` table keeps the real
name."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field

from rootdb.privacy import mask_strings, mask_text
from rootdb.specs import load_specs
from rootdb.store import table_exists
from rootdb.workspace import locate, open_existing


@dataclass
class FeedPart:
    """One part of a feed delivered in parts, as it stands: its current delivery."""

    part: str | None  # a community or grid; None: what remains current of a whole-feed delivery
    part_basis: str | None  # 文件名 / 社区列 / 网格列 / 住址所属社区, or 整份数据的其余部分
    file_name: str
    delivery_date: str | None
    delivery_basis: str | None
    loaded_at: str | None
    rows_loaded: int


@dataclass
class FeedStatus:
    feed: str
    title: str
    department: str
    current_file: str | None
    loaded_at: str | None
    rows_loaded: int
    rows_quarantined: int
    rows_flagged: int
    snapshots: int  # deliveries loaded (a workbook's sheets count once)
    # The date the current delivery states and on what basis (文件名 / 标题行 / 文件修改时间).
    current_delivery_date: str | None = None
    current_delivery_basis: str | None = None
    # A feed delivered in parts: each part's current delivery (empty when the current
    # data is one whole-feed delivery).
    parts: list[FeedPart] = field(default_factory=list)


@dataclass
class StatusResult:
    database: str
    feeds: list[FeedStatus]
    batches: list[dict] = field(default_factory=list)
    nightly_runs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def status(db: str | None = None, last_runs: int = 5) -> StatusResult:
    from rootdb.nightly import recent_runs

    ws = locate(db)
    database = str(ws.db_path)
    nightly = recent_runs(ws.root, last_runs)
    specs = load_specs()
    with open_existing(db) as con:
        if not table_exists(con, "files"):
            return StatusResult(database=database, feeds=[], nightly_runs=mask_strings(nightly))
        rows = con.execute(
            """
            SELECT f.feed, any_value(f.file_name) FILTER (WHERE f.is_current),
                   strftime(max(f.loaded_at) FILTER (WHERE f.is_current), '%Y-%m-%d %H:%M:%S'),
                   coalesce(sum(f.rows_loaded) FILTER (WHERE f.is_current), 0),
                   coalesce(sum(f.rows_quarantined) FILTER (WHERE f.is_current), 0),
                   coalesce((SELECT count(DISTINCT (i.file_id, i.source_row)) FROM row_issues i
                             JOIN files c USING (file_id) WHERE c.feed = f.feed AND c.is_current), 0),
                   count(DISTINCT f.sha256),
                   strftime(max(f.delivery_date) FILTER (WHERE f.is_current), '%Y-%m-%d'),
                   any_value(f.delivery_basis) FILTER (WHERE f.is_current)
            FROM files f GROUP BY f.feed ORDER BY f.feed
            """
        ).fetchall()
        parts = _parts(con)
        batches = con.execute(
            "SELECT batch_id, command, os_user, strftime(started_at, '%Y-%m-%d %H:%M:%S'), status, summary "
            "FROM batches ORDER BY batch_id DESC LIMIT ?",
            [last_runs],
        ).fetchall()
    feeds = []
    for feed, name, loaded_at, loaded, quarantined, flagged, snapshots, delivered, basis in rows:
        spec = specs.get(feed)
        feeds.append(
            FeedStatus(
                feed=feed,
                title=spec.title if spec else "",
                department=spec.department if spec else "",
                current_file=mask_text(name),
                loaded_at=loaded_at,
                rows_loaded=int(loaded),
                rows_quarantined=int(quarantined),
                rows_flagged=int(flagged),
                snapshots=int(snapshots),
                current_delivery_date=delivered,
                current_delivery_basis=basis,
                parts=parts.get(feed, []),
            )
        )
        if len(feeds[-1].parts) > 1:
            feeds[-1].current_file = f"{len(feeds[-1].parts)} 个部分（见下表）"
    runs = []
    for batch_id, command, user, started, state, summary in batches:
        data = json.loads(summary) if summary else {}
        if state == "running":
            state, data["headline"] = _running_state(data)
        runs.append(
            {"batch_id": batch_id, "command": mask_text(command), "user": user, "started_at": started,
             "status": state, "headline": mask_text(data.get("headline", "")), **data.get("totals", {})}
        )
    return StatusResult(database=database, feeds=feeds, batches=runs, nightly_runs=mask_strings(nightly))


def _parts(con) -> dict[str, list[FeedPart]]:
    """feed -> its parts' current deliveries, for the feeds whose current data comes in
    parts (a workbook's sheets count once)."""
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = 'files'"
    ).fetchall()}
    if "part" not in columns:  # a database from before parts, opened read-only
        return {}
    rows = con.execute(
        """
        SELECT feed, part, any_value(part_basis), any_value(file_name), strftime(any_value(delivery_date), '%Y-%m-%d'),
               any_value(delivery_basis), strftime(max(loaded_at), '%Y-%m-%d %H:%M:%S'), sum(rows_loaded)
        FROM files
        WHERE is_current AND feed IN (SELECT feed FROM files WHERE is_current AND part IS NOT NULL)
        GROUP BY feed, part, sha256
        ORDER BY feed, part NULLS LAST, 4
        """
    ).fetchall()
    out: dict[str, list[FeedPart]] = {}
    for feed, part, basis, name, delivered, delivered_basis, loaded_at, loaded in rows:
        out.setdefault(feed, []).append(FeedPart(part=part, part_basis=basis, file_name=mask_text(name),
                                                 delivery_date=delivered,
                                                 delivery_basis=delivered_basis, loaded_at=loaded_at,
                                                 rows_loaded=int(loaded or 0)))
    return out


def _running_state(data: dict) -> tuple[str, str]:
    """A run recorded as started but never finished: still running (its process is
    alive on this machine), or `interrupted` — killed or crashed midway. Files it had
    loaded by then are kept (each file is its own transaction)."""
    pid, host = data.get("pid"), data.get("host")
    if pid and host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return "interrupted", "未完成（进程已终止）：运行中途被结束，已完成的文件保留，其余文件需重新导入"
        except (PermissionError, OSError, ValueError):
            pass
        else:
            return "running", "正在运行"
    return "interrupted", "未完成（进程已不在运行）：已完成的文件保留，其余文件需重新导入"
