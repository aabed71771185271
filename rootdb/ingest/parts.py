"""Which part of a feed a delivery is: feeds delivered in parts.

A street's communities (or grids) may each send their own file of one feed:
`community_residents_康城社区_2025-06.xlsx`, `community_residents_kangcheng_2025-06.xlsx`,
`…_兰溪社区_…` are parts of one roster, not versions of it. A delivery's part is, in
this order:

1. the word its file name writes between the feed's name (or file pattern) and its
   date: matched against the area's community and grid names (from the standard
   address registry, when loaded), as written, by pinyin, with or without the
   社区 / 网格 suffix; a word the registry does not know still names a part (its
   pinyin identifies it). Generic words (名册, 更正, 汇总, a street's name, …) name none;
2. its content, when the registry knows more than one community (grid) of the area and
   the file holds at least `MIN_CONTENT_ROWS` records: every record's 社区 or 网格 column
   (or, for the community, every parsed address that names one) holds one known value.

A file that names no part is a whole-feed delivery. Parts are compared by `part_key`
(pinyin, no suffix), so `康城社区`, `康城` and `kangcheng` are one part.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from rootdb.clean.types import FIELD_TYPES
from rootdb.ingest.deliveries import date_span
from rootdb.specs import FeedSpec
from rootdb.store import table_exists

BASIS_NAME = "文件名"
BASIS_COMMUNITY = "社区列"
BASIS_GRID = "网格列"
BASIS_ADDRESS = "住址所属社区"
# Fewer records than this never make a part by their content alone: a month's few
# births may all happen to live in one grid.
MIN_CONTENT_ROWS = 20

_SUFFIXES = ("社区居民委员会", "社区居委会", "居民委员会", "村民委员会", "居委会", "村委会", "社区", "网格", "嘎查")
_SEPARATORS = re.compile(r"[\s_\-—.·,，、;；+()（）\[\]【】《》<>]+")
# Words of file names that name no part (longest first when stripped).
_GENERIC = sorted({
    "名册", "花名册", "名单", "台账", "数据", "信息", "明细", "汇总", "汇总表", "统计", "统计表", "表", "清单",
    "更正", "更正版", "修正", "修订", "修订版", "更新", "最新", "补报", "补充", "补录", "重报", "全部", "全量",
    "全街道", "全区", "导出", "上报", "报送", "月报", "年报", "季报", "对象", "人员", "人口", "居民", "新", "旧",
    "副本", "正式", "正式版", "终版", "最终", "最终版", "定稿", "备份", "第一版", "第二版", "版", "年", "月", "日", "final", "copy", "new", "update", "updated", "data", "list", "all", "full", "bak",
}, key=len, reverse=True)
_WHOLE_ONLY = {"社区", "网格", "街道", "村", "小区"}  # generic only as a whole token (康城社区 is a part)
_VERSION = re.compile(r"^(?:v\d+|\d+|第?\d+版|\(\d+\))$", re.IGNORECASE)
# A token naming the sender, not a part: 民政局, 社区卫生服务中心, 派出所, 残联 …
_SENDER = re.compile(r"(?:局|中心|办公室|服务站|派出所|医院|卫生院|残联|民政|人社|医保|公安|卫健|报送|提供)$")
_STREET = re.compile(r"^.*?(?:街道办事处|街道办|街道|镇|乡|苏木)")


@dataclass(frozen=True)
class Part:
    """A delivery's part: `name` as shown (the registry's name when known), `key` what
    parts are compared by, `basis` what named it, `level` community / grid / None."""

    name: str
    key: str
    basis: str
    level: str | None = None


def part_key(word: str | None) -> str:
    """'康城社区', '康城' and 'KangCheng' → 'kangcheng'; '第一网格' → 'diyi'."""
    if not word:
        return ""
    text = unicodedata.normalize("NFKC", word).strip().lower()
    text = re.sub(r"\s+", "", text)
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    if re.search(r"[\u3400-\u9fff]", text):
        from pypinyin import lazy_pinyin  # slow to import

        text = "".join(lazy_pinyin(text))
    text = re.sub(r"[^0-9a-z]", "", text)
    for suffix in ("shequ", "wangge"):  # written in pinyin: kangcheng_shequ
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
    return text


@dataclass
class Vocabulary:
    """The area's communities and grids (from the standard address registry)."""

    communities: dict[str, str] = field(default_factory=dict)  # key -> name
    grids: dict[str, str] = field(default_factory=dict)  # key -> name
    grid_communities: dict[str, set[str]] = field(default_factory=dict)  # grid name -> community names

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> Vocabulary:
        vocab = cls()
        if not table_exists(con, "rec_registry_addresses"):
            return vocab
        try:
            rows = con.execute(
                "SELECT DISTINCT community, grid FROM registry_addresses "
                "WHERE community IS NOT NULL OR grid IS NOT NULL").fetchall()
        except duckdb.Error:
            return vocab
        for community, grid in rows:
            if community:
                vocab.communities.setdefault(part_key(community), community)
            if grid:
                vocab.grids.setdefault(part_key(grid), grid)
                if community:
                    vocab.grid_communities.setdefault(grid, set()).add(community)
        return vocab

    def match(self, word: str) -> tuple[str, str | None]:
        """(name, level) of a word: the registry's community or grid it names, else
        the word itself with no level."""
        key = part_key(word)
        if key in self.communities:
            return self.communities[key], "community"
        if key in self.grids:
            return self.grids[key], "grid"
        return word, None


def _strip_generic(token: str, extra: tuple[str, ...]) -> str:
    """A token without generic words at its start or end ('名册', '更正', the feed's
    own title, …)."""
    words = sorted((set(_GENERIC) | {e for e in extra if e}) - _WHOLE_ONLY, key=len, reverse=True)
    if token in extra:
        return ""
    if token in _WHOLE_ONLY:
        return ""
    changed = True
    while token and changed:
        changed = False
        if _VERSION.match(token):
            return ""
        lower = token.lower()
        for word in words:
            w = word.lower()
            if lower == w:
                return ""
            if lower.startswith(w):
                token, changed = token[len(word):], True
                break
            if lower.endswith(w):
                token, changed = token[: -len(word)], True
                break
    return token


def _names_something(token: str) -> bool:
    """Two Chinese characters, or three Latin letters (a pinyin name): not 'A', '新'."""
    return len(re.findall(r"[\u3400-\u9fff]", token)) >= 2 or len(re.findall(r"[A-Za-z]", token)) >= 3


def name_word(file_name: str, spec: FeedSpec) -> str | None:
    """The word a file name writes between the feed's name and its date, without
    generic words; None when there is none."""
    stem = unicodedata.normalize("NFKC", Path(file_name).stem)
    span = date_span(stem)
    head = stem[: span[0]] if span else stem
    lower_name = file_name.lower()
    literals: list[str] = []
    for pattern in spec.file_patterns:
        if not fnmatch.fnmatch(lower_name, pattern.lower()):
            continue
        stem_pattern = pattern.rsplit(".", 1)[0]
        literals += [p for p in stem_pattern.split("*") if p]
    if not literals:  # recognised by its header only: the feed's code or title may still be in it
        literals = [spec.code]
    rest = head
    for literal in sorted(set(literals) | {spec.title}, key=len, reverse=True):
        pos = rest.lower().find(literal.lower())
        if pos >= 0:
            rest = rest[:pos] + " " + rest[pos + len(literal):]
    extra = (spec.title, spec.department, spec.code, *literals)
    tokens = []
    for token in _SEPARATORS.split(rest):
        token = _STREET.sub("", token) if re.search(r"街道|镇|乡|苏木", token) and len(token) > 4 else token
        token = _strip_generic(token, extra)
        if _SENDER.search(token):
            continue
        if _names_something(token):
            tokens.append(token)
    return "".join(tokens) or None


def part_from_name(file_name: str, spec: FeedSpec, vocab: Vocabulary) -> Part | None:
    word = name_word(file_name, spec)
    if word is None or not part_key(word):
        return None
    name, level = vocab.match(word)
    if level == "community" and len(vocab.communities) == 1:
        return None  # the area's only community: the whole feed
    return Part(name=name, key=part_key(name), basis=BASIS_NAME, level=level)


def _values(frames: list[pl.DataFrame], column: str) -> pl.DataFrame:
    """(row, value) of a column over a delivery's sheets: values trimmed, empty ones left out."""
    out = []
    offset = 0
    for frame in frames:
        if column in frame.columns:
            out.append(frame.select(
                (pl.int_range(pl.len()) + offset).alias("row"),
                pl.col(column).cast(pl.String).str.strip_chars().alias("value")))
        offset += frame.height
    if not out:
        return pl.DataFrame(schema={"row": pl.Int64, "value": pl.String})
    return pl.concat([f.with_columns(pl.col("row").cast(pl.Int64)) for f in out]).filter(
        pl.col("value").is_not_null() & (pl.col("value") != ""))


def _keyed(values: pl.DataFrame, mapping: dict[str, str | None]) -> pl.DataFrame:
    """(row, key) from (row, value): each distinct value mapped once."""
    distinct = values["value"].unique().to_list()
    table = pl.DataFrame({"value": distinct, "key": [mapping.get(part_key(v)) for v in distinct]},
                         schema={"value": pl.String, "key": pl.String})
    return values.join(table, on="value", how="left").select("row", "key")


def _address_communities(spec: FeedSpec) -> list[str]:
    """The columns cleaning derives beside the feed's fields naming a community (the
    parsed addresses' community)."""
    return [FIELD_TYPES[c.type].column(c.field, "community") for c in spec.columns
            if "community" in FIELD_TYPES[c.type].derived]


def part_from_content(frames: list[pl.DataFrame], spec: FeedSpec, vocab: Vocabulary) -> Part | None:
    """The part a delivery's records show: one community (its 社区 column, the parsed
    addresses, the communities of its 网格 column: all agreeing, on at least half the
    records, every record when the feed has a 社区 column) or one grid (its 网格 column,
    every record), among several the area has."""
    total = sum(f.height for f in frames)
    if total < MIN_CONTENT_ROWS:
        return None
    fields = {c.field: c for c in spec.columns}
    if len(vocab.communities) > 1:
        community_of = {k: k for k in vocab.communities}
        grid_to_community = {part_key(g): part_key(next(iter(cs))) for g, cs in vocab.grid_communities.items()
                             if len({part_key(c) for c in cs}) == 1}
        evidence = []
        basis = None
        if "community" in fields:
            evidence.append(_keyed(_values(frames, "community"), community_of))
            basis = BASIS_COMMUNITY
        for column in _address_communities(spec):
            found = _keyed(_values(frames, column), community_of)
            basis = basis or (BASIS_ADDRESS if found.height else None)
            evidence.append(found)
        if "grid" in fields:
            evidence.append(_keyed(_values(frames, "grid"), grid_to_community))
        if evidence:
            rows = pl.concat(evidence)
            keys = rows["key"].unique().to_list()
            covered = rows["row"].n_unique()
            enough = covered == total if basis == BASIS_COMMUNITY else covered * 2 >= total
            if len(keys) == 1 and keys[0] is not None and enough and basis:
                name = vocab.communities[keys[0]]
                return Part(name=name, key=part_key(name), basis=basis, level="community")
    if len(vocab.grids) > 1 and "grid" in fields:
        grids = _keyed(_values(frames, "grid"), {k: k for k in vocab.grids})
        keys = grids["key"].unique().to_list()
        if len(keys) == 1 and keys[0] is not None and grids.height == total:
            name = vocab.grids[keys[0]]
            return Part(name=name, key=part_key(name), basis=BASIS_GRID, level="grid")
    return None


def row_part_condition(con: duckdb.DuckDBPyConnection, spec: FeedSpec, part: Part, vocab: Vocabulary,
                       file_ids: list[int], alias: str = "r") -> str | None:
    """A SQL condition on the `rec_<feed>` rows of `file_ids`: the row belongs to
    `part` by its 社区 / 网格 column or its parsed address's community (values compared
    by `part_key`). None when no row could tell."""
    fields = {c.field: c for c in spec.columns}
    community_cols = (["community"] if "community" in fields else []) + _address_communities(spec)
    grid_cols = ["grid"] if "grid" in fields else []
    existing = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = ?",
        [f"rec_{spec.code}"]).fetchall()}
    grids_of_part = {part_key(g) for g, cs in vocab.grid_communities.items()
                     if {part_key(c) for c in cs} == {part.key}}
    conditions = []
    for column in community_cols + grid_cols:
        if column not in existing:
            continue
        values = [r[0] for r in con.execute(
            f'SELECT DISTINCT "{column}"::VARCHAR FROM "rec_{spec.code}" WHERE file_id IN '
            f'(SELECT unnest(?::BIGINT[])) AND "{column}" IS NOT NULL', [file_ids]).fetchall()]
        if column in grid_cols:
            wanted = {v for v in values if part_key(v) == part.key
                      or (part.level != "grid" and part_key(v) in grids_of_part)}
        else:
            wanted = {v for v in values if part_key(v) == part.key} if part.level != "grid" else set()
        if wanted:
            listed = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(wanted))
            conditions.append(f'coalesce({alias}."{column}"::VARCHAR IN ({listed}), false)')
    return "(" + " OR ".join(conditions) + ")" if conditions else None
