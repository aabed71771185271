"""Deterministic sample data for rootdb: the 24 delivered files plus ground truth.

    python -m samplegen.generate --out sample_data --persons 3000 --seed 20261101
    python -m samplegen.generate --out /tmp/area --persons 20000 --seed 7 --styles all

``--styles all`` generates an independent area instead of the bundled sample's: other
names (province to road, drawn by seed from wider lists), several communities, compounds
with one or two doorplates in their standard addresses, departments writing every house
in every way (doorplate only, name only, a unique short name, 栋/幢/座/#, 号/房 for the
room, dashes, Chinese numerals, full-width digits, remarks, spaces, partial prefixes),
the community roster and the chronic-disease file delivered one file per community,
GB18030 CSVs whose header starts with characters that are valid UTF-8 pairs, and the
ID and name defects more frequent. Its truth is written the same way.

Same seed and persons → byte-identical files (CSV and xlsx). Birth dates and every
"recent" date are drawn relative to a fixed reference date (2026-11-01), never today.
The ground truth in ``<out>/_truth/`` is described in ``_truth/README.md``.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from pathlib import Path

from .common import REF, iso
from .feeds import FEED_ORDER, file_name, write_all
from .grid import TRUTH_README_GRID, select_grid
from .grid import write_truth as write_grid_truth
from .programmes import select_programmes
from .world import build_world

DEFAULT_PERSONS = 3000
DEFAULT_SEED = 20261101
STYLES = ("default", "all")


def generate(out_dir: Path, persons: int = DEFAULT_PERSONS, seed: int = DEFAULT_SEED,
             styles: str = "default") -> dict:
    """Write the sample files into ``out_dir`` (created if needed; previous generator
    output there is replaced). ``styles``: "default" (the bundled sample's area and
    styles) or "all" (an independent area, every address style and defect; see the
    module's docstring). Returns {"files": {name: data rows}, "persons": …, …}."""
    if styles not in STYLES:
        raise ValueError(f"styles must be one of {STYLES}")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for feed in FEED_ORDER:
        (out_dir / file_name(feed)).unlink(missing_ok=True)
    if (out_dir / "_truth").exists():
        listed = out_dir / "_truth" / "files.csv"
        if listed.exists():   # earlier output of any style (feeds in parts have other names)
            with open(listed, encoding="utf-8", newline="") as fh:
                for f in csv.DictReader(fh):
                    if f.get("file") and "/" not in f["file"]:
                        (out_dir / f["file"]).unlink(missing_ok=True)
        shutil.rmtree(out_dir / "_truth")
    world = build_world(int(persons), int(seed), independent=styles == "all")
    prog = select_programmes(world, int(seed))
    prog["grid"] = select_grid(world, prog, int(seed))
    counts = write_all(world, prog, out_dir, int(seed))
    _write_entities(world, out_dir / "_truth")
    write_grid_truth(world, prog, out_dir / "_truth")
    readme = TRUTH_README + TRUTH_README_GRID
    readme = readme if styles == "default" else readme + TRUTH_README_ALL
    (out_dir / "_truth" / "README.md").write_text(readme, encoding="utf-8")
    return {
        "out_dir": str(out_dir),
        "persons": len(world.persons),
        "houses": sum(1 for h in world.houses if not h.external),
        "places": len(world.places),
        "communities": len(world.communities),
        "seed": int(seed),
        "styles": styles,
        "area": f"{world.area.prefix}{'、'.join(dict.fromkeys(c[0] for c in world.communities))}",
        "files": counts,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _write_entities(w, truth: Path):
    P, H, HH = w.persons, w.houses, w.households
    with open(truth / "persons.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(("person_uid", "name", "id_number", "sex", "birth_date", "ethnicity", "household_no", "relation",
                     "registered", "in_registry", "status", "death_date", "residence_house_uid",
                     "registered_house_uid", "phone", "mother_uid", "father_uid", "registry_status"))
        for p in P:
            wr.writerow((p.uid, p.name, p.idn, p.sex, iso(p.birth), p.eth, HH[p.hh].no, p.rel,
                         "true" if p.registered else "false", "true" if p.in_reg else "false", p.status,
                         iso(p.death), H[p.res].uid if p.res is not None else "",
                         H[p.reg].uid if p.reg is not None else "", p.phone,
                         P[p.mother].uid if p.mother is not None else "",
                         P[p.father].uid if p.father is not None else "", p.reg_status))
    with open(truth / "houses.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(("house_uid", "address_code", "street", "community", "grid", "compound", "building", "unit",
                     "room", "standard_address", "usage"))
        for h in H:
            wr.writerow((h.uid, h.code, h.street, h.community, h.grid, h.compound, f"{h.bno}号楼" if h.bno else "",
                         f"{h.uno}单元" if h.uno else "", h.room, h.std, h.usage))
    with open(truth / "places.csv", "w", encoding="utf-8", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(("place_uid", "place_code", "uscc", "name", "kind", "house_uid", "legal_rep_uid", "status"))
        for pl in w.places:
            wr.writerow((pl.uid, pl.code, pl.uscc, pl.name, pl.kind, H[pl.house].uid if pl.house is not None else "",
                         P[pl.rep].uid if pl.rep is not None else "", pl.status))


TRUTH_README = f"""# Ground truth of the sample data

Written by `python -m samplegen.generate` (see `samplegen/`). Everything is
as of the reference date {iso(REF)}. All files are CSV, UTF-8, header row first.
Folders starting with `_` are skipped by `rootdb ingest`.

## persons.csv — one row per real person
| column | meaning |
| --- | --- |
| person_uid | generator's id (`P0000001`) |
| name | true name |
| id_number | true 18-char resident ID (GB 11643, upper-case X); empty for newborns without one yet |
| sex | 男 / 女 (agrees with the 17th ID digit) |
| birth_date | YYYY-MM-DD |
| ethnicity | 汉族, 蒙古族, … |
| household_no | 户号 (also for people missing from the registry: their household's number) |
| relation | 与户主关系 |
| registered | true = 户籍 in this area (户籍人口); false = 流动人口 |
| in_registry | true = has a row in registry_persons |
| status | truth: 正常 / 死亡 / 迁出 |
| death_date | YYYY-MM-DD for the dead |
| residence_house_uid | the house the person lives (lived) in; empty for 迁出 |
| registered_house_uid | the house of the 户籍地址 (an external house for 流动人口; empty when not in the registry) |
| phone | true phone (may be a landline or empty) |
| mother_uid, father_uid | parents when they are in the data |
| registry_status | the registry's 人员状态; differs from status for a few recent deaths the registry has not recorded yet (still 正常 there, dead per 殡葬) |

## houses.csv — one row per house
house_uid, address_code (地址编码; empty if the house is not in registry_addresses),
street, community, grid, compound (小区; empty for street-front houses such as 建设路12号),
building (3号楼), unit (2单元), room (501), standard_address, usage (住宅/商业/办公).
Houses with an empty community are outside the area: the registered (户籍) addresses of
floating people, which appear only as text in registry_persons / binzang.

## places.csv — one row per place / organisation
place_uid, place_code (场所编码; empty if not in registry_places), uscc (valid GB 32100),
name, kind (企业 / 个体工商户 / 农民专业合作社 / 学校 / 医疗机构 / 养老机构 / 托育机构),
house_uid (premises), legal_rep_uid (person), status (shichang 登记状态, empty for institutions).

## records.csv — the crosswalk truth
file, source_row, role, entity_type, entity_uid. One row per (file row, role) whose
columns are non-empty in that row. source_row is the row number a spreadsheet program
shows (title rows count; a CSV's header line is row 1). Roles are those of
contract/outputs.md. Rows that are quarantined have no records.

## files.csv
file, feed, format (csv/xlsx), encoding (CSV only: utf-8, utf-8-sig = with BOM, gb18030
= without BOM), header_row (row number of the header), rows_read (data rows only: not
title, header, blank or closing rows), rows_quarantined (expected), date_style (how that
file writes most of its dates: iso 1985-03-02, slash 1985/3/2, dot 1985.3.2, compact
19850302, cn 1985年3月2日, excel_date = real Excel date cells, excel_serial = plain serial
numbers; cells written otherwise are listed in defects.csv).

## quarantine.csv
file, source_row, why: `no_name_no_id` (neither name nor ID: nobody can be identified)
or `no_key` (a dibao row without 低保证号) or `no_address` (a zoufang visit without 走访地址). These rows are extra copies of real rows with
those cells cleared.

## defects.csv — where the deliberate defects are
file, source_row, column (header as written in that file), defect. Header defects have
the header's row number. Codes:
- IDs: excel_number_id (xlsx numeric cell, last 3 digits lost), id15 (legacy 15-digit),
  fullwidth_digits, id_spaces, lowercase_x, bad_checksum, other_persons_id (a real
  registry ID of someone else, usually a household member), missing_id
- names: homophone (same pinyin), name_typo (one character off), name_spaces (incl.
  full-width space), empty_name (row still identifiable by its valid ID),
  newborn_placeholder_name (chusheng "某某之子")
- dates: a cell written in a style other than its file's date_style (files.csv):
  date_format_slash / date_format_dot / date_format_compact / date_format_cn
  (1985/3/2, 1985.3.2, 19850302, 1985年3月2日), excel_date (real Excel date cell),
  excel_serial (plain serial number); swapped_day_month (value is the true date with
  day and month swapped), impossible_date (e.g. 1985-02-30), yearmonth_compact (202407;
  2024-07 is not listed)
- phones: multi_phone (two numbers joined by 、 / , ，), phone_none ("无")
- addresses: address_dash (3栋2-501), address_cn_numerals (三号楼二单元五〇一室),
  address_partial_prefix (part of the province…community prefix). Full standard
  addresses and prefix-less ones ("幸福小区3号楼2单元501") are normal and not listed.
- shichang: bad_uscc_checksum
- shijian: excel_datetime (a real Excel date-time cell), datetime_no_time (the date alone),
  date_format_slash / date_format_cn on 上报时间 and 办结时间 (the file writes 2026-10-12 14:22),
  platform_grid_differs (所属网格 is not the grid of the house or place)
- zoufang: visit_after_death
- headers: header_alias (身份证号码, 联系方式, 成员身份证号码), header_spaces,
  header_halfwidth_brackets ("(元)")

## Forced cases (so every report has rows)
Dead people still active in dibao (在保), tekun, gaoling (正常发放), yanglao (正常), canji
(subsidy) and tuiyi (优抚金 > 0); dibao 在保 members also in tekun; dibao members who
are legal representatives of 存续/在业 businesses; canji subsidy misfits (困难残疾人生活补贴
without dibao/tekun, 重度残疾人护理补贴 with grade 三级/四级); about 10% of living 80+
missing from gaoling.
"""


TRUTH_README_ALL = """
## This area: --styles all
Generated with `--styles all`: an independent area (names drawn by seed), compounds
whose standard addresses carry a doorplate (`康宁路83号康城雅苑1号楼1单元101室`; a compound
with two gates has two doorplates, each written by half its buildings), the community
roster (`community_residents_<community or its pinyin>_<period>.xlsx`) and manbing
(`manbing_<community>_<period>.xlsx`) delivered one file per community, other CSV
encodings (files.csv says which). ID and name defects are 1.5 times as frequent.

Addresses are written in every way a department writes them; each way other than the
standard address (with or without the full prefix) is listed in defects.csv, several
codes per cell when several apply:
- address_name_only: the compound by its name, no doorplate (`康城雅苑1号楼1单元101`)
- address_doorplate_only: by its doorplate, no name (`康宁路83号1号楼1单元101室`)
- address_other_doorplate: by the compound's other doorplate
- address_short_name: by a short name that is unique in the area (`御景4号楼3单元101`)
- address_building_marker: 栋 / 幢 / 座 / # / 号 for 号楼
- address_room_marker: 号 or 房 for 室
- address_dash: `4-3-101`, `4栋3-101`
- address_cn_numerals: `四号楼三单元一〇一室`, `康宁路八十三号`
- address_fullwidth_digits: `１号楼１单元１０１室`
- address_remark: words after the address (（租户）, 西户, 电联, 底商 …)
- address_spaces: a space (or a full-width one) between parts
- address_partial_prefix: part of the province…community prefix (a district and no street,
  a street, a community, …)
Every written form picks out exactly one house of the area.
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m samplegen.generate", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("sample_data"))
    ap.add_argument("--persons", type=int, default=DEFAULT_PERSONS)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--styles", choices=STYLES, default="default",
                    help="all: an independent area with every address style, feeds in parts and other encodings")
    a = ap.parse_args(argv)
    if a.persons < 50:
        ap.error("--persons must be at least 50")
    s = generate(a.out, a.persons, a.seed, a.styles)
    width = max(len(k) for k in s["files"])
    for name, n in s["files"].items():
        print(f"{name:<{width}}  {n:>9,} rows")
    print(f"{s['persons']:,} persons, {s['houses']:,} houses, {s['places']:,} places, "
          f"{s['communities']} communities ({s['area']}) → {s['out_dir']} in {s['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
