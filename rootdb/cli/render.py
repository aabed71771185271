"""How results look in a terminal: rich tables on stdout, progress and errors on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from rootdb.ingest.results import FileResult, IngestResult
from rootdb.status import StatusResult

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_STATUS_TEXT = {"loaded": "[green]已导入[/]", "unchanged": "[dim]未变化[/]", "failed": "[red]失败[/]"}


def print_json(data: dict) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def error_panel(message: str) -> None:
    err.print(Panel(message, title="错误 Error", border_style="red", expand=False))


class IngestProgressBar:
    """Rich progress over the files of an ingest, the current step beside it."""

    def __init__(self, enabled: bool = True):
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not enabled,
        )
        self._task = None
        self._file = ""

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def start(self, total_files: int) -> None:
        self._task = self._progress.add_task("导入", total=total_files)

    def file_started(self, path: Path) -> None:
        self._file = path.name
        self._progress.update(self._task, description=f"{self._file}")

    def step(self, description: str) -> None:
        self._progress.update(self._task, description=f"{self._file}：{description}")

    def file_done(self, result: FileResult) -> None:
        self._progress.advance(self._task)


def ingest_summary(result: IngestResult) -> None:
    table = Table(title=f"导入结果（批次 {result.batch_id}，用时 {result.seconds:.1f} 秒）", title_justify="left")
    for name, justify in (("文件", "left"), ("数据源", "left"), ("状态", "left"), ("读取", "right"),
                          ("导入", "right"), ("隔离", "right"), ("有问题", "right")):
        table.add_column(name, justify=justify, overflow="fold")
    for f in result.files:
        table.add_row(
            f.file, f.feed or "-", _STATUS_TEXT[f.status],
            f"{f.rows_read:,}", f"{f.rows_loaded:,}",
            f"[yellow]{f.rows_quarantined:,}[/]" if f.rows_quarantined else "0",
            f"{f.rows_flagged:,}",
        )
    totals = result.to_dict()["totals"]
    table.add_section()
    table.add_row(
        f"合计 {totals['files']} 个文件", "", f"[red]失败 {totals['failed']}[/]" if totals["failed"] else "",
        f"{totals['rows_read']:,}", f"{totals['rows_loaded']:,}", f"{totals['rows_quarantined']:,}",
        f"{totals['rows_flagged']:,}",
    )
    out.print(table)
    out.print("读取 = 导入 + 隔离；“有问题”的行已导入，但带有待核实的问题（如身份证号校验错误）。")
    for f in result.files:
        if f.status == "failed":
            out.print(f"[red]✗ {f.message}[/]", soft_wrap=True)
        elif f.message:
            out.print(f"[dim]· {f.file}：{f.message}[/]", soft_wrap=True)
        for warning in f.warnings:
            out.print(f"[yellow]! {f.file}：{warning}[/]", soft_wrap=True)
    if result.rows_quarantined:
        out.print("隔离的行可用 [bold]rootdb quarantine --out 隔离数据.xlsx[/] 导出，退回部门核实。")
    if result.failed:
        err.print(f"[red]{len(result.failed)} 个文件导入失败，其余文件已正常导入。[/]")
    elif not result.ok:
        err.print("[red]--strict：存在被隔离的行，按失败处理。[/]")


def status_tables(result: StatusResult) -> None:
    out.print(f"数据库：{result.database}")
    table = Table(title="已导入的数据源（当前快照）", title_justify="left")
    for name in ("数据源", "名称", "当前文件", "导入时间", "记录", "隔离", "有问题", "快照"):
        numeric = name in ("记录", "隔离", "有问题", "快照")
        table.add_column(name, justify="right" if numeric else "left", no_wrap=name in ("数据源", "导入时间"))
    for f in result.feeds:
        table.add_row(f.feed, f.title, f.current_file or "-", f.loaded_at or "-",
                      f"{f.rows_loaded:,}", f"{f.rows_quarantined:,}", f"{f.rows_flagged:,}", str(f.snapshots))
    if not result.feeds:
        table.add_row("（尚未导入任何数据，先运行 rootdb ingest）", *[""] * 7)
    out.print(table)
    if result.batches:
        runs = Table(title="最近的运行", title_justify="left")
        for name in ("批次", "命令", "用户", "开始时间", "结果", "文件", "失败", "读取行", "隔离行"):
            runs.add_column(name)
        for b in result.batches:
            runs.add_row(str(b["batch_id"]), b["command"], b["user"], b["started_at"],
                         "成功" if b["status"] == "ok" else "[red]失败[/]", str(b.get("files", "")),
                         str(b.get("failed", "")), f"{b.get('rows_read', 0):,}", f"{b.get('rows_quarantined', 0):,}")
        out.print(runs)
