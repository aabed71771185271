"""Floor plans of the residential buildings in 红黄蓝: the pictures of a report whose
template says `pictures: floorplans` (R41 楼栋慢病分色表).

For each residential building of the standard address registry, one SVG: floors up
(the top floor first), the rooms of a floor across, grouped by 单元, each house a cell
with its room number in its colour — 红 / 黄 / 蓝 by the chronic patients living there,
grey for an empty flat — with the building's name, grid, 责任医生, counts and a legend.
A flat the registry lacks where people live (counted in R41's row 地址未匹配, not in the
building's) is drawn in its colour with a dashed outline, so the grid worker can check
its address.
And one offline HTML page per community with all its buildings inline (no external
resource: opened from a USB stick on an office PC), printed one building per A4 page,
landscape. Laid out as

    <folder>/<社区>.html
    <folder>/<社区>/<小区><楼栋>.svg      (幸福小区3号楼.svg; a street house 建设路12号.svg)

Drawn from the shared report tables `r_house_colours` and `r_building_colours` of
`report_templates/_base.sql`, so the counts are the workbook's. Nothing personal is
drawn: room numbers, colours, counts and the doctor's name only, and every text is
masked by content as every output is. The geometry of the cells is worked out in SQL
and their SVG text by polars expressions; Python loops over buildings only.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from rootdb.privacy import mask_frame
from rootdb.reports.output import safe_name

TITLE = "楼栋平面图"  # the pictures' folder is <code>_楼栋平面图 beside the workbook
SVG_NAMESPACE = "http://www.w3.org/2000/svg"

FONTS = ('"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",'
         'SimHei,sans-serif')
# Fill and text colour of each kind of cell; the words name them for a grey print.
COLOURS = {"红": ("#d32f2f", "#ffffff"), "黄": ("#fbc02d", "#212121"), "蓝": ("#1e6fd0", "#ffffff"),
           "空": ("#e6e6e6", "#8a8a8a")}
CLASSES = {"红": "r", "黄": "y", "蓝": "b", "空": "e"}
LEGEND = (("红", "红：有三级管理或严重精神障碍患者"), ("黄", "黄：有其他慢病患者"),
          ("蓝", "蓝：无慢病患者"), ("空", "灰：空置（无人居住）"))
UNPLACED = "x"  # the class of a flat the registry lacks: a dashed outline
UNPLACED_LEGEND = "虚线框：标准地址库中没有的房屋，另有 {n} 户（计入表中“地址未匹配”一行，请核实地址）"

CELL_W, CELL_H = 64, 40  # one house
UNIT_GAP = 18  # between 单元 (the stairwell)
LEFT = 24 + 52  # margin and the floor labels
TOP = 132  # title, lines, counts, unit headers
BOTTOM = 86  # legend
LEGEND_LINE = 26  # one more line of legend for the dashed flats
RIGHT = 24
MIN_WIDTH = 720  # room for the heading and the legend

# The cells: position in the building, from the shared table. column_index counts the
# rooms of the floor across the units; a room without a number gets a column of its own.
CELLS_SQL = """
WITH houses AS (
    SELECT community, compound, building, unit, room, floor, position, colour, false AS unplaced
    FROM r_house_colours
    UNION ALL
    SELECT community, compound, building, unit, room, floor, position, colour, true
    FROM r_unplaced_house_colours WHERE building IS NOT NULL
), c AS (
    SELECT h.*, concat_ws('|', h.community, coalesce(h.compound, ''), coalesce(h.building, ''))
               AS building_key,
           coalesce(h.unit, '') AS unit_key,
           CASE WHEN h.position IS NOT NULL THEN lpad(CAST(h.position AS VARCHAR), 6, '0')
                ELSE '~' || coalesce(h.room, '') END AS column_key
    FROM houses h
), columns AS (
    SELECT DISTINCT building_key, unit, unit_key, column_key FROM c
), numbered AS (
    SELECT building_key, unit_key, column_key,
           dense_rank() OVER (units ORDER BY try_cast(unit AS INTEGER) NULLS LAST, unit_key) - 1
               AS unit_index,
           row_number() OVER (units ORDER BY try_cast(unit AS INTEGER) NULLS LAST, unit_key, column_key) - 1
               AS column_index
    FROM columns
    WINDOW units AS (PARTITION BY building_key)
)
SELECT c.building_key, c.unit, coalesce(c.room, '') AS room, c.floor, coalesce(c.colour, '空') AS colour,
       c.unplaced, n.unit_index, n.column_index
FROM c JOIN numbered n USING (building_key, unit_key, column_key)
ORDER BY c.building_key, c.floor DESC, n.column_index
"""

BUILDINGS_SQL = """
SELECT concat_ws('|', b.community, coalesce(b.compound, ''), coalesce(b.building, '')) AS building_key,
       b.community, b.grid, coalesce(b.compound, '') AS compound, coalesce(b.building_label, '') AS building,
       b.households, b.red, b.yellow, b.blue, b.empty, b.patients, b.doctor, b.unplaced
FROM r_building_colours b LEFT JOIN r_grids g ON g.community = b.community AND g.grid = b.grid
WHERE b.community IS NOT NULL  -- not the houses at addresses the registry lacks
ORDER BY g.sort_key, b.compound NULLS LAST, try_cast(b.building AS INTEGER) NULLS LAST, b.building, b.sort_key
"""

# The houses of R41's row 地址未匹配 per community of the area their address names (NULL:
# none), for the community pages to add up to the workbook.
UNPLACED_SQL = """
SELECT community, count(*) AS households, count(*) FILTER (WHERE colour = '红') AS red,
       count(*) FILTER (WHERE colour = '黄') AS yellow, count(*) FILTER (WHERE colour = '蓝') AS blue
FROM r_unplaced_house_colours GROUP BY community
"""


@dataclass(frozen=True)
class PlanTables:
    """What the floor plans are drawn from, read from the prepared report tables
    (`read`): the cells, the buildings and the houses of R41's row 地址未匹配 per
    community (UNPLACED_SQL). Plain frames, so a worker process can draw them."""

    cells: pl.DataFrame
    buildings: pl.DataFrame
    unplaced: pl.DataFrame

    def __len__(self) -> int:
        """The cells to draw: how large a job drawing them is."""
        return self.cells.height


def read(con: duckdb.DuckDBPyConnection) -> PlanTables:
    """The floor plans' tables of the area prepared on `con`."""
    return PlanTables(con.sql(CELLS_SQL).pl(), con.sql(BUILDINGS_SQL).pl(), con.sql(UNPLACED_SQL).pl())


def draw(con: duckdb.DuckDBPyConnection, folder: Path, title: str, as_of: dt.date) -> list[Path]:
    """Draw every residential building's floor plan and each community's page into
    `folder` (from the shared report tables on `con`); the files written."""
    return draw_tables(read(con), folder, title, as_of)


def draw_tables(tables: PlanTables, folder: Path, title: str, as_of: dt.date) -> list[Path]:
    """`draw` from the tables `read` took from the report tables; the files written."""
    unplaced = {row["community"]: row for row in tables.unplaced.iter_rows(named=True)}
    elsewhere = unplaced.get(None)
    written = []
    for community, figures in _figures(tables.cells, tables.buildings, as_of):
        for (building, svg), name in zip(figures, _file_names([b["name"] for b, _ in figures])):
            path = folder / safe_name(community) / f"{name}.svg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_standalone(svg), encoding="utf-8")
            written.append(path)
        page = folder / f"{safe_name(community)}.html"
        page.write_text(_community_page(community, figures, unplaced.get(community), elsewhere, title, as_of),
                        encoding="utf-8")
        written.append(page)
    return written


def building_figures(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> list[tuple[str, list[tuple[dict, str]]]]:
    """Per community of the prepared area, its buildings in order, each with its floor
    plan as an <svg> element (styled by `STYLE`): what `draw` writes, and what
    `rootdb serve` shows a user of the area."""
    return _figures(con.sql(CELLS_SQL).pl(), con.sql(BUILDINGS_SQL).pl(), as_of)


def _figures(cells: pl.DataFrame, buildings: pl.DataFrame,
             as_of: dt.date) -> list[tuple[str, list[tuple[dict, str]]]]:
    """`building_figures` from the cells and buildings as CELLS_SQL and BUILDINGS_SQL read
    them (not masked yet)."""
    cells = mask_frame(cells)
    buildings = mask_frame(buildings).with_columns((pl.col("compound") + pl.col("building")).alias("name"))
    bodies = _cell_bodies(cells)
    return [(community[0], [(b, _building_svg(b, *bodies.get(b["building_key"], ((0, 0, 0, 0), "")), as_of))
                            for b in group.iter_rows(named=True)])
            for community, group in buildings.group_by("community", maintain_order=True)]


def _file_names(names: list[str | None]) -> list[str]:
    """A file name per building of one community: 幸福小区3号楼; a name repeated (also in
    another case: AB小区 and ab小区 are one file on a USB stick or Windows) gets _2, _3."""
    files, seen = [], {}
    for name in names:
        base = safe_name(name or "未编楼栋")
        seen[base.casefold()] = seen.get(base.casefold(), 0) + 1
        n = seen[base.casefold()]
        files.append(base if n == 1 else f"{base}_{n}")
    return files


def _escape(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all("&", "&amp;", literal=True).str.replace_all("<", "&lt;", literal=True) \
        .str.replace_all(">", "&gt;", literal=True)


def _cell_bodies(cells: pl.DataFrame) -> dict[str, tuple[tuple[int, int, int, int], str]]:
    """Per building: (columns, units, lowest floor, top floor) and the SVG of its cells,
    floor labels and unit headers, placed below the heading."""
    if cells.is_empty():
        return {}
    key = "building_key"
    cells = cells.with_columns(pl.col("floor").max().over(key).alias("top"), pl.col("floor").min().over(key)
                               .alias("low"))
    cells = cells.with_columns(
        (LEFT + pl.col("column_index") * CELL_W + pl.col("unit_index") * UNIT_GAP).alias("x"),
        (TOP + (pl.col("top") - pl.col("floor")) * CELL_H).alias("y"))
    unplaced = pl.col("unplaced")  # a flat the registry lacks: dashed, its word says to check it
    word = pl.col("colour").replace({"空": "空置"}) + pl.when(unplaced).then(pl.lit("·待核")) \
        .otherwise(pl.lit(""))
    classes = pl.col("colour").replace(CLASSES) + pl.when(unplaced).then(pl.lit(f" {UNPLACED}")) \
        .otherwise(pl.lit(""))
    rects = cells.select(key, pl.format(
        '<g class="{}"><rect x="{}" y="{}" width="{}" height="{}" rx="3"/>'
        '<text x="{}" y="{}" class="n">{}</text><text x="{}" y="{}" class="w">{}</text></g>',
        classes, pl.col("x") + 2, pl.col("y") + 2, CELL_W - 4, CELL_H - 4,
        pl.col("x") + CELL_W // 2, pl.col("y") + 19, _escape(pl.col("room")),
        pl.col("x") + CELL_W // 2, pl.col("y") + 33, word).alias("svg"))
    units = cells.group_by(key, "unit_index", maintain_order=True).agg(
        pl.col("unit").first(), pl.col("x").min().alias("x0"), (pl.col("x").max() + CELL_W).alias("x1"))
    unit_heads = units.filter(pl.col("unit").is_not_null()).select(key, pl.format(
        '<text x="{}" y="{}" class="u">{}单元</text><line x1="{}" y1="{}" x2="{}" y2="{}" class="ul"/>',
        (pl.col("x0") + pl.col("x1")) // 2, pl.lit(TOP - 12), _escape(pl.col("unit")),
        pl.col("x0") + 2, pl.lit(TOP - 6), pl.col("x1") - 2, pl.lit(TOP - 6)).alias("svg"))
    floors = cells.select(key, "top", "floor").unique(maintain_order=True).select(key, pl.format(
        '<text x="{}" y="{}" class="f">{}层</text>', LEFT - 8,
        TOP + (pl.col("top") - pl.col("floor")) * CELL_H + CELL_H // 2 + 5, pl.col("floor")).alias("svg"))
    shapes = cells.group_by(key).agg((pl.col("column_index").max() + 1).alias("columns"),
                                     (pl.col("unit_index").max() + 1).alias("units"), pl.col("low").first(),
                                     pl.col("top").first())
    bodies = pl.concat([floors, unit_heads, rects]).group_by(key, maintain_order=True).agg(
        pl.col("svg").str.join(""))
    joined = shapes.join(bodies, on=key)
    return {k: ((c, u, lo, t), s) for k, c, u, lo, t, s in
            joined.select(key, "columns", "units", "low", "top", "svg").iter_rows()}


def _size(shape: tuple[int, int, int, int], legend_lines: int) -> tuple[int, int, int]:
    """Width and height of a building's picture (`legend_lines` below its legend's two),
    and how far its cells move right to stand in the middle of a picture the heading
    makes wider than they are."""
    columns, units, low, top = shape
    floors = top - low + 1 if columns else 0
    cells = LEFT + columns * CELL_W + max(units - 1, 0) * UNIT_GAP + RIGHT
    width = max(MIN_WIDTH, cells)
    return width, TOP + floors * CELL_H + BOTTOM + legend_lines * LEGEND_LINE, (width - cells) // 2


def _building_svg(building: dict, shape: tuple[int, int, int, int], body: str, as_of: dt.date) -> str:
    """One building's floor plan as an <svg> element (its style from `STYLE`)."""
    unplaced = building["unplaced"]
    width, height, shift = _size(shape, 1 if unplaced else 0)
    e = html.escape
    name = e(f"{building['compound']} {building['building']}".strip() or "未编楼栋")
    doctor = e(building["doctor"] or "（无）")
    place = e(" · ".join(x for x in (building["community"], building["grid"]) if x))
    counts = [("红", building["red"]), ("黄", building["yellow"]), ("蓝", building["blue"]),
              ("空", building["empty"])]
    x = 24 + 150
    chips = [f'<text x="24" y="96" class="c">住户 {building["households"]} 户</text>']
    for colour, n in counts:
        label = "空置" if colour == "空" else colour
        unit = "套" if colour == "空" else "户"
        chips.append(f'<rect x="{x}" y="81" width="18" height="18" rx="2" class="{CLASSES[colour]}s"/>'
                     f'<text x="{x + 24}" y="96" class="c">{label} {n} {unit}</text>')
        x += 130
    legend_y = height - BOTTOM - (LEGEND_LINE if unplaced else 0) + 30
    legend = []
    for i, (colour, text) in enumerate(LEGEND):
        lx, ly = 24 + (i % 2) * 340, legend_y + (i // 2) * 26
        legend.append(f'<rect x="{lx}" y="{ly - 14}" width="18" height="18" rx="2" '
                      f'class="{CLASSES[colour]}s"/>'
                      f'<text x="{lx + 26}" y="{ly}" class="l">{e(text)}</text>')
    if unplaced:
        ly = legend_y + 2 * LEGEND_LINE
        legend.append(f'<rect x="24" y="{ly - 14}" width="18" height="18" rx="2" class="{UNPLACED}s"/>'
                      f'<text x="50" y="{ly}" class="l">{e(UNPLACED_LEGEND.format(n=unplaced))}</text>')
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" class="floorplan" role="img" aria-label="{name} 慢病分色平面图">'
            f'<rect x="0" y="0" width="{width}" height="{height}" class="bg"/>'
            f'<text x="24" y="38" class="t">{name}</text>'
            f'<text x="24" y="64" class="s">{place}　责任医生：<tspan class="d">{doctor}</tspan>'
            f'　慢病患者 {building["patients"]} 人　统计日期 {as_of.isoformat()}</text>'
            + "".join(chips) + f'<g transform="translate({shift},0)">{body}</g>' + "".join(legend) + "</svg>")


STYLE = f"""
.floorplan {{ font-family: {FONTS}; }}
.floorplan .bg {{ fill: #ffffff; }}
.floorplan .t {{ font-size: 26px; font-weight: bold; fill: #111; }}
.floorplan .s {{ font-size: 16px; fill: #333; }}
.floorplan .d {{ font-weight: bold; fill: #111; }}
.floorplan .c {{ font-size: 16px; fill: #222; }}
.floorplan .l {{ font-size: 15px; fill: #333; }}
.floorplan .u {{ font-size: 15px; font-weight: bold; fill: #333; text-anchor: middle; }}
.floorplan .ul {{ stroke: #999; stroke-width: 1; }}
.floorplan .f {{ font-size: 14px; fill: #555; text-anchor: end; }}
.floorplan .n {{ font-size: 15px; font-weight: bold; text-anchor: middle; }}
.floorplan .w {{ font-size: 11px; text-anchor: middle; }}
""" + "".join(
    f".floorplan .{c} rect, .floorplan .{c}s {{ fill: {fill}; stroke: #555; stroke-width: 0.6; }}\n"
    f".floorplan .{c} text {{ fill: {ink}; }}\n" for k, c in CLASSES.items() for fill, ink in [COLOURS[k]]) \
    + f"""
.floorplan .{UNPLACED} rect, .floorplan .{UNPLACED}s {{
  stroke: #111; stroke-width: 2; stroke-dasharray: 5 3; }}
.floorplan .{UNPLACED}s {{ fill: #ffffff; }}
"""


def _standalone(svg: str) -> str:
    """A building's SVG as a file of its own: its namespace and style inside (inline in
    the HTML page it needs neither; the page holds the style once)."""
    head, rest = svg.removeprefix("<svg").split(">", 1)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="{SVG_NAMESPACE}"{head}>'
            f'<style>{STYLE}</style>{rest}\n')


COUNTS = ("households", "red", "yellow", "blue", "empty")
COUNT_CLASSES = ("", CLASSES["红"], CLASSES["黄"], CLASSES["蓝"], "")  # the coloured columns of the list


def _summary_row(cell: str, name: str, counts: dict, grid: str = "", doctor: str = "") -> str:
    """One line of a community page's list in <td> or <th> `cell`s: name, grid, the
    counts (户数, 红, 黄, 蓝, 空置; an unknown one blank) and doctor (name, grid and
    doctor as HTML)."""
    numbers = "".join(f'<{cell}{f" class={c}" if c and cell == "td" else ""}>'
                      f'{"" if counts.get(k) is None else counts[k]}</{cell}>'
                      for k, c in zip(COUNTS, COUNT_CLASSES))
    return f"<tr><{cell}>{name}</{cell}><{cell}>{grid}</{cell}>{numbers}<{cell}>{doctor}</{cell}></tr>"


def _summary(figures: list[tuple[dict, str]], unplaced: dict | None) -> str:
    """The rows of a community page's list: its buildings, then 合计; with houses of the
    workbook's row 地址未匹配 whose address names this community, the buildings' 小计, a
    line of those houses, and a 合计 of both, as the workbook adds them up."""
    e = html.escape
    rows = "".join(_summary_row("td", f'<a href="#b{i}">{e(b["compound"])}{e(b["building"])}</a>', b,
                                e(b["grid"] or ""), e(b["doctor"] or "")) for i, (b, _) in enumerate(figures))
    buildings = {k: sum(b[k] for b, _ in figures) for k in COUNTS}
    if not unplaced:
        return rows + _summary_row("th", "合计", buildings)
    total = {k: buildings[k] + (unplaced.get(k) or 0) for k in COUNTS}
    return (rows + _summary_row("th", "楼栋小计", buildings) + _summary_row("td", "地址未匹配", unplaced)
            + _summary_row("th", "合计", total))


def _summary_note(figures: list[tuple[dict, str]], unplaced: dict | None, elsewhere: dict | None) -> str:
    """What a community page says under its list about the workbook's row 地址未匹配:
    which of its houses the line 地址未匹配 counts and where they are drawn, and how many
    more the page cannot place in any community."""
    drawn = sum(b["unplaced"] for b, _ in figures)
    where = f"其中 {drawn} 户画在所在楼栋的图中（虚线框）；" if drawn else ""
    notes = [f"地址未匹配：住址写明本社区、但标准地址库中没有的房屋，{where}请核实地址。" if unplaced else "",
             f"另有 {elsewhere['households']} 户（红 {elsewhere['red']} 户、黄 {elsewhere['yellow']} 户、"
             f"蓝 {elsewhere['blue']} 户）的住址不在本辖区任何社区的标准地址中（如外地住址），"
             "只计入工作簿“地址未匹配”一行。" if elsewhere else ""]
    return "".join(f'<p class="note">{n}</p>' for n in notes if n)


def _community_page(community: str, figures: list[tuple[dict, str]], unplaced: dict | None,
                    elsewhere: dict | None, title: str, as_of: dt.date) -> str:
    """One community's buildings on one offline page: a list of them with their counts
    (`unplaced`: the counts of the houses of the workbook's row 地址未匹配 whose address
    names this community; `elsewhere`: those of the houses whose address names no
    community of the area), then every floor plan, one per printed page."""
    e = html.escape
    sections = "".join(f'<section class="plan" id="b{i}">{svg}</section>'
                       for i, (_, svg) in enumerate(figures))
    heading = f"{e(community)} {TITLE}"
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title>
<style>
body {{ font-family: {FONTS}; margin: 16px; color: #222; background: #f4f4f4; }}
h1 {{ font-size: 24px; margin: 0 0 4px; }}
p.meta {{ margin: 0 0 12px; color: #555; }}
p.note {{ margin: 0 0 8px; color: #555; font-size: 14px; }}
table {{ border-collapse: collapse; background: #fff; margin-bottom: 16px; }}
th, td {{ border: 1px solid #bbb; padding: 4px 10px; text-align: center; }}
th {{ background: #eee; }}
td.r {{ background: {COLOURS["红"][0]}; color: #fff; }} td.y {{ background: {COLOURS["黄"][0]}; }}
td.b {{ background: {COLOURS["蓝"][0]}; color: #fff; }}
section.plan {{ display: inline-block; vertical-align: top; max-width: 100%; background: #fff;
  margin: 0 12px 16px 0; padding: 8px; box-shadow: 0 1px 3px #aaa; }}
section.plan svg {{ display: block; max-width: 100%; height: auto; }}
{STYLE}
@page {{ size: A4 landscape; margin: 10mm; }}
@media print {{
  body {{ margin: 0; background: #fff; }}
  .contents {{ break-after: page; }}
  .contents a {{ color: inherit; text-decoration: none; }}
  th, td {{ padding: 1px 8px; font-size: 12px; }}
  section.plan {{ display: block; box-shadow: none; margin: 0; padding: 0; break-inside: avoid;
    break-after: page; }}
  section.plan svg {{ width: 100%; max-height: 188mm; }}
  * {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
}}
</style></head><body>
<div class="contents">
<h1>{heading}（慢病红黄蓝）</h1>
<p class="meta">{e(title)} · 统计日期 {as_of.isoformat()} · 共 {len(figures)} 栋楼。
红：户内有三级管理或严重精神障碍的慢病患者；黄：户内有其他慢病患者；蓝：户内无慢病患者；灰：空置；
虚线框：标准地址库中没有的房屋（计入“地址未匹配”，请核实地址）。</p>
<table><thead><tr><th>楼栋</th><th>网格</th><th>户数</th><th>红</th><th>黄</th><th>蓝</th><th>空置（套）</th>
<th>责任医生</th></tr></thead>
<tbody>{_summary(figures, unplaced)}</tbody></table>
{_summary_note(figures, unplaced, elsewhere)}
</div>
{sections}
</body></html>
"""
