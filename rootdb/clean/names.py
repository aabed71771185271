"""Person names: cleaned text, toneless pinyin for homophone matching, and a flag for
placeholders ("无", "不详", newborn entries like "张某某之子").

Chinese names carry no spaces, so every kind of whitespace is removed; the separator of
transliterated minority names ("阿依古丽·买买提") is unified to "·". Latin names keep
single inner spaces and are title-cased. Runs once per distinct value.
"""

from __future__ import annotations

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
# A newborn's placeholder names a parent: 张某某之子, or a transliterated name of up
# to eight characters (斯日古楞之子, 阿依古丽·买买提之女).
_PLACEHOLDER_RE = re.compile(
    r"^(?:.{0,8}之[子女]\d*|.{0,2}某+|(?:新生|男|女)?(?:婴儿|新生儿|男婴|女婴)\d*|[?？*＊xX×]+)$"
)

# A name that `_clean_one` returns as it is (no whitespace, separator, compatibility form
# or Latin letter), unless it is a blank marker or a placeholder: `clean_names` cleans
# such values in polars. Python's and polars' regular expressions read this class alike.
_PLAIN_HAN = r"^[\u4e00-\u9fff]{1,16}$"

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


def _latin_pinyin(name: str) -> str | None:
    """Latin names: accents folded, José → jose."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9]+", folded.lower())) or None


def _char_readings(chars: list[str]) -> dict[str, str | None]:
    """Toneless pinyin of single characters (None for punctuation such as ·)."""
    from pypinyin import Style, lazy_pinyin  # slow to import (~0.3 s)

    readings = {}
    for ch in chars:
        tokens = re.findall(r"[a-z0-9]+", " ".join(lazy_pinyin(ch, style=Style.NORMAL)).lower())
        readings[ch] = " ".join(tokens) or None
    return readings


def pinyin_of(names: pl.Series) -> pl.Series:
    """Pinyin of cleaned names, vectorised: each distinct character is looked up once
    (a surname reading for the first one or two characters), so the cost grows with
    the number of distinct characters, not of names."""
    frame = names.rename("name").to_frame()
    is_han = pl.col("name").str.contains(_HAN_RE.pattern)
    two, one = pl.col("name").str.slice(0, 2), pl.col("name").str.slice(0, 1)
    compound = {k: v for k, v in _SURNAMES.items() if len(k) == 2}
    single = {k: v for k, v in _SURNAMES.items() if len(k) == 1}
    frame = frame.with_columns(
        pl.when(two.is_in(list(compound))).then(2).when(one.is_in(list(single))).then(1).otherwise(0).alias("_n")
    ).with_columns(
        pl.when(pl.col("_n") == 2).then(two.replace_strict(compound, default=None, return_dtype=pl.String))
        .when(pl.col("_n") == 1).then(one.replace_strict(single, default=None, return_dtype=pl.String)).alias("_head"),
        pl.col("name").str.slice(pl.col("_n")).str.split("").alias("_chars"),
    )
    chars = frame.filter(is_han)["_chars"].explode().drop_nulls().unique().to_list()
    readings = _char_readings(chars)
    rest = pl.col("_chars").list.eval(pl.element().replace_strict(readings, default=None, return_dtype=pl.String)).list.drop_nulls()
    han = pl.concat_str([pl.col("_head"), rest.list.join(" ")], separator=" ", ignore_nulls=True)
    latin = frame.filter(~is_han & pl.col("name").is_not_null())["name"].unique().to_list()
    latin_map = {n: _latin_pinyin(n) for n in latin}
    out = frame.select(
        pl.when(is_han).then(han.replace("", None))
        .otherwise(pl.col("name").replace_strict(latin_map, default=None, return_dtype=pl.String))
        .alias("pinyin")
    )
    return out["pinyin"]


def clean_name(raw: str | None) -> tuple[str | None, str | None, bool]:
    """(name, pinyin, placeholder) for one value."""
    return clean_names(pl.Series([raw], dtype=pl.String)).row(0)


def clean_names(raw: pl.Series) -> pl.DataFrame:
    """Row-aligned columns name (String), pinyin (String), placeholder (Boolean).
    Null input gives null name and placeholder False; placeholders (无, 不详, -,
    张某某之子 …) give null name and placeholder True."""
    text = raw.cast(pl.String).rename("_raw")
    distinct = text.unique().drop_nulls().to_frame()
    plain = pl.col("_raw").str.contains(_PLAIN_HAN)
    # Almost every name is a few plain Han characters: clean as it is, unless a blank
    # marker or a placeholder (the same sets and pattern as `_clean_one`, which takes the rest).
    unusable = pl.col("_raw").is_in(list(_BLANKS)) | pl.col("_raw").str.contains(_PLACEHOLDER_RE.pattern)
    fast = distinct.filter(plain).select(
        "_raw", pl.when(unusable).then(None).otherwise(pl.col("_raw")).alias("name"), unusable.alias("placeholder"))
    rest = distinct.filter(~plain)["_raw"]
    slow = pl.DataFrame([_clean_one(v) for v in rest.to_list()], schema={"name": pl.String, "placeholder": pl.Boolean},
                        orient="row").with_columns(rest)
    lookup = pl.concat([fast, slow.select(fast.columns)])
    lookup = lookup.with_columns(pinyin_of(lookup["name"]))
    out = text.to_frame().join(lookup, on="_raw", how="left", maintain_order="left")
    return out.select("name", "pinyin", pl.col("placeholder").fill_null(False))
