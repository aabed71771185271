"""Writing feed files (CSV / xlsx, with the realities of delivered files) and the
ground-truth crosswalk that says which entity each written row stands for."""
from __future__ import annotations

import csv
import random
import sys
from datetime import datetime
from pathlib import Path

from .common import CREATED, XDate, XDateTime, XMoney, XNum, cell_text

XLSX_MAX_ROWS = 1_048_576  # a worksheet's last row: a region's community list is longer


class Row:
    __slots__ = ("cells", "roles", "defects", "quarantine", "part")

    def __init__(self):
        self.part: int | None = None  # the community whose part of a feed the row belongs to
        self.cells: dict = {}
        self.roles: list = []      # (role, entity_type, uid)
        self.defects: list = []    # (canonical header, code)
        self.quarantine: str | None = None


class Truth:
    """Streams records / defects / quarantine CSVs; collects per-file stats."""

    def __init__(self, truth_dir: Path):
        truth_dir.mkdir(parents=True, exist_ok=True)
        self.dir = truth_dir
        self._fh = {}
        self.w = {}
        for name, header in (("records", ("file", "source_row", "role", "entity_type", "entity_uid")),
                             ("defects", ("file", "source_row", "column", "defect")),
                             ("quarantine", ("file", "source_row", "why"))):
            fh = open(truth_dir / f"{name}.csv", "w", encoding="utf-8", newline="")
            self._fh[name] = fh
            self.w[name] = csv.writer(fh, lineterminator="\n")
            self.w[name].writerow(header)
        self.files: list = []

    def close(self):
        for fh in self._fh.values():
            fh.close()
        with open(self.dir / "files.csv", "w", encoding="utf-8", newline="") as fh:
            wr = csv.writer(fh, lineterminator="\n")
            wr.writerow(("file", "feed", "format", "encoding", "header_row", "rows_read", "rows_quarantined",
                         "date_style"))
            for f in self.files:
                wr.writerow(f)


class FeedFile:
    """One delivered file. ``columns`` are the contract headers (canonical), ``written``
    the headers as this department writes them (variants), same order."""

    def __init__(self, truth: Truth, out_dir: Path, fname: str, feed: str, columns: list, written: list,
                 fmt: str, encoding: str = "utf-8", layout: dict | None = None, rng: random.Random | None = None,
                 header_defects: list | None = None):
        self.truth, self.fname, self.feed, self.fmt, self.encoding = truth, fname, feed, fmt, encoding
        self.columns = columns
        self.written = dict(zip(columns, written))
        self.layout = layout or {}
        self.rng = rng or random.Random(0)
        self.rows_read = 0
        self.rows_q = 0
        self.rows_dropped = 0
        self.rec = truth.w["records"]
        self.dfw = truth.w["defects"]
        self.qw = truth.w["quarantine"]
        path = out_dir / fname
        if fmt == "csv":
            self.fh = open(path, "w", encoding=encoding, newline="")
            self.csv = csv.writer(self.fh, lineterminator=self.layout.get("eol", "\n"))
            self.csv.writerow(written)
            self.r = 1                     # last written spreadsheet row (1-based)
            self.header_row = 1
        else:
            import xlsxwriter
            self.wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                                      "strings_to_formulas": False, "strings_to_urls": False})
            self.wb.set_properties({"created": CREATED, "author": "", "company": ""})
            self.ws = self.wb.add_worksheet(self.layout.get("sheet", "Sheet1"))
            self.f_date = self.wb.add_format({"num_format": self.layout.get("date_num_format", "yyyy-mm-dd")})
            self.f_money = self.wb.add_format({"num_format": "0.00"})
            self.f_title = self.wb.add_format({"bold": True, "font_size": 16, "align": "center"})
            self.f_head = self.wb.add_format({"bold": True, "border": 1, "align": "center"})
            for j, h in enumerate(written):
                self.ws.set_column(j, j, max(8, min(30, len(h) * 2 + 4)))
            r = 0
            n = len(written)
            for t in self.layout.get("titles", []):
                if r == 0 and n > 1:
                    self.ws.merge_range(r, 0, r, n - 1, t, self.f_title)
                else:
                    self.ws.write_string(r, 0, t)
                r += 1
            for j, h in enumerate(written):
                self.ws.write_string(r, j, h, self.f_head)
            self.header_row = r + 1
            self.r = r + 1
            self.blank_rate = self.layout.get("blank_rate", 0.0)
        for col, code in header_defects or []:
            self.dfw.writerow((fname, self.header_row, self.written[col], code))

    def _datetime_format(self):
        """Made on first use: a workbook without date-time cells stays as it was."""
        if not hasattr(self, "f_datetime"):
            self.f_datetime = self.wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        return self.f_datetime

    # ------------------------------------------------------------------ rows
    def add(self, row: Row):
        if self.fmt == "xlsx" and self.r + 2 > XLSX_MAX_ROWS:  # (+2: this row, and a blank one before it)
            self.rows_dropped += 1  # past a worksheet's last row: not delivered, not in the truth
            return
        if self.fmt == "xlsx" and self.blank_rate and self.rows_read and self.rng.random() < self.blank_rate:
            self.r += 1                    # a blank row inside the data
        self.r += 1
        src = self.r
        self.rows_read += 1
        cells = row.cells
        if self.fmt == "csv":
            self.csv.writerow([cell_text(cells.get(c, "")) for c in self.columns])
        else:
            ws, r0 = self.ws, src - 1
            for j, c in enumerate(self.columns):
                v = cells.get(c, "")
                if v is None or v == "":
                    continue
                if isinstance(v, str):
                    ws.write_string(r0, j, v)
                elif isinstance(v, XNum):
                    ws.write_number(r0, j, v.v, self.f_money if isinstance(v, XMoney) else None)
                elif isinstance(v, XDate):
                    ws.write_datetime(r0, j, datetime(v.d.year, v.d.month, v.d.day), self.f_date)
                elif isinstance(v, XDateTime):
                    ws.write_datetime(r0, j, v.dt, self._datetime_format())
                else:
                    ws.write_string(r0, j, str(v))
        fname = self.fname
        if row.quarantine:
            self.rows_q += 1
            self.qw.writerow((fname, src, row.quarantine))
        else:
            for role, etype, uid in row.roles:
                self.rec.writerow((fname, src, role, etype, uid))
        for col, code in row.defects:
            self.dfw.writerow((fname, src, self.written.get(col, col), code))

    def close(self, closing: list | None = None):
        if self.fmt == "csv":
            self.fh.close()
        else:
            closing = closing or []
            if closing:
                self.r += 1 if self.layout.get("gap_before_closing") else 0
            for text in closing:
                self.r += 1
                self.ws.write_string(self.r - 1, 0, text)
            self.wb.close()
            if self.rows_dropped:
                print(f"{self.fname}: {self.rows_dropped:,} rows past the worksheet's last row left out "
                      "(not in the file, not in the truth)", file=sys.stderr)
        self.truth.files.append((self.fname, self.feed, self.fmt, self.encoding if self.fmt == "csv" else "",
                                 self.header_row, self.rows_read, self.rows_q, self.layout.get("date_style", "")))
