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

A month without a day counts as its first day. A delivery whose date is before that of
the feed's current snapshot is kept as history and does not become current; an equal or
later date replaces it (a corrected re-delivery of the same month replaces the first).
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


@dataclass(frozen=True)
class DeliveryDate:
    date: dt.date
    basis: str  # BASIS_NAME, BASIS_TITLE or BASIS_MTIME
    has_day: bool

    def text(self) -> str:
        """'2026年9月', '2026年11月5日'."""
        if self.has_day:
            return f"{self.date.year}年{self.date.month}月{self.date.day}日"
        return f"{self.date.year}年{self.date.month}月"

    def describe(self) -> str:
        """'2026年9月（据文件名）'."""
        return f"{self.text()}（据{self.basis}）"


def _first_date(text: str) -> tuple[int, int, dt.date, bool] | None:
    """(start, end, date, names the day) of the first date a text states."""
    found: list[tuple[int, int, dt.date, bool]] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(text):
            year, month, day = int(m.group(1)), int(m.group(2)), m.group(3)
            try:
                date = dt.date(year, month, int(day) if day else 1)
            except ValueError:
                continue
            found.append((m.start(), m.end(), date, bool(day)))
    if not found:
        return None
    return min(found, key=lambda f: f[0])


def stated_date(text: str) -> tuple[dt.date, bool] | None:
    """The first date a text states (a file name, a title), and whether it names the
    day; None when it states none."""
    first = _first_date(text)
    return None if first is None else (first[2], first[3])


def date_span(text: str) -> tuple[int, int] | None:
    """Where in a text (a file name) the date it states is written: (start, end)."""
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
    """The date a delivery states: file name, else title rows, else modification time."""
    named = stated_date(path.stem)
    if named:
        return DeliveryDate(named[0], BASIS_NAME, named[1])
    titled = stated_date(title) if title else None
    if titled:
        return DeliveryDate(titled[0], BASIS_TITLE, titled[1])
    return DeliveryDate(dt.date.fromtimestamp(path.stat().st_mtime), BASIS_MTIME, True)
