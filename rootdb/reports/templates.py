"""Report templates: one YAML file per report in `report_templates/` (see its README).

A template holds the report's SQL (named parameters such as `$as_of`, bound by DuckDB)
and its layout: title, columns (header, optional group header above, width, format,
alignment, masking, 合计), the counts of a roster's 合计 line ("合计：15 户 48 人"),
notes, notes with a count worked out by SQL (shown only when the count is not 0), and
how rows whose address the standard address registry lacks are shown (`unmatched`), and
pictures drawn beside the workbook (`pictures`). The SQL text is rendered by jinja2 in a sandbox first, with
constants only (never a value the user typed), so a template can loop over age bands
instead of repeating itself. The sandbox has limits (`rootdb.reports.sandbox`: the size
of values, range(), 64 KB of SQL, 2 seconds); a refusal, like any error rendering shows,
is a SchemaError naming the template file and the field.

Templates come from the bundled folder and then from the folders in
`ROOTDB_REPORTS`; a later file of the same code replaces an earlier one.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Literal

import duckdb
import jinja2
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from rootdb.errors import SchemaError
from rootdb.reports.sandbox import SQL_LIMITS, limited_sandbox, security_message
from rootdb.resources import bundled_dir
from rootdb.specs.loader import load_yaml_model

REPORTS_ENV = "ROOTDB_REPORTS"
BASE_SQL = "_base.sql"
PARAMETERS = ("as_of", "community", "grid")
_PARAM = re.compile(r"\$([A-Za-z_]\w*)")
_JINJA = limited_sandbox(SQL_LIMITS, undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render_error(exc: jinja2.TemplateError) -> str:
    """Why a template's SQL could not be rendered, in Chinese."""
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"SQL 模板被沙箱拒绝：{security_message(exc)}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"SQL 模板用了不存在的变量（{exc.message}）；报表 SQL 的模板只能用常量，参数请写成 $as_of 等"
    return f"SQL 模板无法生成：{type(exc).__name__}: {exc}"


def render_sql_text(sql: str, file: str | Path = "", field: str = "sql") -> str:
    """A template's SQL rendered in the sandbox; any failure is a SchemaError naming the
    file and the field."""
    try:
        return _JINJA.render(_JINJA.from_string(sql))
    except jinja2.TemplateSyntaxError as exc:
        raise SchemaError(file or "报表模板", f"SQL 模板语法错误（第{exc.lineno}行）：{exc.message}",
                          field=field) from None
    except jinja2.TemplateError as exc:
        raise SchemaError(file or "报表模板", render_error(exc), field=field) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_sql(sql: str) -> str:
    """A template's SQL: valid jinja2, only the known parameters."""
    try:
        _JINJA.parse(sql)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"SQL 模板语法错误（第{exc.lineno}行）：{exc.message}") from None
    unknown = sorted(set(_PARAM.findall(sql)) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"未知的参数 ${unknown[0]}；可用参数：{', '.join('$' + p for p in PARAMETERS)}")
    try:
        rendered = _JINJA.render(_JINJA.from_string(sql))
    except jinja2.exceptions.SecurityError as exc:  # a sandbox refusal or limit: never runs
        raise ValueError(render_error(exc)) from None
    except jinja2.TemplateError:
        return sql  # an error that only rendering shows is reported when the report runs
    problem = statement_problem(rendered)
    if problem:
        raise ValueError(problem)
    return sql


# A report's SQL is one query; the shared tables of _base.sql are TEMP tables and macros.
BASE_STATEMENTS = ("SELECT", "CREATE")


def statement_problem(sql: str, allowed: tuple[str, ...] = ("SELECT",)) -> str | None:
    """Why this SQL may not run as report SQL, by DuckDB's own parser: a report is a
    single SELECT (or WITH … SELECT); never COPY, ATTACH, LOAD, INSTALL, PRAGMA, SET,
    CALL or several statements."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        return f"SQL 语法错误：{str(exc).splitlines()[0]}"
    if len(statements) != 1:
        return f"SQL 只能是一条查询语句（SELECT 或 WITH … SELECT），这里有 {len(statements)} 条"
    kind = statements[0].type.name
    if kind not in allowed:
        words = {"COPY": "COPY（读写文件）", "ATTACH": "ATTACH（打开其他数据库）", "DETACH": "DETACH",
                 "LOAD": "LOAD/INSTALL（加载扩展）", "PRAGMA": "PRAGMA", "SET": "SET（修改设置）",
                 "VARIABLE_SET": "SET VARIABLE", "CALL": "CALL", "EXPORT": "EXPORT DATABASE"}
        return f"报表 SQL 只能是查询语句（SELECT 或 WITH … SELECT），不能用 {words.get(kind, kind)}"
    if kind == "CREATE" and not re.match(r"\s*CREATE\s+(OR\s+REPLACE\s+)?(TEMP|TEMPORARY)\b", sql, re.IGNORECASE):
        return "报表公共表只能是临时表或宏（CREATE OR REPLACE TEMP …）"
    return None


class ReportColumn(_Strict):
    field: str = Field(pattern=r"^[A-Za-z_]\w*$")
    header: str = Field(min_length=1)
    group: str | None = None  # a header above this one, merged over neighbours of the same group
    width: float | None = Field(default=None, gt=0, le=100)
    # int: a count or amount with thousands separators (2,351); plain_int: a whole number
    # written without them (序号, 行号, a year, grams).
    # decimal: a measure shown with two fixed decimals (建筑面积 85.50).
    format: Literal["text", "int", "plain_int", "number", "money", "decimal", "percent", "date"] = "text"
    align: Literal["left", "center", "right"] | None = None
    mask: Literal["id", "phone", "birth_date"] | None = None
    # 合计 row: `sum` of the column, or `ratio a b` = sum(a) / sum(b) (a rate column).
    total: str | None = Field(default=None, pattern=r"^(sum|ratio [A-Za-z_]\w* [A-Za-z_]\w*)$")


class TotalCount(_Strict):
    """One figure of a roster's 合计 line: the rows (人), the distinct values of a column
    (低保证号 → 户) or the sum of a column (家庭人口数 → 人)."""
    unit: str = Field(min_length=1)
    distinct: str | None = None
    sum: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> TotalCount:
        if self.distinct and self.sum:
            raise ValueError("distinct 与 sum 只能选一个")
        return self


class CountNote(_Strict):
    """A note with a count: `sql` returns one whole number (it may use the parameters,
    e.g. the people a per-grid table leaves out); `text` holds {n} where the count goes.
    Shown only when the count is not 0."""
    sql: str = Field(min_length=1)
    text: str = Field(min_length=1)
    _where: tuple[str, str] = PrivateAttr(default=("", "count_notes.sql"))  # (file, field), set by the loader

    @field_validator("sql")
    @classmethod
    def _sql_valid(cls, sql: str) -> str:
        return check_sql(sql)

    @field_validator("text")
    @classmethod
    def _has_count(cls, text: str) -> str:
        if "{n}" not in text:
            raise ValueError("说明文字里要有 {n}，写计数的位置")
        return text

    def render_sql(self) -> str:
        return render_sql_text(self.sql, *self._where)


class ReportTemplate(_Strict):
    code: str = Field(pattern=r"^R\d{2,3}$")
    title: str = Field(min_length=1)
    department: str | None = None  # the department the report goes to
    description: str | None = None
    unit: str | None = None  # 计量单位 shown on the date line, e.g. 人 / 户 / 个
    numbered: bool = True  # a 序号 column first
    orientation: Literal["auto", "portrait", "landscape"] = "auto"
    total_label: str = "合计"
    # A roster's 合计 line, e.g. [{distinct: cert_no, unit: 户}, {unit: 人}] → 合计：15 户 48 人
    total_counts: list[TotalCount] = []
    notes: list[str] = []
    count_notes: list[CountNote] = []
    # Rows of people (or houses, businesses) whose address the standard address registry
    # lacks: `roster` lists them with 社区/网格 地址未匹配 and a note counts them;
    # `statistics` counts them in a last row 地址未匹配. Either way a run for one community
    # or grid notes that they are not in it. Needs the columns `community` and `grid`.
    unmatched: Literal["roster", "statistics"] | None = None
    empty_text: str = Field(default="本期无符合条件的记录", min_length=1)  # the line of a table with no rows
    # Pictures drawn beside the workbook from the shared report tables, by the drawer of
    # this name (rootdb.reports.engine.PICTURE_DRAWERS): `floorplans` = each residential
    # building's floor plan in 红黄蓝 (rootdb.reports.floorplans).
    pictures: Literal["floorplans"] | None = None
    sql: str = Field(min_length=1)
    columns: list[ReportColumn] = Field(min_length=1)
    path: str = ""  # filled in by the loader

    @field_validator("sql")
    @classmethod
    def _sql_renders(cls, sql: str) -> str:
        check_sql(sql)
        if not re.search(r"\border\s+by\b", sql, re.IGNORECASE):
            raise ValueError("SQL 需要 ORDER BY，同一数据库和统计日期才能得到同样的报表")
        return sql

    @model_validator(mode="after")
    def _columns_consistent(self) -> ReportTemplate:
        problem = template_problem(self.model_dump())
        if problem:
            raise ValueError(problem[1])
        return self

    @property
    def file_name(self) -> str:
        return f"{self.code}_{self.title}"

    @property
    def has_total(self) -> bool:
        """A 合计 row of column totals (statistics, or a roster's sums)."""
        return any(c.total for c in self.columns)

    def render_sql(self) -> str:
        return render_sql_text(self.sql, self.path, "sql")


def template_dirs() -> list[Path]:
    dirs = [bundled_dir("report_templates")]
    dirs += [Path(p) for p in os.environ.get(REPORTS_ENV, "").split(os.pathsep) if p]
    return dirs


def load_templates() -> dict[str, ReportTemplate]:
    """Every template by code, in code order; the first invalid file raises SchemaError."""
    return dict(_load(tuple(template_dirs())))


@functools.lru_cache(maxsize=4)
def _load(dirs: tuple[Path, ...]) -> tuple[tuple[str, ReportTemplate], ...]:
    found: dict[str, ReportTemplate] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise SchemaError(directory, f"报表模板目录不存在（{REPORTS_ENV}）")
        for path in sorted(directory.glob("R*.y*ml")):
            template = load_template_file(path)
            found[template.code] = template
    return tuple(sorted(found.items()))


def load_template_file(path: Path) -> ReportTemplate:
    template = load_yaml_model(path, ReportTemplate, "code: …、sql: …、columns: …", _locate_columns_error)
    if not Path(path).stem.startswith(template.code):
        raise SchemaError(path, f"文件名应以报表代码 {template.code} 开头", field="code")
    template = template.model_copy(update={"path": str(path)})
    for i, note in enumerate(template.count_notes):
        note._where = (str(path), f"count_notes[{i}].sql")
    return template


def columns_problem(columns: list[dict]) -> tuple[int, str, str] | None:
    """The first column that breaks a rule between columns: (index, key, message). A
    field appears once; a group header is merged over one run of neighbouring columns;
    a ratio total names existing columns."""
    fields = [c.get("field") for c in columns]
    previous_groups: list = []
    for i, column in enumerate(columns):
        if column.get("field") in fields[:i]:
            return i, "field", f"列 {column.get('field')} 出现了两次"
        group = column.get("group")
        if group and group in previous_groups and previous_groups[-1] != group:
            return i, "group", f"分组表头“{group}”的列应当相邻"
        previous_groups.append(group)
        missing = [f for f in str(column.get("total") or "").split()[1:] if f not in fields]
        if missing:
            return i, "total", f"列 {column.get('field')} 的合计引用了不存在的列 {missing[0]}"
    return None


_SUMMABLE = ("int", "plain_int", "number", "money", "decimal")


def total_counts_problem(data: dict) -> tuple[int, str, str] | None:
    """The first figure of the 合计 line that names a column it cannot count: (index,
    key, message). A distinct count needs a column that is not masked (masked values
    can coincide); a sum needs a number column."""
    columns = {c.get("field"): c for c in data.get("columns") or [] if isinstance(c, dict)}
    for i, count in enumerate(data.get("total_counts") or []):
        if not isinstance(count, dict):
            continue
        for key in ("distinct", "sum"):
            name = count.get(key)
            if not name:
                continue
            column = columns.get(name)
            if column is None:
                return i, key, f"合计行的计数引用了不存在的列 {name}"
            if key == "distinct" and column.get("mask"):
                return i, key, f"列 {name} 是脱敏显示的，不能按它计数；请用证号、编号等不脱敏的列"
            if key == "sum" and (column.get("format") or "text") not in _SUMMABLE:
                return i, key, f"列 {name} 不是数字列，不能求和"
    return None


def template_problem(data: dict) -> tuple[tuple, str] | None:
    """The first rule between fields a template breaks: (location, message)."""
    problem = columns_problem(data.get("columns") or [])
    if problem:
        return ("columns", problem[0], problem[1]), problem[2]
    problem = total_counts_problem(data)
    if problem:
        return ("total_counts", problem[0], problem[1]), problem[2]
    fields = {c.get("field") for c in data.get("columns") or [] if isinstance(c, dict)}
    if data.get("unmatched") and not {"community", "grid"} <= fields:
        return ("unmatched",), "unmatched 需要 community（社区）和 grid（网格）两列"
    return None


def _locate_columns_error(data: dict) -> tuple | None:
    problem = template_problem(data)
    return problem[0] if problem else None


def base_sql(with_path: bool = False) -> list:
    """The statements of `_base.sql` (the shared report tables), from the last folder that
    has one (with `with_path`: each as (file, statement))."""
    path = next((d / BASE_SQL for d in reversed(template_dirs()) if (d / BASE_SQL).is_file()), None)
    if path is None:
        raise SchemaError(bundled_dir("report_templates") / BASE_SQL, "缺少报表公共表定义")
    text = path.read_text(encoding="utf-8")
    # Statements end with a semicolon at the end of a line; `--` comments are dropped.
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = [s.strip() for s in re.split(r";\s*$", text, flags=re.MULTILINE) if s.strip()]
    return [(path, s) for s in statements] if with_path else statements


def used_parameters(sql: str) -> list[str]:
    return sorted(set(_PARAM.findall(sql)))


def clear_template_cache() -> None:
    _load.cache_clear()
