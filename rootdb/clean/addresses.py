"""Addresses parsed into community / compound (小区) / building / unit / room.

Standard form of our area:

    内蒙古自治区鄂尔多斯市东胜区交通街道建设社区幸福小区3号楼2单元501室

Departments write the same house in many ways: with or without any part of the
prefix (province … community), "3栋2-501", "3-2-501", "三号楼二单元五〇一室",
full-width digits, spaces, a floor ("5楼") before the room, no unit, or a street-front
house ("建设路12号", where the road stands in for the compound and 12 is the building).
Buildings may carry letters (e5号楼, b7, A座); a dash may follow a marker (23栋-12单元);
the room may follow a floor and a side (5楼东801) and end in 室, 号, 房, 户 or nothing.
What follows the room is dropped when it cannot name another house: a remark in
brackets, phone numbers, 东户/西户, 主卧, 送货上门, and after a room written after a
building or unit any words without a digit (but in a time: 9点后, 18:00) or a house
word (a road name, 家里有人); a second room ("501室、502室") and 对面 / 隔壁 are not.
A floor at the end is no part of the house: 康宁路二号一楼 is the doorplate 康宁路2号,
3号楼三层 building 3, B1层 nothing. An address longer than `MAX_ADDRESS_CHARS` is
kept as text, not parsed.
A doorplate written before the compound ("康宁路83号康城雅苑") stays in the compound:
the registry's vocabulary (`rootdb.link.address_vocab`) reads it.

`parse_addresses` is vectorised: the text is normalised in polars; an address of the
common shape (…小区3号楼2单元501室) is parsed once per *shape* (its numbers written as 1:
a city's 800,000 distinct addresses have about 3,000), its numbers taken in polars; the
parser runs once per distinct normalised value for the rest, and the parts are joined
back row-aligned.
`house_key` ("compound|building|unit|room") is what a house is matched on.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import polars as pl

from rootdb.clean.values import BLANK_MARKERS

PARTS = ("community", "compound", "building", "unit", "room", "house_key")
COLUMNS = ("address",) + PARTS

_BLANKS = {m.lower() for m in BLANK_MARKERS}

# Dashes of every width and style, after NFKC, become "-".
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2500\u2501\u30fc\ufe58\ufe63~\u301c"
# \x1c-\x1f are whitespace to Python's \s and not to polars' (Rust's): named, so that both agree.
_WS = r"[\s\x1c-\x1f\u3000\u00a0\u200b\ufeff]+"

# ---------------------------------------------------------------- text normalisation

_DASH_TABLE = str.maketrans({c: "-" for c in _DASHES})
_WS_RE = re.compile(_WS)


def normalize_address_text(s: str) -> str:
    """NFKC (full-width digits and letters to ASCII), every kind of whitespace out,
    dashes unified to "-". The per-value twin of the polars normalisation in
    `parse_addresses`."""
    return _WS_RE.sub("", unicodedata.normalize("NFKC", s)).translate(_DASH_TABLE)


def normalize_address_expr(raw: pl.Expr) -> pl.Expr:
    """`normalize_address_text` as a polars expression (the same text, by column)."""
    out = raw.str.normalize("NFKC").str.replace_all(_WS, "")
    return out.str.replace_all(f"[{_DASHES}]", "-")


# ---------------------------------------------------------------- numerals

_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "O": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3,
              "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = set("十百千")
_CN = "零〇○一二两三四五六七八九十百千"


_DIGITS_LETTER = re.compile(r"([A-Za-z]?)(\d+)([A-Za-z]?)")


def _number(token: str | None) -> str | None:
    """'003' → '3', '3a' → '3A', '十二' → '12', '五〇一' → '501', '三百零一' → '301'."""
    if not token:
        return None
    if token.isdecimal() and token.isascii():
        return token if token[0] != "0" else str(int(token))
    if token.isascii():
        if token.isdigit():
            return str(int(token))
        if len(token) == 1 and token.isalpha():  # A座
            return token.upper()
        m = _DIGITS_LETTER.fullmatch(token)
        return m.group(1).upper() + str(int(m.group(2))) + m.group(3).upper() if m else None
    if not any(c in _CN_UNITS for c in token):  # read digit by digit: 五〇一
        try:
            return str(int("".join(str(_CN_DIGITS[c]) for c in token)))
        except (KeyError, ValueError):
            return None
    try:  # positional: 十二, 三十五, 三百零一
        import cn2an  # slow to import (~0.2 s); rarely needed

        return str(int(cn2an.cn2an(token.replace("〇", "零").replace("○", "零"), "normal")))
    except Exception:  # noqa: BLE001 - a malformed numeral is just not parsed
        # …unless it is digits read one by one and the numeral that starts a remark
        # (一〇一十字路口: 101, then 十字路口): those digits are the number.
        head = token.rstrip("十百千")
        return _number(head) if len(head) >= 2 and not any(c in _CN_UNITS for c in head) else None


# ---------------------------------------------------------------- prefix

_HAN = r"[\u4e00-\u9fff]"
# Text that starts a compound / road name rather than following an admin unit.
_NOT_NAME = r"(?!小区|花园|家园|新村|公寓|大厦|广场|市场|中心|路|街(?!道)|巷|大道|胡同|\d)"

_PROVINCE = re.compile(
    rf"^(?:{_HAN}{{2,3}}省|{_HAN}{{2,8}}?自治区|内蒙古|北京市|天津市|上海市|重庆市)"
)
# A city: X市 / X盟 / X自治州 / X地区, not 超市, 夜市, 城市花园, 市场, 市政, 市民中心; X都市
# (成都市) only before a district or county, else it may be a compound (新都市花园).
_CITY = re.compile(
    rf"^(?:{_HAN}都市(?={_HAN}{{1,8}}?(?:区|县|旗|市))|{_HAN}{{2,8}}?(?<![城都超夜股门菜])(?:市|盟|自治州|地区))"
    rf"(?!场|民(?:中心|广场|服务|之家|大厦|公园|活动)|政|区){_NOT_NAME}"
)
# A district: X区 / X县 / X旗, not 小区, 社区, 园区, 景区, 生活区 …; a name ending in 城区
# is a district when short (涪城区, 东城区, 新城区), a compound's 城 + 区 otherwise.
_DISTRICT = re.compile(
    rf"^(?:{_HAN}{{1,2}}城区|{_HAN}{{1,8}}?(?:(?<![小社园校厂矿营景街宅活城])区|县|(?<!红)旗)){_NOT_NAME}"
)
_STREET = re.compile(rf"^{_HAN}{{2,8}}?(?:街道办事处|街道办|街道|镇|乡|苏木){_NOT_NAME}")
_COMMUNITY = re.compile(
    rf"^({_HAN}{{1,8}}?)(社区居民委员会|社区居委会|社区|居民委员会|居委会|村民委员会|村委会|嘎查委员会|嘎查|(?<!新)村)"
    rf"(?!小区|花园|家园|公寓|大厦|路|街|巷|委)"
)

# ---------------------------------------------------------------- house part

# A number: digits with a letter before or after (e5, 3A; never the tail of a Latin
# word), or Chinese numerals.
_N = rf"(?:(?:(?<![A-Za-z])[A-Za-z])?\d+[A-Za-z]?|[{_CN}]+)"
_HOUSE = re.compile(
    rf"""^(?P<compound>.*?)
    (?:(?:(?P<b>{_N})(?:号楼|号院|号|栋|幢|座|\#楼|\#|楼|-)
         |(?P<bl>(?<![A-Za-z])[A-Za-z])(?:号楼|座|栋|幢|\#楼|\#))-?)?
    (?:(?P<u>{_N})(?:单元|门|-)-?)?
    (?:(?:地下|负)?{_N}(?:楼|层)(?!$))?
    (?:(?<=[元楼栋幢座层门\-\#])[东西南北](?=\d))?
    (?:(?P<r>{_N})(?:号?室|号?房|号|户)?)?
    $""",
    re.VERBOSE,
)
# The common shape, tried first: a compound name with no digits, house words or
# punctuation, then 3号楼2单元501室 / 3栋2-501. Where it matches, _HOUSE gives the same
# parts, only slower: its lazy compound cannot stop earlier, because every house token
# needs a digit or a numeral followed by a house word (a numeral inside the name, as in
# 四期, is followed by neither).
_FAST_HOUSE = re.compile(
    r"^(?P<compound>[^\dA-Za-z号楼栋幢座#单元门层室户\-,.，。、;；:：/\\()（）\[\]【】]+)"
    r"(?P<b>[1-9]\d*)(?:号楼|栋|幢)(?P<u>[1-9]\d*)(?:单元|-)(?P<r>[1-9]\d*)室?$"
)
# A trailing remark in brackets: 幸福小区3号楼2单元501室(租住)
_TRAILING_REMARK = re.compile(r"\([^()]*\)$|\[[^\[\]]*\]$|【[^【】]*】$")
# Words written after the room that say nothing about which house it is: a phone
# number (with or without 电话 / 电联 before it), a side of the landing, a bedroom, a
# note for the courier or the tenancy. "附近", "对面", "旁边" are not among them:
# they name another place.
_PHONE = r"(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})"
_PHONES = rf"(?<!\d)(?:联系电话|联系方式|联系人|电话|电联|手机|联系|tel|TEL|Tel)?:?{_PHONE}(?:[/、,，]{_PHONE})*"
_PHONE_TAIL = re.compile(rf"{_PHONES}$")
_PHONE_INSIDE = re.compile(rf"{_PHONES}(?!\d)")
_NOISE_WORDS = (
    "[东西南北中](?:户|侧|边|间)|主卧室?|次卧室?|客卧|[南北]卧|电话联系|电联|电话|联系|送货上门|送上门|"
    "放门口|门口|快递柜|代收|租住|自住|出租|租户|本人|家"
)
_NOISE_WORD = re.compile(_NOISE_WORDS)
_NOISE_TAIL = re.compile(rf"(?<=[\dA-Za-z室房户号:)\]】{_CN}])(?:{_NOISE_WORDS}|[,，;；:])+$")
# A shop written by its doorplate: 建设路12号底商
_SHOP_TAIL = re.compile(rf"(?<=[\d{_CN}]号)(?:底商|商铺|门面|门市|门店)$")
# A floor at the end is no part of the house: after a building, a unit or a doorplate
# (3号楼5楼, 2单元三层, 康宁路二号一楼: a shop on the ground floor of 康宁路2号), and
# written with 层 or below ground anywhere (万达广场3层, B1层, 负一楼). A bare "幸福小区5楼"
# stays building 5: that is how a building is written here.
_FLOOR = rf"(?:地下|负|[Bb])?(?:\d+|[{_CN}]+)(?:楼|层)"
_FLOOR_TAIL = re.compile(
    rf"(?:(?<=号楼)|(?<=[栋幢座元\#])|(?<=[\d{_CN}]号)){_FLOOR}$"
    rf"|(?:地下|负|[Bb])(?:\d+|[{_CN}]+)(?:楼|层)$|(?<![\dA-Za-z{_CN}])(?:\d+|[{_CN}]+)层$"
)
# After a room written after a building or unit (…2单元501室, 3-2-501, 23栋东801号, …5楼501)
# whatever holds no digit, no house word and no list separator, once the remark words
# and times (9点后, 周一至周五, 18:00) are out, is a remark: 主卧, 送货上门, 家里有人,
# a road name; unless it points elsewhere (501对面, 501隔壁).
_TIME = rf"(?:(?<!\d)\d{{1,2}}(?:[:：]\d{{2}}|点半?|小时)|[{_CN}]{{1,3}}点半?|(?:周|星期)[一二三四五六日天])"
_TIME_WORD = re.compile(_TIME)
_NUM = rf"(?:\d+[A-Za-z]?|[{_CN}]+)"
# what a room follows: a building, unit or floor word, or a unit after a dash (3-2-, 3栋2-;
# never a lone dash: 0-6岁 is an age)
_BEFORE_ROOM = rf"(?:单元|号楼|栋|幢|座|\#|楼|层|(?:[栋幢座楼\#\-]|单元|号){_NUM}-)"
_ROOM_TAIL = re.compile(
    rf"^(?P<head>.*?{_BEFORE_ROOM}[东西南北]?{_NUM}(?:号?室|号?房|户|号)?)"
    rf"(?P<tail>(?:{_TIME}|[^\d{_CN}、/]|(?<![{_CN}])[{_CN}](?![{_CN}]))+)$")
# a numeral alone is a word's (张三收, 十字路口); two or more are a number (五〇二)
_HOUSE_WORD = re.compile(rf"室|号|单元|栋|幢|座|层|楼|房|户|[{_CN}]{{2,}}")
_ELSEWHERE = re.compile("对面|对门|旁边|隔壁|附近|斜对")
_TAIL_END = set("0123456789室号")


def _strip_tail(text: str) -> str:
    """The text without what follows the house: remarks in brackets, phone numbers,
    remark words, a floor. Text that ends in a digit or 室 (almost all) is returned at once."""
    while text:
        last = text[-1]
        if last in ")]】":
            new = _TRAILING_REMARK.sub("", text)
        elif last in _TAIL_END:
            if not (last.isdigit() and len(text) > 7 and text[-7:].isdigit()):
                return text
            new = _PHONE_TAIL.sub("", text)
        else:
            new = _PHONE_INSIDE.sub("", text)
            if new == text:
                new = _NOISE_TAIL.sub("", text)
            if new == text:
                new = _SHOP_TAIL.sub("", text)
            if new == text:
                new = _FLOOR_TAIL.sub("", text)
            if new == text:
                m = _ROOM_TAIL.match(text)
                tail = _NOISE_WORD.sub("", _TIME_WORD.sub("", m.group("tail"))) if m else ""
                if m and not _HOUSE_WORD.search(tail) and not _ELSEWHERE.search(tail):
                    new = m.group("head")
        if new == text or not new:
            return text
        text = new
    return text


_EDGE_PUNCT = "-,.，。、;；:：/\\()（）[]【】#"
_HAS_LETTER = re.compile(r"[^\d\W]")
_HAS_DIGIT = re.compile(r"\d")
# Only text holding one of these can start with a province, city, district or street.
_ADMIN_HINT = re.compile(r"[省市区盟县旗镇乡]|街道|苏木|内蒙古")
_NOT_A_COMPOUND = re.compile(r"单元|室|[、,，;；/]|\d(?:号楼|栋|幢)")
_COMPOUND_SUFFIX = re.compile(
    r"(?:小区|花园|家园|新村|公寓|大厦|广场|宿舍|家属院|大院|院|苑|园|城|庭|府|居|里|坊|湾|郡|邸|阁|轩|路|街|巷|大道|胡同)$"
)


def _community(name: str, kind: str) -> str:
    if kind in ("社区居民委员会", "社区居委会", "社区", "居民委员会", "居委会"):
        return name + "社区"
    if kind in ("村民委员会", "村委会", "村"):
        return name + "村"
    return name + "嘎查"


# No address is longer: a longer cell (a pasted document, a broken export) is kept as
# text but not parsed, and not cached (the regular expressions would take minutes and
# gigabytes on a 35-million-character cell). `rootdb.clean.types` flags it.
MAX_ADDRESS_CHARS = 300


def parse_address(s: str | None) -> dict:
    """Parse one address. Returns a dict with the keys of `COLUMNS`; parts it cannot
    find are None, and so is everything when the text is empty or a blank marker.
    The work is lru_cached (in `_parse_normalized`); the dict is a fresh copy."""
    if s is None:
        return dict.fromkeys(COLUMNS)
    if len(s) > MAX_ADDRESS_CHARS:  # as `parse_addresses`: too long as delivered, kept as delivered
        return dict(zip(COLUMNS, (s,) + (None,) * len(PARTS)))
    return dict(zip(COLUMNS, _parse_capped(normalize_address_text(s))))


_NOTHING = (None,) * len(COLUMNS)


def _parse_capped(text: str) -> tuple:
    """`_parse_normalized`, but a text longer than `MAX_ADDRESS_CHARS` is only the address."""
    if len(text) > MAX_ADDRESS_CHARS:
        return (text,) + (None,) * len(PARTS)
    return _parse_normalized(text)


@functools.lru_cache(maxsize=1 << 18)
def _parse_normalized(text: str) -> tuple:
    """The parts, in `COLUMNS` order, of text already through `normalize_address_text`."""
    return _parse(text)


def _prefix(text: str) -> tuple[str | None, str]:
    """(community, the rest): the text without what follows the house, the admin units
    (province … street) and the community."""
    community = None
    rest = _strip_tail(text)
    if _ADMIN_HINT.search(rest):
        for pattern in (_PROVINCE, _CITY, _DISTRICT, _STREET):
            m = pattern.match(rest)
            if m and m.end() < len(rest):
                rest = rest[m.end():]
    m = _COMMUNITY.match(rest)
    if m:
        community = _community(m.group(1), m.group(2))
        rest = rest[m.end():]
    return community, rest


def _parse(text: str, fast_path: bool = True) -> tuple:
    """`fast_path=False` is for the test that proves the fast path changes nothing."""
    if not text or text.lower() in _BLANKS:
        return _NOTHING
    community, rest = _prefix(text)
    fast = _FAST_HOUSE.match(rest) if fast_path else None
    if fast:
        compound, building, unit, room = fast.groups()
        return (text, community, compound, building, unit, room, f"{compound}|{building}|{unit}|{room}")
    out = dict.fromkeys(COLUMNS)
    out.update(address=text, community=community)
    m = _HOUSE.match(rest)
    building = unit = room = None
    compound = None
    if m and (m.group("b") or m.group("bl") or m.group("u") or m.group("r")):
        building = _number(m.group("b") or m.group("bl"))
        unit, room = _number(m.group("u")), _number(m.group("r"))
        compound = m.group("compound").strip(_EDGE_PUNCT) or None
        if compound is not None and not _HAS_LETTER.search(compound):
            compound = None  # only digits/punctuation left: not a name
        if building is None and unit is None and room is None:
            compound = None
        if compound is not None and _NOT_A_COMPOUND.search(compound):
            compound = building = unit = room = None  # e.g. two rooms: "…501室、502室"
    else:
        name = rest.strip(_EDGE_PUNCT)
        if name and _COMPOUND_SUFFIX.search(name) and not _HAS_DIGIT.search(name):
            compound = name  # just the compound, no house given
    out.update(compound=compound, building=building, unit=unit, room=room)
    if compound is not None or building is not None:
        out["house_key"] = "|".join(p or "" for p in (compound, building, unit, room))
    return tuple(out.values())


# ---------------------------------------------------------------- one parse per shape

# The common shape, seen from the end: text with no ASCII digit, then 3号楼2单元501室 /
# 3栋2-501 with short numbers. Its parts come from what precedes the numbers alone:
# `_strip_tail` returns such text as it is (it ends in 室 or a short number after 单元 or
# "-"), the admin units and the community are Han words that never reach a digit and
# only look at whether a digit follows, and `_FAST_HOUSE` takes any number starting 1-9.
# So the text with each number written as 1 (its *shape*) parses to the same community
# and compound whenever the shape takes the fast path: one parse per shape, not per house.
_SHAPED = (r"^(?P<head>[^0-9]*)(?P<b>[1-9][0-9]{0,3})(?P<bs>号楼|栋|幢)(?P<u>[1-9][0-9]{0,3})(?P<us>单元|-)"
           r"(?P<r>[1-9][0-9]{0,4})(?P<rs>室?)$")


@functools.lru_cache(maxsize=1 << 16)
def _shape_parts(shape: str) -> tuple[str | None, str] | None:
    """(community, compound) of a shape that takes the fast path, else None (a shape is never
    blank, nor longer than its address)."""
    community, rest = _prefix(shape)
    fast = _FAST_HOUSE.match(rest)
    return (community, fast.group("compound")) if fast else None


def _parse_by_shape(texts: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The parts (`COLUMNS`) of the texts whose shape takes the fast path, parsed once per
    shape; and the texts left for `_parse_capped`."""
    found = texts.rename("_text").to_frame().with_columns(
        pl.col("_text").str.extract_groups(_SHAPED).alias("_m")).unnest("_m")
    shaped = found.filter(pl.col("head").is_not_null() & (pl.col("_text").str.len_chars() <= MAX_ADDRESS_CHARS))
    shaped = shaped.with_columns(
        pl.concat_str("head", pl.lit("1"), "bs", pl.lit("1"), "us", pl.lit("1"), "rs").alias("_shape"))
    shapes = shaped["_shape"].unique()
    parts = [_shape_parts(v) or (None, None) for v in shapes.to_list()]
    lookup = pl.DataFrame(parts, schema={"community": pl.String, "compound": pl.String}, orient="row").with_columns(
        shapes)
    # the fast path's compound is never empty: a shape without one did not take it
    done = shaped.join(lookup, on="_shape", how="left").filter(pl.col("compound").is_not_null()).select(
        pl.col("_text"), pl.col("_text").alias("address"), "community", "compound",
        pl.col("b").alias("building"), pl.col("u").alias("unit"), pl.col("r").alias("room"),
        pl.concat_str("compound", "b", "u", "r", separator="|").alias("house_key"))
    return done, texts.filter(~texts.is_in(done["_text"].implode()))


def parse_addresses(raw: pl.Series) -> pl.DataFrame:
    """Row-aligned columns address, community, compound, building, unit, room,
    house_key (all String). Distinct raw values are normalised in polars; the parser
    runs once per distinct normalised text; the parts are joined back. A value longer
    than `MAX_ADDRESS_CHARS` is its own address, as delivered, with no parts (and is
    never hashed, normalised or joined on: a long string costs seconds in each)."""
    text = raw.cast(pl.String)
    fits = (text.str.len_chars() <= MAX_ADDRESS_CHARS).fill_null(True)
    frame = pl.DataFrame({"_raw": text.zip_with(fits, pl.Series([None], dtype=pl.String)), "_fits": fits})
    keys = frame.select("_raw").unique().drop_nulls().with_columns(_text=normalize_address_expr(pl.col("_raw")))
    by_shape, rest = _parse_by_shape(keys["_text"].unique())
    rows = [_parse_capped(v) for v in rest.to_list()]
    parsed = pl.concat([
        by_shape,
        pl.DataFrame(rows, schema={c: pl.String for c in COLUMNS}, orient="row").with_columns(rest.alias("_text")),
    ], how="diagonal")
    lookup = keys.join(parsed, on="_text", how="left").drop("_text")
    out = frame.join(lookup, on="_raw", how="left", maintain_order="left")
    return out.with_columns(address=pl.when(pl.col("_fits")).then(pl.col("address")).otherwise(text)).select(COLUMNS)
