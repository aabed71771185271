"""Shared constants and small helpers of the sample-data generator.

Everything here is deterministic: randomness always comes from a ``random.Random``
passed in by the caller (seeded from the generator's seed), never from the clock.
"""
from __future__ import annotations

import random
from datetime import date, datetime

REF = date(2026, 11, 1)  # reference date: ages, "last 12 months", delivery dates
REF_ORD = REF.toordinal()
CREATED = datetime(2026, 11, 1, 9, 0, 0)  # fixed xlsx document property
EXCEL_EPOCH_ORD = date(1899, 12, 30).toordinal()
PERIOD = "2026-11"

PROVINCE, CITY, DISTRICT = "内蒙古自治区", "鄂尔多斯市", "东胜区"
DISTRICT_CODE = "150602"
PREFIX_DISTRICT = PROVINCE + CITY + DISTRICT

# ---------------------------------------------------------------- identifiers
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_C = "10X98765432"


def id_check(id17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2)."""
    return _C[sum(int(c) * w for c, w in zip(id17, _W)) % 11]


def id_valid(idn: str) -> bool:
    return len(idn) == 18 and idn[:17].isdigit() and id_check(idn[:17]) == idn[17]


FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_W = (3, 7, 9, 10, 5, 8, 4, 2)


def org_check(code8: str) -> str:
    """GB 11714 organisation-code check character."""
    def v(c: str) -> int:
        return int(c) if c.isdigit() else ord(c) - 55
    c = 11 - sum(v(ch) * w for ch, w in zip(code8, _ORG_W)) % 11
    return "X" if c == 10 else ("0" if c == 11 else str(c))


def make_uscc(rng: random.Random, kind_prefix: str, region: str = DISTRICT_CODE) -> str:
    from stdnum.cn import uscc

    body8 = "MA0" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(5))
    org = body8 + org_check(body8)
    first17 = kind_prefix + region + org
    code = first17 + uscc.calc_check_digit(first17)
    uscc.validate(code)
    return code


# ---------------------------------------------------------------- dates
def age_at(b: date, at: date = REF) -> int:
    return at.year - b.year - ((at.month, at.day) < (b.month, b.day))


def birth_for_age(rng: random.Random, age: float) -> date:
    end = REF_ORD - int(age * 365.2425)
    return date.fromordinal(end - rng.randrange(365))


def iso(d: date | None) -> str:
    return "" if d is None else f"{d.year:04d}-{d.month:02d}-{d.day:02d}"


def fmt_date(d: date, style: str) -> str:
    y, m, dd = d.year, d.month, d.day
    if style == "iso":
        return f"{y:04d}-{m:02d}-{dd:02d}"
    if style == "slash":
        return f"{y}/{m}/{dd}"
    if style == "dot":
        return f"{y}.{m}.{dd}"
    if style == "compact":
        return f"{y:04d}{m:02d}{dd:02d}"
    if style == "cn":
        return f"{y}年{m}月{dd}日"
    raise ValueError(style)


def excel_serial(d: date) -> int:
    return d.toordinal() - EXCEL_EPOCH_ORD


# ---------------------------------------------------------------- Chinese numerals
_CN = "〇一二三四五六七八九"


def cn_int(n: int) -> str:
    """Small integers the way addresses write them: 3→三, 12→十二, 20→二十."""
    if n < 10:
        return _CN[n]
    if n < 20:
        return "十" + (_CN[n % 10] if n % 10 else "")
    if n < 100:
        return _CN[n // 10] + "十" + (_CN[n % 10] if n % 10 else "")
    return "".join(_CN[int(c)] for c in str(n))


def cn_digits(s: str) -> str:
    """Digit by digit: 501 → 五〇一."""
    return "".join(_CN[int(c)] if c.isdigit() else c for c in s)


def grid_name(i: int) -> str:
    return f"第{cn_int(i)}网格"


# ---------------------------------------------------------------- xlsx cell types
class XNum:
    """A numeric cell (xlsx number; in CSV its plain text)."""
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def text(self) -> str:
        v = self.v
        if isinstance(v, float) and not v.is_integer():
            return f"{v:.2f}"
        return str(int(v))


class XMoney(XNum):
    """A money cell: xlsx number with a 0.00 format; in CSV "860.00"."""
    __slots__ = ()

    def text(self) -> str:
        return f"{self.v:.2f}"


class XDate:
    """A real Excel date cell (number with a date format)."""
    __slots__ = ("d",)

    def __init__(self, d: date):
        self.d = d

    def text(self) -> str:
        return iso(self.d)


class XDateTime:
    """A real Excel date-time cell (a date with a time of day)."""
    __slots__ = ("dt",)

    def __init__(self, dt: datetime):
        self.dt = dt

    def text(self) -> str:
        return f"{self.dt:%Y-%m-%d %H:%M:%S}"


def cell_text(v) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    return v.text()


# ---------------------------------------------------------------- names
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂柴焦向柳邢岳齐沿梅莫庄辛管祝左涂谷祁时舒耿牟卜路詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵解强柴华车冉房边"
)
_SURNAME_W = [max(1.0, 30.0 - i * 0.35) for i in range(len(SURNAMES))]
MALE_GIVEN = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳亮成建志国峰东海文博昊睿轩泽晨子一鸣振兴德福荣利春生永庆宏彬瑞晓"
FEMALE_GIVEN = "芳娜敏静丽艳娟霞秀英玲桂燕萍红梅琳雪婷慧颖莉倩洁欣怡佳悦萱涵琪雨诗梓晴蕾薇丹月凤兰云霞春玉淑珍华萌璐瑶"
MONGOL_MALE = ("巴特尔", "额尔敦", "阿拉坦", "朝鲁", "那仁", "宝音", "苏和", "巴图", "孟和", "毕力格",
               "乌力吉", "图门", "达来", "哈斯", "布和", "吉日格勒", "特木尔", "那顺", "桑布", "格日勒图")
MONGOL_FEMALE = ("其其格", "乌兰", "苏日娜", "斯琴", "图雅", "娜仁", "萨仁", "乌云", "高娃", "格日勒",
                 "塔娜", "阿如娜", "琪琪格", "包尔玛", "额尔登其其格", "乌日娜", "诺敏", "托娅", "萨日娜", "斯日古楞")

# character -> a homophone (same toneless pinyin), used for name typos
HOMOPHONE = {
    "张": "章", "章": "张", "王": "汪", "汪": "王", "李": "黎", "黎": "李", "刘": "柳", "柳": "刘",
    "陈": "晨", "杨": "阳", "阳": "杨", "黄": "皇", "吴": "武", "武": "吴", "周": "州", "徐": "许",
    "许": "徐", "马": "玛", "朱": "诸", "胡": "湖", "郭": "国", "何": "和", "高": "郜", "林": "琳",
    "罗": "洛", "郑": "正", "梁": "良", "宋": "送", "唐": "汤", "汤": "唐", "韩": "寒", "冯": "逢",
    "曹": "槽", "彭": "朋", "田": "甜", "董": "懂", "潘": "攀", "于": "余", "余": "于", "蒋": "江",
    "程": "成", "成": "程", "苏": "酥", "丁": "钉", "姚": "瑶", "卢": "芦", "芦": "卢", "钟": "忠",
    "伟": "玮", "强": "墙", "磊": "蕾", "军": "君", "勇": "永", "杰": "洁", "涛": "滔", "明": "鸣",
    "超": "潮", "刚": "钢", "平": "萍", "辉": "晖", "鹏": "朋", "华": "桦", "飞": "菲", "波": "播",
    "斌": "彬", "宇": "雨", "浩": "皓", "凯": "楷", "健": "建", "俊": "峻", "宁": "凝", "龙": "隆",
    "芳": "方", "娜": "那", "敏": "民", "静": "晶", "丽": "莉", "艳": "燕", "娟": "鹃", "霞": "侠",
    "秀": "绣", "英": "莹", "玲": "铃", "燕": "艳", "红": "虹", "梅": "玫", "雪": "血", "婷": "亭",
    "慧": "惠", "颖": "影", "倩": "茜", "欣": "新", "怡": "宜", "佳": "家", "悦": "月", "琪": "琦",
    "晴": "情", "丹": "单", "兰": "蓝", "云": "芸", "玉": "钰", "珍": "贞", "瑞": "锐", "晓": "小",
    "东": "冬", "海": "亥", "文": "雯", "博": "搏", "昊": "浩", "睿": "锐", "泽": "择", "晨": "辰",
    "鑫": "欣", "旭": "序", "峰": "锋", "国": "果", "志": "智", "建": "健", "春": "椿", "生": "声",
    "乌": "屋", "巴": "八", "特": "忒", "尔": "耳", "其": "奇", "格": "阁",
}


def pick_surname(rng: random.Random) -> str:
    return rng.choices(SURNAMES, weights=_SURNAME_W)[0]


def pick_given(rng: random.Random, male: bool, old: bool) -> str:
    pool = MALE_GIVEN if male else FEMALE_GIVEN
    if old and rng.random() < 0.45 or rng.random() < 0.15:
        return rng.choice(pool)
    a = rng.choice(pool)
    b = rng.choice(pool)
    while b == a:
        b = rng.choice(pool)
    return a + b


def mobile(rng: random.Random) -> str:
    pre = rng.choice(("138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "182",
                      "187", "188", "130", "131", "132", "155", "156", "185", "186", "133", "153",
                      "180", "189", "177", "173", "199", "147", "166"))
    return pre + f"{rng.randrange(100_000_000):08d}"


def landline(rng: random.Random, area_code: str = "0477") -> str:
    return area_code + "-" + rng.choice(("85", "83", "86", "82", "84")) + f"{rng.randrange(100000):05d}"
