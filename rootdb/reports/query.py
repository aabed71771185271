"""`rootdb query`: the people who meet a grid worker's conditions, at an as-of date.

A `PersonQuery` holds the conditions — age range, sex, 民族, community / grid /
compound / building, the person's own roster tags, the tags of the person's family,
the feeds that hold (or do not hold) the person, special groups (those the feeds'
schemas declare, then 独居 and 空巢). `run_query` builds
the shared report tables (`report_templates/_base.sql`, through `engine.prepare`) and
selects over `r_persons`; every value the user typed is a bound parameter, never part
of the SQL text. Repeated conditions of one kind must all hold (`--in dibao --in
yibao`: in both). Dead people are never returned; people who moved out (迁出) only
when asked.

`find_people` is the whole command: the query, the list written as .xlsx or .csv (ID
numbers and phones masked unless `unmasked`), and a row in the audit log for every run.

Reads the golden and link tables and the feed views; writes only the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import duckdb
import polars as pl

from rootdb.csvfile import write_csv
from rootdb.errors import UsageError
from rootdb.privacy import mask_frame, mask_id, mask_phone, record_audit
from rootdb.reports.engine import prepare
from rootdb.store import fetch_frame, table_exists
from rootdb.faults import pause_point
from rootdb.outpaths import output_file
from rootdb.reports.output import publish, staging_folder
from rootdb.specs.meaning import guardians, special_groups, sql_name, sql_text
from rootdb.specs.names import feed_names, resolve_feeds  # noqa: F401  (feed_names: importers)
from rootdb.workspace import locate, open_existing

# Special groups worked out from who lives in a house, beside those of the feeds' schemas.
HOUSE_GROUPS = ("独居", "空巢")
MINORITIES = "少数民族"  # --ethnicity 少数民族: every 民族 but 汉族
PEOPLE_COLUMNS = ["人员编号", "姓名", "性别", "年龄", "身份证号", "联系电话", "社区", "网格", "住址", "所属群体", "标签"]
FORMATS = (".xlsx", ".csv")


@dataclass
class PersonQuery:
    """Conditions on people; None / empty = no condition. Values as a user types them."""

    as_of: dt.date | None = None
    age: str | None = None  # "0-3", "60-", "80+", "5", "-17"
    sex: str | None = None  # 男 / 女
    ethnicity: str | None = None  # 蒙古族 (蒙古), or 少数民族 = not 汉族
    community: str | None = None
    grid: str | None = None
    compound: str | None = None  # 小区
    building: str | None = None  # 3, 3号楼, 三号楼
    tags: list[str] = field(default_factory=list)  # the person's own roster tags
    family_tags: list[str] = field(default_factory=list)  # a tag of anyone in the same household or house
    in_feeds: list[str] = field(default_factory=list)
    not_in_feeds: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    moved_out: bool = False  # also people who moved out (迁出)

    def describe(self, feed_titles: bool = False) -> str:
        """The conditions in words, as the audit log and the terminal show them; with
        `feed_titles`, feeds by their titles instead of their codes (for a printed list)."""
        feed = _feed_title if feed_titles else (lambda code: f" {code}")
        parts = [
            f"年龄 {self.age}" if self.age else "",
            f"性别 {self.sex}" if self.sex else "",
            f"民族 {self.ethnicity}" if self.ethnicity else "",
            f"社区 {self.community}" if self.community else "",
            f"网格 {self.grid}" if self.grid else "",
            f"小区 {self.compound}" if self.compound else "",
            f"楼 {self.building}" if self.building else "",
            *(f"标签 {t}" for t in self.tags),
            *(f"家庭标签 {t}" for t in self.family_tags),
            *(f"在{feed(f)}" for f in self.in_feeds),
            *(f"不在{feed(f)}" for f in self.not_in_feeds),
            *(f"群体 {g}" for g in self.groups),
            "含迁出" if self.moved_out else "",
        ]
        return "，".join(p for p in parts if p) or "全部在世人员"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat() if self.as_of else None
        return data


def _feed_title(code: str) -> str:
    """dibao → “城乡最低生活保障对象花名册” (after 在 / 不在)."""
    from rootdb.specs import load_specs

    spec = load_specs().get(code.strip().lower())
    return f"“{spec.title}”" if spec else f" {code}"


@dataclass
class QueryResult:
    query: PersonQuery
    as_of: str
    people: pl.DataFrame  # PEOPLE_COLUMNS, unmasked; 姓名 never empty (王芳之女（未取名）, （姓名不详）)
    warnings: list[str] = field(default_factory=list)
    file: str | None = None
    masked: bool = True

    @property
    def rows(self) -> int:
        return self.people.height

    def to_dict(self) -> dict:
        people = self.people if not self.masked else mask_people(self.people)
        return {"as_of": self.as_of, "conditions": self.query.describe(), "query": self.query.to_dict(),
                "rows": self.rows, "file": self.file, "masked": self.masked, "warnings": self.warnings,
                "people": people.to_dicts()}


# ------------------------------------------------------------------ parsing the conditions

_AGE = re.compile(r"(?P<low>\d{1,3})?(?P<sep>-|\+|及?以上)?(?P<high>\d{1,3})?")
_AGE_DASHES = str.maketrans({c: "-" for c in "~\u2013\u2014\u301c至到"})


def parse_age_range(text: str) -> tuple[int | None, int | None]:
    """'0-3' → (0, 3), '60-', '60+' and '60岁以上' → (60, None), '-17' → (None, 17),
    '5' → (5, 5). Both ends count (full years at the as-of date)."""
    value = re.sub(r"[\s岁]", "", unicodedata.normalize("NFKC", text)).translate(_AGE_DASHES)
    m = _AGE.fullmatch(value)
    low = int(m["low"]) if m and m["low"] else None
    high = int(m["high"]) if m and m["high"] else None
    if not m or (low is None and high is None) or (high is not None and m["sep"] != "-"):
        raise UsageError(f"--age 应写成 0-3、60-（60岁及以上）、80+ 或 5，而不是 {text!r}")
    if m["sep"] is None:
        return low, low
    if low is not None and high is not None and low > high:
        raise UsageError(f"--age {text}：起始年龄大于截止年龄")
    return low, high


def _sex(text: str) -> str:
    value = text.strip().removesuffix("性")
    if value not in ("男", "女"):
        raise UsageError(f"--sex 只能是 男 或 女，而不是 {text!r}")
    return value


def _ethnicity(text: str) -> str:
    value = unicodedata.normalize("NFKC", text).strip()
    if value in (MINORITIES, "少数"):
        return MINORITIES
    return value if value.endswith("族") else value + "族"  # 蒙古 → 蒙古族


def _building(text: str) -> str:
    """'3', '3号楼', '三号楼', '3栋' → '3' (as the standard addresses hold it)."""
    from rootdb.clean.addresses import parse_address

    value = unicodedata.normalize("NFKC", text).strip()
    if value.isascii() and value.isalnum():
        return value.lstrip("0").upper() or value
    parsed = parse_address(value if re.search(r"号楼|栋|幢|号$", value) else value + "号楼").get("building")
    return parsed or value


def check_feeds(codes: list[str], option: str) -> list[str]:
    """Feed codes of what the user typed: a code (dibao), a title or a Chinese name (低保)."""
    return resolve_feeds(codes, option)


def all_groups() -> list[str]:
    """Every group --group takes: those the feeds' schemas declare (r_persons.groups),
    then 独居 and 空巢."""
    return [*special_groups(), *HOUSE_GROUPS]


def _check_groups(groups: list[str]) -> list[str]:
    groups = [g.strip() for g in groups if g.strip()]
    known = all_groups() if groups else []
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise UsageError(f"--group：没有群体 {'、'.join(unknown)}；可用：{'、'.join(known)}")
    return groups


def _clean_tags(tags: list[str]) -> list[str]:
    return [unicodedata.normalize("NFKC", t).strip() for t in tags if t and t.strip()]


# ------------------------------------------------------------------ the SQL

# SQL over r_persons p: a person's groups as lists show them (the schemas' special groups,
# then 独居 / 空巢); `rootdb query`'s 所属群体 and --group, the household card.
ALL_GROUPS = """list_concat(p.groups, CASE WHEN p.elderly_alone THEN ['独居'] ELSE [] END,
                             CASE WHEN p.empty_nest THEN ['空巢'] ELSE [] END)"""

# A person no record names is shown as every report shows them (r_persons.display_name in
# report_templates/_base.sql): a newborn of the 出生医学证明 not yet named by its mother
# (else father), 王芳之女（未取名）; else these.
UNNAMED = "（未取名）"
NAME_UNKNOWN = "（姓名不详）"
_NAME = "p.display_name"

def guardian_rows() -> str:
    """SQL: who may answer for a child, best first (rank) — the guardians the feeds'
    schemas declare (relations of kind guardian: the 监护人 of its 儿童保健 row, of its
    学籍 row, the 出生医学证明's mother then father), then the registry household's
    head; with the name and phone written in that row, the guardian's sex when the row
    implies it (a mother), and the guardian's own record (guardian_id, when linked). A
    feed row counts when it names or reaches a guardian. One list for query's 联系电话
    and notify's recipient."""
    selects, last_rank = [], 0
    for code, spec, relation in guardians():
        fields = next(r.fields for r in spec.roles if r.role == relation.person)
        row_name, row_phone = (f"f.{sql_name(fields[a])}" if a in fields else "NULL::VARCHAR" for a in ("name", "phone"))
        feed = sql_text(code)
        selects.append(f"""
    SELECT c.person_id AS child_id, {relation.rank} AS rank, {sql_text(relation.label)} AS source,
           g.person_id AS guardian_id, {row_name} AS row_name, {row_phone} AS row_phone,
           {sql_text(relation.sex) if relation.sex else "NULL::VARCHAR"} AS sex, f.file_id, f.source_row
    FROM {sql_name(code)} f
    JOIN r_feed_persons c ON c.feed = {feed} AND c.role = {sql_text(relation.of)} AND c.file_id = f.file_id
         AND c.source_row = f.source_row
    LEFT JOIN r_feed_persons g ON g.feed = {feed} AND g.role = {sql_text(relation.person)}
         AND g.file_id = f.file_id AND g.source_row = f.source_row
    WHERE g.person_id IS NOT NULL OR {row_name} IS NOT NULL OR {row_phone} IS NOT NULL""")
        last_rank = max(last_rank, relation.rank or 0)
    selects.append(f"""
    SELECT h.member_entity_id, {last_rank + 1}, '户主', h.head_entity_id, NULL, NULL, NULL, NULL, NULL
    FROM rel_household h
    WHERE h.source = 'registry_persons' AND h.head_entity_id <> h.member_entity_id""")
    return "\n    UNION ALL".join(selects)


def _guardian_phones() -> str:
    """A child without a phone of its own is shown with its guardian's (as R13 and notify
    take the guardian): the guardian's own record's phone first, then the phone written
    in that row; the best-ranked, latest delivered row that gives one."""
    return f"""
CREATE OR REPLACE TEMP TABLE q_guardian_phones AS
WITH kids AS (SELECT person_id FROM r_persons WHERE age < 18 AND phone IS NULL),
candidates AS (
    SELECT r.child_id, r.rank, coalesce(g.phone, r.row_phone) AS phone, r.file_id, r.source_row
    FROM ({guardian_rows()}) r LEFT JOIN golden_persons g ON g.entity_id = r.guardian_id
)
SELECT child_id, arg_min(phone, [rank, -coalesce(file_id, 0), coalesce(source_row, 0)]) AS phone
FROM candidates JOIN kids ON kids.person_id = candidates.child_id
WHERE phone IS NOT NULL
GROUP BY child_id
"""

_SELECT = f"""
CREATE OR REPLACE TEMP TABLE q_people AS
SELECT p.person_id AS 人员编号, {_NAME} AS 姓名, p.sex AS 性别, p.age AS 年龄, p.id_number AS 身份证号,
       coalesce(p.phone, gp.phone) AS 联系电话, p.community AS 社区, p.grid AS 网格, p.short_address AS 住址,
       nullif(array_to_string({ALL_GROUPS}, '、'), '') AS 所属群体,
       (SELECT string_agg(t.tag, '、' ORDER BY t.tag) FROM r_person_tags t
        WHERE t.person_id = p.person_id) AS 标签
FROM r_persons p LEFT JOIN r_houses h USING (house_id)
LEFT JOIN q_guardian_phones gp ON gp.child_id = p.person_id
WHERE {{where}}
ORDER BY h.address_code NULLS LAST, p.birth_date NULLS LAST, p.person_id
"""

# Anyone in the family of p has the tag: the person, the same registry household
# (户号) or the same house.
_FAMILY_TAG = """(p.person_id IN (SELECT person_id FROM r_person_tags WHERE tag = ${name})
    OR p.household_no IN (SELECT g.household_no FROM r_person_tags t
                          JOIN golden_persons g ON g.entity_id = t.person_id
                          WHERE t.tag = ${name} AND g.household_no IS NOT NULL)
    OR p.house_id IN (SELECT g.house_entity_id FROM r_person_tags t
                      JOIN golden_persons g ON g.entity_id = t.person_id
                      WHERE t.tag = ${name} AND g.house_entity_id IS NOT NULL))"""


def where_clauses(query: PersonQuery) -> tuple[list[str], dict]:
    """WHERE clauses (constant text) and the values they bind."""
    where = ["p.living"]
    params: dict = {}
    if not query.moved_out:
        where.append("p.status IS DISTINCT FROM '迁出'")
    if query.age:
        low, high = parse_age_range(query.age)
        if low is not None:
            where.append("p.age >= $age_low")
            params["age_low"] = low
        if high is not None:
            where.append("p.age <= $age_high")
            params["age_high"] = high
    if query.sex:
        where.append("p.sex = $sex")
        params["sex"] = _sex(query.sex)
    if query.ethnicity:
        ethnicity = _ethnicity(query.ethnicity)
        if ethnicity == MINORITIES:
            where.append("p.ethnicity <> '汉族'")
        else:
            where.append("p.ethnicity = $ethnicity")
            params["ethnicity"] = ethnicity
    if query.compound:
        where.append("p.compound = $compound")
        params["compound"] = query.compound.strip()
    if query.building:
        where.append("p.building = $building")
        params["building"] = _building(query.building)
    for i, tag in enumerate(_clean_tags(query.tags)):
        where.append(f"p.person_id IN (SELECT person_id FROM r_person_tags WHERE tag = $tag_{i})")
        params[f"tag_{i}"] = tag
    for i, tag in enumerate(_clean_tags(query.family_tags)):
        where.append(_FAMILY_TAG.format(name=f"family_tag_{i}"))
        params[f"family_tag_{i}"] = tag
    in_feeds = check_feeds(query.in_feeds, "--in")
    if in_feeds:
        where.append("list_has_all(p.feeds, $in_feeds)")
        params["in_feeds"] = in_feeds
    not_in_feeds = check_feeds(query.not_in_feeds, "--not-in")
    if not_in_feeds:
        where.append("NOT list_has_any(p.feeds, $not_in_feeds)")
        params["not_in_feeds"] = not_in_feeds
    groups = _check_groups(query.groups)
    if groups:
        where.append(f"list_has_all({ALL_GROUPS}, $groups)")
        params["groups"] = groups
    return where, params


def guardian_phones(con: duckdb.DuckDBPyConnection) -> None:
    """The TEMP table `q_guardian_phones` the list of people reads (`_guardian_phones`),
    for the prepared report tables of this connection."""
    con.execute(_guardian_phones())


def collect_people(con: duckdb.DuckDBPyConnection, query: PersonQuery, guardians_ready: bool = False) -> None:
    """The matching people (PEOPLE_COLUMNS, unmasked, in the list's order) into the TEMP
    table `q_people` of this connection (`rootdb serve` pages through it). The report
    tables must be prepared (`prepare`); `guardians_ready`: and `guardian_phones` run
    after (the page does once per prepared cursor)."""
    where, params = where_clauses(query)
    if not guardians_ready:
        guardian_phones(con)
    con.execute(_SELECT.format(where="\n  AND ".join(where)), params)


def select_people(con: duckdb.DuckDBPyConnection, query: PersonQuery) -> pl.DataFrame:
    """The matching people (PEOPLE_COLUMNS, unmasked), also left in the TEMP table
    `q_people` of this connection. The report tables must be prepared (`prepare`)."""
    collect_people(con, query)
    return fetch_frame(con, "SELECT * FROM q_people")


def _warnings(con: duckdb.DuckDBPyConnection, query: PersonQuery) -> list[str]:
    """Values no one in the data has: most likely a typing slip, so say what there is."""
    notes = []
    tags = sorted(r[0] for r in con.execute("SELECT DISTINCT tag FROM r_person_tags").fetchall())
    for tag in dict.fromkeys(_clean_tags(query.tags) + _clean_tags(query.family_tags)):
        if tag not in tags:
            notes.append(f"社区花名册里没有标签“{tag}”；已有：{'、'.join(tags) or '（无）'}")
    if query.compound:
        compounds = [r[0] for r in con.execute(
            "SELECT compound FROM r_houses WHERE compound IS NOT NULL GROUP BY 1 ORDER BY min(address_code)"
        ).fetchall()]
        if query.compound.strip() not in compounds:
            notes.append(f"没有小区“{query.compound}”；已有：{'、'.join(compounds[:30]) or '（无）'}")
    if query.ethnicity and _ethnicity(query.ethnicity) != MINORITIES:
        known = [r[0] for r in con.execute(
            "SELECT ethnicity FROM r_persons WHERE ethnicity IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC"
        ).fetchall()]
        if _ethnicity(query.ethnicity) not in known:
            notes.append(f"没有民族为“{query.ethnicity}”的人；已有：{'、'.join(known)}")
    return notes


_AREA_SUFFIXES = {"--community": ("社区", "村", "嘎查", "居委会"), "--grid": ("网格",)}


def _bare(name: str, option: str) -> str:
    value = unicodedata.normalize("NFKC", name).strip()
    for suffix in _AREA_SUFFIXES[option]:
        if value.endswith(suffix) and len(value) > len(suffix):
            return value[: -len(suffix)]
    return value


def _area_name(typed: str, known: list[str], option: str, what: str, where: str = "") -> str:
    value = unicodedata.normalize("NFKC", typed).strip()
    if value in known:
        return value
    found = [name for name in known if _bare(name, option) == _bare(value, option)]
    if len(found) == 1:
        return found[0]
    listed = "、".join(known[:30]) or "（无）"
    raise UsageError(f"{option}：标准地址库里{where}没有{what}“{typed}”；已有：{listed}")


def resolve_area(con: duckdb.DuckDBPyConnection, community: str | None,
                 grid: str | None) -> tuple[str | None, str | None]:
    """The community and grid of the standard address registry that --community and
    --grid name, as written or without 社区 / 网格 when that picks out one (建设 →
    建设社区, 第三 → 第三网格). An unknown name is a usage error listing the communities
    (for --community) or the grids (for --grid, those of the community when one is
    given). Before the first link there is nothing to resolve against: as typed."""
    if not (community or grid) or not table_exists(con, "golden_houses"):
        return community, grid
    rows = con.execute(
        "SELECT community, grid FROM golden_houses WHERE registry_key IS NOT NULL AND grid IS NOT NULL "
        "GROUP BY ALL ORDER BY min(registry_key)").fetchall()
    if community:
        community = _area_name(community, list(dict.fromkeys(c for c, _ in rows if c)), "--community", "社区")
    if grid:
        grids = list(dict.fromkeys(g for c, g in rows if not community or c == community))
        grid = _area_name(grid, grids, "--grid", "网格", f"{community}" if community else "")
    return community, grid


def run_query(query: PersonQuery, db: str | Path | None = None) -> QueryResult:
    """The people who meet the conditions at the as-of date (today unless given)."""
    as_of = query.as_of or dt.date.today()
    where_clauses(query)  # bad conditions fail before the database is opened
    with open_existing(db, read_only=True) as con:
        community, grid = resolve_area(con, query.community, query.grid)
        query = replace(query, community=community, grid=grid)
        prepare(con, as_of, query.community, query.grid)
        people = select_people(con, query)
        warnings = _warnings(con, query)
    return QueryResult(query=query, as_of=as_of.isoformat(), people=people, warnings=warnings)


# ------------------------------------------------------------------ output

def mask_people(frame: pl.DataFrame) -> pl.DataFrame:
    """ID numbers and phones of a frame masked: the columns it has of 身份证号 / 联系电话 /
    手机号, then every text column by content (an ID or mobile wherever it is)."""
    masks = {"身份证号": mask_id, "联系电话": mask_phone, "手机号": mask_phone}
    return mask_frame(frame.with_columns(
        masks[c](pl.col(c).cast(pl.String)).alias(c) for c in frame.columns if c in masks
    ))


def check_out_path(out: Path, formats: tuple[str, ...] = FORMATS) -> None:
    """A list's file: not an existing folder (`rootdb.outpaths`), named .xlsx or .csv."""
    output_file(out, "名单" + formats[0])
    if Path(out).suffix.lower() not in formats:
        raise UsageError(f"{Path(out).name}：输出文件的后缀应为 {' 或 '.join(formats)}")


def list_detail(query: PersonQuery, as_of: dt.date | str, *counts: str) -> str:
    """The line under a list's title: 统计日期, the conditions in words, the counts."""
    from rootdb.xlsx import date_words

    day = as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(as_of)
    return "　　".join([f"统计日期：{date_words(day)}",
                       f"查询条件：{query.describe(feed_titles=True)}", *counts])


def write_people(frame: pl.DataFrame, out: Path, query: PersonQuery, as_of: dt.date | str,
                 unmasked: bool = False) -> Path:
    """The list as a workbook (one sheet 人员名单: a title, the date and conditions, then
    the table, text cells as text) or a CSV (the table alone, UTF-8 with BOM, so Excel
    reads the Chinese right); IDs and phones masked unless asked."""
    from rootdb.xlsx import masking_words, new_workbook, write_sheet

    out = Path(out)
    check_out_path(out)
    if not unmasked:
        frame = mask_people(frame)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        write_csv(frame, out)  # formula-like cells (=…, +…) written as text
    else:
        table = frame.with_row_index("序号", offset=1)
        workbook = new_workbook(out)
        write_sheet(workbook, "人员名单", table, "人员名单",
                    list_detail(query, as_of, f"共 {frame.height:,} 人", masking_words(not unmasked, birth_dates=False)))
        workbook.close()
    return out


def audit(db: str | Path | None, command: str, detail: str, rows: int, file: str | None) -> None:
    """Every query and message list is logged, masked or not: who looked at whom."""
    from rootdb.errors import WorkspaceError

    try:
        with open_existing(db, read_only=False) as con:
            record_audit(con, command, detail, rows, file or "（未写文件）")
    except (WorkspaceError, duckdb.Error) as exc:
        raise WorkspaceError(f"未能写入审计日志，名单没有输出：{exc}") from None


def audited_output(db: str | Path | None, out: Path | None, write: Callable[[Path], object], command: str,
                   detail: str, rows: int) -> str | None:
    """Write the file into the workspace's private staging folder, commit its audit row,
    and only then move it to `out`: no list is ever visible without its audit row. With
    no `out`, only the audit row."""
    if out is None:
        audit(db, command, detail, rows, None)
        return None
    target = output_file(out).resolve()  # checked before the audit row: a folder gets no row
    with staging_folder(locate(db)) as staging:
        staged = staging / target.name
        write(staged)
        pause_point(f"{command.split()[0]}.staged")
        audit(db, command, detail, rows, str(target))
        publish(staged, target)
    return str(Path(out))


def find_people(query: PersonQuery, out: Path | None = None, unmasked: bool = False,
                db: str | Path | None = None) -> QueryResult:
    """`rootdb query`: run the query, write the list when `out` is given, log the run."""
    if out is not None:
        check_out_path(out)
    result = run_query(query, db)
    result.masked = not unmasked
    command = "query --unmasked" if unmasked else "query"
    result.file = audited_output(
        db, out, lambda path: write_people(result.people, path, query, result.as_of, unmasked), command,
        f"{query.describe()}；统计日期 {result.as_of}", result.rows)
    return result
