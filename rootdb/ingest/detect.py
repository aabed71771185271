"""Find a file's feed, its header row and its data rows.

Headers are matched by name and alias after normalisation (full-width forms, spaces,
a trailing unit such as （元）), never by position. The feed is the schema whose
headers the file's header row matches best, with a bonus when the file name fits the
schema's file pattern. Rows below the header are data rows unless blank, a repeated
header, or a closing row (合计, 填表人, …).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from rootdb.errors import InputFileError
from rootdb.specs import FeedSpec


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: the column name a spreadsheet program shows."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


HEADER_SEARCH_ROWS = 30
# No header is longer: a longer cell in the rows searched is data (or junk), never
# normalised and looked up (once per schema, it would cost seconds per megabyte).
MAX_HEADER_CHARS = 200
_UNIT_SUFFIX = re.compile(r"\([^()]*\)$")
CLOSING_ROW = (
    r"^(合\s*计|总\s*计|小\s*计|共\s*计|填表人|填报人|制表人|审核人|审批人|单位负责人|"
    r"联系人|填报日期|制表日期|填表日期|报送日期|填报单位|备注[:：]|说明[:：]|注[:：])"
)


def normalize_header(text: str) -> str:
    """'月保障金（元） ' and '月保障金(元)' both become '月保障金(元)'."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\s+", "", text)
    return text.replace("【", "(").replace("】", ")").replace("[", "(").replace("]", ")")


@functools.lru_cache(maxsize=1 << 14)
def header_keys(text: str) -> tuple[str, ...]:
    """The forms a header is looked up by, in this order: as written, and without a
    trailing unit. Kept for the texts seen (the top rows of every file, against every
    feed's headers)."""
    norm = normalize_header(text)
    return tuple(key for key in dict.fromkeys((norm, _UNIT_SUFFIX.sub("", norm))) if key)


@dataclass
class Layout:
    spec: FeedSpec
    header_row: int  # spreadsheet row number of the header
    columns: dict[str, str]  # field -> grid column (c0, c1, …)
    headers: dict[str, str]  # field -> header as delivered
    warnings: list[str] = field(default_factory=list)
    # field -> every grid column whose header names it, when more than one does (the
    # first is `columns[field]`): each row takes the first of them that has a value.
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    # field -> the header of each of those columns, as delivered
    duplicate_headers: dict[str, list[str]] = field(default_factory=dict)


def _lookup(spec: FeedSpec) -> dict[str, str]:
    table: dict[str, str] = {}
    for col in spec.columns:
        for header in col.headers:
            for key in header_keys(header):
                table.setdefault(key, col.field)
    return table


def _match_row(cells: list[str | None], lookup: dict[str, str]) -> dict[str, int]:
    """field -> position of the first cell in the row naming it."""
    return {fld: positions[0] for fld, positions in _match_all(cells, lookup).items()}


def _match_all(cells: list[str | None], lookup: dict[str, str]) -> dict[str, list[int]]:
    """field -> positions of every cell in the row naming it."""
    found: dict[str, list[int]] = {}
    for pos, cell in enumerate(cells):
        if not cell or len(cell) > MAX_HEADER_CHARS:
            continue
        for key in header_keys(str(cell)):
            fld = lookup.get(key)
            if fld is not None:
                found.setdefault(fld, []).append(pos)
                break
    return found


def name_matches(spec: FeedSpec, file_name: str) -> bool:
    lower = file_name.lower()
    return any(fnmatch.fnmatch(lower, pattern.lower()) for pattern in spec.file_patterns)


def recognise(
    cells: pl.DataFrame, specs: dict[str, FeedSpec], file_name: str, forced_feed: str | None = None,
    letters: dict[str, str] | None = None,
) -> Layout:
    """The layout of a file from its grid; raises InputFileError when no schema fits.
    `letters`: grid column -> the column letter a spreadsheet program shows, for messages."""
    path = Path(file_name)
    if forced_feed is not None:
        candidates = {forced_feed: specs[forced_feed]}
    else:
        candidates = specs
    grid_cols = [c for c in cells.columns if c != "row_number"]
    top = cells.head(HEADER_SEARCH_ROWS)
    rows = [(r[0], list(r[1:])) for r in top.select("row_number", *grid_cols).iter_rows()]
    texts = [(row_number, [str(c) if c is not None else None for c in row]) for row_number, row in rows]

    best: tuple[float, int, str, dict[str, int]] | None = None
    for code, spec in candidates.items():
        lookup = _lookup(spec)
        named = name_matches(spec, path.name)
        for row_number, row in texts:
            found = _match_row(row, lookup)
            share = len(found) / len(spec.columns)
            # Half the headers, or a file named like the feed (or forced) with two of them.
            if share < 0.5 and not ((named or forced_feed) and len(found) >= 2):
                continue
            score = share + (0.25 if named else 0.0)
            if best is None or score > best[0]:
                best = (score, row_number, code, found)
    if best is None:
        named = [spec for spec in candidates.values() if name_matches(spec, path.name)]
        if len(named) == 1:  # the name says which feed: its header is what is wrong
            raise InputFileError(
                path,
                f"文件名表明是“{named[0].title}”（{named[0].code}），但前30行中没有一行与它的列名相符"
                f"（如{'、'.join(c.header for c in named[0].columns[:3])}）；请核对文件内容和表头行",
            )
        raise InputFileError(
            path,
            "找不到可识别的表头：前30行中没有一行与任何数据源的列名相符；"
            "请确认文件内容，或用 --feed 指定数据源",
        )
    _, header_row, code, found = best
    spec = specs[code]
    header_cells = dict(rows)[header_row]
    missing = [c.header for c in spec.columns if c.required and c.field not in found]
    if missing:
        # No row or column location: the column is not in the file (a location would
        # suggest that it is, and only its values are wrong).
        raise InputFileError(
            path,
            f"按“{spec.title}”（{code}）识别，但表头（第{header_row}行）中缺少必需的列：{'、'.join(missing)}",
        )
    columns = {fld: grid_cols[pos] for fld, pos in found.items()}
    headers = {fld: str(header_cells[pos]).strip() for fld, pos in found.items()}
    warnings = []
    every = _match_all([str(c) if c is not None else None for c in header_cells], _lookup(spec))
    letters = letters or {}

    def letter(pos: int) -> str:
        return letters.get(grid_cols[pos]) or column_letter(pos)

    duplicates = {fld: [grid_cols[p] for p in ps] for fld, ps in every.items() if len(ps) > 1}
    duplicate_headers = {fld: [str(header_cells[p]).strip() for p in ps] for fld, ps in every.items() if len(ps) > 1}
    for fld, positions in every.items():
        if len(positions) < 2:
            continue
        names = [str(header_cells[p]).strip() for p in positions]
        where = "和".join(f"第{letter(p)}列" for p in positions)
        first = letter(positions[0])
        if len(set(names)) == 1:
            what = f"{len(positions)}列都叫“{names[0]}”：{where}"
        else:
            what = "、".join(f"第{letter(p)}列“{n}”" for p, n in zip(positions, names)) + \
                   f"都是“{spec.column(fld).header}”"
        warnings.append(
            f"{what}。每行取有值的那一列（都有值时以第{first}列为准，两列的值不同的行记入问题清单），"
            "各列原值都保留"
        )
    known = {p for ps in every.values() for p in ps}
    ignored = [str(c).strip() for pos, c in enumerate(header_cells) if c and pos not in known]
    if ignored:
        warnings.append(f"以下列不属于“{spec.title}”，已忽略：{'、'.join(ignored)}")
    optional_missing = [c.header for c in spec.columns if not c.required and c.field not in found]
    if optional_missing:
        warnings.append(f"文件中没有这些列，按空值处理：{'、'.join(optional_missing)}")
    if forced_feed is None and not name_matches(spec, path.name):
        others = [s.code for s in specs.values() if name_matches(s, path.name)]
        if others:
            warnings.append(f"文件名像是“{specs[others[0]].title}”，但表头与“{spec.title}”（{code}）一致，已按后者导入")
    return Layout(spec=spec, header_row=header_row, columns=columns, headers=headers, warnings=warnings,
                  duplicates=duplicates, duplicate_headers=duplicate_headers)


def dup_column(fld: str, k: int) -> str:
    """The name data_rows gives the k-th (1-based) of several columns naming a field."""
    return f"__col_{fld}_{k}"


def data_rows(cells: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """The data rows below the header: `source_row` and one text column per field.

    A field named by several columns takes, in each row, the first of them with a value;
    each of those columns is also given as delivered (`dup_column(field, k)`)."""
    grid_cols = [c for c in cells.columns if c != "row_number"]
    below = cells.filter(pl.col("row_number") > layout.header_row)
    stripped = [pl.col(c).str.strip_chars() for c in grid_cols]
    non_empty = [s.is_not_null() & (s != "") for s in stripped]
    first_text = pl.coalesce([pl.when(ne).then(s) for ne, s in zip(non_empty, stripped)])
    repeated_header = pl.sum_horizontal(
        (pl.col(col).str.strip_chars() == layout.headers[fld]).cast(pl.Int32)
        for fld, col in layout.columns.items()
    ) >= max(2, len(layout.columns) // 2)
    keep = (
        pl.any_horizontal(non_empty)
        & ~first_text.str.contains(CLOSING_ROW).fill_null(False)
        & ~repeated_header.fill_null(False)
    )

    def value(fld: str, col: str) -> pl.Expr:
        cols = layout.duplicates.get(fld)
        if not cols:
            return pl.col(col).alias(fld)
        has = [pl.col(c).str.strip_chars().fill_null("") != "" for c in cols]
        expr = pl.when(has[0]).then(pl.col(cols[0]))
        for c, h in zip(cols[1:], has[1:]):
            expr = expr.when(h).then(pl.col(c))
        return expr.otherwise(pl.col(cols[0])).alias(fld)

    return below.filter(keep).select(
        pl.col("row_number").alias("source_row"),
        *[value(fld, col) for fld, col in layout.columns.items()],
        *[pl.col(c).alias(dup_column(fld, k)) for fld, cols in layout.duplicates.items()
          for k, c in enumerate(cols, start=1)],
    )
