"""Shared fixtures: small real files written to a temp folder, real DuckDB files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import xlsxwriter

DIBAO_HEADER = ["低保证号", "户主姓名", "户主身份证号", "成员姓名", "成员身份证号", "与户主关系", "性别",
                "家庭住址", "联系电话", "保障人数", "月保障金（元）", "保障类别", "批准日期", "状态"]


def write_xlsx(path: Path, rows: list[list], numeric_cols: set[int] | None = None) -> Path:
    """Rows as given (None = empty cell). Numbers are written as numbers, dates as dates."""
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = workbook.add_worksheet()
    date_fmt = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, (int, float)):
                sheet.write_number(r, c, value)
            elif isinstance(value, (dt.date, dt.datetime)):
                sheet.write_datetime(r, c, value, date_fmt)
            else:
                sheet.write_string(r, c, str(value))
    workbook.close()
    return path


def write_csv(path: Path, rows: list[list], encoding: str = "utf-8") -> Path:
    text = "\n".join(",".join("" if v is None else str(v) for v in row) for row in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def dibao_row(cert="DB001", head="张三", head_id="11010519491231002X", name="张三", pid="11010519491231002X",
              relation="户主", sex="女", address="幸福小区3号楼2单元501", phone="13812345678", covered=2,
              amount=800, category="A类", approved="2020-03-02", state="在保") -> list:
    return [cert, head, head_id, name, pid, relation, sex, address, phone, covered, amount, category, approved, state]


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ws" / "rootdb.duckdb"


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
