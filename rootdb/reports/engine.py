"""Running reports: the shared report tables for one as-of date and area, then each
template's SQL, masking, and one workbook (or CSV) per report.

Reads the golden and link tables (through `report_templates/_base.sql`) and the feed
views; writes nothing to the database except, for `--unmasked`, the audit log.
Workbooks are written to a temporary folder beside the output folder and moved into
place only when every report has been written, so a failed run leaves the reports of
the previous run as they were.

A report template that does not come with rootdb (a folder in ROOTDB_REPORTS: its
YAML, or a `_base.sql` there that every report reads) can compute an ID into a form
masking by content cannot recognise (Chinese numerals, base64, reversed, split over
two columns): rootdb cannot read a query's intent, so every run of such a template is
written to the audit log, masked or not, before its file becomes visible — as an
unmasked report is (`custom_template`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from rootdb.errors import SchemaError, UsageError, disk_full, interrupted, out_of_memory
from rootdb.faults import pause_point
from rootdb.outpaths import output_folder
from rootdb.privacy import mask_birth_date, mask_frame, mask_id, mask_phone, record_audit
from rootdb.processes import cores, worker_pool
from rootdb.reports import floorplans
from rootdb.reports.output import hand_run_folder, process_alive, publish, safe_name, staging_folder
from rootdb.reports.templates import (BASE_SQL, BASE_STATEMENTS, ReportTemplate, base_sql, load_templates,
                                      statement_problem, template_dirs, used_parameters)
from rootdb.reports.writer import ReportHeading, count_figures, write_csv, write_xlsx
from rootdb.specs import load_specs
from rootdb.specs.meaning import sql_name
from rootdb.store import fetch_frame, frame_to_table, require_linked, table_exists
from rootdb.store.sql import registered, scalar
from rootdb.workspace import locate, open_existing

FORMATS = ("xlsx", "csv")
STAGING_PREFIX = ".rootdb-reports-"
_NEEDED = ("golden_persons", "golden_houses", "link_person_records", "link_person_matches")


@dataclass
class ReportFile:
    code: str
    title: str
    rows: int
    file: str
    seconds: float
    custom_template: str | None = None  # the template's (or _base.sql's) file, when not rootdb's own
    pictures: str | None = None  # the folder of its pictures (template key `pictures`), beside the workbook


def custom_template(template: ReportTemplate) -> str | None:
    """The file that makes a report not rootdb's own, or None: the template itself when
    it is not in the bundled report_templates folder, else a `_base.sql` from
    ROOTDB_REPORTS that replaces the bundled one (every report reads its tables)."""
    from rootdb.resources import bundled_dir

    bundled = bundled_dir("report_templates").resolve()
    if template.path and Path(template.path).resolve().parent != bundled:
        return str(Path(template.path).resolve())
    base = next((d / BASE_SQL for d in reversed(template_dirs()) if (d / BASE_SQL).is_file()), None)
    if base is not None and base.resolve().parent != bundled:
        return str(base.resolve())
    return None


@dataclass
class ReportRun:
    as_of: str
    area: str
    out: str
    format: str
    masked: bool
    reports: list[ReportFile] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def select_templates(codes: Iterable[str], all_reports: bool) -> list[ReportTemplate]:
    templates = load_templates()
    codes = [_code(c) for c in codes]
    if all_reports:
        if codes:
            raise UsageError("--all 与报表代码不能同时使用")
        return list(templates.values())
    if not codes:
        raise UsageError("请给出报表代码（如 R01 R05）或 --all；rootdb report --list 列出全部报表")
    unknown = [c for c in codes if c not in templates]
    if unknown:
        raise UsageError(f"没有报表 {', '.join(unknown)}；可用：{templates and min(templates)}–{max(templates)}")
    return [templates[c] for c in dict.fromkeys(codes)]


def _code(text: str) -> str:
    """r5, R5, R05 → R05."""
    text = text.strip().upper()
    digits = text.removeprefix("R")
    return f"R{int(digits):02d}" if digits.isdigit() else text


def prepare(con: duckdb.DuckDBPyConnection, as_of: dt.date, community: str | None, grid: str | None,
            shared: str | None = None) -> dict:
    """Build the shared report tables (TEMP, on this connection) and return the
    parameters every report binds. `shared`: the attached catalog where `prepare_shared`
    put the tables no area, as-of date or page visit changes (`rootdb serve`: one per
    published copy, read by every user's scope); they are read there, not built again."""
    require_linked(con, *_NEEDED, then="，再生成报表")
    if shared is None:
        _placeholder_feeds(con)
        _group_rows(con)
    else:
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                   [shared]).fetchall():
            con.execute(f"CREATE OR REPLACE TEMP VIEW {sql_name(name)} AS "
                        f"SELECT * FROM {sql_name(shared)}.main.{sql_name(name)}")
    _page_visits(con)
    lock_down(con)
    params = {"as_of": as_of, "community": community, "grid": grid}
    for path, statement, where in _base_statements():
        if shared is None or where != ONCE:
            _run_base(con, path, statement, params)
    _check_area(con, community, grid)
    return params


def prepare_shared(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Build the report tables that are the same for every area, as-of date and page
    visit (which record names which person, house and place; the special groups; the
    roster's tags; the feeds never delivered) and keep them in `catalog`, an in-memory
    database attached to `con`'s, for `prepare(…, shared=catalog)` on any of its cursors."""
    require_linked(con, *_NEEDED, then="，再生成报表")
    _placeholder_feeds(con)
    _group_rows(con)
    lock_down(con)
    for path, statement, where in _base_statements():
        if where != PER_SCOPE:
            _run_base(con, path, statement, {})
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall():
        con.execute(f"CREATE OR REPLACE TABLE {sql_name(catalog)}.main.{sql_name(name)} AS "
                    f"SELECT * FROM temp.main.{sql_name(name)}")
    # A household card finds its people's records at once, not by a scan of every record.
    if scalar(con, "SELECT count(*) FROM duckdb_columns() WHERE database_name = ? "
                   "AND table_name = 'r_feed_persons' AND column_name = 'person_id'", [catalog]):
        con.execute(f"CREATE INDEX r_feed_persons_person_id ON {sql_name(catalog)}.main.r_feed_persons "
                    "(person_id)")


_CREATES = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\s+(TABLE|MACRO|VIEW)\s+(\w+)\b(?!\.)",
                      re.IGNORECASE)
ONCE, BOTH, PER_SCOPE = "once", "both", "per scope"  # where a statement of _base.sql runs (_base_statements)
_PAGE_TABLES = ("_r_page_visits",)  # the engine's tables that change with more than the published copy


def _base_statements() -> list[tuple[Path, str, str]]:
    """_base.sql's statements, each with where it runs when a catalog holds the shared
    tables (`prepare_shared`): a shared table ONCE there, a shared macro BOTH there and in
    each scope (macros belong to a connection), the rest PER_SCOPE. A table or macro is
    shared when it binds no parameter ($as_of, $community, $grid) and names no table or
    macro that is not (by the word: a name in a comment or string makes a statement
    per-scope too, which is slower, never wrong). After a statement that creates no TEMP
    table, macro or view by a plain name, nothing is shared."""
    statements = base_sql(with_path=True)
    created = [m.group(2) for _, s in statements if (m := _CREATES.match(s))]
    # A name made twice (a custom _base.sql that replaces one of ours) is made per scope.
    out, per_scope, known = [], set(_PAGE_TABLES) | {n for n in created if created.count(n) > 1}, True
    for path, statement in statements:
        match = _CREATES.match(statement)
        known = known and match is not None
        shared = known and match.group(1).upper() != "VIEW" and not used_parameters(statement) \
            and not set(re.findall(r"\w+", statement)) & per_scope
        if match is not None and not shared:
            per_scope.add(match.group(2))
        where = PER_SCOPE if not shared else ONCE if match.group(1).upper() == "TABLE" else BOTH
        out.append((path, statement, where))
    return out


def _run_base(con: duckdb.DuckDBPyConnection, path: Path, statement: str, params: dict) -> None:
    problem = statement_problem(statement, BASE_STATEMENTS)
    if problem:
        raise SchemaError(path, problem)
    try:
        con.execute(statement, _bind(statement, params))
    except duckdb.PermissionException as exc:
        raise SchemaError(path, f"{REFUSED}（{str(exc).splitlines()[0]}）") from None


def run_reports(
    templates: list[ReportTemplate],
    as_of: dt.date | None = None,
    out: Path | None = None,
    fmt: str = "xlsx",
    community: str | None = None,
    grid: str | None = None,
    unmasked: bool = False,
    db: str | None = None,
    progress: Callable[[ReportTemplate], None] | None = None,
    then: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> ReportRun:
    """Write the reports into a private staging folder, record the audit of an unmasked
    run, then move them into `out` (by default 报表/<统计日期>/ of the workspace).
    `then`: called with the connection and its report tables once every report is
    written (nightly reads its changes there)."""
    started = time.perf_counter()
    if fmt not in FORMATS:
        raise UsageError(f"--format 只能是 {' 或 '.join(FORMATS)}")
    as_of = as_of or dt.date.today()
    ws = locate(db)
    out = output_folder(out if out else hand_run_folder(ws, as_of))  # not an existing file
    with staging_folder(ws) as staging:
        with open_existing(db, read_only=True) as con:
            params = prepare(con, as_of, community, grid)
            heading = ReportHeading(unit_name=_unit_name(con, community, grid), as_of=as_of)
            run = ReportRun(as_of=as_of.isoformat(), area=heading.unit_name, out=str(out), format=fmt,
                            masked=not unmasked)
            # A report of part of the area does not take the name of the whole area's.
            suffix = "".join(f"_{safe_name(x)}" for x in (community, grid) if x)
            # Large reports are masked and written by worker processes (the masking by
            # content, building and deflating the workbook's XML) while the next report's
            # SQL runs here.
            with _writers(fmt) as pool:
                pending, drawings = [], []
                for template in templates:
                    if progress:
                        progress(template)
                    t0 = time.perf_counter()
                    frame = query_frame(con, template, params)
                    notes = count_notes(con, template, params) if fmt == "xlsx" else []  # CSV: rows only
                    name = f"{template.file_name}{suffix}.{fmt}"
                    report = ReportFile(template.code, template.title, frame.height, str(out / name), 0.0,
                                        custom_template(template))
                    run.reports.append(report)
                    if template.pictures:  # read here; many drawn by a worker
                        tables, folder = picture_job(con, template, staging, suffix)
                        drawer = pool if len(tables) >= PARALLEL_ROWS else None
                        drawings.append((report, out / folder.name,
                                         _submit(drawer, _draw, template, tables, folder, heading.as_of)))
                    job = (staging / name, template, frame, notes, params, heading, fmt, unmasked)
                    if pool is not None and frame.height >= PARALLEL_ROWS:
                        pending.append((report, pool.submit(_finish, *job)))
                    else:
                        _finish(*job)
                        report.seconds = round(time.perf_counter() - t0, 2)
                    pause_point("report.written_one")
                if then is not None:  # while the workers still write
                    then(con)
                for report, future in pending:
                    report.seconds = round(future.result(), 2)
                for report, folder, drawn in drawings:
                    report.pictures = str(folder) if drawn.result() else None
        pause_point("report.staged")
        # The audit first: no unmasked workbook, and no report of a template that is not
        # rootdb's own, is ever visible without its row.
        if unmasked or any(r.custom_template for r in run.reports):
            _audit_reports(db, run)
        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(out)
        for report in run.reports:  # every report written (and audited): move them in place
            publish(staging / Path(report.file).name, Path(report.file))
            if report.pictures:
                _publish_folder(staging / Path(report.pictures).name, Path(report.pictures))
    run.seconds = round(time.perf_counter() - started, 2)
    return run


def _audit_reports(db: str | None, run: ReportRun) -> None:
    """One audit row per unmasked report and per report of a template that is not
    rootdb's own, in one transaction; when it cannot be written the run fails and no file
    is put in place."""
    from rootdb.errors import WorkspaceError

    try:
        with open_existing(db, read_only=False) as con:
            con.begin()
            for report in run.reports:
                if report.custom_template:
                    command = f"report {report.code}（自定义模板 {report.custom_template}）"
                    command += " --unmasked" if not run.masked else ""
                elif not run.masked:
                    command = "report --unmasked"
                else:
                    continue  # rootdb's own template, masked: nothing to audit
                record_audit(con, command, f"{report.code} 统计日期 {run.as_of}", report.rows,
                             str(Path(report.file).resolve()))
            con.commit()
    except (WorkspaceError, duckdb.Error) as exc:
        what = "未脱敏的报表" if not run.masked else "自定义模板的报表"
        raise WorkspaceError(f"未能写入审计日志，{what}没有输出：{exc}") from None


# The pictures a template may ask for (its key `pictures`): the title of their folder
# (R41_楼栋平面图 beside R41's workbook), what reads the tables they are drawn from
# off the shared report tables, and the drawer, which writes its files from those
# tables into the folder it is given (in a worker process, as large workbooks are).
PICTURE_DRAWERS = {"floorplans": (floorplans.TITLE, floorplans.read, floorplans.draw_tables)}


def picture_job(con: duckdb.DuckDBPyConnection, template: ReportTemplate, staging: Path,
                suffix: str) -> tuple[Sized, Path]:
    """What a report's pictures are drawn from (read on `con`; its length: how much there
    is to draw), and their folder in the staging folder: written there as the workbooks
    are (inside the workspace, moved into place with them)."""
    title, read, _ = PICTURE_DRAWERS[template.pictures]
    return read(con), staging / f"{template.code}_{title}{suffix}"


def _draw(template: ReportTemplate, tables: Sized, folder: Path, as_of: dt.date) -> bool:
    """Draw a report's pictures into `folder`; whether there was anything to draw."""
    _, _, drawer = PICTURE_DRAWERS[template.pictures]
    return bool(drawer(tables, folder, template.title, as_of))


def _submit(pool: ProcessPoolExecutor | None, fn: Callable, *args) -> Future:
    """`fn(*args)` in a worker of `pool`, or here and now without one."""
    if pool is not None:
        return pool.submit(fn, *args)
    done: Future = Future()
    done.set_result(fn(*args))
    return done


def _publish_folder(staged: Path, target: Path) -> None:
    """Move a staged folder's files into `target`, then remove the files a previous run
    left there that this run did not write (a building no longer in the registry). A
    target that does not exist yet (nightly's new reports folder) is the staged folder
    renamed, in one step instead of one per picture."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # on another disk: file by file below
            os.replace(staged, target)
            return
    written = {path.relative_to(staged) for path in staged.rglob("*") if path.is_file()}
    for relative in sorted(written):
        publish(staged / relative, target / relative)
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_file() and path.relative_to(target) not in written and path.suffix in (".svg", ".html"):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


PARALLEL_ROWS = 20_000  # reports this large are masked and written in a worker process


def _finish(path: Path, template: ReportTemplate, frame: pl.DataFrame, notes: list[str], params: dict,
            heading: ReportHeading, fmt: str, unmasked: bool) -> float:
    """Mask one report's rows (unless `unmasked`), add its notes (`notes`, the counted
    ones, then the note on rows without a standard address) and write its file; the
    seconds it took. Runs in a worker process for a large report (`_writers`)."""
    started = time.perf_counter()
    frame = mask_report(template, frame, unmasked)
    if fmt == "csv":
        write_csv(path, template, frame)
    else:
        notes = [*notes, *unmatched_notes(template, frame, params)]
        if notes:
            template = template.model_copy(update={"notes": [*template.notes, *notes]})
        write_xlsx(path, template, frame, heading)
    return time.perf_counter() - started


@contextlib.contextmanager
def _writers(fmt: str):
    """A pool of workbook writers, one per core, on machines with more than one."""
    workers = min(cores(), 4)
    if fmt != "xlsx" or workers < 2:
        yield None
        return
    pool = worker_pool(workers)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# Report SQL runs on a connection that reads the workspace database and nothing else:
# no files (read_csv, read_text, COPY … TO, ATTACH), no extensions, no settings.
LOCKED_SETTINGS = ("SET enable_external_access = false", "SET autoinstall_known_extensions = false",
                   "SET autoload_known_extensions = false", "SET lock_configuration = true")
REFUSED = "报表 SQL 只能查询工作区数据库，不能读写文件、加载扩展或修改设置"


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """From now on this connection reaches no file, extension or setting (its database
    is already open, its temp folder still spills); there is no way back. The settings
    are the database's: another cursor of a database locked down so (`rootdb serve`
    prepares one per user's scope) finds it done."""
    locked, external = con.execute("SELECT current_setting('lock_configuration'), "
                                    "current_setting('enable_external_access')").fetchone()
    if locked and not external:
        return
    for statement in LOCKED_SETTINGS:
        con.execute(statement)


def _run_error(template: ReportTemplate, exc: duckdb.Error, what: str, field: str) -> SchemaError:
    """The template's SQL failed: the error naming the template. A failure of the machine's
    (out of memory, a full disk, Ctrl+C) is not the template's: raised as it is."""
    if out_of_memory(exc) or disk_full(exc) or interrupted(exc):
        raise exc
    if isinstance(exc, (duckdb.PermissionException, duckdb.InvalidInputException)) and (
            "disabled" in str(exc) or "locked" in str(exc)):
        return SchemaError(template.path, f"{REFUSED}（{str(exc).splitlines()[0]}）", field=field)
    return SchemaError(template.path, f"{what}：{str(exc).splitlines()[0]}", field=field)


def report_frame(con: duckdb.DuckDBPyConnection, template: ReportTemplate, params: dict,
                 unmasked: bool = False) -> pl.DataFrame:
    """The rows of one report, masked unless asked; the template's columns checked."""
    return mask_report(template, query_frame(con, template, params), unmasked)


def query_frame(con: duckdb.DuckDBPyConnection, template: ReportTemplate, params: dict) -> pl.DataFrame:
    """The rows of one report as its SQL gives them (not masked), the template's columns
    checked, lists (groups, feeds) joined into one text."""
    sql = template.render_sql()
    problem = statement_problem(sql)
    if problem:
        raise SchemaError(template.path, problem, field="sql")
    try:
        frame = fetch_frame(con, sql, _bind(sql, params))
    except duckdb.Error as exc:
        raise _run_error(template, exc, "报表 SQL 执行失败", "sql") from None
    missing = [c.field for c in template.columns if c.field not in frame.columns]
    if missing:
        raise SchemaError(template.path, f"SQL 的结果里没有列 {missing[0]}", field="columns")
    # Lists (groups, feeds) read as 低保、特困 in a cell and in CSV.
    return frame.with_columns(pl.col(c).cast(pl.List(pl.String)).list.join("、")
                              for c, t in frame.schema.items() if isinstance(t, pl.List))


def mask_report(template: ReportTemplate, frame: pl.DataFrame, unmasked: bool) -> pl.DataFrame:
    """A report's rows masked (unless `unmasked`): by column as the template says, then
    every text cell by content."""
    if unmasked:
        return frame
    masks = {"id": mask_id, "phone": mask_phone, "birth_date": mask_birth_date}
    frame = frame.with_columns(_masked_column(frame[c.field].cast(pl.String), masks[c.mask])
                               for c in template.columns if c.mask)
    # Then by content, whatever a column is called or the template says: an ID inside
    # 残疾人证号, 学籍号 or 社会保障号码, a mobile in a note.
    return mask_frame(frame)


def _masked_column(values: pl.Series, mask: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """`mask` on a column, worked out once per distinct value where values repeat (a
    correction report's birth dates: 5 000 dates in 230 000 rows)."""
    distinct = values.unique()
    if distinct.len() * 2 > values.len():
        return values.to_frame().select(mask(pl.col(values.name))).to_series()
    masked = distinct.to_frame().select(mask(pl.col(values.name))).to_series()
    return values.replace_strict(distinct, masked, default=None, return_dtype=pl.String)


def _remove_stale_staging(out: Path) -> None:
    """Staging folders that versions before the private staging (`output.staging_folder`)
    left in the output folder when killed: they may hold unmasked workbooks. Nothing
    creates them any more."""
    for folder in out.glob(f"{STAGING_PREFIX}*"):
        pid = folder.name.removeprefix(STAGING_PREFIX).split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _bind(sql: str, params: dict) -> dict:
    return {name: params[name] for name in used_parameters(sql)}


def _placeholder_feeds(con: duckdb.DuckDBPyConnection) -> None:
    """A feed that was never delivered reads as an empty table of its columns, so
    reports over it show no rows instead of failing."""
    from rootdb.clean.frame import clean_frame

    for code, spec in load_specs().items():
        if table_exists(con, code):
            continue
        empty = pl.DataFrame({"source_row": pl.Series([], dtype=pl.Int64)})
        records = clean_frame(spec, empty).records
        frame_to_table(con, f'"{code}"', records.select(pl.lit(None, dtype=pl.Int64).alias("file_id"), pl.all()),
                       temp=True)


def _page_visits(con: duckdb.DuckDBPyConnection) -> None:
    """`_r_page_visits`: the visits grid workers recorded on the page (`rootdb serve`'s
    store, beside the database this connection reads or whose published copy it is), in
    golden_visits' columns; empty without a store. _base.sql's r_special_visits and the
    card count them with the delivered visits."""
    from rootdb.serve.published import database_folder
    from rootdb.serve.store import STORE_NAME, page_visits

    con.execute("CREATE OR REPLACE TEMP TABLE _r_page_visits AS SELECT * FROM golden_visits LIMIT 0")
    path = scalar(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    visits = page_visits(database_folder(Path(path)) / STORE_NAME) if path else pl.DataFrame()
    if visits.height:
        with registered(con, "_page_visits_frame", visits):
            con.execute("INSERT INTO _r_page_visits BY NAME SELECT * FROM _page_visits_frame")


def _group_rows(con: duckdb.DuckDBPyConnection) -> None:
    """`_r_group_rows(feed, file_id, source_row, role, grp)`: the current rows of every
    feed whose schema declares a special group, and which of its people belongs to it
    (`rootdb.specs.meaning`); `_r_groups` of _base.sql takes the group's people from it."""
    from rootdb.specs.meaning import group_rows_sql

    selects = group_rows_sql()
    con.execute("CREATE OR REPLACE TEMP TABLE _r_group_rows AS "
                + (" UNION ALL ".join(selects) if selects else
                   "SELECT NULL::VARCHAR AS feed, NULL::BIGINT AS file_id, NULL::BIGINT AS source_row, "
                   "NULL::VARCHAR AS role, NULL::VARCHAR AS grp WHERE false"))


def count_notes(con: duckdb.DuckDBPyConnection, template: ReportTemplate, params: dict) -> list[str]:
    """The template's notes with a count (`count_notes`), each with its count filled in;
    a note whose count is 0 is left out."""
    notes = []
    for i, note in enumerate(template.count_notes):
        where = f"count_notes[{i}].sql"
        sql = note.render_sql()
        problem = statement_problem(sql)
        if problem:
            raise SchemaError(template.path, problem, field=where)
        try:
            rows = con.execute(sql, _bind(sql, params)).fetchall()
        except duckdb.Error as exc:
            raise _run_error(template, exc, "说明的计数 SQL 执行失败", where) from None
        n = rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else None
        if not isinstance(n, int) or isinstance(n, bool):
            raise SchemaError(template.path, "说明的计数 SQL 应当只返回一个整数（一行一列）", field=where)
        if n:
            notes.append(note.text.replace("{n}", f"{n:,}"))
    return notes


UNMATCHED = "地址未匹配"  # 社区 / 网格 of a row whose address the standard address registry lacks (_base.sql)


def unmatched_notes(template: ReportTemplate, frame: pl.DataFrame, params: dict) -> list[str]:
    """The note on rows whose address the standard address registry lacks (the template's
    `unmatched`): a roster counts its rows marked 地址未匹配 as its 合计 line does, a
    statistic explains its row 地址未匹配, and a run for one community or grid says they
    are not in it."""
    if not template.unmatched:
        return []
    area = params.get("grid") or params.get("community")
    if area:
        return [f"本表只含{area}标准地址内的记录；地址未能对应到标准地址的不属于任何社区、网格，未列入本表，"
                f"全辖区的报表中其社区、网格栏标为“{UNMATCHED}”。"]
    marked = frame.filter(pl.col("grid").cast(pl.String) == UNMATCHED)
    if marked.is_empty():
        return []
    if template.unmatched == "statistics":
        return [f"“{UNMATCHED}”一行为地址未能对应到标准地址、无法确定所属社区和网格的记录，已计入合计，请核实其地址。"]
    figures = " ".join(count_figures(template, marked)) or f"{marked.height:,} 条"
    return [f"其中 {figures}的地址未能对应到标准地址，无法确定所属社区、网格，社区、网格栏标为“{UNMATCHED}”，"
            "请核实其地址。"]


def _check_area(con: duckdb.DuckDBPyConnection, community: str | None, grid: str | None) -> None:
    if (community or grid) and not con.execute("SELECT count(*) FROM r_grids").fetchall()[0][0]:
        known = [f"{c}/{g}" for c, g in con.execute(
            "SELECT community, grid FROM golden_houses WHERE registry_key IS NOT NULL AND grid IS NOT NULL "
            "GROUP BY ALL ORDER BY min(registry_key)").fetchall()]
        asked = "/".join(x for x in (community, grid) if x)
        raise UsageError(f"标准地址库里没有社区或网格“{asked}”；已有：{'、'.join(known[:20])}")


def _unit_name(con: duckdb.DuckDBPyConnection, community: str | None, grid: str | None) -> str:
    """填报单位: the street(s) from the standard addresses, then the community and grid
    when the report covers one."""
    rows = con.execute(r"""
        SELECT regexp_extract(address, '(?:区|县|市|旗)([^区县市旗]{1,12}?(?:街道|镇|乡|苏木))', 1) AS street,
               list(DISTINCT community ORDER BY community) AS communities
        FROM r_houses GROUP BY 1 ORDER BY count(*) DESC
    """).fetchall()
    streets = "、".join(s for s, _ in rows if s)
    communities = sorted({c for _, cs in rows for c in cs})
    name = streets
    if community or len(communities) == 1:
        name += community or communities[0]
    if grid:
        name += grid
    return name or "（未知）"
