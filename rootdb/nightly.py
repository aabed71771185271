"""`rootdb nightly`: the unattended run — everything new in the inbox is ingested, the
area is linked again, every report is regenerated, and the files are filed away.

One run, in order:
1. take the run lock (`.rootdb-nightly.lock` in the workspace; a second run waits a
   bounded time, then gives up with exit status 4 and changes nothing);
2. ingest the inbox's files (each file its own transaction; a file that is still being
   written — modified in the last ROOTDB_INBOX_SETTLE seconds — waits for the next run);
3. link, when a file was loaded or review decisions imported since the last committed link;
4. write every report, and the changes since the last run (变动情况), into a staging
   folder, then swap it in place of `reports/` — a failure leaves yesterday's reports;
5. move processed files to `archive/YYYY-MM-DD/`, rejected ones to `rejected/` with a
   note of why beside each (`<file>.原因.txt`); a file that failed for want of memory or
   disk space (not for what it holds) stays in the inbox for the next run;
6. write the run record (`runs/<run id>.json`: steps, counts, timings, warnings) and
   the log (`logs/<run id>.log`); `rootdb status` lists the runs.

Exit status (`NightlyRun.exit_code`): 0 done; 1 failed — reports and inbox as they were,
the next run retries; 2 bad usage; 3 done, but some files were rejected; 4 another run
holds the lock; 5 done, but a file could not be loaded for want of memory or disk space:
it stays in the inbox for the next run (rejected files, if any, are in `rejected/`).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import fcntl
import functools
import json
import logging
import os
import re
import shutil
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from rootdb.errors import (DISK_FULL_STEP_MESSAGE, INTERRUPTED_MESSAGE, ExitCode, RootdbError, UsageError, disk_full,
                           interrupted, out_of_memory)
from rootdb.faults import pause_point
from rootdb.ingest.pipeline import expand_paths
from rootdb.ingest.results import gbk_name, readable_path
from rootdb.outpaths import written_whole
from rootdb.privacy import mask_strings, mask_text

LOCK_NAME = ".rootdb-nightly.lock"
SETTLE_ENV, SETTLE_DEFAULT = "ROOTDB_INBOX_SETTLE", 60.0
# How the log and the terminal name files' outcomes and the steps.
FILE_STATUS_WORDS = {"loaded": "已导入", "unchanged": "未变化", "failed": "退回", "retry": "待重试"}
STEP_WORDS = {"ingest": "导入", "link": "比对", "reports": "报表", "changes": "变动情况"}
DETAIL_WORDS = {"files": "文件", "loaded": "新导入", "unchanged": "未变化", "failed": "退回", "retry": "待重试",
                "reports": "报表", "rows": "行"}
STEP_STATUS_WORDS = {"done": "完成", "skipped": "跳过", "failed": "失败", "running": "中断"}
REGISTRY_FILE_EXAMPLE = "registry_persons_YYYY-MM.csv"
# Ingest's message for a file whose feed it cannot tell ends with "或用 --feed 指定数据源"
# (rootdb.ingest.detect.recognise): an option of `rootdb ingest` that the unattended run
# does not have. Nightly knows a file's feed only by its name and header, so it asks for those.
_FEED_OPTION_ADVICE = re.compile(r"[，,；;]?\s*或用\s*--feed\s*指定数据源")
RENAME_ADVICE = "或将文件改名，使文件名表明是哪类数据，再放回收件箱（inbox）"
RENAME_STEPS = ("请将文件改名，使文件名表明是哪类数据（如低保名册改为 低保_2026-11.xlsx 或 dibao_2026-11.xlsx；"
                "各类文件的命名规则可用 rootdb feeds 查看），并核对表头行的列名与该类数据一致；"
                "改好后放回收件箱（inbox），下次运行时会再次导入。")
RETRY_STEPS = "请按原因修改后重新放入收件箱（inbox），下次运行时会再次导入。"


@dataclass
class NightlyStep:
    name: str
    status: str  # done / skipped / failed
    seconds: float = 0.0
    detail: dict = field(default_factory=dict)


@dataclass
class NightlyRun:
    run_id: str
    started: str
    as_of: str
    status: str = "running"  # done / done_with_rejected / done_with_retry / failed / busy
    exit_code: int = ExitCode.OK
    message: str = ""
    steps: list[NightlyStep] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    finished: str | None = None
    seconds: float = 0.0
    log_file: str = ""
    record_file: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def headline(self) -> str:
        loaded = sum(1 for f in self.files if f["status"] == "loaded")
        retry = sum(f["retry"] for f in self.files)
        rejected = sum(f["status"] == "failed" for f in self.files) - retry
        text = {"done": "完成", "done_with_rejected": "完成（有文件被退回）", "failed": "失败",
                "done_with_retry": "完成（有文件因内存或磁盘不足未导入，留在收件箱待下次运行）",
                "busy": "未运行（另一次运行未结束）"}.get(self.status, self.status)
        changes = "，".join(f"{k} {v}" for k, v in self.changes.items() if v)
        return (f"{text}：新文件 {loaded}，退回 {rejected}" + (f"，待重试 {retry}" if retry else "")
                + (f"；变动：{changes}" if changes else ""))


def run_nightly(db: str | None = None, as_of: dt.date | None = None, wait: float | None = None,
                settle_seconds: float | None = None) -> NightlyRun:
    from rootdb.workspace import LOCK_WAIT_SECONDS, locate, require_existing

    ws = locate(db)
    require_existing(ws)
    now = dt.datetime.now()
    run = NightlyRun(run_id=now.strftime("%Y%m%d-%H%M%S-%f"), started=now.isoformat(timespec="seconds"),
                     as_of=(as_of or now.date()).isoformat())
    runs_dir, logs_dir = ws.root / "runs", ws.root / "logs"
    runs_dir.mkdir(exist_ok=True)
    logs_dir.mkdir(exist_ok=True)
    run.log_file = str(logs_dir / f"nightly_{run.run_id}.log")
    run.record_file = str(runs_dir / f"nightly_{run.run_id}.json")
    log = _logger(Path(run.log_file))
    started = time.perf_counter()
    stopped: KeyboardInterrupt | UsageError | None = None
    try:
        _check_memory_limits()  # bad usage before anything is done, not a night failed at its link
        with _run_lock(ws.root / LOCK_NAME, LOCK_WAIT_SECONDS if wait is None else wait):
            # A run killed midway leaves this "running" record: the next run then links again.
            _write_record(run)
            log.info("开始：工作区 %s，统计日期 %s", ws.root, run.as_of)
            settle = float(os.environ.get(SETTLE_ENV, SETTLE_DEFAULT)) if settle_seconds is None else settle_seconds
            _run_steps(ws, run, log, settle)
    except _Busy as exc:
        run.status, run.exit_code, run.message = "busy", ExitCode.BUSY, str(exc)
        log.warning(str(exc))
    except _Refused as exc:  # recorded (`rootdb status` shows the night refused), then exit 2
        run.status, run.exit_code, run.message = "failed", ExitCode.USAGE, str(exc)
        log.error("失败：%s", run.message)
        stopped = exc
    except KeyboardInterrupt as exc:  # Ctrl+C: recorded, then the command ends as after any
        run.status, run.exit_code, run.message = "failed", ExitCode.FAILED, INTERRUPTED_MESSAGE
        log.error("失败：%s", run.message)
        stopped = exc
    except Exception as exc:  # any failure: record it; reports and inbox stay as they were
        from rootdb.workspace import out_of_memory_message

        run.status, run.exit_code = "failed", ExitCode.FAILED
        run.message = mask_text(str(exc) if isinstance(exc, RootdbError)
                                else INTERRUPTED_MESSAGE if interrupted(exc)
                                else DISK_FULL_STEP_MESSAGE if disk_full(exc)
                                else out_of_memory_message() if out_of_memory(exc) else f"{type(exc).__name__}: {exc}")
        log.error("失败：%s\n%s", run.message, traceback.format_exc())
    run.warnings = [mask_text(w) for w in run.warnings]
    for warning in run.warnings:
        log.warning("提示：%s", warning)
    run.seconds = round(time.perf_counter() - started, 2)
    run.finished = dt.datetime.now().isoformat(timespec="seconds")
    log.info("结束：%s（%.1f 秒）", run.headline(), run.seconds)
    try:
        _write_record(run)
    except OSError as exc:  # the record of the start stays: `rootdb status` reads it as interrupted
        run.warnings.append(f"本次运行记录未能写入（{_cannot_write(exc)}）：{run.record_file}")
    for handler in list(log.handlers):
        with contextlib.suppress(OSError):  # what a full disk kept back (`_LogFile`): dropped
            handler.close()
        log.removeHandler(handler)
    if stopped is not None:
        raise stopped
    return run


class _Refused(UsageError):
    """Bad usage found before the night starts (`_check_memory_limits`)."""


def _check_memory_limits() -> None:
    """Both memory variables readable (`workspace.memory_limit`), else a usage error."""
    from rootdb import workspace
    from rootdb.link import model

    try:
        workspace.memory_limit("ROOTDB_MEMORY_LIMIT", workspace.MEMORY_LIMIT)
        workspace.memory_limit("ROOTDB_SPLINK_MEMORY_LIMIT", model.SPLINK_MEMORY_LIMIT)
    except UsageError as exc:
        raise _Refused(str(exc)) from None


def _write_record(run: NightlyRun) -> None:
    """The run record, replaced whole or not at all: a full disk never leaves half a record
    (which `rootdb status` could not read), only the one written before."""
    with written_whole(Path(run.record_file)) as partial:
        partial.write_text(json.dumps(_masked(run.to_dict()), ensure_ascii=False, indent=2), encoding="utf-8")


def _masked(value):
    """Every text in a run record with IDs and mobiles masked (messages quote files), and
    a path rejected for its name (not valid text) as it reads."""
    return mask_strings(value, lambda text: mask_text(readable_path(text)))


def _run_steps(ws, run: NightlyRun, log: logging.Logger, settle: float) -> None:
    from rootdb.ingest import ingest
    from rootdb.link import link
    from rootdb.store import table_exists
    from rootdb.workspace import open_existing

    as_of = dt.date.fromisoformat(run.as_of)
    inbox = ws.folder("inbox", "inbox")
    inbox.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(ws.root)

    # 1. Ingest what has arrived and settled.
    with _step(run, "ingest", log) as step:
        run.warnings += _readable_names(inbox, settle)
        files, waiting = _inbox_files(inbox, settle)
        for path in waiting:
            run.warnings.append(f"{readable_path(path.name)} 仍在写入（{settle:.0f} 秒内有改动），留待下次运行")
        result = ingest(files, db=ws.db_path, command="nightly") if files else None
        # Each file is moved by its place in the inbox (results come in the order given),
        # not by the path ingest resolved: a link in the inbox is moved, never its target.
        for path, f in zip(files, result.files if result else []):
            entry = {"file": f.file, "path": str(path), "feed": f.feed, "status": f.status, "rows_read": f.rows_read,
                     "rows_loaded": f.rows_loaded, "rows_quarantined": f.rows_quarantined,
                     "message": nightly_message(f.message), "retry": f.retry}
            run.files.append(entry)
            log.info("文件 %s：%s %s", f.file, FILE_STATUS_WORDS["retry" if f.retry else f.status],
                     entry["message"] or "")
            run.warnings += [f"{f.file}：{w}" for w in f.warnings]
        retry = sum(f["retry"] for f in run.files)
        step.detail = {"files": len(files), "loaded": sum(f["status"] == "loaded" for f in run.files),
                       "unchanged": sum(f["status"] == "unchanged" for f in run.files),
                       "failed": sum(f["status"] == "failed" for f in run.files) - retry}
        if retry:
            step.detail["retry"] = retry
    # Rejected files leave the inbox now, whatever happens next; one that failed for want
    # of memory or disk space is not the department's to mend: it stays for the next run.
    for entry in run.files:
        if entry["status"] == "failed" and not entry["retry"]:
            if _file_away(run, ws.root, entry, ws.root / "rejected"):
                _note_rejection(run, entry)

    # 2. Link when a file was loaded, or review decisions imported, since the last link
    #    that got to its end (tonight, by hand, or by a run killed before its link); and
    #    only once the registry has arrived (nothing can be linked or reported without it).
    with open_existing(ws.db_path, read_only=True) as con:
        has_registry = table_exists(con, "files") and con.execute(
            "SELECT count(*) FROM files WHERE is_current AND feed = 'registry_persons'").fetchall()[0][0] > 0
        needs_link = has_registry and (not table_exists(con, "crosswalk") or _changed_since_link(con))
    if has_registry:
        with _step(run, "link", log, skip=None if needs_link else "无新数据") as step:
            if needs_link:
                linked = link(db=ws.db_path)
                step.detail = {"headline": linked.headline(), "review_pairs": linked.review_pairs}
                run.warnings += [f"比对：{w}" for w in linked.warnings]  # e.g. the page's copy not published
        _reports_and_changes(ws, run, log, as_of)
    else:
        run.warnings.append(f"尚未收到公安实有人口库（{REGISTRY_FILE_EXAMPLE}）：比对、报表和变动情况"
                            "等它放入收件箱后的那次运行再做；其余文件照常导入")
        for name in ("link", "reports", "changes"):
            with _step(run, name, log, skip="等待公安实有人口库"):
                pass

    # 4. File away what was processed.
    archive = ws.root / "archive" / dt.date.today().isoformat()
    for entry in run.files:
        if entry["status"] in ("loaded", "unchanged"):
            _file_away(run, ws.root, entry, archive)
    if any(f["retry"] for f in run.files):
        run.status, run.exit_code = "done_with_retry", ExitCode.RETRY
    elif any(f["status"] == "failed" for f in run.files):
        run.status, run.exit_code = "done_with_rejected", ExitCode.REJECTED
    else:
        run.status, run.exit_code = "done", ExitCode.OK


def _reports_and_changes(ws, run: NightlyRun, log: logging.Logger, as_of: dt.date) -> None:
    """Reports and the changes since the last run, staged, then swapped into reports/."""
    from rootdb.reports import run_reports, select_templates

    reports_dir = ws.root / "reports"
    staging = ws.root / f".reports-new-{run.run_id}"
    read: list[_Today] = []
    try:
        with _step(run, "reports", log) as step:
            # The changes read the reports' tables on their connection: prepared once, not twice.
            report_run = run_reports(select_templates([], True), as_of=as_of, out=staging, db=str(ws.db_path),
                                     then=lambda con: read.append(_read_today(con)))
            step.detail = {"reports": len(report_run.reports), "rows": sum(r.rows for r in report_run.reports)}
        with _step(run, "changes", log) as step:
            state, changes, unit_name = _compare(read[0])
            if changes is not None:
                _write_changes(staging / f"变动情况_{run.as_of}.xlsx", changes, as_of, unit_name)
                run.changes = {kind: int(n) for kind, n in
                               changes.group_by("变动类型").len().sort("变动类型").iter_rows()}
            else:
                run.warnings.append("首次运行：没有上次的人员状态可比较，变动情况从下次运行起生成")
            step.detail = dict(run.changes)
            pause_point("nightly.before_swap")
            _swap_in(staging, reports_dir)
    except BaseException:  # a full disk, Ctrl+C: yesterday's reports/ as it was, nothing half made beside it
        _remove_leftovers(ws.root)
        raise
    _save_state(ws.db_path, state, read[0].saved)

# ---------------------------------------------------------------- changes since the last run

@dataclass
class _Today:
    """What the changes are made of, read on the report tables of the whole area (the
    nightly's reports' own connection): tonight's state, the rows the changes list, and
    the state tables as the last run saved them (none at the first)."""

    state: dict[str, pl.DataFrame]
    death_dates: pl.DataFrame
    visits: pl.DataFrame
    overdue: pl.DataFrame
    unit_name: str
    saved: dict[str, pl.DataFrame] = field(default_factory=dict)


def _read_today(con) -> _Today:
    """`_Today` from `con`, whose report tables are prepared for the whole area."""
    from rootdb.reports.engine import _unit_name
    from rootdb.specs.meaning import special_groups
    from rootdb.store import fetch_frame, table_exists

    today = _Today(
        state={
            PERSON_STATE: fetch_frame(con, """
                SELECT p.person_id, p.name, p.id_number, p.in_registry, p.dead, p.status, p.house_id, p.grid,
                       p.short_address, list_sort(list_intersect(p.groups, ?::VARCHAR[])) AS benefits,
                       v.visited_90d
                FROM r_persons p LEFT JOIN r_special_visits v USING (person_id)
                ORDER BY p.person_id""", [special_groups()]),
            EVENT_STATE: fetch_frame(con, "SELECT event_no FROM r_overdue_events ORDER BY event_no"),
        },
        death_dates=fetch_frame(con, "SELECT person_id, death_date FROM r_persons WHERE dead"),
        visits=fetch_frame(con, "SELECT person_id, special_groups, last_visit FROM r_special_visits"),
        overdue=fetch_frame(con, """
            SELECT event_no, days_overdue, handling_dept, grid, location AS short_address, person_id,
                   person_name AS name, person_id_number AS id_number
            FROM r_overdue_events"""),
        unit_name=_unit_name(con, None, None),
    )
    for table, columns in ((PERSON_STATE, "*"), (EVENT_STATE, "event_no")):
        if table_exists(con, table):
            today.saved[table] = fetch_frame(con, f"SELECT {columns} FROM {table}")
    return today


def _changes(db_path: Path, as_of: dt.date) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None, str]:
    """`_compare` of what a connection of its own reads (`_read_today`)."""
    from rootdb.reports.engine import prepare
    from rootdb.workspace import open_existing

    with open_existing(db_path, read_only=True) as con:
        prepare(con, as_of, None, None)
        today = _read_today(con)
    return _compare(today)


def _compare(today: _Today) -> tuple[dict[str, pl.DataFrame], pl.DataFrame | None, str]:
    """Today's state (per table of STATE_TABLES) and, when a previous one was saved, what
    changed: newly in the registry, died, moved out, moved house, started or stopped a
    benefit (a special group a feed's schema declares: 低保, 医保参保, …); an event of the
    grid platform newly overdue (事件超期); a special-group resident whose last visit has
    passed 90 days since the last run (走访超期; someone who only now joins a special
    group unvisited is not one: R40 lists them).

    A feed delivered in parts (one file per community or grid) is read through its
    `<feed>` view, the union of the latest delivery of every part: a part not delivered
    tonight keeps its last delivery, so its people's state is unchanged and nobody in it
    is listed as leaving; only the parts delivered can change anyone's state."""
    state, previous, unit_name = today.state, today.saved.get(PERSON_STATE), today.unit_name
    if previous is None:
        return state, None, unit_name
    death_dates, visits, overdue = today.death_dates, today.visits, today.overdue
    # A state saved before events were kept has none: tonight's is the first to compare with.
    overdue_before = today.saved.get(EVENT_STATE, state[EVENT_STATE])
    if "visited_90d" not in previous.columns:  # saved before visits were kept
        previous = previous.with_columns(pl.lit(None, pl.Boolean).alias("visited_90d"))
    both = state[PERSON_STATE].join(previous, on="person_id", how="left", suffix="_before")
    is_new = pl.col("name_before").is_null()
    parts = [
        both.filter(pl.col("in_registry") & (is_new | ~pl.col("in_registry_before").fill_null(False)))
        .with_columns(pl.lit("新登记").alias("变动类型"), pl.lit("公安库新增").alias("说明")),
        both.filter(pl.col("dead") & ~pl.col("dead_before").fill_null(False))
        .with_columns(pl.lit("死亡").alias("变动类型"), pl.lit("公安库或殡葬登记死亡").alias("说明")),
        both.filter((pl.col("status") == "迁出") & (pl.col("status_before").fill_null("") != "迁出"))
        .with_columns(pl.lit("迁出").alias("变动类型"), pl.lit("公安库登记迁出").alias("说明")),
        both.filter(~is_new & ~pl.col("dead") & (pl.col("status") != "迁出")
                    & pl.col("house_id_before").is_not_null() & pl.col("house_id").is_not_null()
                    & (pl.col("house_id") != pl.col("house_id_before")))
        .with_columns(pl.lit("搬迁").alias("变动类型"),
                      pl.concat_str(pl.lit("原住址："), pl.col("short_address_before").fill_null("")).alias("说明")),
    ]
    benefits = both.filter(~is_new).with_columns(
        pl.col("benefits").list.set_difference(pl.col("benefits_before")).alias("started"),
        pl.col("benefits_before").list.set_difference(pl.col("benefits")).alias("stopped"))
    # 说明 names the rosters: 低保、医保参保 … (a benefit or an insurance, so no verb like 享受)
    for column, kind in (("started", "新列入名单"), ("stopped", "移出名单")):
        rows = benefits.filter(pl.col(column).list.len() > 0).with_columns(
            pl.lit(kind).alias("变动类型"), pl.col(column).list.sort().list.join("、").alias("说明"))
        parts.append(rows)
    parts.append(_visits_lapsed(both, visits))
    columns = ["变动类型", "name", "id_number", "grid", "short_address", "说明", "person_id"]
    changes = pl.concat([p.select(columns) for p in parts] + [_events_overdue(overdue, overdue_before)])
    changes = changes.sort("变动类型", "grid", "person_id", "说明", nulls_last=True)
    changes = changes.join(death_dates, on="person_id", how="left").with_columns(
        pl.when(pl.col("变动类型") == "死亡").then(pl.col("death_date")).alias("death_date"))
    return state, changes, unit_name


def _visits_lapsed(both: pl.DataFrame, visits: pl.DataFrame) -> pl.DataFrame:
    """走访超期: special-group residents visited within 90 days at the last run and not
    now (`both`: tonight's person state beside the last one; `visits`: r_special_visits)."""
    lapsed = both.filter(pl.col("visited_90d_before").fill_null(False) & ~pl.col("visited_90d").fill_null(True))
    return lapsed.join(visits, on="person_id").with_columns(
        pl.lit("走访超期").alias("变动类型"),
        pl.concat_str(pl.col("special_groups"), pl.lit("；最近走访 "), pl.col("last_visit").cast(pl.String),
                      pl.lit("，已满90天未走访")).alias("说明"))


def _events_overdue(overdue: pl.DataFrame, before: pl.DataFrame) -> pl.DataFrame:
    """事件超期: tonight's overdue events (r_overdue_events) that were not overdue at the
    last run, in the columns of the changes; the person is the one the event concerns."""
    new = overdue.join(before, on="event_no", how="anti")
    return new.select(
        pl.lit("事件超期").alias("变动类型"), "name", "id_number", "grid", "short_address",
        pl.concat_str(pl.lit("事件 "), pl.col("event_no"), pl.lit("，超期 "), pl.col("days_overdue").cast(pl.String),
                      pl.lit(" 天，处置部门："), pl.col("handling_dept").fill_null("（未写）")).alias("说明"),
        "person_id")


# Kinds of change in the order the workbook counts them.
CHANGE_KINDS = ("新登记", "死亡", "迁出", "搬迁", "新列入名单", "移出名单", "走访超期", "事件超期")
# What the workbook counts a kind in (人 unless named here).
CHANGE_UNITS = {"事件超期": "件"}
# The state saved after each run, compared with the next: one row per person (with
# visited_90d, NULL for someone in no special group), and the events overdue then.
PERSON_STATE, EVENT_STATE = "nightly_person_state", "nightly_event_state"


def changes_template():
    """变动情况 laid out as the reports are (rootdb.reports.writer): merged title,
    填报单位 and 统计日期, headers, 合计 line, notes, footer, page numbers."""
    from rootdb.reports.templates import ReportTemplate

    return ReportTemplate(
        code="R00", title="人员变动情况", unit="人", orientation="landscape",
        total_counts=[{"unit": "条"}],
        notes=["注：与上一次夜间运行时的人员状态相比；死亡日期取公安实有人口库或殡葬登记，"
               "新登记指公安实有人口库新增的人员，搬迁的说明列写原住址。",
               "走访超期指上次运行时90天内有入户走访、现已满90天未走访的重点人群（高龄、独居/空巢、残疾、低保、特困、优抚）；"
               "事件超期指上次运行后超过办理期限仍未办结的网格事件，姓名为事件当事人，住址为事发地点。"],
        empty_text="本期无变动",
        sql="SELECT 1 ORDER BY 1",  # the rows come from nightly's comparison, not from SQL
        columns=[
            {"field": "kind", "header": "变动类型", "width": 11, "align": "center"},
            {"field": "name", "header": "姓名", "width": 10},
            {"field": "id_number", "header": "身份证号", "mask": "id", "width": 21},
            {"field": "grid", "header": "网格", "width": 12},
            {"field": "address", "header": "住址", "width": 30},
            {"field": "death_date", "header": "死亡日期", "format": "date", "width": 11},
            {"field": "note", "header": "说明", "width": 30},
        ])


def _write_changes(path: Path, changes: pl.DataFrame, as_of: dt.date, unit_name: str = "（未知）") -> None:
    from rootdb.privacy import mask_frame, mask_id
    from rootdb.reports.writer import ReportHeading, write_xlsx

    frame = mask_frame(changes.select(
        pl.col("变动类型").alias("kind"), "name", mask_id(pl.col("id_number")).alias("id_number"), "grid",
        pl.col("short_address").alias("address"), pl.col("death_date").cast(pl.Date), pl.col("说明").alias("note")))
    counts = dict(frame.group_by("kind").len().iter_rows())
    template = changes_template()
    if counts:
        kinds = [k for k in CHANGE_KINDS if k in counts] + sorted(k for k in counts if k not in CHANGE_KINDS)
        by_kind = "，".join(f"{kind} {counts[kind]:,} {CHANGE_UNITS.get(kind, '人')}" for kind in kinds)
        template = template.model_copy(update={"notes": [f"本期变动：{by_kind}。", *template.notes]})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_xlsx(path, template, frame, ReportHeading(unit_name=unit_name, as_of=as_of), sheet_name="变动情况")


def _save_state(db_path: Path, state: dict[str, pl.DataFrame], saved: dict[str, pl.DataFrame] | None = None) -> None:
    """Save tonight's state (`_compare`) in one transaction. A table whose last saved
    state (`saved`) has the same columns, keyed by its first column (person_id,
    event_no: unique, never null, tonight and then), gets only the rows of the keys
    whose rows changed, came or went — on a night with nothing new, the few people whose
    last visit passed 90 days; any other is replaced."""
    from rootdb.store import append_frame, frame_to_table, registered
    from rootdb.workspace import connect

    with connect(db_path) as con:
        con.begin()
        for table, frame in state.items():
            before, key = (saved or {}).get(table), frame.columns[0]
            if before is None or before.schema != frame.schema or not (_a_key(frame[key]) and _a_key(before[key])):
                frame_to_table(con, table, frame)
                continue
            stale = pl.concat([frame.join(before, on=frame.columns, how="anti", nulls_equal=True).select(key),
                               before.join(frame, on=frame.columns, how="anti", nulls_equal=True).select(key)])
            with registered(con, "_stale_keys", stale):
                con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM _stale_keys)")
            append_frame(con, table, frame.join(stale, on=key, how="semi"))
        con.commit()


def _a_key(column: pl.Series) -> bool:
    """Whether `column` tells its rows apart: no null, no value twice."""
    return column.null_count() == 0 and column.n_unique() == column.len()


# ---------------------------------------------------------------- files and folders

def _inbox_files(inbox: Path, settle: float) -> tuple[list[Path], list[Path]]:
    files = expand_paths([inbox])
    cutoff = time.time() - settle
    ready, waiting = [], []
    for path in files:
        try:
            (ready if path.stat().st_mtime <= cutoff else waiting).append(path)
        except FileNotFoundError:  # gone between listing and looking
            continue
    return ready, waiting


def _readable_names(inbox: Path, settle: float) -> list[str]:
    """Files and folders in the inbox whose names are not UTF-8 but GBK (unzipped from an
    archive made on Windows) renamed to how they read, so that they load like any other:
    no reader, database or terminal takes such a name. Only once it has settled (as
    ingest takes a file; a folder with everything in it: a program still copying into it
    goes on by the old name), never over another name; what cannot be read as GBK stays,
    and ingest rejects it."""
    notes, cutoff = [], time.time() - settle
    for root, folders, files in os.walk(inbox):
        for names in (folders, files):
            for i, name in enumerate(names):
                readable, path = gbk_name(name), os.path.join(root, name)
                if readable is None or os.path.lexists(os.path.join(root, readable)):
                    continue
                try:
                    if (_last_change(path) > cutoff
                            or not _rename_no_replace(path, os.path.join(root, readable))):
                        continue
                except FileNotFoundError:  # gone between listing and renaming
                    continue
                names[i] = readable  # os.walk goes on into the folder by its new name
                notes.append(f"「{readable}」的名字原为 GBK 编码（多半来自 Windows 上打的压缩包），已改为这个名字")
    return notes


def _rename_no_replace(source: str, target: str) -> bool:
    """Rename `source` to `target` unless something has that name (False), in one step
    where the system can (Linux's renameat2 NOREPLACE): a department's program may put a
    file under that very name at the same moment."""
    rename = _renameat2()
    if rename is not None:
        at_cwd, no_replace = -100, 1
        if rename(at_cwd, os.fsencode(source), at_cwd, os.fsencode(target), no_replace) == 0:
            return True
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            return False
        if code not in (errno.EINVAL, errno.ENOSYS):  # else a file system without it: below
            raise OSError(code, os.strerror(code), source)
    if os.path.lexists(target):
        return False
    os.rename(source, target)
    return True


@functools.cache
def _renameat2():
    """libc's renameat2, or None where the system has none (looked up once)."""
    return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


def _last_change(path: str) -> float:
    """When `path` last changed: a folder, or anything in it."""
    latest = os.lstat(path).st_mtime
    for root, folders, files in os.walk(path):
        for name in folders + files:
            with contextlib.suppress(FileNotFoundError):
                latest = max(latest, os.lstat(os.path.join(root, name)).st_mtime)
    return latest


def _move(path: Path, folder: Path) -> str | None:
    """Move `path` into `folder`, never over an existing file; None when it is gone."""
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(readable_path(path.name))  # a name that is not UTF-8 is filed as it reads
    target = folder / name
    n = 1
    while os.path.lexists(target):  # a link to nothing is a name taken too
        target = folder / f"{name.stem}_{n}{name.suffix}"
        n += 1
    try:
        shutil.move(str(path), str(target))
    except FileNotFoundError:
        return None
    except OSError:
        if os.path.lexists(path):  # still in the inbox: what the copy left in `folder` is no file
            target.unlink(missing_ok=True)
        raise
    return str(target)


def _file_away(run: NightlyRun, root: Path, entry: dict, folder: Path) -> str | None:
    """Move the entry's file into `folder` (`entry["moved_to"]`: where it went, None when it
    is gone). A file that cannot be moved (a full disk, a folder that cannot be made)
    stays in the inbox (`entry["kept_in_inbox"]`) with a warning: the night's work is done
    and kept, and the next run takes the file up again (a loaded one is then unchanged)."""
    path = Path(entry["path"])
    try:
        entry["moved_to"] = _move(path, folder)
    except OSError as exc:
        entry["moved_to"], entry["kept_in_inbox"] = None, True
        run.warnings.append(f"{readable_path(path.name)} 未能移入 {folder.relative_to(root).as_posix()}/"
                            f"（{_cannot_write(exc)}），仍留在收件箱，下次运行时再处理")
    return entry["moved_to"]


_WHY_NOT_WRITTEN = {errno.EEXIST: "有同名的文件占着文件夹的位置", errno.ENOTDIR: "有同名的文件占着文件夹的位置",
                    errno.ENAMETOOLONG: "文件名太长", errno.EACCES: "没有权限", errno.EPERM: "没有权限",
                    errno.EROFS: "磁盘只读", errno.EDQUOT: "磁盘配额已用完", errno.EFBIG: "文件太大"}


def _cannot_write(exc: OSError) -> str:
    """Why a file could not be moved or written, in a few words."""
    return "磁盘空间不足" if disk_full(exc) else _WHY_NOT_WRITTEN.get(exc.errno, "系统拒绝写入")


def nightly_message(message: str | None) -> str | None:
    """Ingest's message about a file, with its advice to use `--feed` replaced by what
    works for files dropped into the inbox."""
    if not message:
        return message
    return _FEED_OPTION_ADVICE.sub("，" + RENAME_ADVICE, message)


def rejection_note(file_name: str, why: str, when: dt.datetime) -> str:
    """The note put beside a rejected file: which file, when, why, and what to do."""
    steps = RETRY_STEPS
    if RENAME_ADVICE in why:  # the note spells the renaming out below
        why, steps = why.replace("，" + RENAME_ADVICE, ""), RENAME_STEPS
    return f"文件：{file_name}\n退回时间：{when:%Y-%m-%d %H:%M}\n原因：{why}\n处理：{steps}\n"


def _note_rejection(run: NightlyRun, entry: dict) -> None:
    """The note beside a file moved to rejected/: which file, when, why, what to do. One
    that cannot be written (a full disk) is left out, with a warning; the run record
    and the log say why the file was rejected all the same."""
    note = Path(entry["moved_to"] + ".原因.txt")
    text = mask_text(rejection_note(readable_path(Path(entry["path"]).name), entry["message"] or "无法导入",
                                    dt.datetime.now()))
    try:
        note.write_text(text, encoding="utf-8")
    except OSError as exc:
        with contextlib.suppress(OSError):  # what a full disk let through; a name too long is none
            note.unlink(missing_ok=True)
        run.warnings.append(f"{readable_path(note.name)} 未能写入（{_cannot_write(exc)}）："
                            f"{readable_path(Path(entry['moved_to']).name)} 已退回，原因见本次运行记录")


MANIFEST = ".rootdb-nightly-files"  # in reports/: the names nightly wrote there


def _swap_in(staging: Path, reports_dir: Path) -> None:
    """Replace `reports_dir` by `staging` with two renames, so that the folder is always
    either yesterday's complete set or today's. Only what nightly itself wrote is
    replaced: anything else found in reports/ (a report someone ran by hand into it, a
    note) is carried over into the new folder, never deleted."""
    written = sorted(p.name for p in staging.iterdir())
    (staging / MANIFEST).write_text("\n".join(written) + "\n", encoding="utf-8")
    old = reports_dir.with_name(f".reports-old-{staging.name.removeprefix('.reports-new-')}")
    if reports_dir.exists():
        _carry_over(reports_dir, staging)
        reports_dir.rename(old)
    staging.rename(reports_dir)
    shutil.rmtree(old, ignore_errors=True)


def _carry_over(reports_dir: Path, staging: Path) -> None:
    """Copy into the new folder what the last night did not write (by its manifest; a
    folder without one: what is not a report or changes workbook of nightly's naming)."""
    manifest = reports_dir / MANIFEST
    if manifest.is_file():
        ours = set(manifest.read_text(encoding="utf-8").split()) | {MANIFEST}
        theirs = [p for p in reports_dir.iterdir() if p.name not in ours]
    else:  # e.g. written by `rootdb demo`: the reports, their pictures' folders, the changes
        from rootdb.reports.engine import PICTURE_DRAWERS

        pictures = "|".join(re.escape(title) for title, _, _ in PICTURE_DRAWERS.values())
        ours_pattern = re.compile(rf"^(R\d{{2,3}}_[^/]+\.xlsx|R\d{{2,3}}_({pictures})|变动情况_\d{{4}}-\d{{2}}-\d{{2}}\.xlsx)$")
        theirs = [p for p in reports_dir.iterdir() if not ours_pattern.match(p.name)]
    for path in theirs:
        target = staging / path.name
        if target.exists():  # the same name as tonight's file: kept beside it
            target = staging / f"{path.stem}_手工保留{path.suffix}"
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)


def _remove_leftovers(root: Path) -> None:
    """A run killed midway may leave a staging folder, or have moved `reports/` aside
    without putting the new one in place: put the old one back."""
    for leftover in sorted(root.glob(".reports-new-*")):
        shutil.rmtree(leftover, ignore_errors=True)
    olds = sorted(root.glob(".reports-old-*"))
    if olds and not (root / "reports").exists():
        olds[-1].rename(root / "reports")
        olds = olds[:-1]
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


def _changed_since_link(con) -> bool:
    """Whether a file was loaded (or a delivery replaced), or an officer's review
    decisions imported (`rootdb review import`), after the last link that was committed:
    batch ids come from one sequence, and a link, an ingest and a review import each
    record theirs in the transaction that writes their data, so a killed or failed link
    leaves them after the last good one."""
    last = con.execute("SELECT max(batch_id) FROM batches WHERE command = 'link' AND status = 'ok'").fetchall()[0][0]
    return last is None or con.execute(
        "SELECT (SELECT count(*) FROM files WHERE batch_id > $last) "
        "+ (SELECT count(*) FROM batches WHERE command = 'review' AND batch_id > $last)", {"last": last}
    ).fetchall()[0][0] > 0


def recent_runs(root: Path, limit: int = 10) -> list[dict]:
    """The latest run records of a workspace, newest first (for `rootdb status`). A
    record still "running" when no run holds the lock was killed: "interrupted"."""
    out = []
    running = _lock_held(root / LOCK_NAME)
    for record in sorted((root / "runs").glob("nightly_*.json"), reverse=True)[:limit]:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        status = data.get("status")
        if status == "running" and not running:
            status = "interrupted"
        files = data.get("files", [])
        out.append({"run_id": data.get("run_id"), "started": data.get("started"), "status": status,
                    "exit_code": data.get("exit_code"), "seconds": data.get("seconds"),
                    "message": data.get("message"), "files": len(files),
                    "rejected": sum(f.get("status") == "failed" and not f.get("retry") for f in files),
                    "changes": data.get("changes", {}), "record_file": str(record)})
    return out


# ---------------------------------------------------------------- lock, steps, log

class _Busy(Exception):
    pass


def _lock_held(path: Path) -> bool:
    """Whether a nightly run holds the workspace's lock now."""
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextmanager
def _run_lock(path: Path, wait: float) -> Iterator[None]:
    """One nightly run per workspace at a time (released by the OS if the run dies)."""
    handle = path.open("a+")
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _Busy(f"另一次 rootdb nightly 正在运行，等待 {wait:.0f} 秒后仍未结束；本次未做任何改动") from None
                time.sleep(0.5)
        yield
    finally:
        handle.close()


@contextmanager
def _step(run: NightlyRun, name: str, log: logging.Logger, skip: str | None = None) -> Iterator[NightlyStep]:
    """A step of the run, timed and logged; `skip`: why it is not done this time."""
    step = NightlyStep(name=name, status="skipped" if skip else "running",
                       detail={"headline": skip} if skip else {})
    run.steps.append(step)
    started = time.perf_counter()
    try:
        yield step
    except BaseException:
        step.status = "failed"
        raise
    finally:
        step.seconds = round(time.perf_counter() - started, 2)
    if not skip:
        step.status = "done"
    detail = step_detail(step.detail)
    log.info("步骤 %s：%s（%.1f 秒）%s", STEP_WORDS.get(name, name), STEP_STATUS_WORDS.get(step.status, step.status),
             step.seconds, detail)


def step_detail(detail: dict) -> str:
    """A step's detail in words: its headline, else its counts (文件 2，新导入 1 …)."""
    return detail.get("headline") or "，".join(
        f"{DETAIL_WORDS.get(k, k)} {v:,}" if isinstance(v, int) else f"{DETAIL_WORDS.get(k, k)} {v}"
        for k, v in detail.items())


def _logger(path: Path) -> logging.Logger:
    log = logging.getLogger(f"rootdb.nightly.{path.stem}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = _LogFile(path, encoding="utf-8")
    handler.setFormatter(_MaskingFormatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    return log


class _LogFile(logging.FileHandler):
    """The night's log file. A line that cannot be written (a full disk) is dropped, not
    printed with logging's English traceback: the terminal, the exit status and the run
    record still say what happened."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


class _MaskingFormatter(logging.Formatter):
    """Log lines (tracebacks too) with IDs and mobiles masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


__all__ = ["NightlyRun", "recent_runs", "run_nightly"]
