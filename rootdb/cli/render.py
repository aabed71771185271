"""How results look in a terminal: rich tables on stdout, progress and errors on stderr.

rich's console, tables and progress bars are imported when something is printed, not
when this module is imported, so that `rootdb --help` stays quick. `out` and `err` are
created on first use; when the output goes to a file or a pipe (a nightly job under
cron, `rootdb status > 状态.txt`) they are `LOG_WIDTH` columns wide, so that a line of
a table holds a whole file name instead of folding it at 80 columns.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing these loads polars and DuckDB: only commands that run do that
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    from rootdb.ingest.results import FileResult, IngestResult
    from rootdb.commands.feeds import FeedList
    from rootdb.commands.status import StatusResult

# Columns of a line when stdout (or stderr) is not a terminal and COLUMNS is not set.
LOG_WIDTH = 200
# Characters a terminal acts on (an escape clears the screen): printed as \x1b, not sent.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(text: str | None) -> str:
    """A file name, path or message as printed: IDs and mobiles masked, and whatever a
    delivered name may hold that the terminal would act on shown as text (rich markup
    such as [bold], control characters such as an escape)."""
    from rich.markup import escape

    from rootdb.privacy import mask_text

    return escape(_CONTROL.sub(lambda m: repr(m.group())[1:-1], mask_text(text) or ""))


def new_console(stderr: bool = False) -> Console:
    """A console for stdout or stderr: the terminal's width, or LOG_WIDTH for a file or pipe."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(stderr=stderr, highlight=False, width=LOG_WIDTH)
    return console


def _stdout() -> Console:
    console = globals().get("out")
    if console is None:
        console = globals()["out"] = new_console()
    return console


def _stderr() -> Console:
    console = globals().get("err")
    if console is None:
        console = globals()["err"] = new_console(stderr=True)
    return console


def __getattr__(name: str):
    """`render.out` and `render.err`, created on first use (PEP 562)."""
    if name == "out":
        return _stdout()
    if name == "err":
        return _stderr()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_STATUS_TEXT = {"loaded": "[green]已导入[/]", "unchanged": "[dim]未变化[/]", "failed": "[red]失败[/]"}


def print_json(data: dict) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def error_panel(message: str) -> None:
    from rich.panel import Panel

    _stderr().print(Panel(message, title="错误", border_style="red", expand=False))


class IngestProgressBar:
    """Rich progress over the files of an ingest, the current step beside it."""

    def __init__(self, enabled: bool = True):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_stderr(),
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
        from rootdb.ingest.results import readable_path

        self._file = _shown(readable_path(path.name))  # a name may hold an ID or a mobile, or not be UTF-8
        self._progress.update(self._task, description=f"{self._file}")

    def step(self, description: str) -> None:
        self._progress.update(self._task, description=f"{self._file}：{description}")

    def file_done(self, result: FileResult) -> None:
        self._progress.advance(self._task)


def _table(title: str, compact: bool = False) -> Table:
    """A table that fits an 80-column terminal: light rules, no outer box; `compact`
    puts two spaces between columns instead of three, for tables with many columns."""
    from rich import box
    from rich.table import Table

    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                 padding=(0, 1, 0, 0) if compact else (0, 1))


class _Clipped:
    """Text kept on one line: when its column is narrower, the middle gives way, so a
    file name or path keeps its start and, longer, its end (registry_…s_2026-11.csv);
    with `tail=False` the end gives way instead (a title: 城乡最低生活保障对象…)."""

    def __init__(self, text: str, style: str = "", tail: bool = True):
        self.text, self.style, self.tail = text, style, tail

    def __rich_measure__(self, console, options) -> Measurement:
        from rich.cells import cell_len
        from rich.measure import Measurement

        width = cell_len(self.text)
        return Measurement(min(width, 8), width)

    def __rich_console__(self, console, options):
        from rich.text import Text

        clip = _clip_middle if self.tail else _clip_end
        yield Text(clip(self.text, options.max_width), style=self.style, no_wrap=True)


def _clip_end(text: str, width: int) -> str:
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    head = ""
    for ch in text:
        if cell_len(head + ch) > width - 1:
            break
        head += ch
    return f"{head}…"


_TITLES: dict[str, str] | None = None


def feed_title(code: str | None) -> str:
    """The Chinese name of a feed from its schema (dibao → 城乡最低生活保障对象花名册);
    the code itself when no schema names it."""
    global _TITLES
    if not code:
        return "-"
    if _TITLES is None:
        try:
            from rootdb.specs import load_specs

            _TITLES = {c: s.title for c, s in load_specs().items()}
        except Exception:  # noqa: BLE001 - a broken schema folder must not hide the result
            _TITLES = {}
    return _TITLES.get(code) or code


def _clip_middle(text: str, width: int) -> str:
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    tail_room = (width - 1) * 2 // 3
    head_room = width - 1 - tail_room
    head = tail = ""
    for ch in text:
        if cell_len(head + ch) > head_room:
            break
        head += ch
    for ch in reversed(text):
        if cell_len(ch + tail) > tail_room:
            break
        tail = ch + tail
    return f"{head}…{tail}"


def _content_width(column, console: Console) -> int:
    from rich.cells import cell_len
    from rich.measure import Measurement
    from rich.text import Text

    widths = [cell_len(line) for line in str(column.header).splitlines() or [""]]
    for cell in column.cells:
        if isinstance(cell, str):
            widths += [cell_len(line) for line in Text.from_markup(cell).plain.splitlines() or [""]]
        else:
            widths.append(Measurement.get(console, console.options, cell).maximum)
    return max(widths)


def _fit(table: Table, *priority: str, console: Console | None = None, share: bool = False) -> None:
    """Fit a terminal: every column keeps its full width except the text columns that
    may wrap or be clipped (file names, titles: not `no_wrap`), which are served in the
    order of `priority` (their headers), each leaving at least 8 characters for the ones
    after it; with `share`, they share the room instead, none taking more than an equal
    part unless another needs less."""
    console = console or _stdout()
    widths = {id(c): _content_width(c, console) for c in table.columns}
    flexible = sorted(
        (c for c in table.columns if not c.no_wrap),
        key=lambda c: priority.index(c.header) if c.header in priority else len(priority),
    )
    # Each column has its padding and a (blank) rule between columns.
    _, right, _, left = table.padding
    gaps = (left + right + 1) * len(table.columns)
    fixed = sum(widths[id(c)] for c in table.columns if c not in flexible) + gaps
    room = console.width - fixed
    if share:  # the narrowest first: what one leaves unused goes to the wider ones
        flexible.sort(key=lambda c: widths[id(c)])
        for n, column in enumerate(flexible):
            column.width = max(8, min(widths[id(column)], room // (len(flexible) - n)))
            room -= column.width
        flexible = []
    for column in flexible:
        others = 8 * (len(flexible) - 1 - flexible.index(column))
        column.width = max(8, min(widths[id(column)], room - others))
        room -= column.width
    for column in table.columns:
        if column not in flexible:
            column.min_width = widths[id(column)]


def ingest_summary(result: IngestResult) -> None:
    """The files of an ingest; their names, messages and warnings masked by content
    (tekun_150602********1234_139****5678_2026-12.xlsx), as --json gives them."""
    table = _table(f"导入结果（批次 {result.batch_id}，用时 {result.seconds:.1f} 秒）")
    table.add_column("文件", overflow="fold")
    table.add_column("数据源", overflow="ellipsis")
    table.add_column("状态", no_wrap=True)
    totals = result.to_dict()["totals"]
    # Rows of a file that failed whole (--strict, a required column missing) are neither
    # loaded nor quarantined: a 失败 column keeps 读取 = 导入 + 隔离 + 失败 true.
    failed_rows = bool(totals["rows_failed"])
    names = ("读取", "导入", "隔离", "失败", "有问题") if failed_rows else ("读取", "导入", "隔离", "有问题")
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    for f in result.files:
        if f.status == "unchanged":
            counts = ("-",) * len(names)
        else:
            counts = (f"{f.rows_read:,}", f"{f.rows_loaded:,}",
                      f"[yellow]{f.rows_quarantined:,}[/]" if f.rows_quarantined else "0",
                      *([f"[red]{f.rows_failed:,}[/]" if f.rows_failed else "0"] if failed_rows else []),
                      f"{f.rows_flagged:,}")
        table.add_row(_shown(f.file), _Clipped(feed_title(f.feed), tail=False), _STATUS_TEXT[f.status], *counts)
    table.add_section()
    table.add_row(
        f"合计 {totals['files']} 个文件", "", f"[red]失败 {totals['failed']}[/]" if totals["failed"] else "",
        f"{totals['rows_read']:,}", f"{totals['rows_loaded']:,}", f"{totals['rows_quarantined']:,}",
        *([f"{totals['rows_failed']:,}"] if failed_rows else []), f"{totals['rows_flagged']:,}",
    )
    _fit(table, share=True)
    _stdout().print(table)
    equation = ("读取 = 导入 + 隔离 + 失败（“失败”是整个未导入的文件的行）。" if failed_rows
                else "读取 = 导入 + 隔离。")
    _stdout().print(f"{equation}“有问题”的行已导入，但带有待核实的问题（如身份证号校验位错误）。", soft_wrap=True)
    for f in result.files:
        if f.status == "failed":
            _stdout().print(f"[red]✗ {_shown(f.message)}[/]", soft_wrap=True)
        elif f.message:
            _stdout().print(f"[dim]· {_shown(f.file)}：{_shown(f.message)}[/]", soft_wrap=True)
        for warning in f.warnings:
            _stdout().print(f"[yellow]! {_shown(f.file)}：{_shown(warning)}[/]", soft_wrap=True)
    if any(f.rows_quarantined for f in result.files if f.status == "loaded"):
        _stdout().print("隔离的行可用 [bold]rootdb quarantine --out 隔离数据.xlsx[/] 导出，退回部门核实。", soft_wrap=True)
    if result.failed:
        others = len(result.files) - len(result.failed)
        tail = "，其余文件已正常处理。" if others else "。"
        _stderr().print(f"[red]{len(result.failed)} 个文件导入失败，失败的文件未写入任何数据{tail}[/]", soft_wrap=True)


# Below this many columns, `status` gives the day a file was loaded, not the minute;
# from FEED_CODE_WIDTH on, it gives each feed's code (for --feed) beside its name.
WIDE_TERMINAL = 100
FEED_CODE_WIDTH = 150


_BATCH_STATUS = {"ok": "成功", "failed": "[red]有文件失败[/]", "running": "[yellow]运行中[/]",
                 "interrupted": "[red]未完成[/]"}


def status_tables(result: StatusResult) -> None:
    # A long path clipped in its middle, so the line fits and the file name stays in view.
    _stdout().print(f"数据库：{_clip_middle(str(result.database), max(_stdout().width - 8, 20))}", soft_wrap=True)
    if not result.feeds:
        _stdout().print("尚未导入任何数据：先运行 rootdb ingest 文件或文件夹")
    else:
        wide = _stdout().width >= WIDE_TERMINAL
        table = _table("已导入的数据源（当前快照）", compact=True)
        table.add_column("数据源", overflow="ellipsis")
        codes = _stdout().width >= FEED_CODE_WIDTH
        if codes:
            table.add_column("代码", no_wrap=True, style="dim")
        table.add_column("当前文件", overflow="ellipsis")
        table.add_column("导入时间" if wide else "导入日期", no_wrap=True)
        for name in ("记录", "隔离", "有问题", "快照"):
            table.add_column(name, justify="right", no_wrap=True)
        for f in result.feeds:
            name = _Clipped(getattr(f, "title", "") or feed_title(f.feed), tail=False)
            table.add_row(name, *([f.feed] if codes else []), _Clipped(f.current_file or "-"),
                          (f.loaded_at or "-")[5:16 if wide else 10],
                          f"{f.rows_loaded:,}", f"{f.rows_quarantined:,}", f"{f.rows_flagged:,}", str(f.snapshots))
        _fit(table, share=True)
        _stdout().print(table)
        _parts_table(result)
    if result.batches:
        runs = _table("最近的运行", compact=True)
        for name in ("批次", "命令", "用户", "开始时间", "结果"):
            runs.add_column(name, no_wrap=True)
        runs.add_column("概况", overflow="fold")
        for b in result.batches:
            runs.add_row(str(b["batch_id"]), b["command"], b["user"], b["started_at"][5:16],
                         _BATCH_STATUS.get(b["status"], "[red]有文件失败[/]"), b.get("headline", ""))
        _fit(runs)
        _stdout().print(runs)
    if result.nightly_runs:
        nightly_table(result.nightly_runs, "最近的夜间运行（rootdb nightly）")


def _parts_table(result: StatusResult) -> None:
    """Each part of the feeds delivered in parts, with the date of its current delivery."""
    feeds = [f for f in result.feeds if f.parts]
    if not feeds:
        return
    table = _table("分部分报送的数据源（每个部分的当前数据）", compact=True)
    table.add_column("数据源", overflow="ellipsis")
    table.add_column("部分", overflow="fold")
    table.add_column("数据日期", no_wrap=True)
    table.add_column("文件", overflow="ellipsis")
    table.add_column("记录", justify="right", no_wrap=True)
    for f in feeds:
        title = getattr(f, "title", "") or feed_title(f.feed)
        for part in f.parts:
            name = part.part or "其余（整份数据中未分别报送的部分）"
            table.add_row(_Clipped(title, tail=False), name, part.delivery_date or "-", _Clipped(part.file_name),
                          f"{part.rows_loaded:,}")
    _fit(table, share=True)
    _stdout().print(table)


_NIGHTLY_STATUS = {"done": "[green]完成[/]", "done_with_rejected": "[yellow]完成，有退回[/]",
                   "done_with_retry": "[red]完成，有文件待重试[/]", "failed": "[red]失败[/]",
                   "busy": "[yellow]未运行[/]", "running": "[yellow]运行中[/]", "interrupted": "[red]中断[/]"}


def nightly_table(runs: list[dict], title: str) -> None:
    table = _table(title, compact=True)
    for name in ("开始时间", "结果", "文件", "用时"):
        table.add_column(name, no_wrap=True, justify="right" if name in ("文件", "用时") else "left")
    table.add_column("变动 / 说明", overflow="fold")
    for r in runs:
        changes = "，".join(f"{k} {v}" for k, v in (r.get("changes") or {}).items() if v)
        result = _NIGHTLY_STATUS.get(r["status"], r["status"])
        if r["status"] == "done_with_retry" and r.get("rejected"):  # exit 5 outranks 3: both said
            result = "[red]完成，有文件待重试，有退回[/]"
        table.add_row((r.get("started") or "")[5:16].replace("T", " "), result,
                      str(r.get("files", 0)), f"{r.get('seconds') or 0:.0f} 秒", r.get("message") or changes or "-")
    _fit(table, "变动 / 说明")
    _stdout().print(table)




def nightly_summary(run) -> None:
    if run.status == "busy":  # nothing was done: one clear line, no empty table
        _stdout().print("[yellow]另一个 nightly 正在运行，本次未做任何事[/]", soft_wrap=True)
        if run.message:
            _stdout().print(f"[dim]{_shown(run.message)}[/]", soft_wrap=True)
        if run.log_file:
            _stdout().print(f"日志：{run.log_file}", soft_wrap=True)
        return
    steps = _table(f"夜间运行 {run.run_id}：{run.headline()}")
    for name in ("步骤", "结果", "用时"):
        steps.add_column(name, no_wrap=True)
    steps.add_column("说明", overflow="fold")
    from rootdb.nightly import STEP_STATUS_WORDS, STEP_WORDS, step_detail

    for step in run.steps:
        detail = step_detail(step.detail)
        state = STEP_STATUS_WORDS.get(step.status, step.status)
        steps.add_row(STEP_WORDS.get(step.name, step.name), f"[red]{state}[/]" if step.status in ("failed", "running")
                      else state, f"{step.seconds:.1f} 秒",
                      _shown(detail))
    _fit(steps, "说明")
    _stdout().print(steps)
    for f in run.files:
        if f["retry"]:
            _stdout().print(f"[red]未导入[/] {_shown(f['message'])}（留在收件箱，下次运行重试）", soft_wrap=True)
        elif f["status"] == "failed":
            where = ("未能移到 rejected/，留在收件箱" if f.get("kept_in_inbox")
                     else f"已移到 {_shown(f.get('moved_to')) or 'rejected/'}")
            _stdout().print(f"[red]退回[/] {_shown(f['message'])}（{where}）", soft_wrap=True)
    for warning in run.warnings:
        _stdout().print(f"[yellow]![/] {_shown(warning)}", soft_wrap=True)
    if run.message:
        _stderr().print(f"[red]{_shown(run.message)}[/]")
    _stdout().print(f"日志：{run.log_file}\n运行记录：{run.record_file}", soft_wrap=True)


def audit_table(rows: list[dict]) -> None:
    """Two lines an entry, to fit 80 columns: the day over the time, the command over
    未脱敏 when it wrote unmasked data, what was asked over the file (its middle clipped)."""
    from rich.console import Group
    from rich.markup import escape
    from rich.text import Text

    table = _table(f"审计日志：未脱敏导出、查询、短信、户卡和页面查看（最近 {len(rows)} 条）", compact=True)
    for name in ("时间", "用户", "命令"):
        table.add_column(name, no_wrap=True)
    table.add_column("行数", justify="right", no_wrap=True)
    table.add_column("说明 / 文件", overflow="fold")
    for r in rows:
        command = r["command"]
        unmasked = command.endswith(" --unmasked")
        shown = escape(command.removesuffix(" --unmasked")) + ("\n[yellow]未脱敏[/]" if unmasked else "")
        about = [Text(r["detail"])] if r["detail"] else []
        table.add_row(f"{r['happened_at'][:10]}\n{r['happened_at'][11:16]}", escape(r["user"]), shown,
                      f"{r['rows']:,}", Group(*about, _Clipped(r["file"] or "-", style="dim")))
    _fit(table, "说明 / 文件")
    _stdout().print(table)


_ROLE_TEXT = {"grid": "网格员", "community": "社区", "street": "街道"}


def _user_scope(user) -> str:
    """What a page user sees, in words: 建设社区 第三网格, 建设社区, 全部."""
    get = user.get if isinstance(user, dict) else lambda k: getattr(user, k)
    return " ".join(p for p in (get("community"), get("grid")) if p) or "全部"


def user_added(result) -> None:
    from rich.markup import escape

    for warning in result.warnings:
        _stdout().print(f"[yellow]注意：{escape(warning)}[/]", soft_wrap=True)
    _stdout().print(f"已添加用户 {escape(result.name)}（{_ROLE_TEXT[result.role]}，范围：{escape(_user_scope(result))}）",
                    soft_wrap=True)


def users_table(users: list[dict]) -> None:
    from rich.markup import escape

    if not users:
        _stdout().print("还没有页面用户：用 rootdb user add 添加")
        return
    table = _table(f"页面用户（{len(users)} 个）")
    for name in ("用户名", "角色", "范围", "状态", "添加时间"):
        table.add_column(name, no_wrap=name != "范围")
    for u in users:
        table.add_row(escape(u["name"]), _ROLE_TEXT[u["role"]], escape(_user_scope(u)),
                      "[red]已停用[/]" if u["disabled"] else "可登录", u["created_at"].replace("T", " ")[:16])
    _stdout().print(table)


def feeds_table(result: FeedList) -> None:
    specs, counts = result.specs, result.kinds()
    rosters = {0: "", 1: "社区花名册"}.get(counts["community"], f"{counts['community']} 份社区花名册")
    parts = [f"{counts['feed']} 个部门数据源", rosters, f"{counts['reference']} 个公安基准库"]
    table = _table(f"{len(specs)} 种数据文件：{'、'.join(p for p in parts if p)}")
    table.add_column("代码", no_wrap=True)
    table.add_column("部门", overflow="fold")
    table.add_column("名称", overflow="fold")
    table.add_column("文件名规则", overflow="fold")
    labels = {"feed": "", "reference": "（基准库）", "community": "（社区）"}
    for code, s in sorted(specs.items(), key=lambda kv: (kv[1].kind != "reference", kv[0])):
        table.add_row(code, s.department, s.title + labels[s.kind], "\n".join(s.file_patterns))
    _fit(table, "文件名规则", "名称", "部门")
    _stdout().print(table)


def link_summary(result) -> None:
    table = _table(f"比对结果（用时 {result.seconds:.1f} 秒）")
    table.add_column("类别", no_wrap=True)
    for name in ("记录", "归并为", "其中公安库已有", "库外新增"):
        table.add_column(name, justify="right", no_wrap=True)
    labels = {"person": "人员", "house": "房屋", "place": "单位/场所"}
    for entity, label in labels.items():
        total = result.entities.get(entity, 0)
        matched = result.matched_registry.get(entity, 0)
        table.add_row(label, f"{result.records.get(entity, 0):,}", f"{total:,}", f"{matched:,}", f"{total - matched:,}")
    _fit(table)
    _stdout().print(table)
    if result.model_trained and not result.model_saved:
        _stdout().print("比对模型：已训练，未保存（见下面的注意）", soft_wrap=True)
    else:
        model = "已重新训练并保存" if result.model_trained else "沿用已保存的模型"
        _stdout().print(f"比对模型：{model}（{result.model_path}）", soft_wrap=True)
    for warning in result.warnings:
        _stdout().print(f"[yellow]注意：{warning}[/]", soft_wrap=True)
    conflicts = result.people.get("deterministic", {}).get("id_conflicts", 0)
    if conflicts:
        _stdout().print(f"[yellow]{conflicts:,} 条记录的身份证号属于公安库中另一个人，未按号码认定，已记录待纠错[/]", soft_wrap=True)
    addresses = result.houses.get("review_addresses", 0)
    waiting = f"，地址 {addresses:,} 个" if addresses else ""
    _stdout().print(f"待人工复核的配对：{result.review_pairs:,}{waiting}（rootdb review export --out 复核.xlsx）",
                    soft_wrap=True)
    for chart in result.charts:
        _stdout().print(f"图表：{chart}", soft_wrap=True)


def review_export_summary(result) -> None:
    masked = "（已脱敏）" if result.masked else "（未脱敏，已记入审计日志）"
    _stdout().print(
        f"已导出 {result.pairs:,} 对待复核记录和 {result.addresses:,} 个待复核地址到 {result.file}{masked}；"
        "在“判定”列填写（配对填 是/否，地址填候选序号或 否）后运行 rootdb review import",
        soft_wrap=True,
    )


def review_import_summary(result) -> None:
    _stdout().print(
        f"已导入 {result.decided:,} 条判定（是 {result.yes:,}，否 {result.no:,}），未填 {result.blank:,} 条；"
        "下次运行 rootdb link 时生效。",
        soft_wrap=True,
    )
    addresses = result.addresses or {}
    if addresses.get("decided") or addresses.get("blank"):
        _stdout().print(
            f"地址：已导入 {addresses.get('decided', 0):,} 个判定（选定候选 {addresses.get('chosen', 0):,}，"
            f"都不是 {addresses.get('rejected', 0):,}），未填 {addresses.get('blank', 0):,} 个；下次比对起生效。",
            soft_wrap=True,
        )
    for problem in result.problems:
        _stdout().print(f"[yellow]! {problem}[/]", soft_wrap=True)
    if result.problems:
        saved = result.decided + addresses.get("decided", 0)
        tail = "其余判定已保存；改好这些行后可再导入一次。" if saved else "没有保存任何判定。"
        _stdout().print(f"[yellow]有 {len(result.problems):,} 处看不懂，未导入（见上）；{tail}[/]", soft_wrap=True)


def unmatched_addresses_summary(result) -> None:
    masked = "（已脱敏）" if result.masked else "（未脱敏，已记入审计日志）"
    _stdout().print(f"已导出 {result.rows:,} 个没有对上标准地址的报送地址（{result.records:,} 条记录）到 "
                    f"{result.file}{masked}", soft_wrap=True)
    if result.reasons:
        table = _table("未匹配原因")
        table.add_column("原因")
        table.add_column("地址数", justify="right", no_wrap=True)
        for reason, n in result.reasons.items():
            table.add_row(reason, f"{n:,}")
        _fit(table)
        _stdout().print(table)


class ReportProgressBar:
    """Rich progress across the reports of a run."""

    def __init__(self, enabled: bool = True):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), console=_stderr(), transient=True,
                                  disable=not enabled)
        self._task = None
        self._started = False

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def start(self, total: int) -> None:
        self._task = self._progress.add_task("准备报表数据", total=total)

    def report_started(self, template) -> None:
        if self._started:
            self._progress.advance(self._task)
        self._started = True
        self._progress.update(self._task, description=f"{template.code} {template.title}")


def report_list(templates: dict) -> None:
    """The reports; one whose template is not rootdb's own (from ROOTDB_REPORTS) is
    marked 自定义, with its file: each of its runs is written to the audit log."""
    from rich.markup import escape

    from rootdb.reports.engine import custom_template

    custom = {code: custom_template(t) for code, t in templates.items()}
    table = _table(f"报表（{len(templates)} 张）")
    table.add_column("代码", no_wrap=True)
    table.add_column("报表", overflow="fold")
    table.add_column("报送部门", overflow="fold")
    for code, t in templates.items():
        title = t.title + (f"\n[yellow]自定义模板[/] [dim]{escape(custom[code])}[/]" if custom[code] else "")
        table.add_row(code + (" [yellow]*[/]" if custom[code] else ""), title, t.department or "")
    _fit(table, "报表", "报送部门")
    _stdout().print(table)
    if any(custom.values()):
        _stdout().print("[yellow]*[/] 自定义模板（不是 rootdb 自带的，来自 ROOTDB_REPORTS）：每次生成都记入审计日志，"
                        "脱敏的也一样。", soft_wrap=True)


def report_summary(result) -> None:
    masked = "已脱敏" if result.masked else "[yellow]未脱敏，已记入审计日志[/]"
    table = _table(f"报表：{result.area}，统计日期 {result.as_of}（{masked}，用时 {result.seconds:.1f} 秒）")
    table.add_column("代码", no_wrap=True)
    table.add_column("报表", overflow="fold")
    table.add_column("行数", justify="right", no_wrap=True)
    table.add_column("文件", overflow="fold")
    for r in result.reports:
        table.add_row(r.code, r.title, f"{r.rows:,}", Path(r.file).name)
    _fit(table, "报表", "文件")
    _stdout().print(table)
    _stdout().print(f"已写入 {len(result.reports)} 个文件到 {result.out}", soft_wrap=True)
    for r in result.reports:
        if getattr(r, "pictures", None):
            _stdout().print(f"{r.code} 的图（每栋楼一张，另有每个社区一页可打印的网页）：{r.pictures}", soft_wrap=True)
    custom = [r.code for r in result.reports if getattr(r, "custom_template", None)]
    if custom and result.masked:
        _stdout().print(f"[yellow]{'、'.join(custom)} 用的是自定义模板，已记入审计日志[/]", soft_wrap=True)


def _cell(value) -> str:
    return "-" if value is None or value == "" else str(value)


def _person_name(name: str | None) -> str:
    """A name, or the query's stand-in for a person no record names (王芳之女（未取名）)
    with its note on a line of its own, so the column stays as narrow as names are."""
    from rootdb.reports.query import NAME_UNKNOWN, UNNAMED

    name = _cell(name)
    for note in (UNNAMED, NAME_UNKNOWN):
        if name.endswith(note) and name != note:
            return name.removesuffix(note) + "\n" + note
    return name


def cut_notice(total: int, limit: int, unit: str, out_hint: str, file=None) -> str | None:
    """共 76 条，下面显示前 10 条；全部请用 --out 短信.xlsx 导出。 — when the screen shows
    fewer rows than were found; None when it shows them all."""
    if total <= limit:
        return None
    shown = f"下面显示前 {limit:,} {unit}" if limit else "按 --limit 0 一条也不显示"
    sep = "" if out_hint.endswith("）") else " "
    rest = f"全部已写入 {file}" if file else f"全部请用 {out_hint}{sep}导出（或加 --limit {total} 全部显示）"
    return f"共 {total:,} {unit}，{shown}；{rest}。"


def people_table(result, limit: int = 20) -> None:
    """The first `limit` people found (phones masked whatever was asked; the groups,
    tags and ID numbers are in the file), and a count."""
    from rootdb.reports.query import mask_people

    people = mask_people(result.people.head(limit))
    table = _table(f"人员查询：{result.query.describe()}（统计日期 {result.as_of}）")
    table.add_column("姓名", no_wrap=True)
    table.add_column("性别", no_wrap=True)
    table.add_column("年龄", justify="right", no_wrap=True)
    table.add_column("联系电话", no_wrap=True)
    table.add_column("网格", no_wrap=True)
    table.add_column("住址", overflow="fold")
    for p in people.iter_rows(named=True):
        table.add_row(_person_name(p["姓名"]), *(_cell(p[c]) for c in ("性别", "年龄", "联系电话", "网格", "住址")))
    _fit(table, "住址")
    cut = cut_notice(result.rows, limit, "人", "--out 名单.xlsx（或 .csv）", result.file)
    if cut and limit:  # with --limit 0 no table is shown: the count line below says it all, once
        _stdout().print(f"[yellow]{cut}[/]", soft_wrap=True)
    if result.rows and limit:
        _stdout().print(table)
    for warning in result.warnings:
        _stdout().print(f"[yellow]! {warning}[/]", soft_wrap=True)
    shown = f"，上面只显示了前 {limit:,} 人" if cut and limit else ""
    more = "；全部名单请用 --out 名单.xlsx（或 .csv）导出" if cut and not result.file else ""
    _stdout().print(f"共 {result.rows:,} 人{shown}{more}。", soft_wrap=True)
    if result.file:
        masked = "（身份证号、电话已脱敏；要完整号码请加 --unmasked）" if result.masked else "（未脱敏，已记入审计日志）"
        _stdout().print(f"名单已写入 {result.file}{masked}", soft_wrap=True)


def notify_summary(result, limit: int = 10) -> None:
    """The first `limit` messages (phones masked), one message in full, the counts, and
    where the people without a mobile are."""
    from rootdb.reports.notify import SMS_LENGTH
    from rootdb.reports.query import mask_people

    messages = mask_people(result.messages.head(limit))
    table = _table(f"短信：{result.query.describe()}（统计日期 {result.as_of}）")
    table.add_column("序号", justify="right", no_wrap=True)
    table.add_column("接收人", no_wrap=True)
    table.add_column("手机号", no_wrap=True)
    table.add_column("关于", overflow="fold")
    table.add_column("住址", overflow="fold")
    for m in messages.iter_rows(named=True):
        table.add_row(*(_cell(m[c]) for c in ("序号", "接收人", "手机号", "关于", "住址")))
    _fit(table, "关于", "住址")
    cut = cut_notice(result.messages.height, limit, "条", "--out 短信.xlsx", result.file)
    if cut:
        _stdout().print(f"[yellow]{cut}[/]", soft_wrap=True)
    if result.messages.height:
        if limit:
            _stdout().print(table)
        _stdout().print(f"短信示例（第 1 条）：\n  {result.messages['短信内容'][0]}", soft_wrap=True)
        longest = f"最长一条 {result.longest} 字" + (
            f"[yellow]（超过 {SMS_LENGTH} 字，会按多条短信发送）[/]" if result.longest > SMS_LENGTH else "")
        _stdout().print(longest, soft_wrap=True)
    _stdout().print(f"共 {result.people:,} 人，生成 {result.messages.height:,} 条短信（儿童的短信发给监护人，一人一条）；"
              f"没有手机号 {result.no_phone.height:,} 人。", soft_wrap=True)
    if result.file:
        _stdout().print(f"已写入 {result.file}：“短信”页和“无手机号”页。", soft_wrap=True)
    else:
        _stdout().print("这是预览；加 --out 短信.xlsx 写出短信表。", soft_wrap=True)
    if result.masked and result.messages.height:
        _stdout().print("[yellow]手机号已脱敏；导入短信平台需要完整号码，请加 --unmasked（会记入审计日志）。[/]", soft_wrap=True)
    elif not result.masked:
        _stdout().print("[yellow]手机号未脱敏，已记入审计日志；用完请妥善保管或删除。[/]", soft_wrap=True)


# ------------------------------------------------------------------ rootdb card

CARD_EVENTS_SHOWN = 10  # events listed in the terminal (the JSON has them all)


def household_card(result) -> None:
    """A household card (`rootdb.commands.card.CardResult`) in 80 columns: the house in a
    panel, the people living there, what their groups' feeds say (disease, doctor,
    benefit), who moved out or died there, the events concerning them and their last
    visits; or, for a name several people have, the candidates (the message that asks
    for an id goes to stderr)."""
    if result.candidates:
        _card_candidates(result)
        return
    _card_house(result)
    _card_members(result)
    _card_details(result)
    _card_events(result)
    _card_visits(result)
    masked = "身份证号、电话已脱敏；要完整号码请加 --unmasked" if result.masked else "未脱敏，已记入审计日志"
    _stdout().print(f"[dim]统计日期 {result.as_of}；{masked}。[/]", soft_wrap=True)


def _card_house(result) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    house = result.house
    if house is None:
        person = result.members[0]
        left = f"（{person['left_as']}）" if person["left_as"] else ""
        _stdout().print(Panel(f"{escape(person['name'])}{left}没有已知的住房：下面只有本人。",
                              title="户卡", title_align="left", expand=False))
        return
    area = escape("　".join(x for x in (house["community"], house["grid"]) if x))
    if not house["in_registry"]:
        area = f"{area}（标准地址库中没有此地址）".lstrip()
    owner = escape(house["owner_name"]) if house["owner_name"] else "不详"
    lines = [escape(_cell(house["address"])), f"{area}　用途：{escape(_cell(house['usage']))}　产权人：{owner}",
             f"房屋编号：{house['entity_id']}"]
    title = f"户卡：{escape(_cell(house['short_address']))}"
    _stdout().print(Panel("\n".join(lines), title=title, title_align="left", expand=False))


def _person_kind(kind: str | None) -> str:
    return _cell(kind).removesuffix("人口")  # 户籍人口 → 户籍, 流动人口 → 流动


def _card_members(result) -> None:
    """Everyone living there: name over ID, sex, age, relation, 户籍/流动, phone, groups;
    the person asked for marked ▶."""
    from rich.markup import escape

    members = result.members
    title = f"同住人员 {len(members)} 人" if result.house else "本人"
    if not members:
        _stdout().print(f"{title}：（无人居住）")
        return
    table = _table(title, compact=True)
    table.add_column("姓名 / 身份证号", no_wrap=True)
    for name in ("性别", "年龄", "关系", "人口类型", "联系电话"):
        table.add_column(name, no_wrap=True, justify="right" if name == "年龄" else "left")
    table.add_column("所属群体", overflow="fold")
    for m in members:
        mark = "▶" if m["entity_id"] == result.focus else ""
        table.add_row(f"{mark}{escape(m['name'])}\n[dim]{_cell(m['id_number'])}[/]", _cell(m["sex"]),
                      _cell(m["age"]), escape(_cell(m["relation_to_head"])), _person_kind(m["person_type"]),
                      _cell(m["phone"]), escape("、".join(m["groups"] or []) or "-"))
    _fit(table, "所属群体")
    _stdout().print(table)
    due = [f"{escape(m['name'])}（{escape(m['special_groups'] or '')}，"
           + (f"最近走访 {m['last_visit']}" if m["last_visit"] else "从未走访") + "）"
           for m in members if m.get("visit_due")]
    if due:
        _stdout().print(f"[yellow]重点人群90天内未走访：{'、'.join(due)}[/]", soft_wrap=True)
    former = [f"{escape(p['name'])}（{p['left_as']}{' ' + p['death_date'] if p['death_date'] else ''}）"
              for p in result.former]
    if former:
        _stdout().print(f"曾住此处：{'、'.join(former)}", soft_wrap=True)


def _card_details(result) -> None:
    """What the feeds of their groups say, one row per person and group: the disease and
    doctor of a 慢病 record, the team of a 签约, the category and amount of a benefit."""
    from rich.markup import escape

    rows = [(m["entity_id"], m["name"], d["grp"], "；".join(f"{f['label']} {f['value']}" for f in d["fields"]))
            for m in result.members for d in (m.get("details") or [])]
    if not rows:
        return
    table = _table("待遇、参保与健康", compact=True)
    table.add_column("姓名", no_wrap=True)
    table.add_column("群体", no_wrap=True)
    table.add_column("情况", overflow="fold")
    for i, (person, name, group, about) in enumerate(rows):
        first = i == 0 or rows[i - 1][0] != person  # the name once per person
        table.add_row(escape(name) if first else "", escape(group), escape(about or "-"))
    _fit(table, "情况")
    _stdout().print(table)


def _card_events(result) -> None:
    from rich.markup import escape

    events = result.events
    overdue = sum(e["overdue"] for e in events)
    counts = f"事件（诉求）{len(events)} 件" + (f"，[red]超期未办结 {overdue} 件[/]" if overdue else "")
    if not events:
        _stdout().print("事件（诉求）：无")
        return
    table = _table(counts, compact=True)
    for name in ("上报日期", "事件编号", "当事人", "状态"):
        table.add_column(name, no_wrap=True)
    table.add_column("类别", overflow="fold")
    for e in events[:CARD_EVENTS_SHOWN]:
        status = (f"[red]{escape(_cell(e['status']))}（超期 {e['days_overdue']} 天）[/]" if e["overdue"]
                  else escape(_cell(e["status"])))
        kind = "／".join(x for x in (e["category"], e["subcategory"]) if x) or "-"
        table.add_row(e["reported_at"][:10], escape(e["event_no"]), escape(_cell(e["person_name"])), status,
                      escape(kind))
    _fit(table, "类别")
    _stdout().print(table)
    if len(events) > CARD_EVENTS_SHOWN:
        _stdout().print(f"上面是最近 {CARD_EVENTS_SHOWN} 件；全部请加 --json 查看。", soft_wrap=True)


def _card_visits(result) -> None:
    from rich.markup import escape

    if not result.visits:
        _stdout().print("入户走访：从未走访")
        return
    last = f"，下面是最近 {len(result.visits)} 次" if result.visits_total > len(result.visits) else ""
    table = _table(f"入户走访 {result.visits_total} 次{last}", compact=True)
    for name in ("走访日期", "网格员", "被访人", "走访类型"):
        table.add_column(name, no_wrap=True)
    table.add_column("发现问题", overflow="fold")
    for v in result.visits:
        table.add_row(v["visit_date"], escape(_cell(v["grid_worker"])), escape(_cell(v["person_name"])),
                      escape(_cell(v["visit_type"])), escape(_cell(v["problems"])))
    _fit(table, "发现问题")
    _stdout().print(table)


def _card_candidates(result) -> None:
    """The namesakes (IDs masked), then the message asking for an ID or entity id."""
    from rich.markup import escape

    table = _table(f"同名人员：{escape(result.lookup)}", compact=True)
    for name in ("人员编号", "性别", "年龄", "身份证号"):
        table.add_column(name, no_wrap=True)
    table.add_column("住址", overflow="fold")
    for c in result.candidates:
        where = " ".join(x for x in (c["grid"], c["address"]) if x) or "住址不详"
        if c["left_as"]:
            where += f"（{c['left_as']}）"
        table.add_row(c["entity_id"], _cell(c["sex"]), _cell(c["age"]), _cell(c["id_number"]), escape(where))
    _fit(table, "住址")
    _stdout().print(table)
    error_panel(result.ambiguity)
