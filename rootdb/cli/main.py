"""The `rootdb` command. Thin: parse options, call the library, render the result.

Errors are mapped to exit codes in one place (`_run`): 0 done, 1 failed with nothing
changed (or some files failed while the rest loaded), 2 bad usage.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from rootdb import __version__
from rootdb.cli import render
from rootdb.cli.zh import ZhTyper
from rootdb.errors import ExitCode, RootdbError
from rootdb.resources import bundled_dir

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

DbOption = Annotated[
    Optional[str],
    typer.Option("--db", help="数据库文件；不给则依次取环境变量 ROOTDB_DB、rootdb.toml、./rootdb.duckdb",
                 show_default=False, metavar="文件"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象", metavar="")]
DebugOption = Annotated[bool, typer.Option("--debug", help="出错时显示完整的 traceback", hidden=True)]
UnmaskedOption = Annotated[
    bool, typer.Option("--unmasked", help="不隐藏身份证号和电话（会记入审计日志）", metavar="")
]


def _run(func: Callable) -> Callable:
    """Map library errors to a red panel and an exit code; tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        debug = kwargs.get("debug", False) or os.environ.get("ROOTDB_DEBUG") == "1"
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except RootdbError as exc:
            if debug:
                raise
            render.error_panel(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            render.err.print("[red]已中断；正在进行的文件未写入。[/]")
            raise typer.Exit(int(ExitCode.FAILED)) from None

    return wrapper


def _emit(result, as_json: bool, show: Callable[[], None]) -> None:
    """The result as one JSON object, or as the human view `show` prints."""
    if as_json:
        render.print_json(result.to_dict())
    else:
        show()


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


@app.command()
@_run
def init(
    directory: Annotated[Path, typer.Argument(help="工作区目录", metavar="目录")] = Path("."),
    debug: DebugOption = False,
) -> None:
    """创建工作区：配置和数据库文件"""
    from rootdb.workspace import init_workspace, workspace_exists

    existed = workspace_exists(directory)
    ws = init_workspace(directory)
    done = "工作区已存在，未改动（数据保留）：" if existed else "已创建工作区 "
    render.out.print(f"{done}{ws.root}\n  配置：{ws.config_path}\n  数据库：{ws.db_path}")


@app.command()
@_run
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
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """导入数据文件：识别、清洗、入库，坏行隔离"""
    from rootdb.ingest import ingest as run_ingest
    from rootdb.specs.names import resolve_feed

    feed = resolve_feed(feed, "--feed")
    with render.IngestProgressBar(enabled=not as_json and sys.stderr.isatty()) as bar:
        result = run_ingest(paths, db=db, feed=feed, strict=strict, progress=bar)
    _emit(result, as_json, lambda: render.ingest_summary(result))
    raise typer.Exit(int(result.exit_code))


@app.command()
@_run
def status(db: DbOption = None, as_json: JsonOption = False, debug: DebugOption = False) -> None:
    """查看已导入的数据和最近的运行"""
    from rootdb.status import status as run_status

    result = run_status(db=db)
    _emit(result, as_json, lambda: render.status_tables(result))


@app.command()
@_run
def quarantine(
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="导出的 Excel 文件（只加 --json 不加 --out：输出各数据源、文件的隔离行数和原因）",
                     show_default=False, metavar="文件"),
    ] = None,
    feed: Annotated[Optional[str], typer.Option("--feed", help="只导出一个数据源：代码或名称，如 dibao 或 低保",
                                                           show_default=False, metavar="数据源")] = None,
    unmasked: UnmaskedOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """导出被隔离的行及原因，退回部门"""
    from rootdb.errors import UsageError
    from rootdb.quarantine import export_quarantine, quarantine_summary

    if out is None:
        if not as_json:
            raise UsageError("请用 --out 指定导出的 Excel 文件（如 --out 隔离数据.xlsx）；"
                             "只看各数据源的隔离行数和原因请用 --json")
        if unmasked:
            raise UsageError("--unmasked 只用于导出文件：请同时用 --out 指定 Excel 文件")
        render.print_json(quarantine_summary(db=db, feed=feed).to_dict())
        return
    _export_done(export_quarantine(out, db=db, feed=feed, unmasked=unmasked), as_json, "隔离")


@app.command()
@_run
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
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """与公安库比对：人、房、单位各归一"""
    from rootdb.link import link as run_link

    with render.err.status("比对中：人员、房屋、单位…"):
        result = run_link(db=db, retrain=retrain, threshold=threshold, review_from=review_from, charts=charts,
                          engine=engine)
    _emit(result, as_json, lambda: render.link_summary(result))


_DATE_FORMS = "2026-11-01、2026/11/01、2026.11.01、20261101 或 2026年11月1日"


def _as_of(value: Optional[str], option: str = "--as-of"):
    """A date as offices write it: 2026-11-01, 2026/11/1, 2026.11.01, 20261101,
    2026年11月1日 (full-width digits too)."""
    import datetime as dt
    import re
    import unicodedata

    from rootdb.errors import UsageError

    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    found = (re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
             or re.fullmatch(r"(\d{4})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{1,2})", text)
             or re.fullmatch(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?", text))
    if found:
        year, month, day = (int(g) for g in found.groups() if g.isdigit())
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise UsageError(f"{option}：没有 {value} 这一天") from None
    raise UsageError(f"{option} 应为日期，如 {_DATE_FORMS}，而不是 {value!r}")


def _area(db: str | None, community: str | None, grid: str | None) -> tuple[str | None, str | None]:
    """--community / --grid as the standard address registry names them (建设 → 建设社区)."""
    if not (community or grid):
        return community, grid
    from rootdb.reports.query import resolve_area
    from rootdb.workspace import locate, open_existing

    if not locate(db).db_path.exists():
        return community, grid  # the command itself says there is no database
    with open_existing(db, read_only=True) as con:
        return resolve_area(con, community, grid)


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


@app.command(help=f"生成报表：{SHIPPED_REPORTS} 张固定报表，按统计日期")
@_run
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
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    from rootdb.reports import load_templates, run_reports, select_templates

    if list_reports:
        templates = load_templates()
        if as_json:
            render.print_json({c: {"title": t.title, "department": t.department} for c, t in templates.items()})
        else:
            render.report_list(templates)
        return
    templates = select_templates(codes or [], all_reports)
    community, grid = _area(db, community, grid)
    with render.ReportProgressBar(len(templates), enabled=sys.stderr.isatty() and not as_json) as bar:
        result = run_reports(templates, as_of=_as_of(as_of), out=out, fmt=fmt, community=community, grid=grid,
                             unmasked=unmasked, db=db, progress=bar.report_started)
    _emit(result, as_json, lambda: render.report_summary(result))


# Conditions on people, shared by `query` and `notify`; the parameter names are
# PersonQuery's fields, so one function builds the query from either command.
AgeOption = Annotated[Optional[str], typer.Option(
    "--age", help="年龄段，按统计日期的周岁：0-3、60-（60岁及以上）、80+、5", show_default=False,
    metavar="年龄段")]
SexOption = Annotated[Optional[str], typer.Option("--sex", help="男 或 女", show_default=False, metavar="性别")]
EthnicityOption = Annotated[Optional[str], typer.Option(
    "--ethnicity", help="民族，如 蒙古族；少数民族 = 汉族以外", show_default=False, metavar="民族")]
CompoundOption = Annotated[Optional[str], typer.Option(
    "--compound", help="小区，如 幸福小区", show_default=False, metavar="小区")]
BuildingOption = Annotated[Optional[str], typer.Option(
    "--building", help="楼号，如 3 或 3号楼", show_default=False, metavar="楼号")]
TagOption = Annotated[Optional[list[str]], typer.Option(
    "--tag", help="本人在社区花名册上的标签，如 党员；可重复，须都有", show_default=False,
    metavar="标签")]
FamilyTagOption = Annotated[Optional[list[str]], typer.Option(
    "--family-tag", help="家里（同户号或同一房屋）有人带此标签，如 托幼服务需求",
    show_default=False, metavar="标签")]
InFeedOption = Annotated[Optional[list[str]], typer.Option(
    "--in", help="在此数据源的现有名单中（任一角色），如 dibao 或 低保；名单中出现即算，含停保等状态；"
    "按正在享受的待遇筛选请用 --group；可重复", show_default=False, metavar="数据源")]
NotInFeedOption = Annotated[Optional[list[str]], typer.Option(
    "--not-in", help="不在此数据源中，如 yibao；可重复", show_default=False, metavar="数据源")]
GroupOption = Annotated[Optional[list[str]], typer.Option(
    "--group", help="特殊群体，如 低保、高龄津贴、医保参保、独居、空巢：各数据源的模式文件声明的待遇或群体，"
    "及独居、空巢；写错时列出全部",
    show_default=False, metavar="群体")]
MovedOutOption = Annotated[bool, typer.Option("--moved-out", help="也列出已迁出的人；去世的人从不列出", metavar="")]
LimitOption = Annotated[int, typer.Option("--limit", help="终端里最多显示几行", min=0, metavar="数目")]


def _person_query(options: dict):
    """The PersonQuery of a command's options (its `locals()`)."""
    from dataclasses import fields

    from rootdb.reports.query import PersonQuery

    values = {}
    for f in fields(PersonQuery):
        if f.name in options:
            values[f.name] = list(options[f.name] or []) if f.default_factory is list else options[f.name]
    values["as_of"] = _as_of(values.get("as_of"))
    return PersonQuery(**values)


@app.command()
@_run
def query(
    age: AgeOption = None,
    sex: SexOption = None,
    ethnicity: EthnicityOption = None,
    community: CommunityOption = None,
    grid: GridOption = None,
    compound: CompoundOption = None,
    building: BuildingOption = None,
    tags: TagOption = None,
    family_tags: FamilyTagOption = None,
    in_feeds: InFeedOption = None,
    not_in_feeds: NotInFeedOption = None,
    groups: GroupOption = None,
    moved_out: MovedOutOption = False,
    as_of: AsOfOption = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="把名单写成 .xlsx 或 .csv", show_default=False, metavar="文件")] = None,
    limit: LimitOption = 20,
    unmasked: UnmaskedOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """按条件查找人员，如 0-3 岁且家里要托育的儿童"""
    from rootdb.reports.query import find_people

    result = find_people(_person_query(locals()), out=out, unmasked=unmasked, db=db)
    _emit(result, as_json, lambda: render.people_table(result, limit))


@app.command()
@_run
def notify(
    template: Annotated[Path, typer.Option(
        "--template", help="短信模板（jinja2），或自带模板的名称，如 托育服务通知",
        metavar="文件")],
    age: AgeOption = None,
    sex: SexOption = None,
    ethnicity: EthnicityOption = None,
    community: CommunityOption = None,
    grid: GridOption = None,
    compound: CompoundOption = None,
    building: BuildingOption = None,
    tags: TagOption = None,
    family_tags: FamilyTagOption = None,
    in_feeds: InFeedOption = None,
    not_in_feeds: NotInFeedOption = None,
    groups: GroupOption = None,
    moved_out: MovedOutOption = False,
    as_of: AsOfOption = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="短信表 .xlsx：短信、无手机号两页；不给则只预览", show_default=False,
        metavar="文件")] = None,
    limit: LimitOption = 10,
    unmasked: UnmaskedOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """按条件给人员（儿童则给监护人）生成群发短信"""
    from rootdb.reports.notify import notify as run_notify

    community, grid = _area(db, community, grid)
    result = run_notify(_person_query(locals()), template, out=out, unmasked=unmasked, db=db)
    _emit(result, as_json, lambda: render.notify_summary(result, limit))


@app.command()
@_run
def nightly(
    as_of: AsOfOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """夜间自动运行：收件箱导入、比对、报表、归档

    收件箱 inbox/ 中 ROOTDB_INBOX_SETTLE 秒（默认 60）内没有改动的文件被导入；处理完的移到
    archive/日期/，退回的移到 rejected/ 并附原因；reports/ 整体换成本次的报表。
    另一次运行未结束时等待 ROOTDB_LOCK_WAIT 秒（默认 60）。

    退出码：0 完成；1 失败，报表和收件箱未变；3 完成，但有文件被退回；4 另一次运行未结束，本次什么也没做。
    """
    from rootdb.nightly import run_nightly

    result = run_nightly(db=db, as_of=_as_of(as_of))
    _emit(result, as_json, lambda: render.nightly_summary(result))
    raise typer.Exit(result.exit_code)


@app.command()
@_run
def audit(
    limit: Annotated[int, typer.Option("--limit", help="显示最近多少条；0 = 全部", min=0, metavar="数目")] = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """审计日志：未脱敏的导出、查询和短信"""
    from rootdb.privacy import audit_rows
    from rootdb.workspace import open_existing

    with open_existing(db) as con:
        rows = audit_rows(con, limit)
    if as_json:
        render.print_json({"entries": rows})
    elif rows:
        render.audit_table(rows)
    else:
        render.out.print("审计日志为空：还没有未脱敏的导出、查询或短信")


review_app = ZhTyper(help="人工复核拿不准的配对和地址", no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("export")
@_run
def review_export(
    out: Annotated[Path, typer.Option("--out", help="导出的 Excel 文件", metavar="文件")],
    unmasked: UnmaskedOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """导出待复核的配对（两条记录并排）和待复核地址（候选标准地址并排）"""
    from rootdb.link.review import export_review

    result = export_review(out, db=db, unmasked=unmasked)
    _emit(result, as_json, lambda: render.review_export_summary(result))


@review_app.command("import")
@_run
def review_import(
    path: Annotated[Path, typer.Argument(help="填好判定的复核表", metavar="文件")],
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """导入复核判定，下次比对起生效

    有看不懂的行时，其余判定照常保存并列出这些行（退出码 0）；一条判定也没能保存才算失败（退出码 1）。
    """
    from rootdb.link.review import import_review

    result = import_review(path, db=db)
    _emit(result, as_json, lambda: render.review_import_summary(result))
    # A partial import is done: the readable decisions are saved and the others listed.
    saved = result.decided + (result.addresses or {}).get("decided", 0)
    if result.problems and not saved:
        raise typer.Exit(int(ExitCode.FAILED))


export_app = ZhTyper(help="导出数据", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("crosswalk")
@_run
def export_crosswalk(
    out: Annotated[Path, typer.Option("--out", help="导出的 .csv 或 .xlsx 文件（按后缀）", metavar="文件")],
    unmasked: UnmaskedOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """导出对照表：每条记录对应哪个人、房、单位"""
    from rootdb.exports import export_crosswalk as run_export

    _export_done(run_export(out, db=db, unmasked=unmasked), as_json, "对照表")


@export_app.command("persons")
@_run
def export_persons(
    out: Annotated[Path, typer.Option("--out", help="导出的 .csv 或 .xlsx 文件（按后缀）", metavar="文件")],
    unmasked: UnmaskedOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """导出人员总表：每人一行，取最可信的值"""
    from rootdb.golden.exports import export_persons as run_export

    _export_done(run_export(db, out, unmasked=unmasked), as_json, "人员")


@export_app.command("corrections")
@_run
def export_corrections(
    out: Annotated[Path, typer.Option("--out", help="导出的 Excel 文件", metavar="文件")],
    department: Annotated[
        Optional[str], typer.Option("--department", help="只导出一个部门，如 民政", show_default=False, metavar="部门")
    ] = None,
    unmasked: UnmaskedOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """导出与公安库不一致之处，退回部门纠正"""
    from rootdb.golden.exports import export_corrections as run_export

    _export_done(run_export(db, out, department=department, unmasked=unmasked), as_json, "纠错")


@export_app.command("addresses")
@_run
def export_addresses(
    out: Annotated[Path, typer.Option("--out", help="导出的 .xlsx 或 .csv 文件", metavar="文件")],
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="列出没有对上标准地址的报送地址、原因和最近的候选", metavar="")
    ] = False,
    unmasked: UnmaskedOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """导出没有对上标准地址的报送地址：记录数、原因、最近的候选"""
    from rootdb.errors import UsageError
    from rootdb.link.address_export import export_unmatched_addresses

    if not unmatched:
        raise UsageError("请加 --unmatched：目前只能导出没有对上标准地址的报送地址")
    result = export_unmatched_addresses(out, db=db, unmasked=unmasked)
    _emit(result, as_json, lambda: render.unmatched_addresses_summary(result))


def _export_done(result, as_json: bool, what: str) -> None:
    masked = "（已脱敏；要完整号码请加 --unmasked）" if result.masked else "（未脱敏，已记入审计日志）"
    _emit(result, as_json, lambda: render.out.print(
        f"已导出 {result.rows:,} 行{what}数据到 {result.file}{masked}", soft_wrap=True
    ))


@app.command()
@_run
def feeds(as_json: JsonOption = False, debug: DebugOption = False) -> None:
    """列出可识别的数据源和文件名规则"""
    from rootdb.specs import load_specs

    specs = load_specs()
    if as_json:
        render.print_json({code: s.model_dump() for code, s in sorted(specs.items())})
        return
    render.feeds_table(specs)


@app.command()
@_run
def demo(
    directory: Annotated[
        Path, typer.Argument(help="演示工作区目录", metavar="目录")
    ] = Path("rootdb-demo"),
    debug: DebugOption = False,
) -> None:
    """用自带示例数据跑一遍：导入、比对、生成报表"""
    from rootdb.demo import SAMPLE_AS_OF, run_demo

    with render.IngestProgressBar(enabled=sys.stderr.isatty()) as bar:
        outcome = run_demo(directory, progress=bar)
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
        f"  {exe} export crosswalk --out 对照表.csv",
        soft_wrap=True,
    )
    raise typer.Exit(int(outcome.ingest.exit_code))


def run() -> None:  # console-script entry point; `python -m rootdb` too
    app(prog_name="rootdb")
