"""The review round trip: uncertain pairs out to Excel, an officer's 是/否 back in.

A decision is kept by the two records' fingerprints (what they say: feed, role, name,
ID, birth date, sex, phone, house), not by row numbers, so it holds on every later run
until one of the records changes.

Reads `link_person_review` (written by `people.probabilistic`) and
`link_person_records`; writes `link_review_decisions`.

The same workbook carries the houses' review (`rootdb.link.house_review`): a second
sheet, 待复核地址, of the addresses no unique standard address was found for, the
candidates side by side; its decisions go to `link_house_decisions`.

Both sheets begin with the workbook heading (`rootdb.xlsx.write_heading`); the import
finds each table by its 编号 header, so a workbook exported before the heading existed
still reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import fastexcel
import polars as pl

from rootdb.errors import ExitCode, UsageError
from rootdb.link import house_review
from rootdb.outpaths import output_file
from rootdb.privacy import mask_birth_date, mask_frame, mask_id, mask_phone, mask_text, os_user, record_audit
from rootdb.specs import load_specs
from rootdb.store import fetch_frame, record_run, require_linked, table_exists
from rootdb.store.sql import registered
from rootdb.workspace import open_existing
from rootdb.xlsx import HEADING_ROWS, date_words, masking_words, new_workbook, read_table, write_sheet

FINGERPRINT = (
    "md5(concat_ws('|', r.feed, r.role, coalesce(r.name, ''), coalesce(r.id_number, ''), "
    "coalesce(r.birth_date::VARCHAR, ''), coalesce(r.sex, ''), coalesce(r.phone, ''), coalesce(r.house_key, '')))"
)
ROLE_NAMES = {
    "person": "本人", "member": "成员", "head": "户主", "newborn": "新生儿", "mother": "母亲", "father": "父亲",
    "child": "儿童", "guardian": "监护人", "student": "学生", "owner": "产权人", "tenant": "承租人", "legal_rep": "法定代表人",
}
YES = {"是", "Y", "YES", "1", "同一人", "相同", "TRUE"}
NO = {"否", "N", "NO", "0", "不是", "不同", "FALSE"}
SHEET = "待复核配对"
_SIDE_COLUMNS = {
    "feed": "数据源", "source_file": "文件", "source_row": "行号", "role": "身份", "name": "姓名", "id_number": "身份证号",
    "sex": "性别", "birth_date": "出生日期", "phone": "联系电话", "address": "住址",
    "current": "现已对应公安库",
}

_DDL = """
CREATE TABLE IF NOT EXISTS link_review_decisions (
    fingerprint_a VARCHAR, fingerprint_b VARCHAR, decision BOOLEAN,
    decided_at TIMESTAMP, os_user VARCHAR, source_file VARCHAR,
    PRIMARY KEY (fingerprint_a, fingerprint_b)
)
"""


@dataclass
class ReviewExport:
    file: str
    pairs: int
    masked: bool
    addresses: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ReviewImport:
    file: str
    decided: int = 0
    yes: int = 0
    no: int = 0
    blank: int = 0
    problems: list[str] = field(default_factory=list)
    addresses: dict = field(default_factory=dict)  # house_review.HouseImport, as a dict

    @property
    def exit_code(self) -> ExitCode:
        """A partial import is done (the readable decisions are saved, the others listed);
        it failed only when rows could not be read and not one decision was saved."""
        saved = self.decided + (self.addresses or {}).get("decided", 0)
        return ExitCode.FAILED if self.problems and not saved else ExitCode.OK

    def to_dict(self) -> dict:
        return asdict(self)


def current_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Decisions mapped onto today's record ids (unique_id_l, unique_id_r, decision)."""
    if not table_exists(con, "link_review_decisions"):
        return pl.DataFrame(schema={"unique_id_l": pl.Int64, "unique_id_r": pl.Int64, "decision": pl.Boolean})
    return fetch_frame(
        con,
        f"""
        WITH fp AS (SELECT r.record_id, {FINGERPRINT} AS fingerprint FROM link_person_records r)
        SELECT a.record_id AS unique_id_l, b.record_id AS unique_id_r, d.decision
        FROM link_review_decisions d
        JOIN fp a ON a.fingerprint = d.fingerprint_a
        JOIN fp b ON b.fingerprint = d.fingerprint_b
        """,
    ).with_columns(pl.col("unique_id_l", "unique_id_r").cast(pl.Int64))


def export_review(out: Path, db: str | None = None, unmasked: bool = False) -> ReviewExport:
    out = output_file(out, "复核.xlsx")
    with open_existing(db, read_only=not unmasked) as con:
        require_linked(con, "link_person_review")
        sides = ", ".join(f"{side}.{c} AS {c}_{tag}" for side, tag in (("a", "a"), ("b", "b")) for c in _SIDE_COLUMNS)
        pairs = fetch_frame(
            con,
            f"""
            WITH recs AS (
                -- with whom each record is resolved today, so that an officer sees a 是
                -- would move a record that is already matched to a registry person
                SELECT r.*, {FINGERPRINT} AS fingerprint,
                       CASE WHEN m.registry_key IS NOT NULL
                            THEN coalesce(g.name, '') || '（' || CASE m.match_method
                                 WHEN 'exact_id' THEN '身份证号' WHEN 'excel_id' THEN '身份证号（Excel截断）'
                                 WHEN 'name_house' THEN '姓名+住址' WHEN 'household' THEN '同户' WHEN 'family' THEN '亲属'
                                 WHEN 'place_role' THEN '同一单位'
                                 WHEN 'manual' THEN '人工' ELSE '模型' END || '）' ELSE '否' END AS current
                FROM link_person_records r
                LEFT JOIN link_person_matches m USING (record_id)
                LEFT JOIN golden_persons g ON g.entity_id = m.entity_id
            )
            SELECT row_number() OVER (ORDER BY p.match_probability DESC, p.unique_id_l, p.unique_id_r) AS pair_no,
                   round(p.match_probability, 3) AS probability, {sides},
                   a.fingerprint AS fingerprint_a, b.fingerprint AS fingerprint_b
            FROM link_person_review p
            JOIN recs a ON a.record_id = p.unique_id_l
            JOIN recs b ON b.record_id = p.unique_id_r
            ORDER BY pair_no
            """,
        )
        if not unmasked:
            pairs = pairs.with_columns(
                *[mask_id(pl.col(f"id_number_{t}")).alias(f"id_number_{t}") for t in "ab"],
                *[mask_phone(pl.col(f"phone_{t}")).alias(f"phone_{t}") for t in "ab"],
                # the year only: beside the masked ID the date would give the ID back
                *[mask_birth_date(pl.col(f"birth_date_{t}")).alias(f"birth_date_{t}") for t in "ab"],
            )
        titles = {code: spec.title for code, spec in load_specs().items()}
        pairs = pairs.with_columns(
            *[pl.col(f"feed_{t}").replace_strict(titles, default=pl.col(f"feed_{t}")).alias(f"feed_{t}") for t in "ab"],
            *[pl.col(f"role_{t}").replace_strict(ROLE_NAMES, default=pl.col(f"role_{t}")).alias(f"role_{t}")
              for t in "ab"],
        )
        sheet = pairs.select(
            pl.col("pair_no").alias("编号"),
            pl.col("probability").alias("模型概率"),
            pl.lit(None, dtype=pl.String).alias("判定（是/否）"),
            *[pl.col(f"{c}_a").alias(f"A {label}") for c, label in _SIDE_COLUMNS.items()],
            *[pl.col(f"{c}_b").alias(f"B {label}") for c, label in _SIDE_COLUMNS.items()],
            pl.col("fingerprint_a").alias("A 指纹"),
            pl.col("fingerprint_b").alias("B 指纹"),
        )
        if not unmasked:
            # An address or a name field may quote an ID or a mobile too; the fingerprints
            # (hex digests that `import_review` must read back as they are) are not personal.
            sheet = mask_frame(sheet, keep=("A 指纹", "B 指纹"))
        houses = house_review.review_frame(con, unmasked=unmasked)
        out.parent.mkdir(parents=True, exist_ok=True)
        workbook = new_workbook(out)
        exported = f"导出日期：{date_words(dt.date.today())}"
        worksheet = write_sheet(workbook, SHEET, sheet, "待复核的人员配对", exported, f"共 {sheet.height:,} 对",
                                "请在“判定（是/否）”列填写 是 或 否", masking_words(not unmasked))
        worksheet.set_column(sheet.width - 2, sheet.width - 1, None, None, {"hidden": True})
        if sheet.height:
            worksheet.data_validation(HEADING_ROWS + 1, 2, HEADING_ROWS + sheet.height, 2,
                                      {"validate": "list", "source": ["是", "否"]})
        guide = workbook.add_worksheet("说明")
        for row, text in enumerate((
            "每行是模型拿不准的一对记录（A 与 B）。",
            "请在“判定（是/否）”列填写：是 = 同一人，否 = 不是同一人；拿不准的留空。",
            "填好后保存，运行：rootdb review import 本文件.xlsx",
            "判定会一直生效，直到这两条记录的内容发生变化。",
        )):
            guide.write_string(row, 0, text)
        for row, text in enumerate(house_review.GUIDE, start=5):
            guide.write_string(row, 0, text)
        house_review.write_sheet(workbook, houses, exported)
        workbook.close()
        if unmasked:
            record_audit(con, "review export --unmasked", "", pairs.height + houses.height, str(out.resolve()))
    return ReviewExport(file=str(out), pairs=pairs.height, masked=not unmasked, addresses=houses.height)


def import_review(path: Path, db: str | None = None) -> ReviewImport:
    if not Path(path).is_file():
        raise UsageError(f"找不到文件：{path}")
    path = Path(path)
    result = ReviewImport(file=str(path))
    # What the libraries say about a file that is not our workbook is English and about
    # their internals (calamine error: Cannot detect file format…; Sheet "…" not found):
    # the officer is told in Chinese which file and what to do instead (a usage error).
    again = "请用 rootdb review export 导出的工作簿，填好“判定”列后再导入"
    try:
        names = fastexcel.read_excel(path).sheet_names
    except Exception as exc:  # not a workbook at all (/etc/passwd), or cut short
        raise UsageError(f"{path.name}：不是可以读取的 Excel 工作簿（文件已损坏、不完整，或不是 .xlsx）。{again}") from exc
    if SHEET not in names and house_review.SHEET not in names:
        raise UsageError(f"{path.name}：没有“{SHEET}”工作表，不是复核工作簿。{again}")
    try:
        houses = house_review.load_sheet(path)
        if SHEET in names:
            sheet = read_table(path, SHEET, "编号", row_numbers=_ROW)
        else:
            sheet = pl.DataFrame(schema={c: pl.String for c in ("编号", "判定（是/否）", "A 指纹", "B 指纹")}
                                 | {_ROW: pl.Int64})
    except Exception as exc:  # the workbook opens but a sheet is damaged
        raise UsageError(f"{path.name}：“{SHEET}”工作表读不出来（文件可能已损坏）。{again}") from exc
    needed = {"编号", "判定（是/否）", "A 指纹", "B 指纹"}
    if not needed <= set(sheet.columns):
        raise UsageError(f"{path.name}：“{SHEET}”工作表缺少列：{'、'.join(sorted(needed - set(sheet.columns)))}。{again}")
    answer = pl.col("判定（是/否）").str.strip_chars().str.to_uppercase()
    marked = sheet.with_columns(
        pl.when(answer.is_in(list(YES))).then(True).when(answer.is_in(list(NO))).then(False).alias("decision")
    )
    result.blank = marked.filter(answer.is_null() | (answer == "")).height
    for number, text in marked.filter(pl.col("decision").is_null() & answer.is_not_null() & (answer != "")).select(
        "编号", "判定（是/否）"
    ).iter_rows():
        # the cell quoted as written, but never an ID or a mobile someone typed into it
        result.problems.append(mask_text(f"第{number}对：看不懂“{text}”，请填 是 或 否"))
    decided = _checked(marked.filter(pl.col("decision").is_not_null()), result.problems)
    house_decided = None
    if houses is not None:
        needed = {"编号", house_review.DECISION, house_review.KEY}
        if not needed <= set(houses.columns):
            missing = "、".join(sorted(needed - set(houses.columns)))
            raise UsageError(f"{path.name}：“{house_review.SHEET}”工作表缺少列：{missing}。{again}")
        house_decided, house_result = house_review.read_decisions(houses, path.name)
        result.addresses = house_result.to_dict()
        result.problems.extend(mask_text(problem) for problem in house_result.problems)
    with open_existing(db, read_only=False) as con:
        con.execute(_DDL)
        started = dt.datetime.now()
        decided = _offered_only(con, decided, result.problems).select(
            "fingerprint_a", "fingerprint_b", "decision",
            pl.lit(started).alias("decided_at"),
            pl.lit(os_user()).alias("os_user"),
            pl.lit(path.name).alias("source_file"),
        )
        addresses = house_decided.height if house_decided is not None else 0
        con.begin()
        with registered(con, "_decided", decided):
            con.execute("INSERT OR REPLACE INTO link_review_decisions SELECT * FROM _decided")
        if addresses:
            house_review.store_decisions(con, house_decided)
        if decided.height or addresses:  # a batch after the last link's: the next nightly links
            record_run(con, "review", os_user(), started, "ok", {"pairs": decided.height, "addresses": addresses},
                       f"导入复核结果 {path.name}：人员 {decided.height} 对、地址 {addresses} 条，下次比对起生效")
        con.commit()
    result.decided = decided.height
    result.yes = decided.filter(pl.col("decision")).height
    result.no = result.decided - result.yes
    return result


_ROW = "__row__"  # the row's number as Excel shows it (read_table's row_numbers)


def _where(row: int, number: str | None) -> str:
    return f"第{row}行（第{number}对）" if number not in (None, "") else f"第{row}行"


def _checked(marked: pl.DataFrame, problems: list[str]) -> pl.DataFrame:
    """The rows with a 是 or 否 that can be saved, as (fingerprint_a, fingerprint_b,
    decision, row, number), the pair in one order. A row whose A 指纹 or B 指纹 was cleared
    is skipped, and so is every row of a pair said 是 in one row and 否 in another; each
    is named in `problems`, the other rows go on."""
    rows = marked.select(
        pl.col("A 指纹").str.strip_chars().alias("a"),
        pl.col("B 指纹").str.strip_chars().alias("b"),
        "decision", pl.col(_ROW).alias("row"), pl.col("编号").alias("number"),
    )
    blank = pl.col("a").is_null() | (pl.col("a") == "") | pl.col("b").is_null() | (pl.col("b") == "")
    for row, number in rows.filter(blank).select("row", "number").iter_rows():
        problems.append(mask_text(f"{_where(row, number)}：“A 指纹”或“B 指纹”是空的（被清除了），"
                                  "无法知道是哪两条记录，这一行未导入；请重新导出后再填"))
    rows = rows.filter(~blank).select(
        pl.min_horizontal("a", "b").alias("fingerprint_a"),
        pl.max_horizontal("a", "b").alias("fingerprint_b"),
        "decision", "row", "number",
    )
    pair = ["fingerprint_a", "fingerprint_b"]
    conflicted = rows.group_by(pair).agg(pl.col("decision").n_unique().alias("answers")).filter(pl.col("answers") > 1)
    for key in conflicted.select(pair).iter_rows():
        clash = rows.filter((pl.col("fingerprint_a") == key[0]) & (pl.col("fingerprint_b") == key[1])).sort("row")
        said = "、".join(f"{_where(row, number)}填“{'是' if decision else '否'}”"
                        for row, number, decision in clash.select("row", "number", "decision").iter_rows())
        problems.append(mask_text(f"同一对记录的判定互相矛盾：{said}；这对记录一条也未导入，请改成一致后再导入"))
    rows = rows.join(conflicted.select(pair), on=pair, how="anti")
    # the same pair said alike twice (a row copied): saved once
    return rows.sort("row").unique(pair, keep="first", maintain_order=True)


def _offered_only(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, problems: list[str]) -> pl.DataFrame:
    """The rows whose pair rootdb offered for review: a pair of today's review table
    (`link_person_review`, by the records' fingerprints as the export writes them), or one
    already decided (a workbook imported again after a link, its pairs no longer asked).
    A pair made up in the workbook (one pair's A with another's B) is named and not saved."""
    if not rows.height:
        return rows
    offered = [
        f"""SELECT least(a.fp, b.fp) AS fingerprint_a, greatest(a.fp, b.fp) AS fingerprint_b
            FROM link_person_review p
            JOIN (SELECT r.record_id, {FINGERPRINT} AS fp FROM link_person_records r) a ON a.record_id = p.unique_id_l
            JOIN (SELECT r.record_id, {FINGERPRINT} AS fp FROM link_person_records r) b ON b.record_id = p.unique_id_r"""
    ] if table_exists(con, "link_person_review") and table_exists(con, "link_person_records") else []
    offered.append("SELECT fingerprint_a, fingerprint_b FROM link_review_decisions")
    with registered(con, "_asked", rows.select("fingerprint_a", "fingerprint_b")):
        known = fetch_frame(
            con,
            f"""SELECT DISTINCT q.fingerprint_a, q.fingerprint_b FROM _asked q
                JOIN ({' UNION '.join(offered)}) o USING (fingerprint_a, fingerprint_b)""",
        )
    pair = ["fingerprint_a", "fingerprint_b"]
    known = known.with_columns(pl.col(pair).cast(pl.String))
    for row, number in rows.join(known, on=pair, how="anti").sort("row").select("row", "number").iter_rows():
        problems.append(mask_text(f"{_where(row, number)}：这两条记录不是 rootdb 导出待复核的一对"
                                  "（“A 指纹”与“B 指纹”对不上导出时的配对，可能被改动或拼接），这一行未导入"))
    return rows.join(known, on=pair, how="semi")
