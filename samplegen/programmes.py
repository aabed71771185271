"""Who is in which department's programme (the truth the feeds render).

Selections are mostly random with realistic rates, plus a few forced cases so that
every report in contract/outputs.md has rows (R07 dead-but-paid, R08 double benefits,
R28 subsidy misfits, R04 80+ missing from gaoling, ...).
"""
from __future__ import annotations

import random
from itertools import accumulate
from datetime import date

from .common import REF, REF_ORD, age_at, landline
from .world import World

SCHOOLS_PRIMARY = ("东胜区第一小学", "东胜区第五小学", "东胜区实验小学", "东胜区华研小学")
SCHOOLS_MIDDLE = ("东胜区第一中学", "东胜区第二中学", "东胜区第六中学")
GRADES = ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "七年级", "八年级", "九年级")
DISEASES = ("高血压", "2型糖尿病", "冠心病", "慢阻肺", "严重精神障碍")
DOCTORS = ("王建军", "李秀梅", "张丽", "刘海波", "陈静", "赵志刚")
EXTERNAL_EMPLOYERS = ("鄂尔多斯市东胜区人民医院", "内蒙古伊泰集团有限公司", "鄂尔多斯市公交公司",
                      "东胜区第一中学", "鄂尔多斯银行股份有限公司", "内蒙古汇能煤电集团有限公司",
                      "鄂尔多斯市城市管理综合执法局", "中国移动通信集团内蒙古有限公司鄂尔多斯分公司")
TUIYI_CATS = ("退役士兵", "退役军官", "伤残军人", "烈士遗属", "因公牺牲军人遗属", "带病回乡退伍军人")


def _grade(b: date):
    """Grade in school year 2026/27 (born Sep 1 2019 - Aug 31 2020 → 一年级)."""
    sy = b.year if b.month >= 9 else b.year - 1  # the school year of birth
    g = 2019 - sy + 1
    return g if 1 <= g <= 9 else None


def _pick(rng, seq, k):
    seq = list(seq)
    return rng.sample(seq, min(k, len(seq)))


def select_programmes(w: World, seed: int) -> dict:
    rng = random.Random(f"{seed}:programmes")
    P, H, HH = w.persons, w.houses, w.households
    living = [p for p in P if p.status == "正常" and p.res is not None]
    dead = [p for p in P if p.status == "死亡"]
    recent_dead = [p for p in dead if REF_ORD - p.death.toordinal() <= 365]
    ages = {p.i: age_at(p.birth) for p in P}
    prog: dict = {}

    # ---------------- dibao (households)
    local_hh = [h for h in HH if h.local and h.members]
    n_db = max(4, int(len(local_hh) * 0.03))
    forced = []
    for p in _pick(rng, [p for p in recent_dead if HH[p.hh].local and len(HH[p.hh].members) > 1], 2):
        if p.hh not in forced:
            forced.append(p.hh)
    # Cumulative weights once: the same draws as weights=, without summing every
    # household again on each draw (quadratic in a region of 5 M people).
    cum_weights = list(accumulate(3.0 if h.kind in ("single_parent", "single_elder") else 1.0 for h in local_hh))
    chosen = list(forced)
    chosen_set = set(chosen)
    while len(chosen) < n_db:
        h = rng.choices(local_hh, cum_weights=cum_weights)[0]
        if h.i not in chosen_set:
            chosen.append(h.i)
            chosen_set.add(h.i)
    dibao = []
    for k, hi in enumerate(chosen):
        status = "在保" if (hi in forced or rng.random() < 0.85) else "停保"
        cat = rng.choices(("A类", "B类", "C类"), (30, 50, 20))[0]
        per = {"A类": 780.0, "B类": 620.0, "C类": 450.0}[cat]
        members = [m for m in HH[hi].members if P[m].status != "迁出"]
        dibao.append(dict(hh=hi, cert=f"DB{H[HH[hi].house].comm_i + 1:02d}{k + 1:05d}", status=status, cat=cat,
                          amount=per * len(members), members=members,
                          approved=date.fromordinal(REF_ORD - rng.randint(30, 3600))))
    prog["dibao"] = dibao
    dibao_active = {m for d in dibao if d["status"] == "在保" for m in d["members"]}
    dibao_any = {m for d in dibao for m in d["members"]}

    # ---------------- tekun
    cands = [p for p in living if HH[p.hh].kind == "single_elder" and HH[p.hh].local and p.i not in dibao_any]
    tk = _pick(rng, cands, max(3, int(len(P) * 0.003)))
    tk += _pick(rng, [P[m] for m in sorted(dibao_active) if w.living(P[m]) and ages[m] >= 18], 2)  # R08
    taken = {p.i for p in tk}
    tk += _pick(rng, [p for p in recent_dead if HH[p.hh].local and p.i not in taken], 1)           # R07
    prog["tekun"] = [dict(p=p.i, cert=f"TK{k + 1:06d}", mode=rng.choice(("分散供养", "分散供养", "集中供养")),
                          amount=float(rng.choice((1150, 1230, 1310))),
                          start=date.fromordinal(REF_ORD - rng.randint(60, 3000))) for k, p in enumerate(tk)]
    tekun_set = {d["p"] for d in prog["tekun"]}

    # ---------------- gaoling (80+)
    gl = []
    for p in living:
        if ages[p.i] >= 80 and rng.random() < 0.9:
            gl.append((p.i, rng.choices(("正常发放", "暂停", "停发"), (93, 5, 2))[0]))
    d80 = [p for p in recent_dead if ages[p.i] >= 80]
    forced_gl = _pick(rng, d80, max(2, len(d80) // 3))
    for p in forced_gl:
        gl.append((p.i, "正常发放"))
    forced_ids = {p.i for p in forced_gl}
    for p in dead:
        if ages[p.i] >= 80 and p.i not in forced_ids and rng.random() < 0.2:
            gl.append((p.i, "停发"))
    gl.sort()
    prog["gaoling"] = gl

    # ---------------- binzang
    prog["binzang"] = [p.i for p in dead if p.reg_status == "正常" or rng.random() < 0.85]

    # ---------------- yibao
    yb = []
    for p in P:
        if not p.idn:
            continue
        if w.living(p):
            if rng.random() < 0.93:
                st = rng.choices(("参保缴费", "暂停缴费", "终止参保"), (88, 8, 4))[0]
            else:
                continue
        elif rng.random() < 0.5:
            st = "终止参保"
        else:
            continue
        cat = "城镇职工" if 18 <= ages[p.i] < 60 and rng.random() < 0.55 else "城乡居民"
        yb.append((p.i, st, cat))
    prog["yibao"] = yb

    # ---------------- canji
    cj = []
    for p in living:
        a = ages[p.i]
        if a >= 3 and rng.random() < (0.015 + (0.03 if a >= 60 else 0)):
            cj.append(p)
    cj_dead = _pick(rng, [p for p in dead if ages[p.i] >= 18], 2)
    canji = []
    for p in cj + cj_dead:
        cat = rng.choices(range(1, 8), (12, 12, 4, 40, 12, 12, 8))[0]
        grade = rng.choices(range(1, 5), (15, 25, 30, 30))[0]
        poor = p.i in dibao_active or p.i in tekun_set
        severe = grade <= 2
        sub = ("两项均享受" if poor and severe else "困难残疾人生活补贴" if poor else
               "重度残疾人护理补贴" if severe else "无")
        r = rng.random()
        if r < 0.04 and not poor:
            sub = "困难残疾人生活补贴"       # R28: no dibao/tekun
        elif r < 0.08 and not severe:
            sub = "重度残疾人护理补贴"       # R28: grade 3/4
        if p in cj_dead and sub == "无":
            sub = "重度残疾人护理补贴" if severe else "困难残疾人生活补贴"
        canji.append(dict(p=p.i, cat=cat, grade=grade, sub=sub))
    # make sure both R28 misfit kinds occur
    if not any(d["sub"] == "困难残疾人生活补贴" and d["p"] not in dibao_active and d["p"] not in tekun_set for d in canji):
        canji[0]["sub"] = "困难残疾人生活补贴"
        if canji[0]["p"] in dibao_active or canji[0]["p"] in tekun_set:
            for d in canji:
                if d["p"] not in dibao_active and d["p"] not in tekun_set:
                    d["sub"] = "困难残疾人生活补贴"
                    break
    if not any(d["sub"] in ("重度残疾人护理补贴", "两项均享受") and d["grade"] >= 3 for d in canji):
        for d in canji:
            if d["grade"] >= 3:
                d["sub"] = "重度残疾人护理补贴"
                break
    canji.sort(key=lambda d: d["p"])
    prog["canji"] = canji
    canji_set = {d["p"] for d in canji}

    # ---------------- jiuzhu
    jz = []
    for p in P:
        if not w.living(p):
            continue
        if p.i in dibao_active and rng.random() < 0.35:
            cat = "低保对象"
        elif p.i in tekun_set and rng.random() < 0.5:
            cat = "特困人员"
        elif rng.random() < 0.004:
            cat = rng.choice(("低收入人口", "因病致贫"))
        else:
            continue
        jz.append(dict(p=p.i, cat=cat, amount=float(rng.randint(3, 400) * 50),
                       date=date.fromordinal(REF_ORD - rng.randint(5, 700))))
    prog["jiuzhu"] = jz

    # ---------------- manbing
    mb = []
    for p in living:
        a = ages[p.i]
        if a >= 35 and rng.random() < min(0.45, 0.02 + (a - 35) * 0.006):
            k = rng.choices((1, 2, 3), (70, 25, 5))[0]
            ds = sorted(rng.sample(range(4), k)) if rng.random() > 0.03 else [4]
            mb.append(dict(p=p.i, dis="、".join(DISEASES[j] for j in ds),
                           level=rng.choices(("一级", "二级", "三级"), (50, 35, 15))[0],
                           doctor=rng.choice(DOCTORS)))
    prog["manbing"] = mb
    mb_set = {d["p"] for d in mb}

    # ---------------- qianyue
    qy = []
    for p in living:
        a = ages[p.i]
        key = ("老年人" if a >= 65 else "慢病患者" if p.i in mb_set else "残疾人" if p.i in canji_set
               else "儿童" if a <= 6 else "无")
        if rng.random() < (0.7 if key != "无" else 0.18):
            pack = {"老年人": "老年人包", "慢病患者": "慢病包", "儿童": "儿童包"}.get(key, "基础包")
            if key == "无" and p.sex == "女" and 22 <= a <= 40 and rng.random() < 0.2:
                key, pack = "孕产妇", "孕产妇包"
            qy.append(dict(p=p.i, team=f"{w.houses[p.res].community}家庭医生团队{rng.randint(1, 3)}",
                           date=date.fromordinal(REF_ORD - rng.randint(10, 1000)), pack=pack, group=key))
    prog["qianyue"] = qy

    # ---------------- places by kind (for ertong / jiuye)
    nurseries = [pl for pl in w.places if pl.kind in ("托育机构", "学校")]
    nursery_by_comm: dict = {}
    for pl in nurseries:
        if pl.house is not None:
            nursery_by_comm.setdefault(H[pl.house].comm_i, []).append(pl)

    # ---------------- ertong (0-6)
    et = []
    for p in living:
        if ages[p.i] <= 6 and rng.random() < 0.93:
            g = p.mother if p.mother is not None else p.father
            if g is None:
                g = next((m for m in HH[p.hh].members if P[m].rel == "户主" and m != p.i), None)
            a = ages[p.i]
            opts = nursery_by_comm.get(H[p.res].comm_i, [])
            nursery = ""
            if a >= 3 and rng.random() < 0.8:
                k = [o for o in opts if o.kind == "学校"] or opts
                nursery = rng.choice(k).name if k else "东胜区实验幼儿园"
            elif 1 <= a < 3 and rng.random() < 0.2:
                k = [o for o in opts if o.kind == "托育机构"] or opts
                nursery = rng.choice(k).name if k else ""
            exam = date.fromordinal(REF_ORD - rng.randint(3, 520)) if rng.random() < 0.95 else None
            if exam is not None and exam < p.birth:
                exam = None
            et.append(dict(p=p.i, g=g, nursery=nursery, exam=exam))
    prog["ertong"] = et

    # ---------------- chusheng (born in the last 24 months)
    cs = []
    for p in P:
        if REF_ORD - p.birth.toordinal() <= 730 and p.res is not None and rng.random() < 0.95:
            cs.append(dict(p=p.i, cert=f"{'P' if p.birth.year >= 2026 else 'O'}{150 + p.i % 7}{rng.randrange(10 ** 7):07d}",
                           weight=rng.randint(2500, 4200)))
    prog["chusheng"] = cs

    # ---------------- xueji
    xj = []
    for p in living:
        g = _grade(p.birth)
        if g and p.idn and rng.random() < 0.96:
            school = rng.choice(SCHOOLS_PRIMARY if g <= 6 else SCHOOLS_MIDDLE)
            gd = p.mother if p.mother is not None and rng.random() < 0.6 else p.father
            if gd is None:
                gd = p.mother
            xj.append(dict(p=p.i, school=school, grade=GRADES[g - 1], g=gd))
    prog["xueji"] = xj

    # ---------------- shichang: make sure R08's second case occurs
    biz = [pl for pl in w.places if pl.in_shichang]
    db_reps = [P[m] for m in sorted(dibao_active) if w.living(P[m]) and 22 <= ages[m] <= 68 and P[m].idn and P[m].in_reg]
    active_biz = [pl for pl in biz if pl.status in ("存续", "在业")]
    for pl, p in zip(_pick(rng, active_biz, 2), _pick(rng, db_reps, 2)):
        pl.rep = p.i
        pl.phone = p.phone
    prog["shichang"] = [pl.i for pl in biz]

    # ---------------- yanglao
    yl = []
    for p in living:
        a = ages[p.i]
        if (a >= 60 or (p.sex == "女" and a >= 55)) and p.idn and rng.random() < 0.85:
            yl.append(p.i)
    yl_dead = _pick(rng, [p for p in recent_dead if ages[p.i] >= 60 and p.idn], 3)
    yanglao = []
    yl_dead_ids = {q.i for q in yl_dead}
    for i in yl + [p.i for p in yl_dead]:
        p = P[i]
        ret_age = 60 if p.sex == "男" else rng.choice((50, 55))
        start = date(min(REF.year, p.birth.year + ret_age), p.birth.month, 1)
        if start > REF:
            start = date(REF.year, 1, 1)
        kind = rng.choices(("企业职工基本养老保险", "城乡居民基本养老保险", "机关事业单位养老保险"), (55, 35, 10))[0]
        amount = {"企业职工基本养老保险": rng.randint(2200, 4800), "城乡居民基本养老保险": rng.randint(180, 600),
                  "机关事业单位养老保险": rng.randint(4500, 8000)}[kind]
        status = "正常" if i in yl_dead_ids else rng.choices(("正常", "暂停", "终止"), (95, 3, 2))[0]
        yanglao.append(dict(p=i, kind=kind, amount=float(amount), start=start, status=status))
    yanglao.sort(key=lambda d: d["p"])
    prog["yanglao"] = yanglao

    # ---------------- jiuye
    known = [pl for pl in w.places if pl.code and (pl.status in ("存续", "在业", ""))]
    jy = []
    for p in living:
        a = ages[p.i]
        if 16 <= a <= 59 and p.idn and rng.random() < 0.18:
            typ = "就业" if rng.random() < 0.8 else "失业"
            emp, emp_pl = "", None
            if typ == "就业":
                if known and rng.random() < 0.4:
                    pl = rng.choice(known)
                    emp, emp_pl = pl.name, pl.i
                else:
                    emp = rng.choice(EXTERNAL_EMPLOYERS)
            jy.append(dict(p=p.i, typ=typ, emp=emp, emp_pl=emp_pl,
                           date=date.fromordinal(REF_ORD - rng.randint(5, 1000)),
                           hard="是" if rng.random() < 0.12 else "否"))
    prog["jiuye"] = jy

    # ---------------- fangwu
    occ: dict = {}
    for hh in HH:
        occ[hh.house] = hh
    heads = [HH_.members[0] for HH_ in HH if HH_.local and HH_.members]
    heads = [m for m in heads if P[m].idn]
    fw = []
    k = 0
    for h in H:
        if h.external or rng.random() < 0.06:
            continue
        hh = occ.get(h.i)
        tenant = None
        if hh is not None and hh.local:
            owner = hh.members[0] if P[hh.members[0]].idn else rng.choice(heads)
            rented = False
        elif hh is not None:
            owner = rng.choice(heads)
            rented = True
            tenant = hh.members[0]
        else:
            owner = rng.choice(heads)
            rented = False
        k += 1
        area = round(rng.uniform(45, 145), 2) if h.usage == "住宅" else round(rng.uniform(30, 260), 2)
        fw.append(dict(h=h.i, no=f"FW{h.comm_i + 1:02d}{k:07d}", owner=owner, area=area,
                       rented=rented, tenant=tenant))
    prog["fangwu"] = fw

    # ---------------- gongzufang
    db_hh = {d["hh"] for d in dibao}
    gz = []
    for hh in HH:
        if not hh.local or not hh.members:
            continue
        if rng.random() < (0.3 if hh.i in db_hh else 0.008):
            start = date.fromordinal(REF_ORD - rng.randint(30, 1800))
            head = hh.members[0]
            if not w.living(P[head]):
                continue
            gz.append(dict(hh=hh.i, p=head, n=len([m for m in hh.members if w.living(P[m])]),
                           rent=float(rng.randint(120, 380)),
                           start=start, end=date(start.year + 3, start.month, min(start.day, 28))))
    if len(gz) < 3:   # small samples: still a few public-rental tenants (R21)
        have = {d["hh"] for d in gz}
        for hh in sorted((h for h in HH if h.local and h.members and h.i not in have and w.living(P[h.members[0]])),
                         key=lambda h: (h.i not in db_hh, h.i))[: 3 - len(gz)]:
            start = date.fromordinal(REF_ORD - rng.randint(30, 1800))
            gz.append(dict(hh=hh.i, p=hh.members[0], n=len([m for m in hh.members if w.living(P[m])]),
                           rent=float(rng.randint(120, 380)), start=start,
                           end=date(start.year + 3, start.month, min(start.day, 28))))
        gz.sort(key=lambda d: d["hh"])
    prog["gongzufang"] = gz

    # ---------------- tuiyi
    ty = []
    for p in living:
        a = ages[p.i]
        if 25 <= a <= 95 and rng.random() < (0.03 if p.sex == "男" else 0.003):
            ty.append(p)
    ty_dead = _pick(rng, [p for p in recent_dead if ages[p.i] >= 40 and p.sex == "男" and p.idn], 2)
    tuiyi = []
    for p in ty + ty_dead:
        cat = rng.choices(TUIYI_CATS, (70, 8, 6, 4, 2, 10))[0]
        ey = p.birth.year + rng.randint(18, 20)
        enl = date(ey, rng.choice((3, 9, 12)), 1)
        ret = date(min(REF.year - 1, ey + rng.choice((2, 2, 3, 5, 8, 12, 16))), rng.choice((3, 9, 12)), 1)
        amt = {"退役士兵": 0.0, "退役军官": 0.0}.get(cat, float(rng.randint(300, 1800)))
        if cat == "带病回乡退伍军人":
            amt = float(rng.randint(500, 900))
        if p in ty_dead and amt == 0:
            amt = float(rng.randint(300, 900))
        tuiyi.append(dict(p=p.i, cat=cat, enl=enl, ret=ret, amount=amt))
    tuiyi.sort(key=lambda d: d["p"])
    prog["tuiyi"] = tuiyi
    tuiyi_set = {d["p"] for d in tuiyi}

    # ---------------- community roster (older, imported years ago, kept partly current)
    jy_emp = {d["p"]: d["emp"] for d in jy}
    yl_set = {d["p"] for d in yanglao}
    fam_0_3 = set()
    for p in living:
        if ages[p.i] <= 3:
            fam_0_3.add(p.hh)
    wants_care = {hi for hi in sorted(fam_0_3) if rng.random() < 0.45}
    cr = []
    for p in P:
        if p.status == "迁出":
            if rng.random() < 0.5:
                cr.append(dict(p=p.i, typ="外出", work="", tags="", note="已迁出"))
            continue
        if p.res is None:
            continue
        if REF_ORD - p.birth.toordinal() < 365 and rng.random() < 0.7:
            continue
        if p.status == "死亡" and rng.random() < 0.4:
            continue
        if rng.random() < 0.08:
            continue
        hh = HH[p.hh]
        a = ages[p.i]
        typ = "户籍" if p.registered else ("寄住" if rng.random() < 0.05 else "流动")
        if a < 7:
            work = ""
        elif a < 19:
            work = "学生"
        elif p.i in jy_emp and jy_emp[p.i]:
            work = jy_emp[p.i]
        elif p.i in yl_set or a >= 60:
            work = "退休"
        else:
            work = rng.choice(("无业", "个体", "", "灵活就业", rng.choice(EXTERNAL_EMPLOYERS)))
        tags = []
        alive = [m for m in hh.members if w.living(P[m])]
        if a >= 60 and len(alive) == 1:
            tags.append("独居")
        elif a >= 60 and alive and all(ages[m] >= 60 for m in alive):
            tags.append("空巢")
        if a >= 22 and rng.random() < 0.08:
            tags.append("党员")
        if 18 <= a <= 70 and rng.random() < 0.03:
            tags.append("志愿者")
        if p.i in dibao_any:
            tags.append("低保户")
        if p.i in canji_set:
            tags.append("残疾人")
        if p.i in tuiyi_set:
            tags.append("退役军人")
        if p.hh in wants_care and (a <= 3 or p.rel in ("户主", "配偶") and rng.random() < 0.6 or p.i in
                                   {P[c].mother for c in hh.members if ages[c] <= 3}):
            tags.append("托幼服务需求")
        note = ""
        if p.status == "死亡" and rng.random() < 0.3:
            note = "已故"
        elif rng.random() < 0.01:
            note = rng.choice(("电话已停机", "常年在外务工", "租户", "需重点关注"))
        cr.append(dict(p=p.i, typ=typ, work=work, tags=";".join(tags), note=note))
    prog["community"] = cr
    prog["staff_phone"] = landline(rng)
    return prog

