"""Which delivery of a feed is newer: the date a file states.

Departments send a feed again every month, sometimes several months at once, and
sometimes an older month late. The order files are read in (their names) says nothing
about which is newer: `低保名册_2026年9月.xlsx` sorts after `低保名册_2026年12月.xlsx`.
A delivery's date is, in this order:

1. the date its file name states: `dibao_2026-11`, `202611`, `2026年9月`, `2026.09`,
   `2026_09`, with or without a day (`2026-11-05`, `20261105`, `2026年11月5日`);
2. the date a title row above the header states ("2026年9月低保名册",
   "统计日期：2026年11月1日");
3. the file's modification time.

(No feed of the contract carries a date of the delivery itself in its rows — their dates
are those of the records: approvals, births, … — so the rows are not asked.)

A name may also state only a year (`community_residents_2026`, `2026年`): the delivery
is then dated by that year. A date is stored as its first day (a month as the 1st, a year
as 1 January) together with what it states: a year, a month or a day (`precision`).

Two dates are compared at the coarser of their two precisions (`is_older`): a month is
not older than any day in that month, a year not older than any month or day in it. So a
date stated in the name or title is never judged older than a modification time within
its own period. A delivery whose date is before that of the feed's current snapshot is
kept as history and does not become current; an equal or later date replaces it (a
corrected re-delivery of the same month replaces the first).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

BASIS_NAME = "文件名"
BASIS_TITLE = "标题行"
BASIS_MTIME = "文件修改时间"

_PATTERNS = [
    # 2026年9月, 2026年09月5日
    re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?"),
    # 2026-11, 2026.09, 2026_09, 2026/9, 2026-11-05
    re.compile(r"(?<!\d)((?:19|20)\d{2})[-_./](\d{1,2})(?:[-_./](\d{1,2}))?(?!\d)"),
    # 202611, 20261105
    re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})?(?!\d)"),
]

# A year alone (file names only): community_residents_2026, 2026年, 2026年度
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?:\s*年度?)?(?!\d)")

YEAR, MONTH, DAY = "year", "month", "day"
_RANK = {YEAR: 0, MONTH: 1, DAY: 2}


@dataclass(frozen=True)
class DeliveryDate:
    date: dt.date  # the first day of the period stated
    basis: str  # BASIS_NAME, BASIS_TITLE or BASIS_MTIME
    precision: str = DAY  # YEAR, MONTH or DAY: what the date states

    @property
    def has_day(self) -> bool:
        return self.precision == DAY

    def text(self) -> str:
        """'2026年', '2026年9月', '2026年11月5日'."""
        if self.precision == YEAR:
            return f"{self.date.year}年"
        if self.precision == MONTH:
            return f"{self.date.year}年{self.date.month}月"
        return f"{self.date.year}年{self.date.month}月{self.date.day}日"

    def describe(self) -> str:
        """'2026年9月（据文件名）'."""
        return f"{self.text()}（据{self.basis}）"

    def period(self, precision: str) -> tuple[int, ...]:
        """The date as a year, (year, month) or (year, month, day)."""
        d = self.date
        return (d.year, d.month, d.day)[: _RANK[precision] + 1]


def coarser(a: str, b: str) -> str:
    """The coarser of two precisions."""
    return a if _RANK[a] <= _RANK[b] else b


def is_older(a: DeliveryDate, b: DeliveryDate) -> bool:
    """Whether `a` is before `b`, compared at the coarser of their two precisions: a month
    is not older than any day in it, a year not older than any month or day in it."""
    level = coarser(a.precision, b.precision)
    return a.period(level) < b.period(level)


def _first_date(text: str, years: bool = False) -> tuple[int, int, dt.date, str] | None:
    """(start, end, date, precision) of the first date a text states; with `years`, a
    year alone counts too. Of dates starting at one place the most precise is taken
    (`2026年9月` is a month, not the year 2026)."""
    found: list[tuple[int, int, dt.date, str]] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(text):
            year, month, day = int(m.group(1)), int(m.group(2)), m.group(3)
            try:
                date = dt.date(year, month, int(day) if day else 1)
            except ValueError:
                continue
            found.append((m.start(), m.end(), date, DAY if day else MONTH))
    if years:
        for m in _YEAR.finditer(text):
            found.append((m.start(), m.end(), dt.date(int(m.group(1)), 1, 1), YEAR))
    if not found:
        return None
    return min(found, key=lambda f: (f[0], -_RANK[f[3]]))


def stated_date(text: str, years: bool = False) -> tuple[dt.date, bool] | None:
    """The first date a text states (a file name, a title), and whether it names the
    day; None when it states none. With `years`, a year alone counts (as 1 January)."""
    first = _first_date(text, years)
    return None if first is None else (first[2], first[3] == DAY)


def stated_period(text: str, years: bool = False) -> tuple[dt.date, str] | None:
    """The first date a text states and its precision (YEAR, MONTH or DAY)."""
    first = _first_date(text, years)
    return None if first is None else (first[2], first[3])


def date_span(text: str) -> tuple[int, int] | None:
    """Where in a text (a file name) the date it states is written: (start, end). A year
    alone is not counted here (a part's name may follow it)."""
    first = _first_date(text)
    return None if first is None else (first[0], first[1])


def title_text(cells: pl.DataFrame, header_row: int, limit: int = 2000) -> str:
    """The text of the rows above the header (title rows), joined."""
    above = cells.filter(pl.col("row_number") < header_row).drop("row_number")
    if not above.height or not above.width:
        return ""
    values = above.select(pl.concat_str(pl.all(), separator=" ", ignore_nulls=True)).to_series()
    return " ".join(v for v in values if v)[:limit]


def delivery_date(path: Path, title: str = "") -> DeliveryDate:
    """The date a delivery states: file name (a year alone included), else title rows,
    else modification time."""
    named = stated_period(path.stem, years=True)
    if named:
        return DeliveryDate(named[0], BASIS_NAME, named[1])
    titled = stated_period(title) if title else None
    if titled:
        return DeliveryDate(titled[0], BASIS_TITLE, titled[1])
    return DeliveryDate(dt.date.fromtimestamp(path.stat().st_mtime), BASIS_MTIME, DAY)


def stored_date(date: dt.date, basis: str | None, file_name: str) -> DeliveryDate:
    """The delivery date of a loaded file, from what `files` keeps of it (the date and its
    basis). Its precision is read again from the name when the name stated it; a
    modification time is a day; any other date is a day unless it is a 1st (a month)."""
    if basis == BASIS_NAME:
        named = stated_period(Path(file_name).stem, years=True)
        if named and named[0] == date:
            return DeliveryDate(date, basis, named[1])
    if basis == BASIS_MTIME:
        return DeliveryDate(date, basis, DAY)
    return DeliveryDate(date, basis or "导入记录", DAY if date.day != 1 else MONTH)
