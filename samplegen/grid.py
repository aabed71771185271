"""The grid feeds of the sample: the grid platform's events (shijian, 网格事件（诉求）办理台账)
and the grid workers' home visits (zoufang, 网格员入户走访记录), and their truth.

What happened is drawn by `select_grid` from the world and the programmes with its own
random stream (``<seed>:grid``), and each file's defects from the feed's own stream, so
adding these two feeds left every other file byte-identical. The truth (`write_truth`):
``events.csv`` (every event as it really is, whether it is overdue at the reference
date), ``visits.csv`` and ``special_groups.csv`` (the residents of R35's special groups
and whether they had a visit, to them or to their house, in the 90 days up to it).
"""
from __future__ import annotations

import csv
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from .common import REF, XDateTime, age_at, iso, pick_given, pick_surname
from .writer import Row

REF_DT = datetime(REF.year, REF.month, REF.day)
VISIT_WINDOW = 90          # R39/R40: a visit in the 90 days up to the as-of date
SPECIAL_GROUPS = ("高龄", "独居/空巢", "残疾", "低保", "特困", "优抚")   # R35's, in its order

# class -> (subclasses, days allowed, handling department); the last two are local "9+X"
# classes outside the contract's list, which ingest must keep.
CATEGORIES = {
    "矛盾纠纷": (("邻里纠纷", "家庭矛盾", "物业纠纷", "劳资纠纷"), 7, "司法所"),
    "民生服务": (("供暖", "漏水", "停水停电", "低保咨询", "医保咨询"), 5, "社区居委会"),
    "城市管理": (("垃圾清运", "占道经营", "违章停车", "路灯损坏", "噪音扰民"), 3, "城管执法中队"),
    "安全隐患": (("楼道堆物", "燃气隐患", "电动车违规充电", "井盖缺失"), 2, "应急管理办"),
    "特殊人群": (("独居老人关爱", "高龄老人帮扶", "残疾人帮扶", "困难群众救助"), 3, "民政所"),
    "其他": (("政策咨询", "其他诉求"), 7, "街道办事处"),
    "环境卫生": (("绿化带垃圾", "小广告清理"), 3, "环卫所"),
    "物业管理": (("电梯故障", "门禁损坏"), 5, "住建办"),
}
CATEGORY_W = (14, 24, 20, 12, 12, 6, 6, 6)
OUTDOOR = {"城市管理", "安全隐患", "环境卫生"}   # classes that often happen in a public spot
SOURCES = ("网格员上报", "12345热线", "居民随手拍", "巡查发现", "部门转办")
SOURCE_W = (30, 40, 12, 10, 8)
VISIT_PROBLEMS = ("家中暖气不热", "楼道堆放杂物", "需要办理高龄津贴", "行动不便，希望助餐服务", "独居，需定期探视",
                  "反映小区路灯不亮", "咨询医保报销政策", "卫生间漏水影响楼下")


def _resident(p, H) -> bool:
    return p.status == "正常" and p.res is not None and not H[p.res].external and bool(H[p.res].grid)


def special_groups(w, prog) -> dict[int, list[str]]:
    """Person index -> R35's special groups, for the living residents of the area in any:
    高龄 80+; 独居/空巢 60+ with nobody under 60 living in the house; 残疾 (canji), 低保
    (dibao 在保), 特困 (tekun), 优抚 (tuiyi)."""
    P, H = w.persons, w.houses
    living_at = defaultdict(list)
    for p in P:
        if p.status == "正常" and p.res is not None:
            living_at[p.res].append(p)
    members = {
        "残疾": {d["p"] for d in prog["canji"]},
        "低保": {m for d in prog["dibao"] if d["status"] == "在保" for m in d["members"]},
        "特困": {d["p"] for d in prog["tekun"]},
        "优抚": {d["p"] for d in prog["tuiyi"]},
    }
    out = {}
    for p in P:
        if not _resident(p, H):
            continue
        age = age_at(p.birth)
        groups = []
        if age >= 80:
            groups.append("高龄")
        if age >= 60 and all(age_at(o.birth) >= 60 for o in living_at[p.res]):
            groups.append("独居/空巢")
        groups += [g for g in ("残疾", "低保", "特困", "优抚") if p.i in members[g]]
        if groups:
            out[p.i] = groups
    return out


def _when(rng, day: date, start_hour: int = 7, end_hour: int = 21) -> datetime:
    return datetime(day.year, day.month, day.day, rng.randrange(start_hour, end_hour), rng.randrange(60))


def _compounds(houses) -> dict[int, list[str]]:
    """Each community's compounds, sorted (read once: scanning every house per event made the
    generator quadratic, hours at a region's size)."""
    out = defaultdict(set)
    for h in houses:
        if h.compound and not h.external:
            out[h.comm_i].add(h.compound)
    return {ci: sorted(names) for ci, names in out.items()}


def _public_spots(w, ci: int, compounds: list[str], rng) -> str:
    """A public spot of community `ci`: a crossing, a gate, the space in front of a building."""
    roads = w.area.roads
    r1, r2 = rng.sample(roads, 2)
    k = rng.randrange(6)
    if k == 0 or not compounds:
        return f"{r1}与{r2}交叉口" + rng.choice(("", "", "东北角", "西南侧"))
    if k == 1:
        return f"{r1}{rng.choice(('公交站', '公交站台', '人行道', '绿化带'))}"
    if k == 2:
        return f"{rng.choice(compounds)}{rng.choice(('北门', '南门', '东门', '广场', '停车场'))}"
    if k == 3:
        return f"{rng.choice(compounds)}{rng.randint(1, 6)}号楼前"
    if k == 4:
        return f"{w.communities[ci][1]}{rng.choice(('文化广场', '健身广场', '便民市场门口'))}"
    return f"{r1}（{r2}至{rng.choice([r for r in roads if r not in (r1, r2)])}段）"


def select_grid(w, prog, seed: int) -> dict:
    """What happened on the grid: the events and the visits, true values only."""
    rng = random.Random(f"{seed}:grid")
    P, H = w.persons, w.houses
    residents = [p for p in P if _resident(p, H)]
    groups = special_groups(w, prog)
    sg_people = [P[i] for i in sorted(groups)]
    grids = sorted({(h.comm_i, h.grid) for h in H if not h.external and h.grid})
    compounds = _compounds(H)
    workers = {g: pick_surname(rng) + pick_given(rng, rng.random() < 0.4, False) for g in grids}
    known_places = [pl for pl in w.places if (pl.code or pl.in_shichang) and pl.house is not None and pl.name]
    names = defaultdict(int)
    for pl in w.places:
        names[pl.name] += 1
    known_places = [pl for pl in known_places if names[pl.name] == 1]
    dead = [p for p in P if p.status == "死亡" and p.res is not None and not H[p.res].external
            and p.death is not None and (REF - p.death).days > 40]

    events, visits = [], []

    def event(reported: datetime, person, kind: str, loc, cat: str, source: str, ci: int, grid: str):
        subs, limit, dept = CATEGORIES[cat]
        if cat == "安全隐患" and rng.random() < 0.3:
            limit = 1
        age = (REF_DT - reported).total_seconds() / 86400
        r = rng.random()
        if age > limit:
            status = "处置中" if r < 0.07 else "待受理" if r < 0.10 else "已退回" if r < 0.15 else "已办结"
        else:
            status = "处置中" if r < 0.35 else "待受理" if r < 0.45 else "已退回" if r < 0.5 else "已办结"
        deadline = reported + timedelta(days=limit)
        if status in ("处置中", "待受理") and deadline.date() == REF:   # no event on the as-of day's edge
            reported -= timedelta(days=1)
            deadline -= timedelta(days=1)
        closed = None
        if status == "已办结":
            hours = (rng.uniform(2, limit * 24 - 1) if rng.random() < 0.85
                     else limit * 24 + rng.uniform(12, 120))
            closed = reported + timedelta(hours=hours, minutes=rng.randrange(60))
            closed = closed.replace(second=0, microsecond=0)
            if closed > REF_DT + timedelta(hours=18):
                status, closed = "处置中", None
        if status == "已办结":
            sat = rng.choices(("满意", "基本满意", "不满意", "未评价"), (70, 15, 7, 8))[0]
        else:
            sat = "未评价" if status == "已退回" and rng.random() < 0.5 else ""
        platform_grid = grid
        if rng.random() < 0.06:
            others = [g for c, g in grids if c == ci and g != grid]
            platform_grid = rng.choice(others) if others else grid
        seq = len(events) + 1
        events.append(dict(no=f"SJ{reported:%Y%m%d}{seq:05d}", reported=reported, source=source, cat=cat,
                           sub=rng.choice(subs), person=person.i if person is not None else None, kind=kind,
                           loc=loc, ci=ci, grid=grid, platform_grid=platform_grid, dept=dept, status=status,
                           limit=limit, deadline=deadline, closed=closed, sat=sat,
                           with_id=rng.random() < 0.45))
        return events[-1]

    def day_back(lo: int, hi: int) -> date:
        return date.fromordinal(REF.toordinal() - rng.randint(lo, hi))

    # ---- visits: every special-group resident seen recently, long ago, or never
    def visit(day: date, house: int, person, vtype: str, problem: str = ""):
        ci, grid = H[house].comm_i, H[house].grid
        visits.append(dict(no="", date=day, house=house, person=person.i if person is not None else None,
                           ci=ci, grid=grid, worker=workers[(ci, grid)], vtype=vtype, problem=problem,
                           event="", with_id=rng.random() < 0.5))
        return visits[-1]

    def visit_day(recent: bool) -> date:
        # never within a day of the 90-day window's edge
        return day_back(0, VISIT_WINDOW - 2) if recent else day_back(VISIT_WINDOW + 2, 365)

    seen_house = set()
    for p in sg_people:
        r = rng.random()
        if p.res in seen_house and r < 0.5:
            continue          # the household was visited already: that visit counts for them too
        seen_house.add(p.res)
        if r < 0.62:
            days = [visit_day(True)] + ([visit_day(rng.random() < 0.5)] if rng.random() < 0.4 else [])
        elif r < 0.85:
            days = [visit_day(False)]
        else:
            days = []
        for d in days:
            named = rng.random() < 0.75
            problem = rng.choice(VISIT_PROBLEMS) if rng.random() < 0.3 else ""
            visit(d, p.res, p if named else None, "特殊群体关爱" if rng.random() < 0.85 else "常规走访", problem)
    for p in rng.sample(residents, min(len(residents), max(10, len(sg_people) // 3))):
        problem = rng.choice(VISIT_PROBLEMS) if rng.random() < 0.2 else ""
        vtype = rng.choices(("常规走访", "政策宣传", "重点人员走访"), (60, 30, 10))[0]
        visit(day_back(0, 365), p.res, p if rng.random() < 0.6 else None, vtype, problem)
    for p in rng.sample(dead, min(3, len(dead))):   # a visit recorded after the death (R36)
        v = visit(date.fromordinal(p.death.toordinal() + rng.randint(10, 30)), p.res, p, "特殊群体关爱")
        v["with_id"] = True
    visits.sort(key=lambda v: (v["date"], v["house"]))
    for k, v in enumerate(visits):
        v["no"] = f"ZF{v['date']:%Y%m}{k + 1:05d}"
        if v["problem"] and rng.random() < 0.35 and v["date"] >= date(2026, 1, 1):   # the worker reports it
            person = P[v["person"]] if v["person"] is not None else None
            cat = "特殊人群" if v["vtype"] == "特殊群体关爱" else rng.choice(("民生服务", "安全隐患"))
            e = event(_when(rng, v["date"], 9, 18) + timedelta(hours=1), person, "house", v["house"], cat,
                      "网格员上报", v["ci"], v["grid"])
            v["event"] = e["no"]

    # ---- events the platform and the hotline received
    n_events = max(30, len(residents) // 7)
    for k in range(n_events):
        r = rng.random()
        day = REF if k < 12 else day_back(1, 31) if r < 0.3 else day_back(32, 304)
        reported = _when(rng, day, 7, 18 if day == REF else 22)
        cat = rng.choices(tuple(CATEGORIES), CATEGORY_W)[0]
        source = rng.choices(SOURCES, SOURCE_W)[0]
        if cat == "特殊人群" and sg_people:
            person = rng.choice(sg_people)
            kind = "house"
        else:
            person = rng.choice(residents)
            kind = (rng.choices(("spot", "place", "house"), (50, 30, 20))[0] if cat in OUTDOOR
                    else rng.choices(("house", "place", "spot", "none"), (85, 5, 7, 3))[0])
        if kind == "place" and not known_places:
            kind = "spot"
        if kind == "house":
            loc, ci, grid = person.res, H[person.res].comm_i, H[person.res].grid
        elif kind == "place":
            pl = rng.choice(known_places)
            loc, ci, grid = pl.i, H[pl.house].comm_i, H[pl.house].grid
            if pl.rep is not None and rng.random() < 0.3 and _resident(P[pl.rep], H):
                person = P[pl.rep]
        else:
            ci, grid = rng.choice(grids)
            loc = _public_spots(w, ci, compounds.get(ci, []), rng) if kind == "spot" else ""
        if rng.random() < 0.1:
            person = None        # anonymous: the hotline keeps no name
        event(reported, person, kind, loc, cat, source, ci, grid)
    events.sort(key=lambda e: (e["reported"], e["no"]))
    return {"events": events, "visits": visits, "groups": groups, "workers": workers}


# ---------------------------------------------------------------- rendering

def _datetime_cell(ctx, row: Row, hdr: str, at: datetime | None):
    """The platform writes '2026-10-12 14:22'; some cells are Excel date-time cells, other
    forms, or the date alone (defects.csv says which)."""
    if at is None:
        return ""
    r = ctx.rng.random()
    if r < 0.04:
        row.defects.append((hdr, "excel_datetime"))
        return XDateTime(at)
    if r < 0.07:
        row.defects.append((hdr, "date_format_slash"))
        return f"{at.year}/{at.month}/{at.day} {at:%H:%M}"
    if r < 0.10:
        row.defects.append((hdr, "date_format_cn"))
        return f"{at.year}年{at.month}月{at.day}日{at.hour}时{at.minute}分"
    if r < 0.12:
        row.defects.append((hdr, "datetime_no_time"))
        return f"{at:%Y-%m-%d}"
    return f"{at:%Y-%m-%d %H:%M}"


def _visited_person(ctx, row: Row, p, with_id: bool, name_h: str, id_h: str, role: str = "person") -> None:
    idv, clean = ctx.idv(row, id_h, p) if with_id else ("", False)
    nm = ctx.namev(row, name_h, p, clean, can_blank=with_id)
    row.cells[id_h], row.cells[name_h] = idv, nm
    if idv != "" or nm:
        row.roles.append((role, "person", p.uid))


def _platform_grid(w, e) -> str:
    """所属网格 as the platform exports it: the grid alone in a one-community area, the
    community and the grid where several communities each have a 第一网格."""
    names = {c[1] for c in w.communities}
    return e["platform_grid"] if len(names) == 1 else f"{w.communities[e['ci']][1]}{e['platform_grid']}"


def rows_shijian(ctx, w, prog):
    P, H = w.persons, w.houses
    for e in prog["grid"]["events"]:
        row = Row()
        row.cells.update({"事件编号": e["no"], "上报时间": _datetime_cell(ctx, row, "上报时间", e["reported"]),
                          "事件来源": e["source"], "事件大类": e["cat"], "事件小类": e["sub"],
                          "事件描述": f"{e['sub']}：请相关部门核实处理", "所属网格": _platform_grid(w, e),
                          "处置部门": e["dept"], "办理状态": e["status"], "办理时限（天）": ctx.num(e["limit"]),
                          "办结时间": _datetime_cell(ctx, row, "办结时间", e["closed"]), "满意度": e["sat"]})
        if e["platform_grid"] != e["grid"]:
            row.defects.append(("所属网格", "platform_grid_differs"))
        if e["person"] is not None:
            p = P[e["person"]]
            _visited_person(ctx, row, p, e["with_id"], "当事人", "当事人身份证号")
            row.cells["联系电话"] = ctx.phonev(row, "联系电话", p)
        if e["kind"] == "house":
            v = ctx.addrv(row, "事发地址", e["loc"])
            row.cells["事发地址"] = v
            row.roles.append(("location", "house", H[e["loc"]].uid))
        elif e["kind"] == "place":
            row.cells["事发地址"] = w.places[e["loc"]].name
            row.roles.append(("location", "place", w.places[e["loc"]].uid))
        else:
            row.cells["事发地址"] = e["loc"]           # a public spot: no entity
        row.part = e["ci"]
        yield row


def rows_zoufang(ctx, w, prog):
    P, H = w.persons, w.houses
    for v in prog["grid"]["visits"]:
        row = Row()
        row.cells.update({"走访编号": v["no"], "走访日期": ctx.datev(row, "走访日期", v["date"], "req"),
                          "网格": v["grid"], "网格员": v["worker"], "走访类型": v["vtype"],
                          "发现问题": v["problem"] or ("无" if ctx.rng.random() < 0.5 else ""),
                          "是否转为事件": "是" if v["event"] else "否", "关联事件编号": v["event"]})
        if v["person"] is not None:
            p = P[v["person"]]
            _visited_person(ctx, row, p, v["with_id"], "被访人姓名", "被访人身份证号")
            if p.status == "死亡" and p.death is not None and v["date"] > p.death:
                row.defects.append(("走访日期", "visit_after_death"))
        addr = ctx.addrv(row, "走访地址", v["house"])
        row.cells["走访地址"] = addr
        row.roles.append(("residence", "house", H[v["house"]].uid))
        row.part = v["ci"]
        yield row


# ---------------------------------------------------------------- truth

def _stamp(at: datetime | None) -> str:
    return "" if at is None else f"{at:%Y-%m-%d %H:%M}"


def _registered(w, kind: str, loc) -> bool:
    """Whether an event's location has a grid rootdb can know: a house in the standard
    address registry, or a place at one (R37: else the platform's 所属网格)."""
    if kind == "place":
        kind, loc = "house", w.places[loc].house
    return kind == "house" and loc is not None and bool(w.houses[loc].code)


def write_truth(w, prog, truth: Path) -> None:
    P, H = w.persons, w.houses
    grid = prog["grid"]
    with open(truth / "events.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(("event_no", "reported_at", "category", "subcategory", "source", "status", "time_limit_days",
                     "deadline", "closed_at", "on_time", "satisfaction", "person_uid", "location_type",
                     "location_uid", "location_text", "community", "grid", "platform_grid", "overdue",
                     "days_overdue"))
        for e in sorted(grid["events"], key=lambda e: e["no"]):
            kind = e["kind"]
            uid = (H[e["loc"]].uid if kind == "house" else w.places[e["loc"]].uid if kind == "place" else "")
            text = e["loc"] if kind in ("spot", "none") else ""
            overdue = e["status"] in ("处置中", "待受理") and e["deadline"].date() < REF
            on_time = "" if e["closed"] is None else str(e["closed"] <= e["deadline"]).lower()
            wr.writerow((e["no"], _stamp(e["reported"]), e["cat"], e["sub"], e["source"], e["status"], e["limit"],
                         _stamp(e["deadline"]), _stamp(e["closed"]), on_time, e["sat"],
                         P[e["person"]].uid if e["person"] is not None else "",
                         kind if kind != "none" else "", uid, text, w.communities[e["ci"]][1],
                         e["grid"] if _registered(w, kind, e["loc"]) else e["platform_grid"], e["platform_grid"],
                         str(overdue).lower(), (REF - e["deadline"].date()).days if overdue else ""))
    with open(truth / "visits.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(("visit_no", "visit_date", "house_uid", "person_uid", "visit_type", "event_no"))
        for v in grid["visits"]:
            wr.writerow((v["no"], iso(v["date"]), H[v["house"]].uid,
                         P[v["person"]].uid if v["person"] is not None else "", v["vtype"], v["event"]))
    last = {}
    for v in grid["visits"]:
        for key in (("house", v["house"]), ("person", v["person"])):
            if key[1] is not None and v["date"] <= REF:
                last[key] = max(last.get(key, v["date"]), v["date"])
    with open(truth / "special_groups.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(("person_uid", "name", "groups", "community", "grid", "house_uid", "last_visit",
                     "visited_90d"))
        for i, groups in sorted(grid["groups"].items()):
            p, h = P[i], H[P[i].res]
            seen = [d for d in (last.get(("person", i)), last.get(("house", p.res))) if d is not None]
            lv = max(seen) if seen else None
            recent = lv is not None and (REF - lv).days < VISIT_WINDOW
            wr.writerow((p.uid, p.name, "、".join(groups), h.community, h.grid, h.uid, iso(lv), str(recent).lower()))


TRUTH_README_GRID = """
## events.csv — shijian, one row per event, as it really is
event_no (事件编号), reported_at and deadline (上报时间 and 上报时间 + 办理时限, YYYY-MM-DD HH:MM),
category (事件大类; 环境卫生 and 物业管理 are local classes outside the contract's list),
subcategory, source, status, time_limit_days, closed_at (empty unless 已办结), on_time
(closed_at ≤ deadline; empty when not closed), satisfaction, person_uid (当事人; empty when
anonymous), location_type (house / place / spot = a public spot, no entity / empty when
no address was written), location_uid, location_text (the spot), community, grid (R37's:
the grid of the location's house when the standard address registry has that house, else
the platform's), platform_grid (所属网格 as delivered; differs
for a few: defect platform_grid_differs), overdue (neither 已办结 nor 已退回 and the
deadline's date before the reference date) and days_overdue (reference date minus the
deadline's date). No open event has its deadline on the reference date itself.

## visits.csv — zoufang, one row per visit
visit_no, visit_date, house_uid (走访地址), person_uid (被访人; empty when the form names
nobody: the visit still counts for everyone living there), visit_type, event_no (the
event the worker reported from it). A few visits are dated after the visited person's
death (defect visit_after_death).

## special_groups.csv — R39/R40's people
One row per living resident in one of R35's special groups at the reference date:
person_uid, name, groups (高龄 80+, 独居/空巢 60+ with nobody under 60 in the house, 残疾,
低保 在保, 特困, 优抚; joined by 、), community, grid, house_uid, last_visit (the latest visit
to them or their house, empty = never), visited_90d (last_visit less than 90 days before
the reference date). No visit falls within a day of that edge.
"""
