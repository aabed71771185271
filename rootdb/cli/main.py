"""The `rootdb` command. Thin: parse options, call `rootdb.commands`, render the result.

The global options (--db, --json, the hidden --debug) are declared once, in
`GLOBAL_OPTIONS`; `command` registers a command with those it takes, and maps library
errors to exit codes in one place: 0 done, 1 failed with nothing changed (or some
files failed while the rest loaded), 2 bad usage; nightly's 3 and 4 come from its result.
The conditions on people that `query` and `notify` share are declared once too
(`PERSON_OPTIONS`, added by `person_conditions`).

Importing this module loads typer and the Chinese help (`rootdb.cli.zh`) only: the
commands and the renderer (`rootdb.cli.render`) are imported when a command runs, so
that `rootdb --help` stays quick.
"""

import functools
import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from rootdb import __version__
from rootdb.cli.zh import ZhTyper
from rootdb.errors import (DISK_FULL_MESSAGE, INTERRUPTED_MESSAGE, ExitCode, RootdbError, UsageError, disk_full,
                           interrupted, out_of_memory)
from rootdb.resources import bundled_dir


class _OnFirstUse:
    """A module imported when one of its names is first used: the renderer (rich's
    tables and progress bars) is loaded by the command that prints, not by --help."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


render = _OnFirstUse("rootdb.cli.render")

# The help counts the report templates rootdb ships (a glob, not a load: help stays fast).
SHIPPED_REPORTS = len(list(bundled_dir("report_templates").glob("R*.yaml")))

app = ZhTyper(
    name="rootdb",
    help=f"根数据库：导入各部门数据并清洗入库，与公安库比对，人、房、单位各归一，生成 {SHIPPED_REPORTS} 张报表，"
    "按条件查询、群发通知，夜间无人值守运行，导出纠错清单。\n\n"
    "每个命令都可加 -h 查看用法。退出码：0 完成；1 失败（未改动数据，或有文件导入失败而其余已导入）；"
    "2 用法错误（选项、数据源、文件或数据库不对）。",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# name -> (declaration, default); a command gets the ones `command` says it takes.
GLOBAL_OPTIONS = {
    "db": (Annotated[Optional[str], typer.Option(
        "--db", help="数据库文件；不给则依次取环境变量 ROOTDB_DB、rootdb.toml、./rootdb.duckdb",
        show_default=False, metavar="文件")], None),
    "as_json": (Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象", metavar="")], False),
    "debug": (Annotated[bool, typer.Option("--debug", help="出错时显示完整的 traceback", hidden=True)], False),
}


@dataclass(frozen=True)
class Options:
    """The global options as one command was given them."""

    db: str | None = None
    as_json: bool = False
    debug: bool = False

    def emit(self, result, show: Callable[[], None]) -> None:
        """The result as one JSON object (--json), or as the human view `show` prints."""
        if self.as_json:
            render.print_json(result.to_dict())
        else:
            show()


def command(group: typer.Typer, name: str | None = None, *, db: bool = True, json: bool = True, **settings):
    """Register the decorated function as a command of `group`, with --db (unless
    `db=False`), --json (unless `json=False`) and --debug after its own options. The
    function gets them as its `opts` parameter (an `Options`), when it has one."""

    def register(func: Callable) -> Callable:
        taken = [n for n, on in (("db", db), ("as_json", json), ("debug", True)) if on]
        signature = inspect.signature(func, eval_str=True)
        wants_opts = "opts" in signature.parameters

        @functools.wraps(func)
        def wrapper(**kwargs):
            opts = Options(**{n: kwargs.pop(n) for n in taken})
            if wants_opts:
                kwargs["opts"] = opts
            return _run(func, kwargs, opts.debug or os.environ.get("ROOTDB_DEBUG") == "1")

        own = [p for p in signature.parameters.values() if p.name != "opts"]
        shared = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=GLOBAL_OPTIONS[n][1],
                                    annotation=GLOBAL_OPTIONS[n][0]) for n in taken]
        _set_signature(wrapper, signature.replace(parameters=own + shared))
        group.command(name, **settings)(wrapper)
        return func

    return register


def _set_signature(wrapper: Callable, signature: inspect.Signature) -> None:
    """The parameters typer reads; the annotations as objects, so that typer does not
    evaluate the strings again (most of the time `rootdb --help` spends in rootdb)."""
    wrapper.__signature__ = signature
    wrapper.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}


def _run(func: Callable, kwargs: dict, debug: bool):
    """Map library errors to a red panel and an exit code; tracebacks only with --debug."""
    try:
        return func(**kwargs)
    except typer.Exit:
        raise
    except RootdbError as exc:
        if debug:
            raise
        render.error_panel(str(exc))
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        _interrupted_message()
    except Exception as exc:
        if debug:
            raise
        if interrupted(exc):  # Ctrl+C during a DuckDB query
            _interrupted_message()
        if disk_full(exc):
            render.error_panel(DISK_FULL_MESSAGE)
        elif out_of_memory(exc):
            from rootdb.commands import out_of_memory_message

            render.error_panel(out_of_memory_message())
        else:
            raise
        raise typer.Exit(int(ExitCode.FAILED)) from None


def _interrupted_message() -> NoReturn:
    render.err.print(f"[red]{INTERRUPTED_MESSAGE}[/]")
    raise typer.Exit(int(ExitCode.FAILED)) from None


def _version(value: bool) -> None:
    if value:
        print(f"rootdb {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="显示版本", metavar="")
    ] = False,
) -> None:
    """根数据库 rootdb."""


UnmaskedOption = Annotated[
    bool, typer.Option("--unmasked", help="不隐藏身份证号和电话（会记入审计日志）", metavar="")
]
AsOfOption = Annotated[
    Optional[str],
    typer.Option("--as-of", help="统计日期，如 2026-11-01 或 2026年11月1日，年龄、本月等按此计算；默认今天",
                 show_default=False, metavar="日期"),
]
CommunityOption = Annotated[
    Optional[str], typer.Option("--community", help="只统计一个社区，如 建设社区 或 建设", show_default=False,
                                    metavar="社区")
]
GridOption = Annotated[Optional[str], typer.Option("--grid", help="只统计一个网格，如 第三网格 或 第三", show_default=False,
                                                         metavar="网格")]
LimitOption = Annotated[int, typer.Option("--limit", help="终端里最多显示几行", min=0, metavar="数目")]


@command(app, db=False, json=False)
def init(
    directory: Annotated[Path, typer.Argument(help="工作区目录", metavar="目录")] = Path("."),
) -> None:
    """创建工作区：配置和数据库文件"""
    from rootdb.commands.init import init as run

    result = run(directory)
    done = "工作区已存在，未改动（数据保留）：" if result.existed else "已创建工作区 "
    render.out.print(f"{done}{result.root}\n  配置：{result.config}\n  数据库：{result.database}")


@command(app)
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="要导入的文件或文件夹", metavar="路径...", show_default=False)
    ],
    feed: Annotated[
        Optional[str], typer.Option("--feed", help="指定数据源：代码或名称，如 dibao 或 低保", show_default=False,
                                     metavar="数据源")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="文件中有无法识别的行则整个文件不导入", metavar="")
    ] = False,
    opts: Options = Options(),
) -> None:
    """导入数据文件：识别、清洗、入库，坏行隔离"""
    import sys

    from rootdb.commands.ingest import ingest as run

    with render.IngestProgressBar(enabled=not opts.as_json and sys.stderr.isatty()) as bar:
        result = run(paths, feed=feed, strict=strict, db=opts.db, progress=bar)
    opts.emit(result, lambda: render.ingest_summary(result))
    raise typer.Exit(int(result.exit_code))


@command(app)
def status(opts: Options = Options()) -> None:
    """查看已导入的数据和最近的运行"""
    from rootdb.commands.status import status as run

    result = run(db=opts.db)
    opts.emit(result, lambda: render.status_tables(result))


@command(app)
def quarantine(
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="导出的 Excel 文件（只加 --json 不加 --out：输出各数据源、文件的隔离行数和原因）",
                     show_default=False, metavar="文件"),
    ] = None,
    feed: Annotated[Optional[str], typer.Option("--feed", help="只导出一个数据源：代码或名称，如 dibao 或 低保",
                                                           show_default=False, metavar="数据源")] = None,
    unmasked: UnmaskedOption = False,
    opts: Options = Options(),
) -> None:
    """导出被隔离的行及原因，退回部门"""
    from rootdb.commands.quarantine import quarantine as run

    if out is None and not opts.as_json:
        raise UsageError("请用 --out 指定导出的 Excel 文件（如 --out 隔离数据.xlsx）；"
                         "只看各数据源的隔离行数和原因请用 --json")
    _export_done(run(out, feed=feed, unmasked=unmasked, db=opts.db), opts, "隔离")


@command(app)
def link(
    retrain: Annotated[bool, typer.Option("--retrain", help="重新训练比对模型", metavar="")] = False,
    threshold: Annotated[
        float, typer.Option("--threshold", help="判定为同一人的概率下限", metavar="数值")
    ] = 0.9,
    review_from: Annotated[
        float, typer.Option("--review-from", help="低于阈值但高于此值的配对进入人工复核", metavar="数值")
    ] = 0.5,
    charts: Annotated[
        Optional[Path],
        typer.Option("--charts", help="把模型图表写成 HTML 到此目录", show_default=False, metavar="目录"),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="概率比对用 duckdb（默认）或 spark（pip install \"rootdb\\[spark]\"，Java 17）",
                          metavar="引擎")
    ] = "duckdb",
    opts: Options = Options(),
) -> None:
    """与公安库比对：人、房、单位各归一"""
    from rootdb.commands.link import link as run

    with render.err.status("比对中：人员、房屋、单位…"):
        result = run(db=opts.db, retrain=retrain, threshold=threshold, review_from=review_from, charts=charts,
                     engine=engine)
    opts.emit(result, lambda: render.link_summary(result))


@command(app, help=f"生成报表：{SHIPPED_REPORTS} 张固定报表，按统计日期")
def report(
    codes: Annotated[
        Optional[list[str]],
        typer.Argument(help="报表代码，如 R01 R05", metavar="报表代码", show_default=False),
    ] = None,
    all_reports: Annotated[bool, typer.Option("--all", help="生成全部报表", metavar="")] = False,
    as_of: AsOfOption = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="输出目录；默认为工作区的 报表/统计日期/，如 报表/2026-11-01/", show_default=False, metavar="目录"),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="xlsx（默认）或 csv（只有数据行，UTF-8 带 BOM）", metavar="格式")
    ] = "xlsx",
    community: CommunityOption = None,
    grid: GridOption = None,
    list_reports: Annotated[bool, typer.Option("--list", help="列出全部报表", metavar="")] = False,
    unmasked: UnmaskedOption = False,
    opts: Options = Options(),
) -> None:
    import sys

    from rootdb.commands import Scope, parse_date
    from rootdb.commands.report import report as run
    from rootdb.commands.report import report_list

    if list_reports:
        listed = report_list()
        opts.emit(listed, lambda: render.report_list(listed.templates))
        return
    with render.ReportProgressBar(enabled=sys.stderr.isatty() and not opts.as_json) as bar:
        result = run(codes or [], all_reports, as_of=parse_date(as_of), out=out, fmt=fmt,
                     scope=Scope(community, grid), unmasked=unmasked, db=opts.db, progress=bar)
    opts.emit(result, lambda: render.report_summary(result))


# Conditions on people, shared by `query` and `notify` (`person_conditions`): the names
# are PersonQuery's fields; --community and --grid become the command's Scope.
PERSON_OPTIONS = {
    "age": (Annotated[Optional[str], typer.Option(
        "--age", help="年龄段，按统计日期的周岁：0-3、60-（60岁及以上）、80+、5", show_default=False,
        metavar="年龄段")], None),
    "sex": (Annotated[Optional[str], typer.Option(
        "--sex", help="男 或 女", show_default=False, metavar="性别")], None),
    "ethnicity": (Annotated[Optional[str], typer.Option(
        "--ethnicity", help="民族，如 蒙古族；少数民族 = 汉族以外", show_default=False, metavar="民族")], None),
    "community": (CommunityOption, None),
    "grid": (GridOption, None),
    "compound": (Annotated[Optional[str], typer.Option(
        "--compound", help="小区，如 幸福小区", show_default=False, metavar="小区")], None),
    "building": (Annotated[Optional[str], typer.Option(
        "--building", help="楼号，如 3 或 3号楼", show_default=False, metavar="楼号")], None),
    "tags": (Annotated[Optional[list[str]], typer.Option(
        "--tag", help="本人在社区花名册上的标签，如 党员；可重复，须都有", show_default=False,
        metavar="标签")], None),
    "family_tags": (Annotated[Optional[list[str]], typer.Option(
        "--family-tag", help="家里（同户号或同一房屋）有人带此标签，如 托幼服务需求",
        show_default=False, metavar="标签")], None),
    "in_feeds": (Annotated[Optional[list[str]], typer.Option(
        "--in", help="在此数据源的现有名单中（任一角色），如 dibao 或 低保；名单中出现即算，含停保等状态；"
        "按正在享受的待遇筛选请用 --group；可重复", show_default=False, metavar="数据源")], None),
    "not_in_feeds": (Annotated[Optional[list[str]], typer.Option(
        "--not-in", help="不在此数据源中，如 yibao；可重复", show_default=False, metavar="数据源")], None),
    "groups": (Annotated[Optional[list[str]], typer.Option(
        "--group", help="特殊群体，如 低保、高龄津贴、医保参保、独居、空巢：各数据源的模式文件声明的待遇或群体，"
        "及独居、空巢；写错时列出全部",
        show_default=False, metavar="群体")], None),
    "moved_out": (Annotated[bool, typer.Option(
        "--moved-out", help="也列出已迁出的人；去世的人从不列出", metavar="")], False),
    "as_of": (AsOfOption, None),
}


def person_conditions(func: Callable) -> Callable:
    """Give `func` the PERSON_OPTIONS in place of its `conditions` parameter, which gets
    them as one dict by name (see `_person_query`)."""
    signature = inspect.signature(func, eval_str=True)

    @functools.wraps(func)
    def wrapper(**kwargs):
        kwargs["conditions"] = {name: kwargs.pop(name) for name in PERSON_OPTIONS}
        return func(**kwargs)

    params = []
    for param in signature.parameters.values():
        if param.name == "conditions":
            params += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                         annotation=annotation)
                       for name, (annotation, default) in PERSON_OPTIONS.items()]
        else:
            params.append(param)
    _set_signature(wrapper, signature.replace(parameters=params))
    return wrapper


def _person_query(conditions: dict):
    """The PersonQuery and the Scope of a command's PERSON_OPTIONS."""
    from rootdb.commands import Scope, parse_date
    from rootdb.commands.query import PersonQuery

    values = {name: value for name, value in conditions.items() if name not in ("community", "grid")}
    for name in ("tags", "family_tags", "in_feeds", "not_in_feeds", "groups"):
        values[name] = list(values[name] or [])
    values["as_of"] = parse_date(values["as_of"])
    return PersonQuery(**values), Scope(conditions["community"], conditions["grid"])


@command(app)
@person_conditions
def query(
    conditions: dict,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="把名单写成 .xlsx 或 .csv", show_default=False, metavar="文件")] = None,
    limit: LimitOption = 20,
    unmasked: UnmaskedOption = False,
    opts: Options = Options(),
) -> None:
    """按条件查找人员，如 0-3 岁且家里要托育的儿童"""
    from rootdb.commands.query import query as run

    people, scope = _person_query(conditions)
    result = run(people, scope, out=out, unmasked=unmasked, db=opts.db)
    opts.emit(result, lambda: render.people_table(result, limit))


@command(app)
@person_conditions
def notify(
    template: Annotated[Path, typer.Option(
        "--template", help="短信模板（jinja2），或自带模板的名称，如 托育服务通知",
        metavar="文件")],
    conditions: dict,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="短信表 .xlsx：短信、无手机号两页；不给则只预览", show_default=False,
        metavar="文件")] = None,
    limit: LimitOption = 10,
    unmasked: UnmaskedOption = False,
    opts: Options = Options(),
) -> None:
    """按条件给人员（儿童则给监护人）生成群发短信"""
    from rootdb.commands.notify import notify as run

    people, scope = _person_query(conditions)
    result = run(people, template, scope, out=out, unmasked=unmasked, db=opts.db)
    opts.emit(result, lambda: render.notify_summary(result, limit))


@command(app)
def card(
    lookup: Annotated[str, typer.Argument(
        help="姓名、身份证号，或人员编号 P…、房屋编号 H…", metavar="姓名|身份证号|编号", show_default=False)],
    community: CommunityOption = None,
    grid: GridOption = None,
    as_of: AsOfOption = None,
    unmasked: UnmaskedOption = False,
    opts: Options = Options(),
) -> None:
    """一户一档：房屋、同住人员及其待遇和健康、事件（诉求）和入户走访

    同名的人不止一个时列出候选（身份证号脱敏），请改用身份证号或人员编号；退出码 2。
    """
    from rootdb.commands import Scope, parse_date
    from rootdb.commands.card import card as run

    result = run(lookup, Scope(community, grid), as_of=parse_date(as_of), unmasked=unmasked, db=opts.db)
    opts.emit(result, lambda: render.household_card(result))
    raise typer.Exit(int(result.exit_code))


@command(app)
def nightly(as_of: AsOfOption = None, opts: Options = Options()) -> None:
    """夜间自动运行：收件箱导入、比对、报表、归档

    收件箱 inbox/ 中 ROOTDB_INBOX_SETTLE 秒（默认 60）内没有改动的文件被导入；处理完的移到
    archive/日期/，退回的移到 rejected/ 并附原因；因内存或磁盘不足未能导入的，或移不走的，留在收件箱，
    下次运行再处理；reports/ 整体换成本次的报表。另一次运行未结束时等待 ROOTDB_LOCK_WAIT 秒（默认 60）。

    退出码：0 完成；1 失败，报表和收件箱未变；2 内存设置无法识别，未运行（也记入运行记录）；
    3 完成，但有文件被退回；4 另一次运行未结束，本次什么也没做；
    5 完成，但有文件因内存或磁盘不足未导入，留在收件箱待下次运行。
    """
    from rootdb.commands import parse_date
    from rootdb.commands.nightly import nightly as run

    result = run(db=opts.db, as_of=parse_date(as_of))
    opts.emit(result, lambda: render.nightly_summary(result))
    raise typer.Exit(int(result.exit_code))


@command(app)
def audit(
    limit: Annotated[int, typer.Option("--limit", help="显示最近多少条；0 = 全部", min=0, metavar="数目")] = 50,
    opts: Options = Options(),
) -> None:
    """审计日志：未脱敏的导出、查询、短信、户卡和页面上的查看"""
    from rootdb.commands.audit import audit as run

    result = run(limit, db=opts.db)
    opts.emit(result, lambda: render.audit_table(result.entries) if result.entries
              else render.out.print("审计日志为空：还没有未脱敏的导出、查询、短信或页面上的查看"))


review_app = ZhTyper(help="人工复核拿不准的配对和地址", no_args_is_help=True)
app.add_typer(review_app, name="review")


@command(review_app, "export")
def review_export(
    out: Annotated[Path, typer.Option("--out", help="导出的 Excel 文件", metavar="文件")],
    unmasked: UnmaskedOption = False,
    opts: Options = Options(),
) -> None:
    """导出待复核的配对（两条记录并排）和待复核地址（候选标准地址并排）"""
    from rootdb.commands.review import review_export as run

    result = run(out, unmasked=unmasked, db=opts.db)
    opts.emit(result, lambda: render.review_export_summary(result))


@command(review_app, "import")
def review_import(
    path: Annotated[Path, typer.Argument(help="填好判定的复核表", metavar="文件")],
    opts: Options = Options(),
) -> None:
    """导入复核判定，下次比对起生效

    有看不懂的行时，其余判定照常保存并列出这些行（退出码 0）；一条判定也没能保存才算失败（退出码 1）。
    """
    from rootdb.commands.review import review_import as run

    result = run(path, db=opts.db)
    opts.emit(result, lambda: render.review_import_summary(result))
    raise typer.Exit(int(result.exit_code))


export_app = ZhTyper(help="导出数据", no_args_is_help=True)
app.add_typer(export_app, name="export")

ExportOutOption = Annotated[Path, typer.Option("--out", help="导出的 .csv 或 .xlsx 文件（按后缀）", metavar="文件")]


@command(export_app, "crosswalk")
def export_crosswalk(out: ExportOutOption, unmasked: UnmaskedOption = False,
                     opts: Options = Options()) -> None:
    """导出对照表：每条记录对应哪个人、房、单位"""
    from rootdb.commands import export

    _export_done(export.crosswalk(out, unmasked=unmasked, db=opts.db), opts, "对照表")


@command(export_app, "persons")
def export_persons(out: ExportOutOption, unmasked: UnmaskedOption = False,
                   opts: Options = Options()) -> None:
    """导出人员总表：每人一行，取最可信的值"""
    from rootdb.commands import export

    _export_done(export.persons(out, unmasked=unmasked, db=opts.db), opts, "人员")


@command(export_app, "corrections")
def export_corrections(
    out: Annotated[Path, typer.Option("--out", help="导出的 Excel 文件", metavar="文件")],
    department: Annotated[
        Optional[str], typer.Option("--department", help="只导出一个部门，如 民政", show_default=False, metavar="部门")
    ] = None,
    unmasked: UnmaskedOption = False,
    opts: Options = Options(),
) -> None:
    """导出与公安库不一致之处，退回部门纠正"""
    from rootdb.commands import export

    _export_done(export.corrections(out, department=department, unmasked=unmasked, db=opts.db), opts, "纠错")


@command(export_app, "addresses")
def export_addresses(
    out: Annotated[Path, typer.Option("--out", help="导出的 .xlsx 或 .csv 文件", metavar="文件")],
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="列出没有对上标准地址的报送地址、原因和最近的候选", metavar="")
    ] = False,
    unmasked: UnmaskedOption = False,
    opts: Options = Options(),
) -> None:
    """导出没有对上标准地址的报送地址：记录数、原因、最近的候选"""
    from rootdb.commands import export

    result = export.addresses(out, unmatched=unmatched, unmasked=unmasked, db=opts.db)
    opts.emit(result, lambda: render.unmatched_addresses_summary(result))


def _export_done(result, opts: Options, what: str) -> None:
    masked = "（已脱敏；要完整号码请加 --unmasked）" if result.masked else "（未脱敏，已记入审计日志）"
    opts.emit(result, lambda: render.out.print(
        f"已导出 {result.rows:,} 行{what}数据到 {result.file}{masked}", soft_wrap=True
    ))


user_app = ZhTyper(help="页面（rootdb serve）的用户：添加、列出、停用", no_args_is_help=True)
app.add_typer(user_app, name="user")


@command(user_app, "add")
def user_add(
    name: Annotated[str, typer.Argument(help="登录用的用户名", metavar="用户名", show_default=False)],
    role: Annotated[str, typer.Option(
        "--role", help="grid 网格员（看一个网格）、community 社区（看一个社区）、street 街道（看全部）",
        show_default=False, metavar="角色")],
    community: Annotated[Optional[str], typer.Option(
        "--community", help="社区用户的社区，如 建设社区 或 建设；网格名不止一个社区有时，网格员也要给",
        show_default=False, metavar="社区")] = None,
    grid: Annotated[Optional[str], typer.Option(
        "--grid", help="网格员的网格，如 第三网格 或 第三", show_default=False, metavar="网格")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="从标准输入读取密码（至少 8 个字符；在终端里输入时不显示）", metavar="")] = False,
    opts: Options = Options(),
) -> None:
    """添加页面用户：网格员、社区或街道

    密码只从标准输入读取，如 printf '%s\\n' "$密码" | rootdb user add 王芳 --role grid --grid 第三 --password-stdin。
    用户名已存在时报错，不覆盖。
    """
    from rootdb.commands.user import user_add as run

    if not password_stdin:
        raise UsageError("请加 --password-stdin，从标准输入提供密码（密码不能写在命令行上）")
    result = run(name, role, community, grid, _password_from_stdin(), db=opts.db)
    opts.emit(result, lambda: render.user_added(result))


def _password_from_stdin() -> str:
    """The first line of standard input; typed at a terminal, without echo."""
    import getpass
    import sys

    if sys.stdin.isatty():
        return getpass.getpass("密码：")
    return sys.stdin.readline().rstrip("\r\n")


@command(user_app, "list")
def user_list(opts: Options = Options()) -> None:
    """列出页面用户：角色、范围、是否停用、添加时间"""
    from rootdb.commands.user import user_list as run

    result = run(db=opts.db)
    opts.emit(result, lambda: render.users_table(result.users))


@command(user_app, "disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="要停用的用户名", metavar="用户名", show_default=False)],
    opts: Options = Options(),
) -> None:
    """停用页面用户：已登录的会话立即失效"""
    from rootdb.commands.user import user_disable as run

    result = run(name, db=opts.db)
    opts.emit(result, lambda: render.out.print(
        f"已停用用户 {result.name}，其登录已失效" if result.changed else f"用户 {result.name} 此前已停用"))


@command(app, json=False)
def serve(
    host: Annotated[str, typer.Option("--host", help="监听的地址；正式使用保持 127.0.0.1，由 nginx 转发 HTTPS"
                                      "（0.0.0.0 仅供试用）", metavar="地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="监听的端口", min=1, max=65535, metavar="端口")] = 8600,
    opts: Options = Options(),
) -> None:
    """网格员页面：手机浏览器查询居民、看户卡和楼栋、记录走访，直到按 Ctrl+C 停止

    页面读取数据库的只读副本（rootdb link 和 nightly 运行后自动发布），运行中照常访问。
    用户用 rootdb user add 添加。工作区加密时须设置同一个 ROOTDB_KEY 再启动。
    """
    from rootdb.commands.serve import check_address, plan, serve as run

    check_address(host, port)
    ready = plan(db=opts.db)
    note = "（已发布最新数据）" if ready.published else f"（{ready.why}，页面暂用上次发布的数据）" if ready.stale else ""
    render.out.print(f"页面已启动：http://{host}:{port}/ 数据副本第 {ready.version} 版{note}；按 Ctrl+C 停止",
                     soft_wrap=True)
    run(ready, host, port)
    render.out.print("页面已停止")  # Ctrl+C or SIGTERM (systemctl stop): requests under way were answered


@command(app, db=False)
def feeds(opts: Options = Options()) -> None:
    """列出可识别的数据源和文件名规则"""
    from rootdb.commands.feeds import feeds as run

    result = run()
    opts.emit(result, lambda: render.feeds_table(result))


@command(app, db=False, json=False)
def demo(
    directory: Annotated[
        Path, typer.Argument(help="演示工作区目录", metavar="目录")
    ] = Path("rootdb-demo"),
) -> None:
    """用自带示例数据跑一遍：导入、比对、生成报表"""
    import shutil
    import sys

    from rootdb.commands.demo import SAMPLE_AS_OF
    from rootdb.commands.demo import demo as run

    with render.IngestProgressBar(enabled=sys.stderr.isatty()) as bar:
        outcome = run(directory, progress=bar)
    render.out.print(f"演示工作区：{outcome.workspace.root}")
    render.ingest_summary(outcome.ingest)
    if outcome.link is not None:
        render.link_summary(outcome.link)
    if outcome.reports is not None:
        r = outcome.reports
        render.out.print(f"报表：{len(r.reports)} 张已写入 {r.out}（{r.area}，统计日期取示例数据的基准日 {r.as_of}，"
                         f"身份证号和电话已脱敏，用时 {r.seconds:.1f} 秒）", soft_wrap=True)
    exe = "rootdb" if shutil.which("rootdb") else str(Path(sys.argv[0]).resolve())
    render.out.print(
        f"\n接着可以试试：\n  cd {outcome.workspace.root}\n  {exe} status\n"
        f"  {exe} report --list\n  {exe} report R01 R05 --as-of {SAMPLE_AS_OF} --out 我的报表\n"
        f"  {exe} query --age 0-3 --family-tag 托幼服务需求 --as-of {SAMPLE_AS_OF}\n"
        f"  {exe} export crosswalk --out 对照表.csv\n"
        f"  {exe} card 侯春辉 --as-of {SAMPLE_AS_OF}\n"
        f"网格员的手机页面（先建用户，把引号里换成至少 8 位的密码；再开服务，浏览器打开 http://127.0.0.1:8600）：\n"
        f"  printf '%s\\n' '请换成您的密码' | {exe} user add 王芳 --role grid --grid 第三 --password-stdin\n"
        f"  {exe} serve",
        soft_wrap=True,
    )
    raise typer.Exit(int(outcome.exit_code))


def run() -> None:  # console-script entry point; `python -m rootdb` too
    # Every file rootdb writes holds residents' data (the database, reports, exports,
    # logs): the owner's alone, whatever umask the shell or service left.
    os.umask(os.umask(0) | 0o077)
    app(prog_name="rootdb")
