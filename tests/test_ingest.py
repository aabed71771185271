"""Ingest against real xlsx/csv files and a real DuckDB file: title rows, encodings,
Excel-number IDs, idempotency, snapshots, atomicity, bad files, reconciliation."""

from __future__ import annotations

import json
import zipfile

import duckdb
import pytest

from conftest import DIBAO_HEADER, dibao_row, query, write_csv, write_xlsx
from rootdb import ingest
from rootdb.errors import ExitCode

BINZANG_HEADER = ["死亡证明编号", "姓名", "身份证号", "性别", "死亡日期", "火化日期", "户籍地址"]
MEMBER_ID = "11010519491231002X"


def test_title_rows_blank_rows_and_closing_rows(tmp_path, db_path):
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [
        ["交通街道建设社区低保对象花名册"],
        ["填报单位：建设社区", None, None, "填报日期：2026年11月1日"],
        [" 低保证号", "户主姓名", "户主身份证号", "成员姓名", "成员身份证号码", "与户主关系", "性别",
         "家庭住址", "联系方式", "保障人数", "月保障金(元)", "保障类别", "批准日期", "状态"],
        dibao_row(),
        [None],
        dibao_row(name="李四", pid="110105491231001", relation="配偶", sex="男"),
        [],
        ["合计：2人"],
        ["填表人：王某", None, "审核人：赵某"],
    ])
    result = ingest([path], db=db_path)
    (f,) = result.files
    assert (f.status, f.feed, f.header_row) == ("loaded", "dibao", 3)
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (2, 2, 0)
    rows = query(db_path, "SELECT source_row, member_name, member_id, member_id_check FROM dibao ORDER BY 1")
    assert rows == [(4, "张三", MEMBER_ID, "ok"), (6, "李四", "110105194912310011", "from15")]


def test_gb18030_csv_without_bom(tmp_path, db_path):
    rows = [BINZANG_HEADER, ["SW001", "张三", MEMBER_ID, "女", "2026/10/3", "2026年10月5日", "幸福小区3号楼2单元501"]]
    path = write_csv(tmp_path / "binzang_2026-11.csv", rows, encoding="gb18030")
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")
    result = ingest([path], db=db_path)
    assert result.files[0].status == "loaded" and result.files[0].encoding == "gb18030"
    assert query(db_path, "SELECT name, death_date::VARCHAR, cremation_date::VARCHAR FROM binzang") == [
        ("张三", "2026-10-03", "2026-10-05")
    ]


def test_utf8_bom_csv_with_title_row_counts_rows_like_a_spreadsheet(tmp_path, db_path):
    rows = [["死亡及火化登记"], [], BINZANG_HEADER, ["SW001", "张三", MEMBER_ID, "女", "20261003", "", ""],
            [], ["SW002", "李四", "", "男", "2026.10.4", "", ""]]
    path = write_csv(tmp_path / "binzang_2026-11.csv", rows, encoding="utf-8-sig")
    result = ingest([path], db=db_path)
    assert result.files[0].encoding == "utf-8-sig"
    assert query(db_path, "SELECT source_row, name FROM binzang ORDER BY 1") == [(4, "张三"), (6, "李四")]


def test_ids_stored_by_excel_as_numbers_are_kept_and_flagged(tmp_path, db_path):
    mangled = float(int(MEMBER_ID[:15]) * 1000)
    # Read back, this one happens to carry a fitting check digit: only the cell type tells.
    lucky = 150203199501250000.0
    text_twin = "150203199501249984"
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [
        DIBAO_HEADER, dibao_row(pid=mangled, head_id=mangled), dibao_row(pid=lucky), dibao_row(pid=text_twin),
    ])
    ingest([path], db=db_path)
    assert query(db_path, "SELECT member_id, member_id_check, member_id_valid FROM dibao ORDER BY source_row") == [
        ("110105194912310000", "excel", False), (text_twin, "excel", False), (text_twin, "ok", True),
    ]
    issues = query(db_path, "SELECT field, code, message FROM row_issues WHERE field = 'member_id'")
    assert issues[0][1] == "id_excel" and "Excel" in issues[0][2]


CUT, SCI = "150602193812125000", "1.50602193812125E+17"


@pytest.mark.parametrize(("cell", "number"), [
    (f'<c r="B2"><v>{SCI}</v></c>', True),                                   # Excel
    (f'<c r="B2" s="0" t="n"><v>1.50602193812125E+017</v></c>', True),        # LibreOffice
    (f'<c s="1" r="B2"><v>{CUT}</v></c>', True),                              # attributes in another order
    (f'<c t="n" r="B2"><v>{CUT}.0</v></c>', True),
    (f'<c r="B2">\n  <v>{CUT}</v>\n</c>', True),                              # pretty-printed
    (f'<c r="B2"><f>C2*1</f><v>{CUT}</v></c>', True),                          # a formula's result
    (f'<c r="B2"><f t="shared" si="0"/><v>{SCI}</v></c>', True),
    (f'<c r="B2"><f aca="false">C2*1</f><v>{CUT}</v></c>', True),
    (f'<c r="B2" t="inlineStr"><is><t>{CUT}</t></is></c>', False),           # text
    (f'<c r="B2" t="str"><f>C2&amp;""</f><v>{CUT}</v></c>', False),
    ('<c r="B2" t="s"><v>0</v></c>', False),
    (f'<c r="B2"><v>1506021938</v></c>', False),                              # short
])
def test_a_long_number_is_known_by_its_cell_however_the_program_wrote_it(cell, number):
    """Whether a cell holds a long number stored as a number (an ID Excel or LibreOffice
    cut to 15 digits), from the sheet's XML as either program writes it."""
    from rootdb.ingest.readers import _long_number_cells

    xml = f'<row r="2"><c r="A2" t="inlineStr"><is><t>张三</t></is></c>{cell}</row>'.encode()
    assert list(_long_number_cells(xml)) == ([(2, 1)] if number else [])


def test_a_long_number_looks_for_its_cell_only_as_far_as_a_cell_reaches():
    """Each value looks back a bounded way for the start of its cell (as far as the longest
    formula reaches), so a hostile sheet (one cell start, then megabytes of attributes and
    long values) is scanned in linear time; unbounded, such a sheet took minutes."""
    from rootdb.ingest.readers import _CELL_REACH, _long_number_cells

    formula = "+".join(["C2"] * 2_700)  # 8,099 characters, near Excel's limit
    assert list(_long_number_cells(f'<c r="B2"><f>{formula}</f><v>{CUT}</v></c>'.encode())) == [(2, 1)]
    far = b'<c r="B2" ' + b"x" * _CELL_REACH + f"><v>{CUT}</v></c>".encode()
    assert list(_long_number_cells(far)) == []


def test_same_file_again_changes_nothing(tmp_path, db_path):
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    ingest([path], db=db_path)
    before = query(db_path, "SELECT count(*) FROM rec_dibao")
    copy = tmp_path / "copy" / "dibao_again.xlsx"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    second = ingest([path, copy], db=db_path)
    assert [f.status for f in second.files] == ["unchanged", "unchanged"]
    assert "内容相同" in second.files[0].message
    assert second.exit_code == ExitCode.OK
    assert query(db_path, "SELECT count(*) FROM rec_dibao") == before
    assert query(db_path, "SELECT count(*) FROM files") == [(1,)]


def test_new_delivery_replaces_the_snapshot_and_keeps_history(tmp_path, db_path):
    first = write_xlsx(tmp_path / "dibao_2026-10.xlsx", [DIBAO_HEADER, dibao_row(), dibao_row(cert="DB002", name="王五", pid="")])
    second = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(state="停保")])
    ingest([first], db=db_path)
    ingest([second], db=db_path)
    assert query(db_path, "SELECT status FROM dibao") == [("停保",)]
    assert query(db_path, "SELECT file_name, is_current, count(*) FROM dibao_history GROUP BY ALL ORDER BY 1") == [
        ("dibao_2026-10.xlsx", False, 2), ("dibao_2026-11.xlsx", True, 1)
    ]


def test_failure_inside_a_file_leaves_the_database_as_it_was(tmp_path, db_path):
    good = write_xlsx(tmp_path / "dibao_2026-10.xlsx", [DIBAO_HEADER, dibao_row()])
    ingest([good], db=db_path)
    # A type the next load cannot meet: the insert into rec_dibao fails after raw_dibao,
    # row_issues and quarantine rows were already written inside the transaction.
    with duckdb.connect(str(db_path)) as con:
        con.execute("CREATE TYPE known_names AS ENUM ('张三')")
        con.execute("ALTER TABLE rec_dibao ALTER COLUMN member_name TYPE known_names")

    def counts():
        return query(db_path, "SELECT (SELECT count(*) FROM raw_dibao), (SELECT count(*) FROM rec_dibao), "
                              "(SELECT count(*) FROM files), (SELECT count(*) FROM quarantine), "
                              "(SELECT count(*) FROM row_issues), (SELECT string_agg(file_name) FROM files WHERE is_current)")

    before = counts()
    bad = write_xlsx(tmp_path / "dibao_2026-11.xlsx",
                     [DIBAO_HEADER, dibao_row(name="李四", pid="110105194912310021"), dibao_row(cert="", name="", pid="")])
    result = ingest([bad], db=db_path)
    assert result.files[0].status == "failed" and "dibao_2026-11.xlsx" in result.files[0].message
    assert result.exit_code == ExitCode.FAILED
    assert counts() == before


def test_quarantine_keeps_original_values_and_a_chinese_reason(tmp_path, db_path):
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [
        DIBAO_HEADER,
        dibao_row(),
        dibao_row(name="", pid=""),  # nobody: no name, no ID
        dibao_row(name="", pid=MEMBER_ID),  # no name but a valid ID: still identifies someone
        dibao_row(cert=""),  # no certificate number: the record has no key
    ])
    result = ingest([path], db=db_path)
    f = result.files[0]
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (4, 2, 2)
    rows = query(db_path, "SELECT source_row, reason, original FROM quarantine ORDER BY 1")
    assert [r[0] for r in rows] == [3, 5]
    assert "缺少成员姓名" in rows[0][1] and "无法识别" in rows[0][1]
    assert rows[1][1] == "缺少低保证号"
    assert json.loads(rows[1][2])["成员姓名"] == "张三"


def test_strict_fails_a_file_with_rows_to_quarantine_and_loads_nothing_of_it(tmp_path, db_path):
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(), dibao_row(cert="")])
    result = ingest([path], db=db_path, strict=True)
    assert result.exit_code == ExitCode.FAILED
    assert result.files[0].status == "failed" and "第3行" in result.files[0].message
    assert query(db_path, "SELECT count(*) FROM files") == [(0,)]
    assert ingest([path], db=db_path).files[0].status == "loaded"  # without --strict it loads
    path2 = write_xlsx(tmp_path / "dibao_2026-12.xlsx", [DIBAO_HEADER, dibao_row(cert="DB9")])
    assert ingest([path2], db=db_path, strict=True).exit_code == ExitCode.OK


def _encrypted_like(path):
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    return path


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("notes.docx", lambda p: p.write_bytes(b"PK\x03\x04 whatever"), "不是可识别的表格文件"),
        ("empty.csv", lambda p: p.write_bytes(b""), "空"),
        ("dibao_broken.xlsx", lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 200), "损坏"),
        ("dibao_encrypted.xlsx", _encrypted_like, "密码"),
        ("dibao_renamed.xlsx", lambda p: p.write_bytes(b"\x01\x02garbage\xff\xfe" * 50), "不是 Excel"),
        ("notes.txt", lambda p: p.write_text("低保证号,成员姓名\n", encoding="utf-8"), "不是可识别的表格文件"),
        ("junk.csv", lambda p: p.write_bytes(bytes(range(256)) * 20), "二进制"),
        ("random.csv", lambda p: p.write_text("a,b,c\n1,2,3\n", encoding="utf-8"), "找不到可识别的表头"),
        ("dibao_nokey.csv", lambda p: p.write_text("成员姓名,成员身份证号\n张三,1\n", encoding="utf-8"), "缺少必需的列：低保证号"),
        ("dibao_only_header.csv", lambda p: p.write_text(",".join(DIBAO_HEADER) + "\n", encoding="utf-8"), "没有任何数据行"),
    ],
)
def test_bad_files_get_a_clear_message_and_the_others_still_load(tmp_path, db_path, name, make, expected):
    bad = tmp_path / name
    make(bad)
    good = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    result = ingest([bad, good], db=db_path)
    failed, loaded = result.files
    assert failed.status == "failed" and expected in failed.message, failed.message
    assert failed.message.startswith(name)
    assert loaded.status == "loaded"
    assert result.exit_code == ExitCode.FAILED
    assert query(db_path, "SELECT count(*) FROM dibao") == [(1,)]


def test_missing_required_column_names_the_column_and_row(tmp_path, db_path):
    header = [h for h in DIBAO_HEADER if h != "低保证号"]
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [["标题"], header, dibao_row()[1:]])
    # Recognised as dibao by name and headers, but the key column is missing.
    result = ingest([path], db=db_path, feed="dibao")
    assert "缺少必需的列：低保证号" in result.files[0].message
    assert "第2行" in result.files[0].message


def test_undecodable_bytes_name_the_line(tmp_path, db_path):
    path = tmp_path / "binzang_2026-11.csv"
    text = ",".join(BINZANG_HEADER) + "\nSW001,张三,,女,2026-10-03,,\n"
    path.write_bytes(text.encode("utf-8") + b"SW002,\xff\xfe\xfa\xfb,,,2026-10-03,,\n")
    result = ingest([path], db=db_path)
    # Valid UTF-8 Chinese before the bad bytes: a damaged UTF-8 file, not GB18030.
    assert result.files[0].status == "failed"
    assert "第3行" in result.files[0].message and "UTF-8" in result.files[0].message


def test_folder_ingest_skips_hidden_and_underscore_entries(tmp_path, db_path):
    inbox = tmp_path / "inbox"
    (inbox / "_truth").mkdir(parents=True)
    write_xlsx(inbox / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    (inbox / "_truth" / "persons.csv").write_text("x\n1\n", encoding="utf-8")
    (inbox / "~$dibao_2026-11.xlsx").write_bytes(b"lock")
    result = ingest([inbox], db=db_path)
    assert [f.file for f in result.files] == ["dibao_2026-11.xlsx"]


def test_forced_feed_and_unknown_feed(tmp_path, db_path):
    path = write_xlsx(tmp_path / "名单.xlsx", [DIBAO_HEADER, dibao_row()])
    assert ingest([path], db=db_path, feed="dibao").files[0].feed == "dibao"
    from rootdb.errors import UsageError

    with pytest.raises(UsageError):
        ingest([path], db=db_path, feed="nosuchfeed")


def test_header_matching_ignores_full_width_brackets_and_spaces(tmp_path, db_path):
    header = ["低 保 证 号" if h == "低保证号" else h.replace("（元）", "(元)") for h in DIBAO_HEADER]
    path = write_xlsx(tmp_path / "低保名单.xlsx", [header, dibao_row()])
    result = ingest([path], db=db_path)
    assert result.files[0].feed == "dibao"
    assert query(db_path, "SELECT monthly_amount FROM dibao") == [(800.0,)]


def test_rows_read_equals_loaded_plus_quarantined_in_the_database(tmp_path, db_path):
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx",
                      [DIBAO_HEADER] + [dibao_row(cert=f"DB{i}" if i % 3 else "") for i in range(30)])
    ingest([path], db=db_path)
    ((read, loaded, quarantined, recs, raws, q),) = query(
        db_path,
        "SELECT rows_read, rows_loaded, rows_quarantined, (SELECT count(*) FROM rec_dibao), "
        "(SELECT count(*) FROM raw_dibao), (SELECT count(*) FROM quarantine) FROM files",
    )
    assert read == loaded + quarantined == raws == recs + q
    assert quarantined == 10


def test_zip_with_no_workbook_inside(tmp_path, db_path):
    path = tmp_path / "dibao_2026-11.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "not a workbook")
    result = ingest([path], db=db_path)
    assert result.files[0].status == "failed" and "损坏" in result.files[0].message


def test_a_second_writer_waits_then_fails_with_a_clear_message(tmp_path, db_path, monkeypatch):
    import subprocess
    import sys

    from rootdb.errors import WorkspaceError

    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    ingest([path], db=db_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(30)",
         str(db_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        monkeypatch.setattr("rootdb.workspace.LOCK_WAIT_SECONDS", 1.0)
        other = write_xlsx(tmp_path / "dibao_2026-12.xlsx", [DIBAO_HEADER, dibao_row(state="停保")])
        with pytest.raises(WorkspaceError, match="正被另一个 rootdb 进程使用"):
            ingest([other], db=db_path)
    finally:
        holder.kill()
        holder.wait()
    assert query(db_path, "SELECT status FROM dibao") == [("在保",)]


def test_content_wins_over_a_wrong_extension(tmp_path, db_path):
    xlsx_named_csv = tmp_path / "dibao_2026-11.csv"
    write_xlsx(tmp_path / "real.xlsx", [DIBAO_HEADER, dibao_row()])
    xlsx_named_csv.write_bytes((tmp_path / "real.xlsx").read_bytes())
    csv_named_xlsx = write_csv(tmp_path / "binzang_2026-11.xlsx",
                               [BINZANG_HEADER, ["SW001", "张三", MEMBER_ID, "女", "2026-10-03", "", ""]])
    result = ingest([xlsx_named_csv, csv_named_xlsx], db=db_path)
    assert [f.status for f in result.files] == ["loaded", "loaded"]
    assert "内容是 Excel 工作簿" in result.files[0].warnings[0]
    assert "内容是文本" in result.files[1].warnings[0]


def test_excel_date_cells_keep_no_time_in_the_raw_values(tmp_path, db_path):
    import datetime as dt

    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(approved=dt.date(2020, 3, 2))])
    ingest([path], db=db_path)
    assert query(db_path, "SELECT approved_on FROM raw_dibao") == [("2020-03-02",)]
