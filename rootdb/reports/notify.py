"""`rootdb notify`: one text message per recipient for the people of a query, for an
SMS platform's group sending.

Who receives it: an adult, the person themself; a child (under 18 at the as-of date),
the guardian — those the feeds' schemas declare (relations of kind guardian, by rank:
the 监护人 of the child's 儿童保健 row, else of its 学籍 row, else the mother, then the
father, of its 出生医学证明), else the head (户主) of its registry household. Among those the first with a mobile number is
taken; guardians who have died are skipped. Someone who is the recipient for several
people (two children, or a mother and her child) gets one message about all of them.
People whose recipient has no mobile number are listed apart, with why.

The message is a jinja2 template file rendered in a sandbox with limits
(`rootdb.reports.sandbox`: the size of values, range(), 2,000 characters of message,
1 second per message; undefined variables are errors that name the file and line; every
refusal is said in Chinese). Its variables:

    姓名 / name           the recipient's name
    称呼 / salutation     王先生, 李女士 (the surname and sex; a full name where the name
                          has no Han surname, e.g. 乌兰女士; the bare name if the sex is unknown)
    儿童姓名 / child_names the children the message is about, 、-separated ("" if none)
    儿童 / children        the same as a list, each with 姓名 / 年龄 / 性别
    关于 / about           everyone the message is about, each with 姓名 / 年龄 / 性别 / 住址
    年龄 / age            the age of the (first) person the message is about
    住址 / address        their address (幸福小区3号楼2单元501室)
    社区 / community, 网格 / grid   their community and grid ("" if not known)
    是监护人 / is_guardian true when the message goes to a guardian about a child
    统计日期 / as_of      the as-of date, 2026年11月1日

Output: a workbook with the sheets 短信 (序号, 接收人, 手机号, 关于, 住址, 短信内容) and
无手机号 (序号, 姓名, 年龄, 网格, 住址, 应联系人, 联系电话, 原因), each under a title and a
line giving the as-of date, the conditions and the counts (the header is row 3). Phones
are masked unless `unmasked`; an SMS platform needs them unmasked. Every run is written to the audit log.

Reads the report tables (`engine.prepare`), the feed views of the guardian relations,
`golden_persons` and `rel_household`; writes only the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import jinja2
import polars as pl

from rootdb.errors import SchemaError, UsageError
from rootdb.outpaths import output_file
from rootdb.reports.engine import prepare
from rootdb.reports.query import (PersonQuery, audited_output, list_detail, mask_people,
                                  guardian_rows, select_people, where_clauses)
from rootdb.reports.sandbox import MESSAGE_LIMITS, limited_sandbox, security_message
from rootdb.resources import bundled_dir
from rootdb.store import fetch_frame
from rootdb.workspace import open_existing

ADULT_AGE = 18
MESSAGE_COLUMNS = ["序号", "接收人", "手机号", "关于", "住址", "短信内容"]
NO_PHONE_COLUMNS = ["序号", "姓名", "年龄", "网格", "住址", "应联系人", "联系电话", "原因"]
SMS_LENGTH = 70  # characters of one Chinese text message; longer ones are sent (and paid) as several
_MOBILE = re.compile(r"1[3-9]\d{9}")
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯",
    "令狐", "端木", "独孤", "南宫", "西门", "轩辕", "万俟", "单于", "呼延", "闻人", "澹台", "公冶", "宗政",
    "濮阳", "太叔", "申屠", "钟离", "拓跋",
)
# The hundred commonest Han surnames: a 蒙古族 resident named 孙悦洁 is 孙女士, one
# named 乌兰 is 乌兰女士.
_COMMON_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
# 民族 whose names mostly carry no Han surname (乌兰, 巴特尔): addressed by the full name
# unless it starts with a common Han surname.
_SURNAMELESS = ("蒙古族", "藏族", "维吾尔族", "哈萨克族", "柯尔克孜族", "塔吉克族", "达斡尔族", "鄂温克族",
                "鄂伦春族")


@dataclass
class NotifyResult:
    query: PersonQuery
    as_of: str
    template: str
    people: int  # people the query found
    messages: pl.DataFrame  # MESSAGE_COLUMNS, unmasked
    no_phone: pl.DataFrame  # NO_PHONE_COLUMNS, unmasked
    about: pl.DataFrame  # 序号 (of the message), 人员编号 (a person it is about), 接收人编号 (its recipient)
    file: str | None = None
    masked: bool = True

    @property
    def longest(self) -> int:
        return max((len(m) for m in self.messages["短信内容"]), default=0)

    def to_dict(self) -> dict:
        messages, no_phone = self.messages, self.no_phone
        if self.masked:
            messages, no_phone = mask_people(messages), mask_people(no_phone)
        return {"as_of": self.as_of, "conditions": self.query.describe(), "query": self.query.to_dict(),
                "template": self.template, "people": self.people, "file": self.file, "masked": self.masked,
                "longest_message": self.longest, "messages": messages.to_dicts(),
                "no_phone": no_phone.to_dicts()}


# ------------------------------------------------------------------ the template

TEMPLATE_SUFFIX = ".txt.j2"  # a message template is a small text file named 某某通知.txt.j2
TEMPLATE_MAX_BYTES = 16_384


def find_template(path: Path | str) -> Path:
    """A message template file (named *.txt.j2), or the name of one shipped in
    report_templates/messages (`托育服务通知`). Any other file is refused: a template is
    shown back in the messages, so /etc/passwd or a roster must never pass for one."""
    path = Path(path)
    bundled = bundled_dir("report_templates") / "messages"
    shipped = "、".join(p.name.removesuffix(TEMPLATE_SUFFIX) for p in sorted(bundled.glob(f"*{TEMPLATE_SUFFIX}")))
    if not path.is_file():
        for candidate in (bundled / path.name, bundled / f"{path.name}{TEMPLATE_SUFFIX}"):
            if candidate.is_file() and candidate.name.endswith(TEMPLATE_SUFFIX):
                return candidate
        raise UsageError(f"找不到短信模板 {path}；自带的模板：{shipped or '（无）'}")
    real = path.resolve()
    if not (path.name.endswith(TEMPLATE_SUFFIX) and real.name.endswith(TEMPLATE_SUFFIX)):
        raise UsageError(f"{path}：不是短信模板。短信模板是以 {TEMPLATE_SUFFIX} 结尾的文本文件"
                         f"（如 托育服务通知{TEMPLATE_SUFFIX}）；自带的模板：{shipped or '（无）'}")
    if real.stat().st_size > TEMPLATE_MAX_BYTES:
        raise UsageError(f"{path}：短信模板超过 {TEMPLATE_MAX_BYTES // 1024} KB，不像一条短信的模板")
    return path


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Notepad on Windows may save either
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SchemaError(path, "短信模板不是 UTF-8 或 GB18030 编码的文本文件")


def load_template(path: Path) -> jinja2.Template:
    """The template compiled in a sandbox; a syntax error names the file and line."""
    source = _read_text(path)
    env = limited_sandbox(
        MESSAGE_LIMITS, loader=jinja2.FunctionLoader(lambda _name: (source, str(path), lambda: True)),
        undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
    )
    try:
        return env.get_template(path.name)
    except jinja2.TemplateSyntaxError as exc:
        raise SchemaError(path, f"短信模板语法错误：{exc.message}", line=exc.lineno) from None


def render_message(template: jinja2.Template, context: dict) -> str:
    try:
        text = template.environment.render(template, context)
    except Exception as exc:  # noqa: BLE001 - any failure inside a user's template is the template's
        raise _template_error(template, exc) from None
    return text.strip()


def _template_error(template: jinja2.Template, exc: Exception) -> SchemaError:
    line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                 if f.filename == template.filename), None)
    if isinstance(exc, jinja2.UndefinedError):
        names = "、".join(k for k in _example_context() if not k.isascii())
        message = f"短信模板用了不存在的变量（{exc.message}）；可用：{names}"
    elif isinstance(exc, jinja2.exceptions.SecurityError):
        message = f"短信模板做了不允许的操作：{security_message(exc)}"
    else:
        message = f"短信模板无法生成：{type(exc).__name__}: {exc}"
    return SchemaError(template.filename or template.name or "模板", message, line=line)


def _example_context() -> dict:
    child = {"姓名": "王小明", "年龄": 2, "性别": "男", "住址": "幸福小区3号楼2单元501室"}
    return _context("王芳", "王女士", [child], True, dt.date(2026, 11, 1), {"社区": "建设社区", "网格": "第一网格"})


def _context(name: str, salutation: str, about: list[dict], guardian: bool, as_of: dt.date,
             place: dict) -> dict:
    children = [a for a in about if guardian and a["年龄"] is not None and a["年龄"] < ADULT_AGE]
    first = about[0]
    values = {
        "姓名": name, "称呼": salutation, "儿童姓名": "、".join(c["姓名"] for c in children), "儿童": children,
        "关于": about, "年龄": first["年龄"], "住址": first["住址"] or "", "社区": place["社区"] or "",
        "网格": place["网格"] or "", "是监护人": guardian, "统计日期": f"{as_of.year}年{as_of.month}月{as_of.day}日",
    }
    english = {"name": "姓名", "salutation": "称呼", "child_names": "儿童姓名", "children": "儿童", "about": "关于",
               "age": "年龄", "address": "住址", "community": "社区", "grid": "网格", "is_guardian": "是监护人",
               "as_of": "统计日期"}
    return values | {en: values[zh] for en, zh in english.items()}


def salutation(name: str | None, sex: str | None, ethnicity: str | None = None) -> str:
    """王先生 / 李女士 / 欧阳女士; 乌兰女士 (no Han surname); the name alone if the sex is unknown."""
    if not name:
        return "居民朋友"
    if sex not in ("男", "女"):
        return name
    title = "先生" if sex == "男" else "女士"
    surnameless = ethnicity in _SURNAMELESS and name[0] not in _COMMON_SURNAMES
    if surnameless or "·" in name or not re.fullmatch(r"[\u4e00-\u9fff]{2,4}", name):
        return name + title
    surname = name[:2] if name[:2] in _COMPOUND_SURNAMES and len(name) > 2 else name[0]
    return surname + title


# ------------------------------------------------------------------ recipients

_PEOPLE = """
SELECT p.person_id, p.name, q.姓名 AS listed_name, p.sex, p.ethnicity, p.age, p.phone, p.short_address,
       p.community, p.grid
FROM q_people q JOIN r_persons p ON p.person_id = q.人员编号
"""

def _guardians() -> str:
    """Guardian candidates of the queried children, best first (`query.guardian_rows`):
    with the phone written in that row, else the phone of the guardian's record; a
    guardian who has died is left out."""
    return f"""
WITH kids AS (SELECT q.人员编号 AS child_id FROM q_people q WHERE q.年龄 < $adult),
rows AS ({guardian_rows()})
SELECT r.child_id, r.rank, r.source, r.guardian_id, coalesce(gp.name, r.row_name) AS name,
       coalesce(gp.sex, r.sex) AS sex, gp.ethnicity, r.row_phone, gp.phone AS record_phone
FROM rows r JOIN kids k USING (child_id)
LEFT JOIN golden_persons gp ON gp.entity_id = r.guardian_id
WHERE r.guardian_id IS DISTINCT FROM r.child_id
  AND (gp.status = '死亡' AND (gp.death_date IS NULL OR gp.death_date <= $as_of::DATE)) IS NOT TRUE
ORDER BY r.child_id, r.rank, r.file_id DESC NULLS LAST, r.source_row
"""


def _unnamed(age: int | None) -> str:
    """What a message calls a child whose name no record gives (a newborn)."""
    return "宝宝" if age is not None and age <= 3 else "孩子"


def _mobile(*phones: str | None) -> str | None:
    for phone in phones:
        for m in _MOBILE.finditer(phone or ""):
            if m.start() == 0 or not phone[m.start() - 1].isdigit():
                return m.group()
    return None


def _any_phone(*phones: str | None) -> str | None:
    return next((p for p in phones if p), None)


@dataclass
class _Recipient:
    key: str  # the person's entity id; name and phone for a guardian no record names
    person_id: str | None
    name: str | None
    sex: str | None
    ethnicity: str | None
    phone: str
    guardian: bool
    about: list[dict] = field(default_factory=list)


def _self(person: dict) -> _Recipient | dict:
    """An adult receives their own message: a recipient, or the line of the no-mobile list."""
    phone = _mobile(person["phone"])
    if phone:
        return _Recipient(person["person_id"], person["person_id"], person["name"], person["sex"], person["ethnicity"], phone, False)
    return {"应联系人": "本人", "联系电话": person["phone"],
            "原因": "本人只有座机" if person["phone"] else "本人没有电话"}


def _guardian_of(candidates: list[dict]) -> _Recipient | dict:
    """A child's message goes to the first guardian with a mobile; else the no-mobile
    list names the first guardian known."""
    for g in candidates:
        phone = _mobile(g["row_phone"], g["record_phone"])
        if phone:
            key = g["guardian_id"] or f"{g['name']}|{phone}"
            return _Recipient(key, g["guardian_id"], g["name"], g["sex"], g["ethnicity"], phone, True)
    if not candidates:
        return {"应联系人": None, "联系电话": None, "原因": "未满18岁，找不到监护人"}
    first = candidates[0]
    return {"应联系人": f"{first['name'] or '（姓名不详）'}（{first['source']}）",
            "联系电话": _any_phone(first["row_phone"], first["record_phone"]), "原因": "监护人没有手机号"}


def build_messages(con: duckdb.DuckDBPyConnection, query: PersonQuery, template: jinja2.Template,
                   as_of: dt.date) -> tuple[int, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(people found, messages, people without a mobile, who each message is about)
    over a prepared connection."""
    select_people(con, query)
    people = fetch_frame(con, _PEOPLE)
    guardians: dict[str, list[dict]] = {}
    for g in fetch_frame(con, _guardians(), {"adult": ADULT_AGE, "as_of": as_of}).iter_rows(named=True):
        guardians.setdefault(g["child_id"], []).append(g)

    recipients: dict[str, _Recipient] = {}
    no_phone: list[dict] = []
    for p in people.iter_rows(named=True):
        child = p["age"] is not None and p["age"] < ADULT_AGE
        contact = _guardian_of(guardians.get(p["person_id"], [])) if child else _self(p)
        if isinstance(contact, dict):  # no mobile to send to: say who to call instead, and why
            no_phone.append({"姓名": p["listed_name"], "年龄": p["age"], "网格": p["grid"],
                             "住址": p["short_address"]} | contact)
            continue
        recipient = recipients.setdefault(contact.key, contact)
        recipient.guardian = recipient.guardian or contact.guardian
        recipient.about.append({"姓名": p["name"] or _unnamed(p["age"]), "年龄": p["age"], "性别": p["sex"],
                                "住址": p["short_address"], "社区": p["community"], "网格": p["grid"],
                                "人员编号": p["person_id"]})

    rows, links = [], []
    for n, r in enumerate(recipients.values(), start=1):
        links += [{"序号": n, "人员编号": a["人员编号"], "接收人编号": r.person_id} for a in r.about]
        about = [{k: a[k] for k in ("姓名", "年龄", "性别", "住址")} for a in r.about]
        context = _context(r.name or "", salutation(r.name, r.sex, r.ethnicity), about, r.guardian, as_of,
                           r.about[0])
        rows.append({"序号": n, "接收人": r.name, "手机号": r.phone, "关于": "、".join(a["姓名"] for a in about),
                     "住址": about[0]["住址"], "短信内容": render_message(template, context)})
    messages = pl.DataFrame(rows, schema={c: (pl.Int64 if c == "序号" else pl.String) for c in MESSAGE_COLUMNS})
    missing_frame = pl.DataFrame(
        [{"序号": n, **m} for n, m in enumerate(no_phone, start=1)],
        schema={c: (pl.Int64 if c in ("序号", "年龄") else pl.String) for c in NO_PHONE_COLUMNS},
    )
    about_frame = pl.DataFrame(links, schema={"序号": pl.Int64, "人员编号": pl.String, "接收人编号": pl.String})
    return people.height, messages, missing_frame, about_frame


def write_messages(result: NotifyResult, out: Path) -> Path:
    """The workbook: each sheet a title, the date, conditions and counts, then the table."""
    from rootdb.xlsx import new_workbook, write_frame, write_heading

    out = Path(out)
    messages, no_phone = result.messages, result.no_phone
    if result.masked:
        messages, no_phone = mask_people(messages), mask_people(no_phone)
    out.parent.mkdir(parents=True, exist_ok=True)
    template = Path(result.template).name.removesuffix(".txt.j2")
    masking = "手机号已脱敏" if result.masked else "手机号未脱敏，请妥善保管"
    workbook = new_workbook(out)
    sheets = (
        ("短信", messages, f"群发短信（模板：{template}）",
         [f"查到 {result.people:,} 人，共 {messages.height:,} 条短信", masking]),
        ("无手机号", no_phone, "没有手机号、收不到短信的人员",
         [f"共 {no_phone.height:,} 人" + ("，请电话或上门通知" if no_phone.height else ""), masking]),
    )
    for name, frame, title, counts in sheets:
        sheet = workbook.add_worksheet(name)
        detail = list_detail(result.query, result.as_of, *counts)
        first_row = write_heading(workbook, sheet, frame.width, title, detail)
        if "短信内容" in frame.columns:
            _write_message_table(workbook, sheet, frame, first_row)
        else:
            write_frame(workbook, sheet, frame, first_row=first_row)
    workbook.close()
    return out


MESSAGE_WIDTH = 46  # 短信内容 column: about 22 Chinese characters a line, within the printed page


def _write_message_table(workbook, sheet, frame: pl.DataFrame, first_row: int) -> None:
    """The messages table with the text wrapped inside its bordered cell, each row as
    tall as its lines, instead of running past the table's right border on screen and
    in print (A4 landscape, fitted to the page width)."""
    from rootdb.xlsx import display_width, max_display_width

    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                  "align": "center", "valign": "vcenter", "font_name": "宋体"})
    body = workbook.add_format({"font_name": "宋体", "border": 1, "valign": "top", "num_format": "@"})
    number = workbook.add_format({"font_name": "宋体", "border": 1, "valign": "top", "align": "center"})
    wrapped = workbook.add_format({"font_name": "宋体", "border": 1, "valign": "top", "text_wrap": True,
                                   "num_format": "@"})
    text_col = frame.columns.index("短信内容")
    for col, name in enumerate(frame.columns):
        sheet.write_string(first_row, col, name, header)
        if col == text_col:
            width = MESSAGE_WIDTH
        elif frame.schema[name] == pl.String and frame.height:
            width = min(max(display_width(name), max_display_width(frame[name])) + 2, 40)
        else:
            width = max(display_width(name) + 2, 6)
        sheet.set_column(col, col, width)
    for i, row in enumerate(frame.iter_rows()):
        r = first_row + 1 + i
        lines = max(1, -(-display_width(row[text_col] or "") // (MESSAGE_WIDTH - 2)))
        sheet.set_row(r, 13.5 * lines + 4)
        for col, value in enumerate(row):
            if value is None:
                sheet.write_blank(r, col, None, wrapped if col == text_col else body)
            elif isinstance(value, (int, float)):
                sheet.write_number(r, col, value, number)
            else:
                sheet.write_string(r, col, str(value), wrapped if col == text_col else body)
    sheet.freeze_panes(first_row + 1, 0)
    sheet.set_paper(9)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(first_row)


def notify(query: PersonQuery, template: Path | str, out: Path | None = None, unmasked: bool = False,
           db: str | Path | None = None) -> NotifyResult:
    """`rootdb notify`: the messages for the query's people, written to `out` (.xlsx)
    when given, and the run logged."""
    from rootdb.xlsx import require_xlsx

    if out is not None:
        output_file(out, "短信.xlsx")  # not an existing folder
        require_xlsx(out)
    path = find_template(template)
    compiled = load_template(path)
    render_message(compiled, _example_context())  # a misspelt variable fails before the database is read
    where_clauses(query)
    as_of = query.as_of or dt.date.today()
    with open_existing(db, read_only=True) as con:
        prepare(con, as_of, query.community, query.grid)
        people, messages, no_phone, about = build_messages(con, query, compiled, as_of)
    result = NotifyResult(query=query, as_of=as_of.isoformat(), template=str(path), people=people,
                          messages=messages, no_phone=no_phone, about=about, masked=not unmasked)
    command = "notify --unmasked" if unmasked else "notify"
    # Staged, audited, then moved into place (see query.audited_output).
    result.file = audited_output(db, out, lambda staged: write_messages(result, staged), command,
                                 f"{query.describe()}；模板 {path.name}；统计日期 {result.as_of}", messages.height)
    return result
