"""Rendering the world into the 24 delivered files, with the defects of real deliveries.

Every defect drawn is recorded in the truth (``_truth/defects.csv``); every role a row
carries in ``_truth/records.csv``; every row that cannot identify anyone in
``_truth/quarantine.csv``.
"""
from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from .common import (
    FEMALE_GIVEN, FULLWIDTH, HOMOPHONE, MALE_GIVEN, PERIOD, REF, XDate, XMoney, XNum, age_at, cn_digits,
    cn_int, excel_serial, fmt_date, iso, mobile,
)
from .writer import FeedFile, Row, Truth

# ---------------------------------------------------------------------------
# The contract (contract/feeds.yaml): file kinds and their headers, in order.
CONTRACT = {
    "registry_persons": ["公民身份号码", "姓名", "性别", "民族", "出生日期", "户号", "与户主关系", "户籍地址", "居住地址",
                         "人员类别", "人员状态", "联系电话"],
    "registry_addresses": ["地址编码", "社区", "网格", "小区", "楼栋", "单元", "室号", "标准地址", "房屋用途"],
    "registry_places": ["场所编码", "场所名称", "统一社会信用代码", "场所类型", "地址编码", "场所地址", "负责人",
                        "负责人身份证号", "联系电话"],
    "community_residents": ["网格", "姓名", "身份证号", "性别", "民族", "出生日期", "联系电话", "现住址", "人员类型",
                            "工作单位", "标签", "备注"],
    "dibao": ["低保证号", "户主姓名", "户主身份证号", "成员姓名", "成员身份证号", "与户主关系", "性别", "家庭住址",
              "联系电话", "保障人数", "月保障金（元）", "保障类别", "批准日期", "状态"],
    "tekun": ["供养证号", "姓名", "身份证号", "性别", "出生日期", "供养方式", "家庭住址", "联系电话", "月供养金（元）",
              "开始日期"],
    "gaoling": ["姓名", "身份证号", "性别", "出生日期", "年龄", "住址", "联系电话", "补贴标准（元/月）", "发放状态"],
    "binzang": ["死亡证明编号", "姓名", "身份证号", "性别", "死亡日期", "火化日期", "户籍地址"],
    "yibao": ["个人编号", "姓名", "身份证号", "性别", "出生日期", "参保类别", "参保状态", "缴费年度", "联系电话", "居住地址"],
    "jiuzhu": ["救助编号", "姓名", "身份证号", "救助类别", "救助金额（元）", "救助日期", "联系地址"],
    "chusheng": ["出生医学证明编号", "新生儿姓名", "性别", "出生日期", "出生体重（克）", "母亲姓名", "母亲身份证号",
                 "父亲姓名", "父亲身份证号", "家庭住址"],
    "manbing": ["档案编号", "姓名", "身份证号", "性别", "出生日期", "疾病类型", "管理等级", "责任医生", "现住址", "联系电话"],
    "qianyue": ["签约编号", "姓名", "身份证号", "签约团队", "签约日期", "服务包", "重点人群类别", "联系电话", "住址"],
    "ertong": ["儿童姓名", "性别", "出生日期", "儿童身份证号", "监护人姓名", "监护人电话", "现住址", "托育机构",
               "末次体检日期"],
    "shichang": ["统一社会信用代码", "主体名称", "主体类型", "法定代表人", "法定代表人身份证号", "经营场所", "经营范围",
                 "成立日期", "登记状态"],
    "yanglao": ["社会保障号码", "姓名", "性别", "出生日期", "险种", "月待遇（元）", "待遇开始年月", "领取状态"],
    "jiuye": ["姓名", "身份证号", "性别", "登记类型", "就业单位", "登记日期", "就业困难人员", "联系电话", "居住地址"],
    "fangwu": ["房屋编号", "坐落", "产权人", "产权人证件号", "建筑面积（㎡）", "房屋用途", "是否出租", "承租人姓名",
               "承租人证件号"],
    "gongzufang": ["合同编号", "承租人姓名", "承租人身份证号", "家庭人口数", "房源地址", "月租金（元）", "起租日期", "到期日期"],
    "canji": ["残疾人证号", "姓名", "身份证号", "性别", "残疾类别", "残疾等级", "住址", "联系电话", "两项补贴"],
    "tuiyi": ["姓名", "身份证号", "性别", "出生日期", "人员类别", "入伍时间", "退役时间", "优抚金（元/月）", "现住址", "联系电话"],
    "xueji": ["学籍号", "姓名", "身份证号", "性别", "出生日期", "学校", "年级", "家庭住址", "监护人姓名", "监护人电话"],
    "shijian": ["事件编号", "上报时间", "事件来源", "事件大类", "事件小类", "事件描述", "事发地址", "当事人",
                "当事人身份证号", "联系电话", "所属网格", "处置部门", "办理状态", "办理时限（天）", "办结时间", "满意度"],
    "zoufang": ["走访编号", "走访日期", "网格", "网格员", "走访地址", "被访人姓名", "被访人身份证号", "走访类型",
                "发现问题", "是否转为事件", "关联事件编号"],
}

# Header variants each department uses (canonical → as written, defect code).
HEADER_VARIANTS = {
    "dibao": {"成员身份证号": ("成员身份证号码", "header_alias"), "联系电话": ("联系方式", "header_alias"),
              "月保障金（元）": ("月保障金(元)", "header_halfwidth_brackets")},
    "gaoling": {"姓名": ("姓  名", "header_spaces"), "身份证号": ("身份证号码", "header_alias"),
                "补贴标准（元/月）": ("补贴标准(元/月)", "header_halfwidth_brackets")},
    "tekun": {"姓名": ("姓名 ", "header_spaces"), "月供养金（元）": ("月供养金 (元)", "header_halfwidth_brackets")},
    "canji": {"联系电话": ("联系方式", "header_alias"), "身份证号": (" 身份证号码 ", "header_alias")},
    "community_residents": {"身份证号": ("身份证号码", "header_alias"), "现住址": ("现住址 ", "header_spaces")},
    "tuiyi": {"优抚金（元/月）": ("优抚金(元/月)", "header_halfwidth_brackets")},
    "jiuzhu": {"救助金额（元）": ("救助金额(元)", "header_halfwidth_brackets")},
    "manbing": {"联系电话": ("联系方式", "header_alias"), "出生日期": (" 出生日期", "header_spaces")},
    "yibao": {"身份证号": ("身份证号码", "header_alias")},
    "gongzufang": {"月租金（元）": ("月租金（元） ", "header_spaces")},
    "fangwu": {"建筑面积（㎡）": ("建筑面积(㎡)", "header_halfwidth_brackets")},
    "chusheng": {"出生体重（克）": ("出生体重(克)", "header_halfwidth_brackets")},
    "shijian": {"办理时限（天）": ("办理时限(天)", "header_halfwidth_brackets")},
    "zoufang": {"被访人姓名": ("被访人", "header_alias")},
}

SHORT_TITLE = {
    "dibao": "低保对象花名册", "tekun": "特困供养人员花名册", "gaoling": "高龄津贴发放名册",
    "jiuzhu": "医疗救助对象名单", "manbing": "慢性病患者健康管理档案", "qianyue": "家庭医生签约服务名单",
    "ertong": "0-6岁儿童健康管理名册", "jiuye": "就业失业登记台账", "gongzufang": "公共租赁住房承租家庭名单",
    "canji": "持证残疾人花名册", "tuiyi": "退役军人及其他优抚对象信息", "community_residents": "社区居民花名册",
    "shijian": "网格事件（诉求）办理台账", "zoufang": "网格员入户走访记录",
}
UNIT = {"dibao": "民政所", "tekun": "民政所", "gaoling": "民政所", "jiuzhu": "医疗保障服务站",
        "manbing": "社区卫生服务站", "qianyue": "社区卫生服务站", "ertong": "社区卫生服务站", "jiuye": "劳动保障所",
        "gongzufang": "住房保障办", "canji": "残联", "tuiyi": "退役军人服务站", "community_residents": "社区居委会",
        "shijian": "网格化服务管理中心", "zoufang": "社区网格服务站"}

# xlsx layouts: title rows, blank rows inside the data, closing rows, date style
LAYOUT = {
    "dibao": dict(titles=2, blank_rate=0.02, closing=("sum", "signer"), dates="excel_date"),
    "tekun": dict(titles=1, blank_rate=0.0, closing=("sum",), dates="iso"),
    "gaoling": dict(titles=2, blank_rate=0.01, closing=("signer",), dates="slash"),
    "jiuzhu": dict(titles=0, blank_rate=0.0, closing=(), dates="excel_serial"),
    "manbing": dict(titles=1, blank_rate=0.01, closing=("sum", "signer"), dates="cn"),
    "qianyue": dict(titles=0, blank_rate=0.004, closing=(), dates="excel_date"),
    "ertong": dict(titles=1, blank_rate=0.0, closing=("sum",), dates="dot"),
    "jiuye": dict(titles=2, blank_rate=0.0, closing=("sum", "signer"), dates="compact"),
    "gongzufang": dict(titles=1, blank_rate=0.03, closing=("signer",), dates="excel_date"),
    "canji": dict(titles=2, blank_rate=0.01, closing=("sum", "signer"), dates="iso"),
    "tuiyi": dict(titles=1, blank_rate=0.0, closing=(), dates="excel_date"),
    "community_residents": dict(titles=1, blank_rate=0.004, closing=("sum",), dates="iso"),
    "shijian": dict(titles=2, blank_rate=0.01, closing=("sum", "signer"), dates="iso", unit="件"),
    "zoufang": dict(titles=1, blank_rate=0.0, closing=("sum",), dates="excel_date", unit="次"),
}
CSV_LAYOUT = {  # encoding, line end, date style
    "registry_persons": ("utf-8", "\n", "iso"), "registry_addresses": ("utf-8", "\n", "iso"),
    "registry_places": ("utf-8", "\n", "iso"), "binzang": ("gb18030", "\r\n", "slash"),
    "yibao": ("utf-8-sig", "\r\n", "compact"), "chusheng": ("utf-8", "\n", "iso"),
    "shichang": ("utf-8", "\n", "cn"), "yanglao": ("utf-8", "\n", "iso"), "fangwu": ("utf-8", "\n", "iso"),
    "xueji": ("utf-8", "\n", "iso"),
}
# An independent area (--styles all): other encodings, GB18030 files whose header starts
# with characters whose GB18030 bytes are also valid UTF-8 pairs (学 D1 A7, 统 CD B3).
CSV_LAYOUT_INDEPENDENT = {
    "registry_persons": ("utf-8", "\n", "iso"), "registry_addresses": ("utf-8-sig", "\r\n", "iso"),
    "registry_places": ("utf-8", "\n", "iso"), "binzang": ("gb18030", "\r\n", "slash"),
    "yibao": ("utf-8", "\r\n", "compact"), "chusheng": ("utf-8-sig", "\n", "iso"),
    "shichang": ("gb18030", "\r\n", "cn"), "yanglao": ("utf-8", "\n", "dot"), "fangwu": ("utf-8-sig", "\r\n", "iso"),
    "xueji": ("gb18030", "\r\n", "iso"),
}
# feeds delivered one file per community in an independent area
PARTED_FEEDS = ("community_residents", "manbing")
# remarks written after an address
HOUSE_REMARKS = ("（租户）", "(租户)", "西户", "东户", "北户", "电联", "主卧", "（出租）", " 电联", "（自住）")
SHOP_REMARKS = ("（门面）", "底商", "一楼", "(临街)")

# which feeds get rows that cannot identify anyone (quarantine): columns cleared, reason
QUARANTINE = {
    "dibao": (("低保证号",), "no_key"),
    "manbing": (("姓名", "身份证号"), "no_name_no_id"),
    "qianyue": (("姓名", "身份证号"), "no_name_no_id"),
    "jiuye": (("姓名", "身份证号"), "no_name_no_id"),
    "zoufang": (("走访地址",), "no_address"),
    "yibao": (("姓名", "身份证号"), "no_name_no_id"),
    "community_residents": (("姓名", "身份证号"), "no_name_no_id"),
}
# feeds whose ID column is the record key: never drop the ID there
ID_KEY_FEEDS = {"gaoling", "yanglao", "tuiyi"}

DATED = {f for f, cols in CONTRACT.items() if any(c.endswith("日期") for c in cols)} | {"shijian"}
FEED_ORDER = ("registry_persons", "registry_addresses", "registry_places", "community_residents",
              "dibao", "tekun", "gaoling", "binzang", "yibao", "jiuzhu", "chusheng", "manbing", "qianyue",
              "ertong", "shichang", "yanglao", "jiuye", "fangwu", "gongzufang", "canji", "tuiyi", "xueji",
              "shijian", "zoufang")  # the grid feeds last, from their own streams (grid.py)


def file_name(feed: str, part: str = "") -> str:
    """The delivered file's name; ``part``: the community that sent this part of the feed."""
    if part:
        ext = "xlsx" if feed in LAYOUT else "csv"
        return f"{feed}_{part}_{PERIOD}.{ext}"
    if feed == "community_residents":
        return "community_residents_2026.xlsx"
    ext = "xlsx" if feed in LAYOUT else "csv"
    return f"{feed}_{PERIOD}.{ext}"


def part_name(feed: str, ci: int, community: str) -> str:
    """How a community names its part: in Chinese (康城社区) or in pinyin (kangcheng)."""
    if feed == "community_residents" and ci % 2 == 0:
        from pypinyin import lazy_pinyin
        return "".join(lazy_pinyin(community.removesuffix("社区")))
    return community


DATE_CODES = {"slash": "date_format_slash", "dot": "date_format_dot", "compact": "date_format_compact",
              "cn": "date_format_cn", "excel_date": "excel_date", "excel_serial": "excel_serial", "iso": None}


class Ctx:
    """Per-file renderer: turns true values into delivered cell values, drawing defects."""

    def __init__(self, world, feed: str, rng: random.Random, xlsx: bool, date_style: str, defects: bool = True):
        self.w, self.P, self.H = world, world.persons, world.houses
        self.feed, self.rng, self.xlsx, self.style = feed, rng, xlsx, date_style
        self.on = defects
        self.alt_styles = (("iso", "slash", "dot", "compact", "cn", "excel_date", "excel_serial") if xlsx
                           else ("iso", "slash", "dot", "compact", "cn"))
        self.reg_people = world.reg_id_people
        self.id_missing_ok = feed not in ID_KEY_FEEDS
        self.independent = bool(world.area is not None and world.area.independent)
        self.boost = 1.5 if self.independent else 1.0   # every defect turned up

    # ---------------------------------------------------------------- IDs
    def idv(self, row: Row, hdr: str, p, heavy: float = 1.0):
        """Returns (value, clean). clean = the true 18-char ID was written unchanged."""
        idn = p.idn
        if not idn:
            return "", False
        if not self.on:
            return idn, True
        rng = self.rng
        r = rng.random() / heavy
        if self.independent:
            r /= self.boost
        if r >= 0.085:
            if idn[-1] == "X" and rng.random() < 0.3:
                row.defects.append((hdr, "lowercase_x"))
                return idn[:17] + "x", False
            return idn, True
        if r < 0.012:
            if self.id_missing_ok:
                row.defects.append((hdr, "missing_id"))
                return "", False
            return idn, True
        if r < 0.04:
            if self.xlsx:
                row.defects.append((hdr, "excel_number_id"))
                return XNum(float(int(idn[:15]) * 1000)), False
            return idn, True
        if r < 0.05:
            if idn[6:8] == "19":
                row.defects.append((hdr, "id15"))
                return idn[:6] + idn[8:17], False
            return idn, True
        if r < 0.058:
            row.defects.append((hdr, "fullwidth_digits"))
            return idn.translate(FULLWIDTH), False
        if r < 0.066:
            row.defects.append((hdr, "id_spaces"))
            return (f"{idn[:6]} {idn[6:14]} {idn[14:]}" if rng.random() < 0.6 else f"{idn[:9]} {idn[9:]}"), False
        if r < 0.076:
            row.defects.append((hdr, "bad_checksum"))
            good = idn[17]
            bad = rng.choice([c for c in "0123456789X" if c != good])
            return idn[:17] + bad, False
        # someone else's ID: a household member's (the usual mix-up) or any registry person
        hh = self.w.households[p.hh]
        others = [self.P[m] for m in hh.members if m != p.i and self.P[m].idn and self.P[m].in_reg]
        o = rng.choice(others) if others else self.reg_people[rng.randrange(len(self.reg_people))]
        if o.i == p.i:
            return idn, True
        row.defects.append((hdr, "other_persons_id"))
        return o.idn, False

    # ---------------------------------------------------------------- names
    def namev(self, row: Row, hdr: str, p, id_clean: bool = False, can_blank: bool = True) -> str:
        name = p.name
        if not self.on:
            return name
        rng = self.rng
        r = rng.random()
        if self.independent:
            r /= self.boost
        if r >= 0.036:
            return name
        if r < 0.008:
            js = [j for j, ch in enumerate(name) if ch in HOMOPHONE]
            if js:
                j = rng.choice(js)
                row.defects.append((hdr, "homophone"))
                return name[:j] + HOMOPHONE[name[j]] + name[j + 1:]
            r = 0.01
        if r < 0.016:
            j = rng.randrange(1, len(name))
            pool = MALE_GIVEN if p.sex == "男" else FEMALE_GIVEN
            c = rng.choice(pool)
            while c == name[j] or HOMOPHONE.get(name[j]) == c:
                c = rng.choice(pool)
            row.defects.append((hdr, "name_typo"))
            return name[:j] + c + name[j + 1:]
        if r < 0.03:
            row.defects.append((hdr, "name_spaces"))
            k = rng.randrange(3)
            if k == 0:
                return name[0] + " " + name[1:]
            if k == 1:
                return " " + name + " "
            return name[0] + "\u3000" + name[1:]
        if id_clean and can_blank:
            row.defects.append((hdr, "empty_name"))
            return ""
        return name

    # ---------------------------------------------------------------- dates
    def _render(self, d: date, style: str):
        if style == "excel_date":
            return XDate(d)
        if style == "excel_serial":
            return XNum(excel_serial(d))
        return fmt_date(d, style)

    def datev(self, row: Row, hdr: str, d: date | None, kind: str = "opt"):
        """kind: 'birth' (may be swapped or impossible), 'opt' (may be impossible), 'req' (always valid)."""
        if d is None:
            return ""
        style = self.style
        if self.on:
            rng = self.rng
            r = rng.random()
            if r < 0.012 and kind == "birth" and d.day <= 12 and d.day != d.month:
                row.defects.append((hdr, "swapped_day_month"))
                sd = date(d.year, d.day, d.month)
                if style in ("excel_date", "excel_serial"):
                    return self._render(sd, style)
                return fmt_date(sd, style)
            if 0.012 <= r < 0.017 and kind != "req":
                row.defects.append((hdr, "impossible_date"))
                day = 30 if d.month == 2 else 31
                m = d.month if d.month in (2, 4, 6, 9, 11) else 2
                s = "iso" if style in ("excel_date", "excel_serial") else style
                y = d.year
                return {"iso": f"{y}-{m:02d}-{day}", "slash": f"{y}/{m}/{day}", "dot": f"{y}.{m}.{day}",
                        "compact": f"{y}{m:02d}{day}", "cn": f"{y}年{m}月{day}日"}[s]
            if r > 0.96:
                style = rng.choice(self.alt_styles)
        if style != self.style:          # the file's own style is in files.csv (date_style)
            code = DATE_CODES[style]
            if code:
                row.defects.append((hdr, code))
        return self._render(d, style)

    def ymv(self, row: Row, hdr: str, d: date | None, base: str = "dash"):
        if d is None:
            return ""
        style = base
        if self.on and self.rng.random() < 0.08:
            style = "compact" if base == "dash" else "dash"
        if style == "compact":
            row.defects.append((hdr, "yearmonth_compact"))
            return f"{d.year}{d.month:02d}"
        return f"{d.year}-{d.month:02d}"

    # ---------------------------------------------------------------- phones
    def phonev(self, row: Row, hdr: str, p) -> str:
        ph = p.phone if p is not None else ""
        if not self.on:
            return ph
        rng = self.rng
        if not ph:
            if rng.random() < 0.25:
                row.defects.append((hdr, "phone_none"))
                return "无"
            return ""
        r = rng.random()
        if r < 0.02:
            row.defects.append((hdr, "phone_none"))
            return "无"
        if r < 0.055:
            row.defects.append((hdr, "multi_phone"))
            return ph + rng.choice(("、", "/", ",", "，")) + mobile(rng)
        return ph

    # ---------------------------------------------------------------- addresses
    def addrv(self, row: Row, hdr: str, hi, full_bias: float = 0.3) -> str:
        if hi is None:
            return ""
        h = self.H[hi]
        if h.external:
            return h.std
        if self.independent:
            return self._address_any_style(row, hdr, h)
        rng = self.rng
        r = rng.random() if self.on else 0.0
        if r < full_bias:
            return h.std
        if h.road:
            if r < 0.75:
                return self._tail(h, "std")
            if r < 0.88:
                row.defects.append((hdr, "address_partial_prefix"))
                return "东胜区" + self._tail(h, "std")
            row.defects.append((hdr, "address_cn_numerals"))
            return f"{h.road}{cn_int(h.roadno)}号"
        if r < 0.55:
            return self._tail(h, "short")
        if r < 0.80:
            return self._tail(h, "std")
        if r < 0.87:
            row.defects.append((hdr, "address_dash"))
            return self._tail(h, "dash")
        if r < 0.93:
            row.defects.append((hdr, "address_cn_numerals"))
            return self._tail(h, "cn")
        row.defects.append((hdr, "address_partial_prefix"))
        k = rng.randrange(3)
        tail = self._tail(h, "short" if rng.random() < 0.5 else "std")
        if k == 0:
            return f"东胜区{h.street}{tail}"
        if k == 1:
            return f"{h.community}{tail}"
        return f"鄂尔多斯市东胜区{h.street}{h.community}{tail}"

    def _address_any_style(self, row: Row, hdr: str, h) -> str:
        """An independent area: the house written in any of the ways departments write it.
        Every way picks out the one house (a short name only where it is unique in the
        area); the ways other than the standard address are listed in defects.csv."""
        if not self.on:
            return h.std
        rng = self.rng
        if rng.random() < 0.2:
            return h.std
        codes: list = []
        if h.road:                                   # a street-front house: road and number
            k = rng.random()
            no = (cn_int(h.roadno) if k < 0.12 else str(h.roadno).translate(FULLWIDTH) if k < 0.2
                  else str(h.roadno))
            if k < 0.12:
                codes.append("address_cn_numerals")
            elif k < 0.2:
                codes.append("address_fullwidth_digits")
            tail = f"{h.road}{no}号"
            if rng.random() < 0.08:
                tail += rng.choice(SHOP_REMARKS)
                codes.append("address_remark")
        else:
            tail = self._compound_any_style(h, codes)
        text = self._prefix_any_style(h, codes) + tail
        if rng.random() < 0.06:                      # spaces between the parts
            codes.append("address_spaces")
            text = _spaced(text, rng)
        for c in codes:
            row.defects.append((hdr, c))
        return text

    def _prefix_any_style(self, h, codes: list) -> str:
        A = self.w.area
        r = self.rng.random()
        if r < 0.5:
            return ""
        if r < 0.65:
            return f"{A.prefix}{h.street}{h.community}"
        codes.append("address_partial_prefix")
        if r < 0.77:
            return A.district                        # a district prefix and no street
        if r < 0.84:
            return f"{A.district}{h.street}"
        if r < 0.89:
            return h.street
        if r < 0.95:
            return h.community
        if r < 0.97:
            return f"{A.city}{A.district}"
        return f"{A.city}{A.district}{h.street}{h.community}"

    def _compound_any_style(self, h, codes: list) -> str:
        rng = self.rng
        shorts = self.w.short_names.get(h.compound, [])
        r = rng.random()
        if r < 0.3:
            where = f"{h.door}{h.compound}"
        elif r < 0.55:
            where = h.compound
            codes.append("address_name_only")
        elif r < 0.72:
            where = h.door
            codes.append("address_doorplate_only")
        elif r < 0.88 and shorts:
            where = rng.choice(shorts)
            codes.append("address_short_name")
        elif r < 0.94 and len(h.doors) > 1:
            other = next(d for d in h.doors if d != h.door)
            where = other + (h.compound if rng.random() < 0.5 else "")
            codes.append("address_other_doorplate")
        else:
            where = h.compound
            codes.append("address_name_only")
        b, u, room = h.bno, h.uno, h.room
        r = rng.random()
        if r < 0.18:                                 # 4-3-101, 4栋3-101
            codes.append("address_dash")
            if rng.random() < 0.6:
                nums = f"{b}-{u}-{room}"
            else:
                nums = f"{b}{rng.choice(('栋', '幢', '#'))}{u}-{room}"
        elif r < 0.28:                               # 四号楼三单元一〇一室 / 四号楼三单元101
            codes.append("address_cn_numerals")
            rr = cn_digits(room) if rng.random() < 0.6 else room
            nums = f"{cn_int(b)}号楼{cn_int(u)}单元{rr}{rng.choice(('室', '', '号'))}"
        else:
            bm = rng.choices(("号楼", "栋", "幢", "座", "#", "号"), (55, 20, 8, 5, 8, 4))[0]
            rm = rng.choices(("室", "", "号", "房"), (50, 30, 10, 10))[0]
            if bm != "号楼":
                codes.append("address_building_marker")
            if rm in ("号", "房"):
                codes.append("address_room_marker")
            nums = f"{b}{bm}{u}单元{room}{rm}"
            if rng.random() < 0.12:
                codes.append("address_fullwidth_digits")
                nums = nums.translate(FULLWIDTH)
        if rng.random() < 0.1:
            codes.append("address_remark")
            nums += rng.choice(HOUSE_REMARKS)
        return where + nums

    @staticmethod
    def _tail(h, style: str) -> str:
        if h.road:
            return f"{h.road}{h.roadno}号"
        if style == "std":
            return f"{h.compound}{h.bno}号楼{h.uno}单元{h.room}室"
        if style == "short":
            return f"{h.compound}{h.bno}号楼{h.uno}单元{h.room}"
        if style == "dash":
            return f"{h.compound}{h.bno}栋{h.uno}-{h.room}"
        return f"{h.compound}{cn_int(h.bno)}号楼{cn_int(h.uno)}单元{cn_digits(h.room)}室"

    # ---------------------------------------------------------------- numbers
    def money(self, v: float):
        return XMoney(float(v)) if self.xlsx else f"{v:.2f}"

    def num(self, v: int):
        return XNum(int(v)) if self.xlsx else str(int(v))


def _spaced(text: str, rng) -> str:
    """Spaces where people put them: after the prefix or the compound, between numbers."""
    import re
    cuts = [m.end() for m in re.finditer(r"(街道|社区|小区|区|号楼|栋|单元|号(?=\D))", text) if m.end() < len(text)]
    if not cuts:
        return text
    k = rng.choice(cuts)
    return text[:k] + rng.choice((" ", "  ", "\u3000")) + text[k:]


def _closing_rows(layout, n, rng, staff_phone):
    out = []
    for k in layout.get("closing", ()):
        if k == "sum":
            out.append(f"合计：{n}{layout.get('unit', '人')}")
        else:
            out.append(f"填表人：{rng.choice(('王芳', '李娜', '张秀英', '刘伟'))}    审核人："
                       f"{rng.choice(('赵建国', '陈志强', '杨丽华'))}    联系电话：{staff_phone}")
    return out


# ---------------------------------------------------------------------------
def write_all(world, prog, out_dir: Path, seed: int) -> dict:
    truth = Truth(out_dir / "_truth")
    world.reg_id_people = [p for p in world.persons if p.in_reg and p.idn]
    counts = {}
    first = world.communities[0]
    area = f"{first[0]}{first[1]}" if len(world.communities) == 1 else f"{first[0]}等"
    independent = bool(world.area is not None and world.area.independent)
    csv_layout = CSV_LAYOUT_INDEPENDENT if independent else CSV_LAYOUT
    for feed in FEED_ORDER:
        rng = random.Random(f"{seed}:{feed}")
        cols = CONTRACT[feed]
        variants = HEADER_VARIANTS.get(feed, {})
        written = [variants.get(c, (c, None))[0] for c in cols]
        hdefects = [(c, variants[c][1]) for c in cols if c in variants]

        def open_file(fname: str, who: str, street: str) -> FeedFile:
            if feed in LAYOUT:
                lay = dict(LAYOUT[feed])
                titles = []
                if lay["titles"] >= 1:
                    titles.append(f"{who}{SHORT_TITLE[feed]}")
                if lay["titles"] >= 2:
                    titles.append(f"填报单位：{street}{UNIT[feed]}（盖章）            填报日期：2026年11月3日")
                lay["titles"] = titles
                lay["gap_before_closing"] = feed in ("dibao", "canji")
                if feed in ("dibao", "gongzufang", "qianyue"):
                    lay["date_num_format"] = "yyyy/m/d"
                lay["date_style"] = LAYOUT[feed]["dates"] if feed in DATED else ""
                return FeedFile(truth, out_dir, fname, feed, cols, written, "xlsx", layout=lay, rng=rng,
                                header_defects=hdefects)
            enc, eol, style = csv_layout[feed]
            lay = {"eol": eol, "date_style": style if feed in DATED else ""}
            return FeedFile(truth, out_dir, fname, feed, cols, written, "csv", encoding=enc, layout=lay,
                            rng=rng, header_defects=hdefects)

        if feed in LAYOUT:
            ctx = Ctx(world, feed, rng, True, LAYOUT[feed]["dates"])
        else:
            ctx = Ctx(world, feed, rng, False, csv_layout[feed][2], defects=not feed.startswith("registry"))
        parted = independent and feed in PARTED_FEEDS
        parts: dict = {}                       # community index -> its file

        def file_for(row: Row) -> FeedFile:
            ci = row.part if parted and row.part is not None else -1
            if ci not in parts:
                if ci < 0:
                    parts[ci] = open_file(file_name(feed), area, first[0])
                else:
                    street, cname = world.communities[ci][:2]
                    parts[ci] = open_file(file_name(feed, part_name(feed, ci, cname)), f"{street}{cname}", street)
            return parts[ci]

        qspec = QUARANTINE.get(feed)
        qrate = 0.004
        n_q = 0
        gen = ROWS[feed](ctx, world, prog)
        for row in gen:
            ff = file_for(row)
            if qspec and rng.random() < qrate:
                ff.add(_quarantine_copy(row, qspec))
                n_q += 1
            ff.add(row)
        if qspec and n_q == 0:
            ff.add(_quarantine_copy(row, qspec))
        for ff in parts.values():
            closing = _closing_rows(LAYOUT.get(feed, {}), ff.rows_read - ff.rows_q, rng, prog["staff_phone"]) \
                if feed in LAYOUT else None
            ff.close(closing)
            counts[ff.fname] = ff.rows_read
    truth.close()
    return counts


def _quarantine_copy(row: Row, qspec) -> Row:
    cols, why = qspec
    q = Row()
    q.part = row.part
    q.cells = dict(row.cells)
    for c in cols:
        q.cells[c] = ""
    q.quarantine = why
    return q


# ---------------------------------------------------------------------------
# one generator per file kind; each yields Row objects in file order

def _person_cols(ctx, row, p, name_h="姓名", id_h="身份证号", role="person", can_blank=True, heavy=1.0):
    idv, clean = ctx.idv(row, id_h, p, heavy)
    nm = ctx.namev(row, name_h, p, clean, can_blank)
    row.cells[id_h] = idv
    row.cells[name_h] = nm
    if idv != "" or nm:
        row.roles.append((role, "person", p.uid))
    return clean


def _residence(ctx, row, hdr, hi, role="residence"):
    v = ctx.addrv(row, hdr, hi)
    row.cells[hdr] = v
    if v:
        row.roles.append((role, "house", ctx.H[hi].uid))


def rows_registry_persons(ctx, w, prog):
    P, H, HH = w.persons, w.houses, w.households
    for p in P:
        if not p.in_reg:
            continue
        row = Row()
        reg = H[p.reg].std if p.reg is not None else ""
        res = H[p.res].std if p.res is not None else ""
        row.cells = {"公民身份号码": p.idn, "姓名": p.name, "性别": p.sex, "民族": p.eth, "出生日期": iso(p.birth),
                     "户号": HH[p.hh].no, "与户主关系": p.rel, "户籍地址": reg, "居住地址": res,
                     "人员类别": "户籍人口" if p.registered else "流动人口", "人员状态": p.reg_status,
                     "联系电话": p.phone}
        row.roles.append(("person", "person", p.uid))
        if reg:
            row.roles.append(("registered_residence", "house", H[p.reg].uid))
        if res:
            row.roles.append(("residence", "house", H[p.res].uid))
        yield row


def rows_registry_addresses(ctx, w, prog):
    for h in w.houses:
        if not h.code:
            continue
        row = Row()
        row.cells = {"地址编码": h.code, "社区": h.community, "网格": h.grid, "小区": h.compound,
                     "楼栋": f"{h.bno}号楼" if h.bno else "", "单元": f"{h.uno}单元" if h.uno else "",
                     "室号": h.room, "标准地址": h.std, "房屋用途": h.usage}
        row.roles.append(("house", "house", h.uid))
        yield row


def rows_registry_places(ctx, w, prog):
    P, H = w.persons, w.houses
    for pl in w.places:
        if not pl.code:
            continue
        row = Row()
        h = H[pl.house] if pl.house is not None else None
        rep = P[pl.rep] if pl.rep is not None else None
        code = h.code if h is not None and ctx.rng.random() < 0.9 else ""
        row.cells = {"场所编码": pl.code, "场所名称": pl.name, "统一社会信用代码": pl.uscc, "场所类型": pl.kind,
                     "地址编码": code, "场所地址": h.std if h else "", "负责人": rep.name if rep else "",
                     "负责人身份证号": rep.idn if rep else "", "联系电话": pl.phone}
        row.roles.append(("place", "place", pl.uid))
        if h is not None:
            row.roles.append(("premises", "house", h.uid))
        if rep is not None:
            row.roles.append(("legal_rep", "person", rep.uid))
        yield row


def rows_community_residents(ctx, w, prog):
    P, H = w.persons, w.houses
    for d in prog["community"]:
        p = P[d["p"]]
        row = Row()
        _person_cols(ctx, row, p)
        hi = p.res
        row.cells.update({"网格": H[hi].grid if hi is not None else (H[p.reg].grid if p.reg is not None else ""),
                          "性别": p.sex, "民族": p.eth, "出生日期": ctx.datev(row, "出生日期", p.birth, "birth"),
                          "联系电话": ctx.phonev(row, "联系电话", p), "人员类型": d["typ"], "工作单位": d["work"],
                          "标签": d["tags"], "备注": d["note"]})
        _residence(ctx, row, "现住址", hi)
        home = hi if hi is not None else p.reg
        row.part = H[home].comm_i if home is not None and H[home].comm_i >= 0 else 0
        yield row


def rows_dibao(ctx, w, prog):
    P = w.persons
    for d in prog["dibao"]:
        hh = w.households[d["hh"]]
        head = P[hh.members[0]]
        n = len(d["members"])
        for m in d["members"]:
            p = P[m]
            row = Row()
            row.cells["低保证号"] = d["cert"]
            _person_cols(ctx, row, p, "成员姓名", "成员身份证号", "member")
            hid, _ = ctx.idv(row, "户主身份证号", head, 0.5)
            hname = ctx.namev(row, "户主姓名", head, False)
            row.cells["户主身份证号"], row.cells["户主姓名"] = hid, hname
            if hid != "" or hname:
                row.roles.append(("head", "person", head.uid))
            row.cells.update({"与户主关系": p.rel, "性别": p.sex, "联系电话": ctx.phonev(row, "联系电话", head),
                              "保障人数": ctx.num(n), "月保障金（元）": ctx.money(d["amount"]),
                              "保障类别": d["cat"], "批准日期": ctx.datev(row, "批准日期", d["approved"]),
                              "状态": d["status"]})
            _residence(ctx, row, "家庭住址", hh.house)
            yield row


def rows_tekun(ctx, w, prog):
    P = w.persons
    for d in prog["tekun"]:
        p = P[d["p"]]
        row = Row()
        row.cells["供养证号"] = d["cert"]
        _person_cols(ctx, row, p)
        row.cells.update({"性别": p.sex, "出生日期": ctx.datev(row, "出生日期", p.birth, "birth"),
                          "供养方式": d["mode"], "联系电话": ctx.phonev(row, "联系电话", p),
                          "月供养金（元）": ctx.money(d["amount"]), "开始日期": ctx.datev(row, "开始日期", d["start"])})
        _residence(ctx, row, "家庭住址", p.res)
        yield row


def rows_gaoling(ctx, w, prog):
    P = w.persons
    for i, status in prog["gaoling"]:
        p = P[i]
        row = Row()
        _person_cols(ctx, row, p)
        a = age_at(p.birth)
        row.cells.update({"性别": p.sex, "出生日期": ctx.datev(row, "出生日期", p.birth, "birth"),
                          "年龄": ctx.num(REF.year - p.birth.year), "联系电话": ctx.phonev(row, "联系电话", p),
                          "补贴标准（元/月）": ctx.money(100 if a < 90 else 200 if a < 100 else 500),
                          "发放状态": status})
        _residence(ctx, row, "住址", p.res)
        yield row


def rows_binzang(ctx, w, prog):
    P = w.persons
    rng = ctx.rng
    for k, i in enumerate(prog["binzang"]):
        p = P[i]
        row = Row()
        row.cells["死亡证明编号"] = f"SW{p.death.year}{k + 1:06d}"
        _person_cols(ctx, row, p, can_blank=False)
        crem = None if (p.eth in ("回族",) or rng.random() < 0.08) else date.fromordinal(p.death.toordinal() + rng.randint(1, 4))
        row.cells.update({"性别": p.sex, "死亡日期": ctx.datev(row, "死亡日期", p.death, "req"),
                          "火化日期": ctx.datev(row, "火化日期", crem)})
        row.cells["户籍地址"] = ctx.addrv(row, "户籍地址", p.reg if p.reg is not None else p.res)
        yield row


def rows_yibao(ctx, w, prog):
    P = w.persons
    for k, (i, st, cat) in enumerate(prog["yibao"]):
        p = P[i]
        row = Row()
        row.cells["个人编号"] = f"1506{(i * 7919 + 13) % 10 ** 10:010d}"
        _person_cols(ctx, row, p)
        row.cells.update({"性别": p.sex, "出生日期": ctx.datev(row, "出生日期", p.birth, "birth"), "参保类别": cat,
                          "参保状态": st, "缴费年度": "2026", "联系电话": ctx.phonev(row, "联系电话", p)})
        _residence(ctx, row, "居住地址", p.res)
        yield row


def rows_jiuzhu(ctx, w, prog):
    P = w.persons
    for k, d in enumerate(prog["jiuzhu"]):
        p = P[d["p"]]
        row = Row()
        row.cells["救助编号"] = f"YLJZ{d['date'].year}{k + 1:05d}"
        _person_cols(ctx, row, p)
        row.cells.update({"救助类别": d["cat"], "救助金额（元）": ctx.money(d["amount"]),
                          "救助日期": ctx.datev(row, "救助日期", d["date"])})
        _residence(ctx, row, "联系地址", p.res)
        yield row


def rows_chusheng(ctx, w, prog):
    P = w.persons
    rng = ctx.rng
    for d in prog["chusheng"]:
        p = P[d["p"]]
        row = Row()
        mum = P[p.mother] if p.mother is not None else None
        dad = P[p.father] if p.father is not None else None
        r = rng.random()
        if p.idn:
            style = "name" if r < 0.7 else "placeholder" if r < 0.9 else "empty"
        else:
            style = "empty" if r < 0.5 else "placeholder" if r < 0.9 else "name"
        if style == "placeholder" and mum is None:
            style = "empty"
        if style == "name":
            nm = p.name
        elif style == "placeholder":
            nm = f"{mum.name}之{'子' if p.sex == '男' else '女'}"
            row.defects.append(("新生儿姓名", "newborn_placeholder_name"))
        else:
            nm = ""
        row.cells.update({"出生医学证明编号": d["cert"], "新生儿姓名": nm, "性别": p.sex,
                          "出生日期": ctx.datev(row, "出生日期", p.birth, "req"),
                          "出生体重（克）": str(d["weight"])})
        row.roles.append(("newborn", "person", p.uid))
        for par, nh, ih, role in ((mum, "母亲姓名", "母亲身份证号", "mother"), (dad, "父亲姓名", "父亲身份证号", "father")):
            if par is None:
                row.cells[nh] = row.cells[ih] = ""
                continue
            _person_cols(ctx, row, par, nh, ih, role, can_blank=False)
        _residence(ctx, row, "家庭住址", p.res)
        yield row


def rows_manbing(ctx, w, prog):
    P = w.persons
    for k, d in enumerate(prog["manbing"]):
        p = P[d["p"]]
        row = Row()
        row.cells["档案编号"] = f"1506020{w.houses[p.res].comm_i + 1:03d}{k + 1:07d}"
        row.part = w.houses[p.res].comm_i
        _person_cols(ctx, row, p)
        row.cells.update({"性别": p.sex, "出生日期": ctx.datev(row, "出生日期", p.birth, "birth"), "疾病类型": d["dis"],
                          "管理等级": d["level"], "责任医生": d["doctor"], "联系电话": ctx.phonev(row, "联系电话", p)})
        _residence(ctx, row, "现住址", p.res)
        yield row


def rows_qianyue(ctx, w, prog):
    P = w.persons
    for k, d in enumerate(prog["qianyue"]):
        p = P[d["p"]]
        row = Row()
        row.cells["签约编号"] = f"QY{d['date'].year}{k + 1:07d}"
        _person_cols(ctx, row, p)
        row.cells.update({"签约团队": d["team"], "签约日期": ctx.datev(row, "签约日期", d["date"]), "服务包": d["pack"],
                          "重点人群类别": d["group"], "联系电话": ctx.phonev(row, "联系电话", p)})
        _residence(ctx, row, "住址", p.res)
        yield row


def rows_ertong(ctx, w, prog):
    P = w.persons
    rng = ctx.rng
    for d in prog["ertong"]:
        p = P[d["p"]]
        g = P[d["g"]] if d["g"] is not None else None
        row = Row()
        idv = ""
        if p.idn and not (age_at(p.birth) < 1 and rng.random() < 0.4):
            idv, _ = ctx.idv(row, "儿童身份证号", p)
        row.cells.update({"儿童姓名": ctx.namev(row, "儿童姓名", p, False), "性别": p.sex,
                          "出生日期": ctx.datev(row, "出生日期", p.birth, "req"), "儿童身份证号": idv,
                          "托育机构": d["nursery"], "末次体检日期": ctx.datev(row, "末次体检日期", d["exam"])})
        row.roles.append(("child", "person", p.uid))
        gn = ctx.namev(row, "监护人姓名", g, False) if g is not None else ""
        row.cells["监护人姓名"] = gn
        row.cells["监护人电话"] = ctx.phonev(row, "监护人电话", g) if g is not None else ""
        if gn:
            row.roles.append(("guardian", "person", g.uid))
        _residence(ctx, row, "现住址", p.res)
        yield row


def rows_shichang(ctx, w, prog):
    P = w.persons
    rng = ctx.rng
    for k, i in enumerate(prog["shichang"]):
        pl = w.places[i]
        row = Row()
        code = pl.uscc
        if rng.random() < 0.02 or k == 3:
            bad = rng.choice([c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != code[-1]])
            code = code[:17] + bad
            row.defects.append(("统一社会信用代码", "bad_uscc_checksum"))
        row.cells.update({"统一社会信用代码": code, "主体名称": pl.name, "主体类型": pl.kind,
                          "经营范围": pl.scope, "成立日期": ctx.datev(row, "成立日期", pl.est),
                          "登记状态": pl.status})
        row.roles.append(("place", "place", pl.uid))
        if pl.rep is not None:
            _person_cols(ctx, row, P[pl.rep], "法定代表人", "法定代表人身份证号", "legal_rep", can_blank=False)
        _residence(ctx, row, "经营场所", pl.house, "premises")
        yield row


def rows_yanglao(ctx, w, prog):
    P = w.persons
    for d in prog["yanglao"]:
        p = P[d["p"]]
        row = Row()
        _person_cols(ctx, row, p, "姓名", "社会保障号码")
        row.cells.update({"性别": p.sex, "出生日期": ctx.datev(row, "出生日期", p.birth, "birth"), "险种": d["kind"],
                          "月待遇（元）": ctx.money(d["amount"]),
                          "待遇开始年月": ctx.ymv(row, "待遇开始年月", d["start"], "compact"), "领取状态": d["status"]})
        yield row


def rows_jiuye(ctx, w, prog):
    P = w.persons
    for d in prog["jiuye"]:
        p = P[d["p"]]
        row = Row()
        _person_cols(ctx, row, p)
        row.cells.update({"性别": p.sex, "登记类型": d["typ"], "就业单位": d["emp"],
                          "登记日期": ctx.datev(row, "登记日期", d["date"]), "就业困难人员": d["hard"],
                          "联系电话": ctx.phonev(row, "联系电话", p)})
        if d["emp_pl"] is not None and d["emp"]:
            row.roles.append(("employer", "place", w.places[d["emp_pl"]].uid))
        _residence(ctx, row, "居住地址", p.res)
        yield row


def rows_fangwu(ctx, w, prog):
    P, H = w.persons, w.houses
    for d in prog["fangwu"]:
        h = H[d["h"]]
        row = Row()
        row.cells["房屋编号"] = d["no"]
        _residence(ctx, row, "坐落", h.i, "property")
        _person_cols(ctx, row, P[d["owner"]], "产权人", "产权人证件号", "owner", can_blank=False)
        row.cells.update({"建筑面积（㎡）": f"{d['area']:.2f}", "房屋用途": h.usage, "是否出租": "是" if d["rented"] else "否"})
        if d["tenant"] is not None:
            _person_cols(ctx, row, P[d["tenant"]], "承租人姓名", "承租人证件号", "tenant", can_blank=False)
        yield row


def rows_gongzufang(ctx, w, prog):
    P = w.persons
    for k, d in enumerate(prog["gongzufang"]):
        p = P[d["p"]]
        row = Row()
        row.cells["合同编号"] = f"GZF-{d['start'].year}-{k + 1:04d}"
        _person_cols(ctx, row, p, "承租人姓名", "承租人身份证号", "tenant")
        row.cells.update({"家庭人口数": ctx.num(d["n"]), "月租金（元）": ctx.money(d["rent"]),
                          "起租日期": ctx.datev(row, "起租日期", d["start"]),
                          "到期日期": ctx.datev(row, "到期日期", d["end"])})
        _residence(ctx, row, "房源地址", w.households[d["hh"]].house)
        yield row


CANJI_CAT = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
CANJI_GRADE = ("一级", "二级", "三级", "四级")


def rows_canji(ctx, w, prog):
    P = w.persons
    for d in prog["canji"]:
        p = P[d["p"]]
        row = Row()
        row.cells["残疾人证号"] = f"{p.idn}{d['cat']}{d['grade']}"
        _person_cols(ctx, row, p)
        row.cells.update({"性别": p.sex, "残疾类别": CANJI_CAT[d["cat"] - 1], "残疾等级": CANJI_GRADE[d["grade"] - 1],
                          "联系电话": ctx.phonev(row, "联系电话", p), "两项补贴": d["sub"]})
        _residence(ctx, row, "住址", p.res)
        yield row


def rows_tuiyi(ctx, w, prog):
    P = w.persons
    for d in prog["tuiyi"]:
        p = P[d["p"]]
        row = Row()
        _person_cols(ctx, row, p)
        row.cells.update({"性别": p.sex, "出生日期": ctx.datev(row, "出生日期", p.birth, "birth"), "人员类别": d["cat"],
                          "入伍时间": ctx.ymv(row, "入伍时间", d["enl"]), "退役时间": ctx.ymv(row, "退役时间", d["ret"]),
                          "优抚金（元/月）": ctx.money(d["amount"]), "联系电话": ctx.phonev(row, "联系电话", p)})
        _residence(ctx, row, "现住址", p.res)
        yield row


def rows_xueji(ctx, w, prog):
    P = w.persons
    for d in prog["xueji"]:
        p = P[d["p"]]
        g = P[d["g"]] if d["g"] is not None else None
        row = Row()
        row.cells["学籍号"] = "G" + p.idn
        _person_cols(ctx, row, p, role="student", can_blank=False)
        row.cells.update({"性别": p.sex, "出生日期": ctx.datev(row, "出生日期", p.birth, "birth"), "学校": d["school"],
                          "年级": d["grade"]})
        gn = ctx.namev(row, "监护人姓名", g, False) if g is not None else ""
        row.cells["监护人姓名"] = gn
        row.cells["监护人电话"] = ctx.phonev(row, "监护人电话", g) if g is not None else ""
        if gn:
            row.roles.append(("guardian", "person", g.uid))
        _residence(ctx, row, "家庭住址", p.res)
        yield row


from .grid import rows_shijian, rows_zoufang  # noqa: E402  (they render with Ctx above)

ROWS = {f: globals()[f"rows_{f}"] for f in FEED_ORDER}
