"""The true world behind the sample files: streets, communities, grids, houses,
households, people, places, and who is in which department's programme.

Feeds (``feeds.py``) only *render* this world into files, adding defects.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date

from .common import (
    MONGOL_FEMALE, MONGOL_MALE, REF_ORD, age_at, birth_for_age, cn_int,
    grid_name, id_check, landline, make_uscc, mobile, pick_given, pick_surname,
)

STREETS = ("交通街道", "公园街道", "林荫街道", "建设街道", "富兴街道", "天骄街道", "诃额伦街道",
           "纺织街道", "幸福街道", "民族街道", "兴胜街道", "巴音门克街道")
COMMUNITIES = ("建设社区", "团结社区", "友谊社区", "光明社区", "民主社区", "和平社区", "新华社区",
               "胜利社区", "振兴社区", "东园社区", "西园社区", "铁西社区", "文明社区", "兴盛社区",
               "宝日陶亥社区", "罕台社区", "吉劳庆社区", "林荫社区", "杭锦社区", "达拉特社区",
               "公园社区", "天骄社区", "富兴社区", "纺织社区", "北园社区", "南园社区", "滨河社区",
               "育才社区", "新民社区", "金辉社区")
DEFAULT_COMPOUNDS = ("幸福小区", "阳光花园", "锦绣家园", "建设新村")
COMPOUND_WORDS = ("幸福", "阳光", "锦绣", "建设", "和谐", "康乐", "华府", "盛世", "金地", "御景", "丽景",
                  "东方", "紫荆", "翠园", "滨河", "富丽", "祥和", "怡景", "鑫源", "万和", "泰和", "嘉禾",
                  "天骄", "鄂尔多斯", "恒大", "碧桂", "绿城", "蒙欣", "铁西", "宝泰", "伊泰", "凯创",
                  "汇能", "东达", "仁和", "新城", "书香", "北岸", "南苑", "世纪")
COMPOUND_SUFFIX = ("小区", "花园", "家园", "新村", "苑", "名邸")
ROADS = ("建设路", "交通街", "伊金霍洛西街", "天骄路", "鄂尔多斯西街", "准格尔南路", "杭锦北路",
         "林荫路", "宝日陶亥东街", "达拉特南路", "团结路", "民族街", "和平街", "文化路", "纺织街")

# hometown (birth region) codes and the registered addresses they stand for
HOMETOWNS = {
    "150621": "内蒙古自治区鄂尔多斯市达拉特旗树林召镇",
    "152701": "内蒙古自治区鄂尔多斯市东胜区",
    "150627": "内蒙古自治区鄂尔多斯市伊金霍洛旗阿勒腾席热镇",
    "150203": "内蒙古自治区包头市昆都仑区",
    "130102": "河北省石家庄市长安区",
    "410102": "河南省郑州市中原区",
    "510104": "四川省成都市锦江区",
    "612701": "陕西省榆林市榆阳区",
}
FLOAT_REGIONS = ("150621", "150627", "150203", "130102", "410102", "510104", "612701")
FLOAT_REGION_W = (25, 15, 10, 15, 12, 8, 15)
VILLAGE_WORDS = ("新民", "前进", "红旗", "胜利", "团结", "东风", "和平", "解放", "光明", "幸福")


@dataclass(slots=True)
class House:
    i: int
    uid: str
    code: str            # 地址编码, "" when the house is not in the standard address registry
    street: str
    community: str
    grid: str
    compound: str
    bno: int             # building number (0 = none)
    uno: int             # unit number (0 = none)
    room: str
    usage: str
    std: str             # standard address
    road: str = ""
    roadno: int = 0
    external: bool = False
    comm_i: int = -1
    door: str = ""       # the doorplate its standard address writes (康宁路83号), compounds of an independent area
    doors: tuple = ()    # every doorplate of its compound


@dataclass(slots=True)
class Person:
    i: int
    uid: str
    name: str
    idn: str
    sex: str
    birth: date
    eth: str
    hh: int
    rel: str
    registered: bool     # 户籍 here
    in_reg: bool         # present in registry_persons
    status: str          # 正常 / 死亡 / 迁出 (truth)
    death: date | None
    res: int | None      # residence house index
    reg: int | None      # registered (户籍) house index
    phone: str
    mother: int | None = None
    father: int | None = None
    reg_status: str = ""  # the registry's 人员状态 (may lag the truth)
    mongol: bool = False


@dataclass(slots=True)
class Household:
    i: int
    no: str
    kind: str
    members: list
    house: int
    reg_house: int | None
    local: bool
    comm_i: int


@dataclass(slots=True)
class Place:
    i: int
    uid: str
    code: str            # 场所编码, "" when not in registry_places
    uscc: str
    name: str
    kind: str            # 企业 / 个体工商户 / 农民专业合作社 / 学校 / 医疗机构 / 养老机构 / 托育机构
    house: int | None
    rep: int | None
    status: str = ""     # shichang 登记状态
    est: date | None = None
    scope: str = ""
    in_shichang: bool = False
    phone: str = ""


@dataclass
class World:
    persons: list
    houses: list
    households: list
    places: list
    communities: list      # (street, community, n_grids)
    prog: dict = field(default_factory=dict)  # programme selections, see select_programmes
    area: object = None    # area.Area
    short_names: dict = field(default_factory=dict)  # compound -> short forms unique in the area

    def living(self, p: Person) -> bool:
        return p.status == "正常" and p.res is not None


def _unique_id(rng, used: set, region: str, birth: date, male: bool) -> str:
    ymd = f"{birth.year:04d}{birth.month:02d}{birth.day:02d}"
    while True:
        seq = rng.randrange(500) * 2 + (1 if male else 0)
        id17 = f"{region}{ymd}{seq:03d}"
        if id17 not in used:
            used.add(id17)
            return id17 + id_check(id17)


def _compound_names(rng, n_needed: int, used: set) -> list:
    names = []
    while len(names) < n_needed:
        names.append(_unused_name(rng.choice(COMPOUND_WORDS) + rng.choice(COMPOUND_SUFFIX), used))
    return names


def _unused_name(name: str, used: set) -> str:
    """The name, or its 二期, 三期 … when taken; noted as used."""
    k, unused = 1, name
    while unused in used:
        k += 1
        unused = f"{name}{cn_int(k)}期"
    used.add(unused)
    return unused


def build_world(persons_target: int, seed: int, independent: bool = False) -> World:
    """independent: an area with other names (area.independent_area), several communities
    even when small, compounds with doorplates in their standard addresses."""
    from .area import default_area, independent_area

    rng = random.Random(f"{seed}:world")
    if independent:
        n_comm = max(3, math.ceil(persons_target / 6000))
        n_grids = max(2, min(8, math.ceil(persons_target / n_comm / 1500)))
        n_streets = math.ceil(n_comm / 4)
        A = independent_area(seed, n_streets, n_comm)
    else:
        A = default_area()
        if persons_target <= 30000:
            n_comm = 1
            n_grids = 4 if persons_target <= 6000 else min(10, math.ceil(persons_target / 2000))
        else:
            n_comm = math.ceil(persons_target / 20000)
            n_grids = 10
        n_streets = 1 if n_comm == 1 else math.ceil(n_comm / 3.5)
    STREETS, COMMUNITIES, ROADS = A.streets, A.communities, A.roads
    PREFIX_DISTRICT, DISTRICT_CODE = A.prefix, A.district_code
    used_doors: set = set()
    compound_doors: dict = {}
    comms = []
    for c in range(n_comm):
        s = c % n_streets
        street = STREETS[s] if s < len(STREETS) else f"第{cn_int(s + 1)}街道"
        cname = COMMUNITIES[c] if c < len(COMMUNITIES) else f"{COMMUNITIES[c % len(COMMUNITIES)][:-2]}{cn_int(c // len(COMMUNITIES) + 1)}社区"
        comms.append((street, cname, n_grids, s))
    per_comm = [persons_target // n_comm] * n_comm
    per_comm[-1] += persons_target - sum(per_comm)

    persons: list[Person] = []
    houses: list[House] = []
    households: list[Household] = []
    used_ids: set = set()
    used_compounds: set = set(DEFAULT_COMPOUNDS)
    hh_nos: set = set()
    uid_w = max(4, len(str(persons_target * 2)))

    def new_person(name, idn, sex, birth, eth, hh, rel, registered, in_reg, phone, mongol=False):
        p = Person(len(persons), f"P{len(persons) + 1:0{uid_w}d}", name, idn, sex, birth, eth, hh, rel,
                   registered, in_reg, "正常", None, None, None, phone, mongol=mongol)
        persons.append(p)
        return p

    def new_house(**kw):
        h = House(len(houses), f"H{len(houses) + 1:0{uid_w}d}", **kw)
        houses.append(h)
        return h

    for ci, (street, cname, ngrids, s_i) in enumerate(comms):
        target = per_comm[ci]
        prefix = f"{PREFIX_DISTRICT}{street}{cname}"
        # ---- households (people first, houses after)
        hh_specs = []  # list of (kind, local, member specs)
        count = 0
        while count < target:
            spec = _household_spec(rng)
            room = target - count
            if len(spec[2]) > room:
                spec = (spec[0], spec[1], spec[2][:room])
            hh_specs.append(spec)
            count += len(spec[2])
        n_hh = len(hh_specs)
        n_split = int(n_hh * 0.06)
        need_res = int(n_hh * 1.10) + n_split + 5
        # ---- compounds / buildings / houses
        roads = [ROADS[(ci * 2 + k) % len(ROADS)] for k in range(2)]
        if independent:
            n_c = max(2, math.ceil(need_res / 350))
            cnames = _independent_compound_names(rng, A, n_c, used_compounds)
            specs = [(nm, math.ceil(need_res / n_c)) for nm in cnames]
            # one or two doorplates per compound: odd numbers on the community's roads and
            # on roads of its own (street-front houses take the even numbers)
            door_roads = roads + [ROADS[(2 * len(comms) + ci * 3 + k) % len(ROADS)] for k in range(3)]
            for nm in cnames:
                doors = []
                for _ in range(2 if rng.random() < 0.35 else 1):
                    while True:
                        d = f"{rng.choice(door_roads)}{rng.randrange(1, 240, 2)}号"
                        if d not in used_doors:
                            used_doors.add(d)
                            doors.append(d)
                            break
                compound_doors[nm] = tuple(doors)
        elif ci == 0 and persons_target <= 30000:
            cnames = list(DEFAULT_COMPOUNDS)
            per_compound = math.ceil(need_res / len(cnames))
            specs = [(nm, per_compound) for nm in cnames]
        else:
            n_c = max(1, math.ceil(need_res / 700))
            cnames = _compound_names(rng, n_c, used_compounds)
            specs = [(nm, math.ceil(need_res / n_c)) for nm in cnames]
        buildings = []  # (compound, bno, units, floors, rooms per floor)
        for nm, tgt in specs:
            if independent:
                units = rng.choice((1, 2, 2, 3, 4))
                floors = rng.choice((5, 6, 6, 11, 18))
                rpf = rng.choice((2, 2, 3, 4))
            else:
                units = rng.choice((2, 2, 3))
                floors = rng.choice((6, 6, 11))
                rpf = 2
            per_b = units * floors * rpf
            nb = max(1, math.ceil(tgt / per_b))
            for b in range(1, nb + 1):
                buildings.append((nm, b, units, floors, rpf))
        total_res = sum(u * f * k for _, _, u, f, k in buildings)
        per_grid = total_res / ngrids
        res_houses = []
        acc = 0
        n_b = {}
        for nm, *_ in buildings:
            n_b[nm] = n_b.get(nm, 0) + 1
        for nm, b, units, floors, rpf in buildings:
            g = min(ngrids, int(acc / per_grid) + 1)
            doors = compound_doors.get(nm, ())
            # two doorplates: the first half of the buildings by the first gate
            door = "" if not doors else doors[0] if len(doors) < 2 or b <= (n_b[nm] + 1) // 2 else doors[1]
            for u in range(1, units + 1):
                for fl in range(1, floors + 1):
                    for r in range(1, rpf + 1):
                        room = f"{fl}{r:02d}"
                        std = f"{prefix}{door}{nm}{b}号楼{u}单元{room}室"
                        h = new_house(code="", street=street, community=cname, grid=grid_name(g),
                                      compound=nm, bno=b, uno=u, room=room, usage="住宅", std=std,
                                      comm_i=ci, door=door, doors=doors)
                        res_houses.append(h)
            acc += units * floors * rpf
        # street-front shops and offices
        n_shops = max(12, math.ceil(target / 55))
        shop_houses = []
        for k in range(n_shops):
            road = roads[k % 2]
            no = 2 + 2 * (k // 2)
            usage = "办公" if k % 17 == 5 else "商业"
            std = f"{prefix}{road}{no}号"
            h = new_house(code="", street=street, community=cname, grid=grid_name(1 + k % ngrids),
                          compound="", bno=0, uno=0, room="", usage=usage, std=std, road=road, roadno=no,
                          comm_i=ci)
            shop_houses.append(h)
        # address codes: almost every house is in the registry
        for h in res_houses + shop_houses:
            if h.usage == "住宅" and rng.random() < 0.005:
                continue
            h.code = f"{DISTRICT_CODE}{s_i + 1:03d}{ci + 1:03d}{h.i + 1:08d}"
        # ---- assign households to houses
        order = list(range(len(res_houses)))
        rng.shuffle(order)
        occupied = [res_houses[j] for j in order[:n_hh]]
        vacant = [res_houses[j] for j in order[n_hh:]]
        split_hh = set(rng.sample(range(n_hh), n_split)) if n_split else set()
        for k, (kind, local, specs_m) in enumerate(hh_specs):
            house = occupied[k]
            if local:
                if k in split_hh and vacant:
                    reg_house = vacant.pop().i
                else:
                    reg_house = house.i
                in_reg = True
            else:
                region = rng.choices(FLOAT_REGIONS, FLOAT_REGION_W)[0]
                in_reg = rng.random() < 0.8
                reg_house = None
                if in_reg:
                    if region[:4] != "1506":
                        addr = (HOMETOWNS[region] + rng.choice(VILLAGE_WORDS) + "村"
                                + f"{rng.randint(1, 12)}社{rng.randint(1, 99)}号")
                    else:
                        addr = HOMETOWNS[region] + rng.choice(ROADS) + f"{rng.randint(1, 300)}号"
                    ext = new_house(code="", street="", community="", grid="", compound="", bno=0, uno=0,
                                    room="", usage="", std=addr, external=True)
                    reg_house = ext.i
            while True:
                no = f"{rng.randrange(10 ** 9):09d}"
                if no not in hh_nos:
                    hh_nos.add(no)
                    break
            hh = Household(len(households), no, kind, [], house.i, reg_house, local, ci)
            households.append(hh)
            _make_members(rng, hh, specs_m, local, in_reg, None if local else region, used_ids,
                          new_person, persons, A)
            for pi in hh.members:
                p = persons[pi]
                p.res = house.i
                p.reg = reg_house
    # ---- deaths, moves, registry lag
    for p in persons:
        a = age_at(p.birth)
        q = 0.16 if a >= 85 else 0.09 if a >= 75 else 0.03 if a >= 60 else 0.003 if a >= 18 else 0
        if q and rng.random() < q:
            p.status = "死亡"
            p.death = date.fromordinal(REF_ORD - rng.randint(3, 700))
            if p.death <= p.birth:
                p.status, p.death = "正常", None
        elif p.registered and 20 <= a <= 40 and rng.random() < 0.006:
            p.status = "迁出"
            p.res = None
    lag = []
    for p in persons:
        p.reg_status = p.status if p.in_reg else ""
        if p.status == "死亡" and p.in_reg and (REF_ORD - p.death.toordinal()) < 120:
            lag.append(p)
    # the registry has not yet recorded some recent deaths (dead per 殡葬 only)
    lag.sort(key=lambda q: (-q.death.toordinal(), q.i))
    for k, p in enumerate(lag):
        if k == 0 or rng.random() < 0.3:
            p.reg_status = "正常"
    world = World(persons, houses, households, [], comms, area=A)
    if independent:
        world.short_names = _short_names(sorted({h.compound for h in houses if h.compound}), A)
    _make_places(rng, world)
    return world


def _independent_compound_names(rng, A, n_needed: int, used: set) -> list:
    """Names from the area's wider lists; some share their leading word with another
    compound (御景华府 / 御景花园), so that a short name is not always unique."""
    names = []
    while len(names) < n_needed:
        word, suffix = rng.choice(A.compound_words), rng.choice(A.compound_suffixes)
        if word[-1] == suffix[0]:          # not 华庭庭
            continue
        names.append(_unused_name(word + suffix, used))
    return names


def _short_names(compounds: list, A) -> dict:
    """compound -> short forms that pick it out uniquely among the area's compounds: its
    name without the suffix (御景华府 → 御景) and its leading two characters, when no other
    compound's name starts with that form."""
    out = {}
    suffixes = sorted(A.compound_suffixes, key=len, reverse=True)
    for nm in compounds:
        forms = []
        core = next((nm[: -len(s)] for s in suffixes if nm.endswith(s) and len(nm) - len(s) >= 2), "")
        for f in (core, nm[:2]):
            if f and f != nm and f not in forms and not any(o != nm and o.startswith(f) for o in compounds):
                forms.append(f)
        out[nm] = forms
    return out


def _household_spec(rng):
    """(kind, local, [(role, sex, age_or_None, extra)]) -- ages drawn in _make_members."""
    kind = rng.choices(
        ("single_elder", "elder_couple", "single", "couple", "family", "three_gen", "single_parent"),
        (7, 9, 10, 10, 41, 18, 5))[0]
    local = rng.random() < 0.76 if kind not in ("single_elder", "elder_couple") else rng.random() < 0.93
    return kind, local, _member_plan(rng, kind)


def _member_plan(rng, kind):
    # each member: (relation, sex, generation) ; generation 0 = head's, +1 children, -1 parents
    m = rng.random() < 0.5
    hs, ws = ("男", "女") if m or kind in ("elder_couple", "couple", "family", "three_gen") else ("女", "男")
    if kind == "single_elder":
        return [("户主", rng.choice("男女"), "elder")]
    if kind == "elder_couple":
        return [("户主", "男", "elder"), ("配偶", "女", "elder")]
    if kind == "single":
        return [("户主", rng.choice("男女"), "adult")]
    if kind == "couple":
        return [("户主", "男", "adult"), ("配偶", "女", "adult")]
    if kind == "family":
        n = rng.choices((1, 2, 3), (50, 40, 10))[0]
        return [("户主", hs, "parent"), ("配偶", ws, "parent")] + [("child", rng.choice("男女"), "child")] * n
    if kind == "single_parent":
        n = rng.choices((1, 2), (70, 30))[0]
        return [("户主", rng.choice("男女"), "parent")] + [("child", rng.choice("男女"), "child")] * n
    # three generations: either elder head with son's family, or middle head with a parent
    n = rng.choices((1, 2), (65, 35))[0]
    if rng.random() < 0.5:
        return ([("户主", "男", "gp"), ("配偶", "女", "gp"), ("子", "男", "parent"), ("儿媳", "女", "parent")]
                + [("grandchild", rng.choice("男女"), "child")] * n)
    par = [("父亲", "男", "gp"), ("母亲", "女", "gp")] if rng.random() < 0.4 else [(rng.choice(("父亲", "母亲")), None, "gp")]
    return ([("户主", "男", "parent"), ("配偶", "女", "parent")] + par
            + [("child", rng.choice("男女"), "child")] * n)


def _name(rng, sex, surname, mongol, old):
    if mongol:
        return rng.choice(MONGOL_MALE if sex == "男" else MONGOL_FEMALE)
    return surname + pick_given(rng, sex == "男", old)


def _make_members(rng, hh, plan, local, in_reg, float_region, used_ids, new_person, persons, A):
    eth = rng.choices(("汉族", "蒙古族", "回族", "满族", "达斡尔族"), (84, 12, 2, 1.5, 0.5))[0]
    mongol_fam = eth == "蒙古族" and rng.random() < 0.6
    fam_surname = pick_surname(rng)
    # ages
    kind = hh.kind
    if kind in ("single_elder", "elder_couple"):
        base = 60 + min(39, int(rng.triangular(0, 40, 8)))
    elif kind == "three_gen":
        base = None
    else:
        base = None
    parent_age = rng.randint(27, 56)
    gp_age = parent_age + rng.randint(22, 34)
    created = []
    mother = father = None
    gp_m = gp_f = None
    for rel, sex, gen in plan:
        if sex is None:
            sex = "男" if rel == "父亲" else "女"
        if gen == "elder":
            age = base if rel == "户主" else max(58, base + rng.randint(-5, 3))
            birth = birth_for_age(rng, age)
        elif gen == "adult":
            birth = birth_for_age(rng, rng.randint(19, 59))
        elif gen == "parent":
            birth = birth_for_age(rng, parent_age + (rng.randint(-3, 3) if rel in ("配偶", "儿媳") else 0))
        elif gen == "gp":
            birth = birth_for_age(rng, min(99, gp_age + (rng.randint(-4, 2) if rel in ("配偶", "母亲") else 0)))
        else:  # child / grandchild
            mum = mother or father
            mum_ord = mum.birth.toordinal() if mum else birth_for_age(rng, parent_age).toordinal()
            max_off = REF_ORD - 1 - mum_ord
            if rng.random() < 0.035:
                off = max_off - rng.randint(0, 729)
            else:
                hi_off = min(max_off, int(40 * 365.2425))
                lo_off = min(int(21 * 365.2425), hi_off)
                off = rng.randint(lo_off, hi_off)
            off = max(off, int(19 * 365.2425))
            birth = date.fromordinal(min(REF_ORD - 1, mum_ord + off))
            rel = ("子" if sex == "男" else "女") if rel == "child" else ("孙子" if sex == "男" else "孙女")
        age = age_at(birth)
        is_mongol = mongol_fam and (gen != "child" or rng.random() < 0.7)
        surname = fam_surname
        if rel in ("配偶", "儿媳", "母亲") or (rel == "户主" and sex == "女" and kind != "single_parent"):
            surname = pick_surname(rng)
        name = _name(rng, sex, surname, is_mongol, age >= 50)
        # ID
        newborn_no_id = (REF_ORD - birth.toordinal()) < 200 and rng.random() < 0.7
        if newborn_no_id:
            idn = ""
        else:
            if local:
                if birth.year < 2001:
                    region = rng.choices(A.local_regions, (50, 30, 10, 10))[0]
                else:
                    region = A.local_regions[0] if rng.random() < 0.9 else A.local_regions[2]
            else:
                region = float_region if (gen != "child" or rng.random() < 0.5) else A.local_regions[0]
            idn = _unique_id(rng, used_ids, region, birth, sex == "男")
        if age >= 16:
            phone = mobile(rng) if (age < 80 or rng.random() < 0.5) else ""
            if age >= 60 and rng.random() < 0.12:
                phone = landline(rng, A.phone_area)
        else:
            phone = ""
        p = new_person(name, idn, sex, birth, eth, hh.i, rel, local, in_reg and not newborn_no_id, phone,
                       mongol=is_mongol)
        hh.members.append(p.i)
        created.append(p)
        if gen in ("parent",):
            if sex == "女":
                mother = p
            else:
                father = p
        if gen == "gp":
            if sex == "女":
                gp_m = p
            else:
                gp_f = p
        if rel in ("子", "女", "孙子", "孙女"):
            if mother is not None:
                p.mother = mother.i
            if father is not None:
                p.father = father.i
            if mother is None and father is None and hh.kind != "three_gen":
                pass
    # head's parents / son
    for p in created:
        if p.rel == "户主" and hh.kind == "three_gen":
            if gp_m is not None and p.birth > gp_m.birth:
                p.mother = gp_m.i
            if gp_f is not None and p.birth > gp_f.birth:
                p.father = gp_f.i
        if p.rel == "子" and hh.kind == "three_gen" and p.mother is None:
            # elder-head layout: the son is the child of the head couple
            heads = [q for q in created if q.rel in ("户主", "配偶")]
            for q in heads:
                if q.birth < p.birth:
                    if q.sex == "女":
                        p.mother = q.i
                    else:
                        p.father = q.i
    # elder-head three_gen: grandchildren's parents are 子 and 儿媳
    son = next((q for q in created if q.rel == "子" and hh.kind == "three_gen" and q.mother is not None), None)
    dil = next((q for q in created if q.rel == "儿媳"), None)
    if son is not None and dil is not None:
        for q in created:
            if q.rel in ("孙子", "孙女"):
                q.father, q.mother = son.i, dil.i


# ---------------------------------------------------------------- places
BIZ_WORDS = ("鑫源", "金鼎", "恒达", "天骄", "草原", "蒙富", "福瑞", "瑞丰", "聚鑫", "宏泰", "盛世", "通达",
             "顺发", "祥瑞", "华鑫", "鼎盛", "蒙鑫", "永盛", "佳和", "兴旺", "润泽", "博远", "正阳", "德顺")
ENT_SUFFIX = ("商贸有限公司", "建筑工程有限公司", "餐饮管理有限公司", "科技有限公司", "物业服务有限公司",
              "汽车维修有限公司", "文化传媒有限公司", "装饰工程有限公司")
GETI_ITEMS = ("超市", "面馆", "便利店", "理发店", "烟酒店", "干洗店", "五金店", "药店", "水果店",
              "手机维修店", "羊肉馆", "烧烤店", "奶茶店", "蒙餐馆", "服装店")
SCOPE = {"企业": "批发零售；技术服务；建筑工程施工", "个体工商户": "食品零售；餐饮服务；日用百货",
         "农民专业合作社": "农作物种植；牲畜养殖；农产品销售"}


def _make_places(rng, w: World):
    persons, houses = w.persons, w.houses
    A = w.area
    city, district, DISTRICT_CODE = A.city, A.district, A.district_code
    adults_by_comm: dict[int, list] = {}
    for p in persons:
        if p.status == "正常" and p.res is not None and p.idn and p.in_reg and 22 <= age_at(p.birth) <= 68:
            adults_by_comm.setdefault(houses[p.res].comm_i, []).append(p.i)
    shops_by_comm: dict[int, list] = {}
    for h in houses:
        if not h.external and h.usage in ("商业", "办公"):
            shops_by_comm.setdefault(h.comm_i, []).append(h.i)
    used_names: set = set()
    places = w.places

    def uniq(nm):
        base, k = nm, 1
        while nm in used_names:
            k += 1
            nm = f"{base}（{cn_int(k)}分店）" if not base.endswith("公司") else base.replace("有限公司", f"{cn_int(k)}有限公司")
        used_names.add(nm)
        return nm

    for ci, (street, cname, _, _) in enumerate(w.communities):
        shops = [h for h in shops_by_comm.get(ci, []) if houses[h].usage == "商业"]
        offices = [h for h in shops_by_comm.get(ci, []) if houses[h].usage == "办公"]
        adults = adults_by_comm.get(ci, [])
        # institutions
        inst = [("托育机构", f"{cname[:-2]}{rng.choice(('小天使', '贝贝', '七彩', '阳光宝贝'))}托育园", "52"),
                ("学校", f"{district}{cname[:-2]}幼儿园", "12"),
                ("医疗机构", f"{street}{cname}卫生服务站", "12"),
                ("养老机构", f"{cname[:-2]}{rng.choice(('夕阳红', '康乐', '颐和'))}日间照料中心", "52")]
        if ci == 0:
            inst.append(("托育机构", f"{cname[:-2]}{rng.choice(('爱心', '启航'))}托育中心", "52"))
        for kind, nm, pre in inst:
            hi = offices.pop() if offices else (shops.pop() if shops else None)
            rep = rng.choice(adults) if adults else None
            places.append(Place(len(places), f"PL{len(places) + 1:04d}", "", make_uscc(rng, pre, DISTRICT_CODE),
                                uniq(nm), kind, hi, rep, phone=landline(rng, A.phone_area)))
        # businesses, one per shop house
        for hi in shops:
            kind = rng.choices(("企业", "个体工商户", "农民专业合作社"), (40, 55, 5))[0]
            if kind == "企业":
                nm = f"{city}{rng.choice(BIZ_WORDS)}{rng.choice(ENT_SUFFIX)}"
                pre = "91"
            elif kind == "个体工商户":
                nm = f"{district}{rng.choice(BIZ_WORDS)}{rng.choice(GETI_ITEMS)}"
                pre = "92"
            else:
                nm = f"{city}{district}{rng.choice(BIZ_WORDS)}种植养殖专业合作社"
                pre = "93"
            status = rng.choices(("存续", "在业", "注销", "吊销"), (60, 25, 10, 5))[0]
            est = date.fromordinal(REF_ORD - rng.randint(60, 6000))
            rep = rng.choice(adults) if adults else None
            places.append(Place(len(places), f"PL{len(places) + 1:04d}", "", make_uscc(rng, pre, DISTRICT_CODE), uniq(nm), kind,
                                hi, rep, status=status, est=est, scope=SCOPE[kind], in_shichang=True,
                                phone=persons[rep].phone if rep is not None else ""))
    # registry_places: institutions always, active businesses mostly
    seq = 0
    for pl in places:
        if not pl.in_shichang or (pl.status in ("存续", "在业") and rng.random() < 0.88) or rng.random() < 0.2:
            seq += 1
            pl.code = f"CS{DISTRICT_CODE}{seq:08d}"
