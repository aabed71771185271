"""Nothing lost, and never the wrong data current: delivery order by stated date, every
sheet of a workbook, duplicate headers, stray quotes, wide rows, NULs, formulas, cut
cells, files recognised by content, encodings judged on the whole file, balanced counts
and killed runs. Real files in tmp_path, a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xlsxwriter
from conftest import DIBAO_HEADER, dibao_row, query, write_csv, write_xlsx

from rootdb import ingest
from rootdb.errors import ExitCode, InputFileError
from rootdb.ingest.deliveries import stated_date
from rootdb.ingest.readers import decode_csv_bytes
from rootdb.specs import load_specs

MEMBER_ID = "11010519491231002X"
OTHER_ID = "110105194912310011"


def _current(db_path: Path, feed: str = "dibao") -> list[str]:
    return [r[0] for r in query(db_path, "SELECT DISTINCT file_name FROM files WHERE feed = ? AND is_current", [feed])]


# ------------------------------------------------------------------ 1. delivery order

@pytest.mark.parametrize(("name", "expected"), [
    ("dibao_2026-11.xlsx", dt.date(2026, 11, 1)),
    ("低保名册_202611.xlsx", dt.date(2026, 11, 1)),
    ("低保名册_2026年9月.xlsx", dt.date(2026, 9, 1)),
    ("低保名册2026.09.xlsx", dt.date(2026, 9, 1)),
    ("dibao_20261105.csv", dt.date(2026, 11, 5)),
    ("低保_2026年11月5日.xlsx", dt.date(2026, 11, 5)),
    ("低保名单.xlsx", None),
    ("低保_11010519491231002X.xlsx", None),
])
def test_the_date_a_file_name_states(name, expected):
    found = stated_date(Path(name).stem)
    assert (found[0] if found else None) == expected


def test_two_months_in_one_run_the_later_month_is_current(tmp_path, db_path):
    december = write_xlsx(tmp_path / "低保名册_2026年12月.xlsx", [DIBAO_HEADER, dibao_row(state="停保")])
    september = write_xlsx(tmp_path / "低保名册_2026年9月.xlsx", [DIBAO_HEADER, dibao_row()])
    result = ingest([december, september], db=db_path)  # the order a folder is walked in
    assert [f.status for f in result.files] == ["loaded", "loaded"]
    assert _current(db_path) == [december.name]
    assert query(db_path, "SELECT status FROM dibao") == [("停保",)]
    old = result.files[1]
    assert old.current is False and old.delivery_date == "2026-09-01" and old.delivery_basis == "文件名"
    assert any("比当前数据" in w and "历史" in w and december.name in w for w in old.warnings)
    # The September rows are kept, as history.
    assert query(db_path, "SELECT file_name, is_current FROM dibao_history ORDER BY 1") == [
        (december.name, True), (september.name, False)]


def test_an_older_month_delivered_in_a_later_run_is_kept_as_history(tmp_path, db_path):
    november = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(state="停保")])
    ingest([november], db=db_path)
    late = write_xlsx(tmp_path / "dibao_202610.xlsx", [DIBAO_HEADER, dibao_row()])
    result = ingest([late], db=db_path)
    assert result.exit_code == ExitCode.OK and result.files[0].current is False
    assert _current(db_path) == [november.name]
    assert "2026年10月" in result.files[0].warnings[-1]
    status = query(db_path, "SELECT summary->>'headline' FROM batches ORDER BY batch_id DESC LIMIT 1")[0][0]
    assert "历史" in status
    # A newer month, and a corrected re-delivery of the same month, do replace.
    newer = write_xlsx(tmp_path / "dibao_2026-12.xlsx", [DIBAO_HEADER, dibao_row(cert="DB9")])
    again = write_xlsx(tmp_path / "dibao_2026-12_更正.xlsx", [DIBAO_HEADER, dibao_row(cert="DB10")])
    ingest([newer, again], db=db_path)
    assert _current(db_path) == [again.name]


def test_a_title_row_states_the_month_when_the_name_does_not(tmp_path, db_path):
    current = write_xlsx(tmp_path / "低保名单_新.xlsx", [["2026年11月低保对象花名册"], DIBAO_HEADER, dibao_row(state="停保")])
    older = write_xlsx(tmp_path / "低保名单.xlsx", [["2026年9月低保对象花名册"], DIBAO_HEADER, dibao_row()])
    result = ingest([current, older], db=db_path)
    assert [f.delivery_basis for f in result.files] == ["标题行", "标题行"]
    assert _current(db_path) == [current.name]


def test_without_a_stated_date_the_modification_time_decides(tmp_path, db_path):
    newer = write_xlsx(tmp_path / "低保名单A.xlsx", [DIBAO_HEADER, dibao_row(state="停保")])
    older = write_xlsx(tmp_path / "低保名单B.xlsx", [DIBAO_HEADER, dibao_row()])
    month_ago = time.time() - 40 * 86400
    os.utime(older, (month_ago, month_ago))
    result = ingest([newer, older], db=db_path)
    assert [f.delivery_basis for f in result.files] == ["文件修改时间"] * 2
    assert _current(db_path) == [newer.name] and result.files[1].current is False


def _dated(path: Path, day: dt.date) -> Path:
    stamp = dt.datetime.combine(day, dt.time(10)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


@pytest.mark.parametrize(("name", "expected"), [
    ("community_residents_2026.xlsx", (dt.date(2026, 1, 1), "year")),
    ("低保名册_2026年度.xlsx", (dt.date(2026, 1, 1), "year")),
    ("低保名册_2026年9月.xlsx", (dt.date(2026, 9, 1), "month")),
    ("dibao_2026-12_更正.xlsx", (dt.date(2026, 12, 1), "month")),
    ("dibao_20261105.csv", (dt.date(2026, 11, 5), "day")),
    ("低保_11010519491231002X.xlsx", None),
])
def test_a_name_may_state_only_a_year(name, expected):
    from rootdb.ingest.deliveries import stated_period

    assert stated_period(Path(name).stem, years=True) == expected
    # Where a part's name is looked for, a year alone is not a date.
    from rootdb.ingest.deliveries import date_span

    assert (date_span(Path(name).stem) is None) == (expected is None or expected[1] == "year")


def test_dates_are_compared_at_the_coarser_precision():
    from rootdb.ingest.deliveries import BASIS_MTIME, BASIS_NAME, DeliveryDate, is_older

    month = DeliveryDate(dt.date(2026, 12, 1), BASIS_NAME, "month")
    year = DeliveryDate(dt.date(2026, 1, 1), BASIS_NAME, "year")
    for day in (dt.date(2026, 12, 2), dt.date(2026, 12, 31)):
        mtime = DeliveryDate(day, BASIS_MTIME, "day")
        assert not is_older(month, mtime) and not is_older(mtime, month)
        assert not is_older(year, mtime) and not is_older(year, month) and not is_older(month, year)
    assert is_older(month, DeliveryDate(dt.date(2027, 1, 1), BASIS_MTIME, "day"))
    assert is_older(DeliveryDate(dt.date(2026, 11, 30), BASIS_MTIME, "day"), month)
    assert is_older(DeliveryDate(dt.date(2025, 1, 1), BASIS_NAME, "year"), month)
    assert is_older(DeliveryDate(dt.date(2026, 12, 1), BASIS_MTIME, "day"),
                    DeliveryDate(dt.date(2026, 12, 2), BASIS_MTIME, "day"))


def test_a_month_in_the_name_is_not_older_than_a_modification_time_in_that_month(tmp_path, db_path):
    # The reviewer's case: the current delivery's name states no month (only a year, or
    # nothing) and its file was modified on 2 December; the December delivery replaces it.
    for first_name in ("dibao_2026.xlsx", "低保名单A.xlsx"):
        db = tmp_path / f"{first_name}.duckdb"
        folder = tmp_path / first_name.split(".")[0]
        folder.mkdir()
        first = _dated(write_xlsx(folder / first_name, [DIBAO_HEADER, dibao_row()]), dt.date(2026, 12, 2))
        assert ingest([first], db=db).files[0].status == "loaded"
        december = write_xlsx(folder / "dibao_2026-12.xlsx", [DIBAO_HEADER, dibao_row(state="停保")])
        result = ingest([december], db=db)
        f = result.files[0]
        assert f.current is True, f.warnings
        assert not any("旧" in w for w in f.warnings)
        assert _current(db) == [december.name]
        # A month before that modification time is older; a year before it too.
        november = write_xlsx(folder / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(cert="DB6")])
        last_year = write_xlsx(folder / "dibao_2025.xlsx", [DIBAO_HEADER, dibao_row(cert="DB7")])
        older = ingest([november, last_year], db=db).files
        assert [o.current for o in older] == [False, False]
        assert "2025年（据文件名）" in older[1].warnings[-1]
        assert _current(db) == [december.name]


def test_a_year_in_the_name_is_not_older_than_a_month_or_day_in_that_year(tmp_path, db_path):
    december = write_xlsx(tmp_path / "dibao_2026-12.xlsx", [DIBAO_HEADER, dibao_row()])
    ingest([december], db=db_path)
    year = _dated(write_xlsx(tmp_path / "dibao_2026.xlsx", [DIBAO_HEADER, dibao_row(state="停保")]),
                  dt.date(2027, 1, 5))
    result = ingest([year], db=db_path)
    assert result.files[0].delivery_basis == "文件名" and result.files[0].delivery_date == "2026-01-01"
    assert result.files[0].current is True  # equal at the year: the newer delivery replaces
    # A modification time later in December does not make the year-dated file older either…
    mtime = _dated(write_xlsx(tmp_path / "低保名单B.xlsx", [DIBAO_HEADER, dibao_row(cert="DB8")]),
                   dt.date(2026, 12, 20))
    assert ingest([mtime], db=db_path).files[0].current is True
    # …but one of the year before is older than it.
    old = _dated(write_xlsx(tmp_path / "低保名单C.xlsx", [DIBAO_HEADER, dibao_row(cert="DB9")]),
                 dt.date(2025, 12, 20))
    result = ingest([old], db=db_path)
    assert result.files[0].current is False
    assert "2025年12月20日（据文件修改时间）" in result.files[0].warnings[-1]
    assert "2026年12月20日（据文件修改时间）" in result.files[0].warnings[-1]


# ------------------------------------------------------------------ 2. every sheet

def test_every_sheet_whose_header_fits_is_read(tmp_path, db_path):
    path = tmp_path / "dibao_2026-11.xlsx"
    book = xlsxwriter.Workbook(str(path))
    for sheet_name, rows in (
        ("一组", [DIBAO_HEADER] + [dibao_row(cert=f"A{i}") for i in range(29)]),
        ("二组", [["二组低保对象"], DIBAO_HEADER] + [dibao_row(cert=f"B{i}") for i in range(26)]),
        ("说明", [["本表由民政办填报"], ["联系电话：0477-1234567"]]),
    ):
        sheet = book.add_worksheet(sheet_name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
    book.close()
    result = ingest([path], db=db_path)
    f = result.files[0]
    assert (f.status, f.rows_read, f.rows_loaded) == ("loaded", 55, 55)
    assert f.sheets == ["一组", "二组"] and list(f.skipped_sheets) == ["说明"]
    assert any("已读取" in w and "一组" in w and "二组" in w for w in f.warnings)
    assert any("已跳过工作表“说明”" in w for w in f.warnings)
    assert query(db_path, "SELECT count(*) FROM dibao") == [(55,)]
    assert query(db_path, "SELECT sheet, min(source_row) FROM dibao JOIN files USING (file_id) GROUP BY 1 ORDER BY 1") \
        == [("一组", 2), ("二组", 3)]
    # One delivery: status counts it once.
    from rootdb.commands.status import status

    (feed,) = status(db=str(db_path)).feeds
    assert (feed.snapshots, feed.rows_loaded) == (1, 55)


# ------------------------------------------------------------------ 3. duplicate headers

def test_two_columns_with_one_name_lose_nothing(tmp_path, db_path):
    header = DIBAO_HEADER[:4] + ["成员身份证号码"] + DIBAO_HEADER[5:7] + ["成员身份证号码"] + DIBAO_HEADER[7:]
    rows = [header]
    for i, (first, second) in enumerate([(None, MEMBER_ID), ("", OTHER_ID), (MEMBER_ID, MEMBER_ID),
                                         (MEMBER_ID, OTHER_ID)]):
        row = dibao_row(cert=f"DB{i}")
        rows.append(row[:4] + [first] + row[5:7] + [second] + row[7:])
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", rows)
    f = ingest([path], db=db_path).files[0]
    assert f.status == "loaded" and f.rows_loaded == 4
    assert any("2列都叫“成员身份证号码”：第E列和第H列" in w for w in f.warnings), f.warnings
    assert not any("不属于" in w for w in f.warnings)
    assert query(db_path, "SELECT member_id FROM dibao ORDER BY source_row") == [
        (MEMBER_ID,), (OTHER_ID,), (MEMBER_ID,), (MEMBER_ID,)]
    assert query(db_path, "SELECT member_id, member_id__2 FROM raw_dibao ORDER BY source_row") == [
        (None, MEMBER_ID), ("", OTHER_ID), (MEMBER_ID, MEMBER_ID), (MEMBER_ID, OTHER_ID)]
    issues = query(db_path, "SELECT source_row, message FROM row_issues WHERE code = 'duplicate_column_conflict'")
    assert len(issues) == 1 and issues[0][0] == 5 and "第E列" in issues[0][1] and "第H列" in issues[0][1]


# ------------------------------------------------------------------ 4. a stray quote

def test_a_stray_quote_quarantines_only_its_row(tmp_path, db_path):
    rows = [DIBAO_HEADER] + [dibao_row(cert=f"DB{i}") for i in range(10)]
    rows[4][1] = '"王五'
    rows[7][7] = '"幸福小区, 3号楼"'  # a properly quoted field with a comma
    path = write_csv(tmp_path / "dibao_2026-11.csv", rows)
    f = ingest([path], db=db_path).files[0]
    assert (f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("loaded", 10, 9, 1)
    ((row, reason),) = query(db_path, "SELECT source_row, reason FROM quarantine")
    assert row == 5 and "第5行" in reason and "引号" in reason
    assert query(db_path, "SELECT head_name FROM raw_dibao WHERE source_row = 5") == [('"王五',)]
    assert query(db_path, "SELECT address FROM raw_dibao WHERE source_row = 8") == [("幸福小区, 3号楼",)]


def test_a_quoted_field_with_a_line_break_is_one_row(tmp_path, db_path):
    rows = [DIBAO_HEADER] + [dibao_row(cert=f"DB{i}") for i in range(3)]
    rows[2][7] = '"幸福小区\n3号楼2单元501"'
    path = write_csv(tmp_path / "dibao_2026-11.csv", rows)
    f = ingest([path], db=db_path).files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (3, 3, 0)
    assert query(db_path, "SELECT source_row FROM dibao ORDER BY 1") == [(2,), (3,), (4,)]


# ------------------------------------------------------------------ 5. what the reader changed, flagged

def test_fields_beyond_the_first_50_lines_are_kept_and_flagged(tmp_path, db_path):
    rows = [DIBAO_HEADER] + [dibao_row(cert=f"DB{i}") for i in range(80)]
    rows[70] = rows[70] + ["额外内容"]
    path = write_csv(tmp_path / "dibao_2026-11.csv", rows)
    f = ingest([path], db=db_path).files[0]
    assert f.rows_loaded == 80
    ((row, message, value),) = query(db_path, "SELECT source_row, message, value FROM row_issues "
                                              "WHERE code = 'cell_outside_header'")
    assert row == 71 and value == "额外内容" and "第O列" in message


def test_nul_bytes_deep_in_a_csv_are_kept_raw_and_flagged(tmp_path, db_path):
    rows = [DIBAO_HEADER] + [dibao_row(cert=f"DB{i}") for i in range(100)]
    rows[90][3] = "李\x00四"
    path = write_csv(tmp_path / "dibao_2026-11.csv", rows)
    assert path.read_bytes().index(b"\x00") > 4096
    f = ingest([path], db=db_path).files[0]
    assert f.status == "loaded" and f.rows_loaded == 100
    assert query(db_path, "SELECT member_name FROM dibao WHERE source_row = 91") == [("李四",)]
    assert query(db_path, "SELECT member_name FROM raw_dibao WHERE source_row = 91") == [("李\x00四",)]
    assert query(db_path, "SELECT code FROM row_issues WHERE source_row = 91") == [("nul_removed",)]


def test_formula_cells_without_a_result_and_cut_cells_are_flagged(tmp_path, db_path):
    path = tmp_path / "dibao_2026-11.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for c, h in enumerate(DIBAO_HEADER):
        sheet.write_string(0, c, h)
    for r in (1, 2):
        for c, value in enumerate(dibao_row(cert=f"DB{r}")):
            sheet.write(r, c, value)
    sheet.write_formula(1, 10, "=B2*0+800", None, "")  # no result saved
    sheet.write_string(2, 7, "幸" * 32767)
    book.close()
    f = ingest([path], db=db_path).files[0]
    assert f.status == "loaded"
    issues = dict(query(db_path, "SELECT code, message FROM row_issues WHERE code IN ('formula_no_value', 'cell_cut')"))
    assert "公式" in issues["formula_no_value"] and "第K列" in issues["formula_no_value"]
    assert "32,767" in issues["cell_cut"]
    assert query(db_path, "SELECT length(address) FROM raw_dibao WHERE source_row = 3") == [(32767,)]


# ------------------------------------------------------------------ 6. content over the name

def test_an_xlsx_named_xls_is_read_with_a_chinese_warning(tmp_path, db_path):
    real = write_xlsx(tmp_path / "real.xlsx", [DIBAO_HEADER, dibao_row()])
    named = tmp_path / "dibao_2026-11.xls"
    named.write_bytes(real.read_bytes())
    f = ingest([named], db=db_path).files[0]
    assert f.status == "loaded" and "内容是 Excel 工作簿（.xlsx）" in f.warnings[0]


def test_an_old_xls_named_xlsx_is_read_not_called_encrypted(tmp_path, db_path):
    # tests/fixtures/dibao_old_format.xls: DIBAO_HEADER and dibao_row(), written once by
    # xlwt (Excel 97-2003 BIFF8; xlwt is unmaintained, so the bytes are kept, not the tool).
    path = tmp_path / "dibao_2026-11.xlsx"
    shutil.copy(Path(__file__).parent / "fixtures" / "dibao_old_format.xls", path)
    f = ingest([path], db=db_path).files[0]
    assert f.status == "loaded" and f.rows_loaded == 1 and "旧版 Excel（.xls）" in f.warnings[0]
    assert "密码" not in " ".join(f.warnings)


def test_an_encrypted_workbook_is_called_encrypted(tmp_path, db_path):
    path = tmp_path / "dibao_2026-11.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000 + "EncryptedPackage".encode("utf-16-le")
                     + b"\x00" * 1000)
    f = ingest([path], db=db_path).files[0]
    assert f.status == "failed" and "密码" in f.message


def test_unreadable_ole_file_says_old_format_in_chinese(tmp_path, db_path):
    path = tmp_path / "dibao_2026-11.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2000)
    f = ingest([path], db=db_path).files[0]
    assert f.status == "failed" and "旧版 Excel" in f.message and ".xlsx" in f.message
    assert "error" not in f.message.lower() and "calamine" not in f.message.lower()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_csv_is_decoded(tmp_path, db_path, encoding):
    path = tmp_path / "dibao_2026-11.csv"
    text = "\n".join(",".join(str(v) for v in row) for row in [DIBAO_HEADER, dibao_row()]) + "\n"
    path.write_bytes((b"\xfe\xff" if encoding == "utf-16-be" else b"") + text.encode(encoding))
    f = ingest([path], db=db_path).files[0]
    assert f.status == "loaded" and f.encoding == "utf-16", f.message
    assert query(db_path, "SELECT member_name FROM dibao") == [("张三",)]


# ------------------------------------------------------------------ 7. encodings

def _first_characters() -> dict[str, list[str]]:
    """Every character a header of a known feed begins with -> a feed's headers led by it."""
    out: dict[str, list[str]] = {}
    for spec in load_specs().values():
        headers = [c.header for c in spec.columns]
        for i, h in enumerate(headers):
            out.setdefault(h[0], headers[i:] + headers[:i])
    return out


@pytest.mark.parametrize("first", sorted(_first_characters()))
def test_gb18030_whatever_character_the_header_begins_with(tmp_path, first):
    headers = _first_characters()[first]
    text = ",".join(headers) + "\n" + ",".join(["张三", "幸福小区3号楼", "在保"] * (len(headers) // 3 + 1))[:200] + "\n"
    decoded, encoding = decode_csv_bytes(tmp_path / "x.csv", text.encode("gb18030"))
    assert (decoded, encoding) == (text, "gb18030")
    assert decode_csv_bytes(tmp_path / "x.csv", text.encode("utf-8")) == (text, "utf-8")


def test_gb18030_file_beginning_with_xue_loads(tmp_path, db_path):
    """学 is D1 A7 in GB18030, also a valid UTF-8 sequence: the whole file decides."""
    path = tmp_path / "xueji_2026-11.csv"
    rows = [["学籍号", "姓名", "身份证号", "学校", "年级"],
            [f"G{MEMBER_ID}", "张三", MEMBER_ID, "第一小学", "三年级"]]
    write_csv(path, rows, encoding="gb18030")
    assert path.read_bytes().startswith(b"\xd1\xa7")
    f = ingest([path], db=db_path).files[0]
    assert (f.status, f.encoding) == ("loaded", "gb18030"), f.message
    assert query(db_path, "SELECT student_name, school, grade FROM xueji") == [("张三", "第一小学", "三年级")]


def test_a_damaged_utf8_file_names_the_line_not_gb18030(tmp_path):
    text = "低保证号,成员姓名\n" + "DB1,张三\n" * 50
    data = text.encode("utf-8") + b"DB2,\xff\xfe\n"
    with pytest.raises(InputFileError, match="第52行"):
        decode_csv_bytes(tmp_path / "x.csv", data)


# ------------------------------------------------------------------ 8. counts and killed runs

def test_strict_counts_balance_for_a_failed_file(tmp_path, db_path):
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER] + [dibao_row(cert=f"DB{i}") for i in range(54)]
                      + [dibao_row(cert="")])
    result = ingest([path], db=db_path, strict=True)
    f = result.files[0]
    assert f.status == "failed" and "1 行无法识别" in f.message
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_failed) == (55, 0, 0, 55)
    totals = result.to_dict()["totals"]
    assert totals["rows_read"] == totals["rows_loaded"] + totals["rows_quarantined"] + totals["rows_failed"]


def test_a_killed_ingest_is_listed_as_unfinished(tmp_path, db_path):
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    marker = tmp_path / "paused"
    env = {**os.environ, "ROOTDB_PAUSE_AT": "ingest.before_commit", "ROOTDB_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "rootdb", "ingest", str(path), "--db", str(db_path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists()
    finally:
        proc.kill()
        proc.wait()
    from rootdb.commands.status import status

    (run,) = status(db=str(db_path)).batches
    assert run["status"] == "interrupted" and "未完成" in run["headline"]
    assert query(db_path, "SELECT count(*) FROM files") == [(0,)]
    ingest([path], db=db_path)
    runs = status(db=str(db_path)).batches
    assert [r["status"] for r in runs] == ["ok", "interrupted"]


# ------------------------------------------------------------------ a missing required column

def test_a_missing_required_column_is_said_to_be_missing_not_located(tmp_path, db_path):
    """The rejection note said `第1行 “低保证号”列：…`, pointing at a column that is not there."""
    from rootdb.nightly import rejection_note

    header = [h for h in DIBAO_HEADER if h != "低保证号"]
    row = [v for h, v in zip(DIBAO_HEADER, dibao_row()) if h != "低保证号"]
    path = write_csv(tmp_path / "dibao_2026-11.csv", [header, row])
    result = ingest([path], db=db_path)
    message = result.files[0].message
    assert result.files[0].status == "failed"
    assert "缺少必需的列：低保证号" in message
    assert "“低保证号”列" not in message and not message.startswith(f"{path.name} 第")
    note = rejection_note(path.name, message, dt.datetime(2026, 11, 2, 2, 0))
    assert "缺少必需的列：低保证号" in note and "“低保证号”列" not in note
