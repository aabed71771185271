"""Person names: cleaned text, toneless pinyin for homophone matching, and a flag for
placeholders ("无", "不详", newborn entries like "张某某之子").

Chinese names carry no spaces, so every kind of whitespace is removed; the separator of
transliterated minority names ("阿依古丽·买买提") is unified to "·". Latin names keep
single inner spaces and are title-cased. Runs once per distinct value.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import polars as pl

from rootdb.clean.values import BLANK_MARKERS

_BLANKS = {m.lower() for m in BLANK_MARKERS} | {"某", "某某", "姓名", "未取名", "未命名", "待定"}
_WS = r"[\s\u3000\u00a0\u200b\ufeff]+"
_WS_RE = re.compile(_WS)
_HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Separators written between the parts of a transliterated name (after NFKC).
_SEP_RE = re.compile(r"[\u00b7\u0387\u2022\u2027\u2219\u22c5\u30fb\uff65\u16eb\u2e31.。,，\-_=]+")
_PLACEHOLDER_RE = re.compile(
    r"^(?:.{0,3}之[子女]\d*|.{0,2}某+|(?:新生|男|女)?(?:婴儿|新生儿|男婴|女婴)\d*|[?？*＊xX×]+)$"
)

# Readings of characters when they are a surname, where the common reading differs
# (pypinyin has no surname mode). Compound surnames first.
_SURNAMES = {
    "尉迟": "yu chi", "万俟": "mo qi", "长孙": "zhang sun", "单于": "chan yu",
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "区": "ou", "朴": "piao",
    "查": "zha", "盖": "ge", "覃": "qin", "乐": "yue", "缪": "miao", "召": "shao",
    "种": "chong", "折": "she", "繁": "po", "员": "yun", "翟": "zhai", "秘": "bi",
    "佴": "nai", "华": "hua", "黑": "he", "任": "ren", "纪": "ji", "过": "guo",
    "句": "gou", "阚": "kan", "冼": "xian", "宓": "mi", "厍": "she", "訾": "zi",
    "蕃": "pi", "都": "du", "重": "chong", "祭": "zhai", "相": "xiang", "朝": "chao",
    "尉": "yu", "沈": "shen", "薄": "bo", "便": "pian", "卜": "bu", "柏": "bai",
    "隗": "wei", "郇": "huan", "眭": "sui", "逄": "pang", "藏": "zang", "贲": "ben",
}


def _clean_one(raw: str) -> tuple[str | None, bool]:
    text = unicodedata.normalize("NFKC", raw)
    squeezed = _WS_RE.sub("", text)
    if not squeezed or squeezed.lower() in _BLANKS:
        return None, bool(squeezed)
    if _HAN_RE.search(squeezed):
        name = _SEP_RE.sub("·", squeezed).strip("·")
        if not name:
            return None, True
        if _PLACEHOLDER_RE.match(name):
            return None, True
        return name, False
    if not re.search(r"\w", squeezed):
        return None, True  # only punctuation: "-", "/", "…"
    if _PLACEHOLDER_RE.match(squeezed):
        return None, True
    name = _WS_RE.sub(" ", text).strip()
    return name.title(), False


def _pinyin(name: str | None) -> str | None:
    if name is None:
        return None
    if not _HAN_RE.search(name):  # latin: accents folded, José → jose
        folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
        return " ".join(re.findall(r"[a-z0-9]+", folded.lower())) or None
    head = []
    rest = name
    for n in (2, 1):
        if rest[:n] in _SURNAMES:
            head = [_SURNAMES[rest[:n]]]
            rest = rest[n:]
            break
    from pypinyin import Style, lazy_pinyin  # slow to import (~0.3 s)

    tokens = head + lazy_pinyin(rest, style=Style.NORMAL)
    return " ".join(re.findall(r"[a-z0-9]+", " ".join(tokens).lower())) or None


@functools.lru_cache(maxsize=1 << 18)
def clean_name(raw: str | None) -> tuple[str | None, str | None, bool]:
    """(name, pinyin, placeholder) for one value."""
    if raw is None:
        return None, None, False
    name, placeholder = _clean_one(raw)
    return name, _pinyin(name), placeholder


def clean_names(raw: pl.Series) -> pl.DataFrame:
    """Row-aligned columns name (String), pinyin (String), placeholder (Boolean).
    Null input gives null name and placeholder False; placeholders (无, 不详, -,
    张某某之子 …) give null name and placeholder True."""
    text = raw.cast(pl.String).rename("_raw")
    distinct = text.unique().drop_nulls()
    rows = [clean_name(v) for v in distinct.to_list()]
    lookup = pl.DataFrame(
        rows, schema={"name": pl.String, "pinyin": pl.String, "placeholder": pl.Boolean}, orient="row"
    ).with_columns(distinct.alias("_raw"))
    out = text.to_frame().join(lookup, on="_raw", how="left", maintain_order="left")
    return out.select("name", "pinyin", pl.col("placeholder").fill_null(False))
