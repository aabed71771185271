"""Masking as outputs.md says: 150602********123X and 138****5678 (a landline keeps its
area code: 0477-****8872); nothing invented."""

from __future__ import annotations

import polars as pl

from rootdb.privacy import mask_id, mask_phone


def _apply(fn, values):
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(fn(pl.col("v")).alias("v"))["v"].to_list()


def test_ids_keep_region_and_last_four():
    assert _apply(mask_id, ["15060219850302123X", "110105491231002"]) == ["150602********123X", "110105*****1002"]


def test_mobiles_keep_first_three_and_last_four():
    assert _apply(mask_phone, ["13812345678", "19900001234"]) == ["138****5678", "199****1234"]


def test_landlines_keep_the_area_code_and_hide_part_of_the_number():
    # As ingest stores them (digits only: 0477-8268872 → 04778268872): a four-digit area
    # code with a 7- or 8-digit number, and the three-digit codes 010 and 020-029.
    stored = ["04778268872", "047782688720", "01062345678", "02151234567", "0291234567"]
    assert _apply(mask_phone, stored) == [
        "0477-****8872", "0477-****8720", "010-****5678", "021-****4567", "029-****4567"]
    # As delivered (R36 shows the delivered value): dashes, spaces and brackets are ignored.
    assert _apply(mask_phone, ["0477-8268872", "(0477)8268872", "0477 826 8872", "010-62345678"]) == [
        "0477-****8872", "0477-****8872", "0477-****8872", "010-****5678"]
    # A number without its area code keeps only its last four digits.
    assert _apply(mask_phone, ["8268872", "62345678"]) == ["****8872", "****5678"]


def test_other_shapes_still_hide_the_middle():
    assert _apply(mask_phone, ["1381234567", "+86 138 1234 5678"]) == ["138***4567", "+86**********5678"]


def test_empty_and_wordy_values_are_left_as_they_are():
    assert _apply(mask_id, [None, "", "无"]) == [None, "", "无"]
    assert _apply(mask_phone, [None, "不详"]) == [None, "不详"]


def test_short_numbers_are_hidden_whole():
    assert _apply(mask_phone, ["123"]) == ["*"]


# ---------------------------------------------------------------- masking by content

import datetime as dt  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rootdb.privacy import mask_frame, mask_text  # noqa: E402

ID = "11010519491231002X"


@pytest.mark.parametrize("text, masked", [
    ("联系人13812345678", "联系人138****5678"),
    ("残疾证 15060219850302123X11", "残疾证 150602********123X11"),  # the ID inside a 残疾人证号
    ("G150602198503021234", "G150602********1234"),  # a 学籍号
    ("110105491231002", "110105*****1002"),  # a first-generation ID, standing alone
    ("电话 138-1234-5678，+86 139 0000 1234", "电话 138****5678，139****1234"),
    ("４１０１０２１９９１１２１９０４７４", "４１０１０２********０４７４"),  # full-width digits
    ("电话：１３８１２３４５６７８", "电话：138****5678"),
    ("150602 19850302 123X", "150602 ******** 123X"),  # written in groups
    (f"{ID}13812345678", "110105********002X138****5678"),
])
def test_mask_text_finds_ids_and_mobiles_anywhere(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    None, "", "无", "2026-11-01", "2026-11-01 23:59:59,123", "20261101-235959-123456",
    "15060200100100000001",  # a 地址编码
    "91150602MA0Y42HP8R", "0477-8268872", "月保障金 800 元", "P00000001",
])
def test_mask_text_leaves_what_is_not_an_id_or_mobile(text):
    assert mask_text(text) == text


def test_mask_frame_masks_text_lists_numbers_and_structs_but_not_kept_keys():
    frame = pl.DataFrame({
        "备注": ["联系13812345678", None, "无"],
        "电话": [13812345678, 5, None],
        "标签": [[f"证{ID}", "党员"], None, []],
        "原始": [{"地址": "幸福小区 13900001111"}, None, {"地址": None}],
        "entity_id": ["HN13812345678x", "P1", "P2"],
        "行号": [1, 2, 3],
    })
    masked = mask_frame(frame, keep=["entity_id"])
    assert masked["备注"].to_list() == ["联系138****5678", None, "无"]
    assert masked["电话"].to_list() == ["138****5678", "5", None]
    assert masked["标签"].to_list() == [["证110105********002X", "党员"], None, []]
    assert masked["原始"].to_list() == [{"地址": "幸福小区 139****1111"}, None, {"地址": None}]
    assert masked["entity_id"].to_list() == frame["entity_id"].to_list()
    assert masked["行号"].dtype == pl.Int64
    plain = pl.DataFrame({"a": ["x"], "n": [1]})
    assert mask_frame(plain) is plain


# ---------------------------------------------------------------- CSV files

def test_write_csv_neutralises_formulas_and_keeps_numbers(tmp_path):
    from rootdb.csvfile import write_csv

    frame = pl.DataFrame({"v": ["=Cmd|' /C Calc'!A0", "+Sum(1,2)", "@Sum(1,2)", "-2+3", "\t=1", "-12.5", "+86",
                                "-", "张三", None]})
    write_csv(frame, tmp_path / "x.csv")
    raw = (tmp_path / "x.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pl.read_csv(tmp_path / "x.csv", infer_schema=False)["v"].to_list()
    assert back == ["'=Cmd|' /C Calc'!A0", "'+Sum(1,2)", "'@Sum(1,2)", "'-2+3", "'\t=1", "-12.5", "+86", "-", "张三",
                    None]


# ---------------------------------------------------------------- messages

def test_errors_mask_what_they_quote():
    from rootdb.errors import InputFileError, RootdbError, UsageError

    exc = InputFileError("dibao.csv", f"无法解析：张三,{ID},13812345678", row=3)
    for text in (str(exc), exc.message, exc.detail):
        assert ID not in text and "13812345678" not in text
    assert str(exc) == "dibao.csv 第3行：无法解析：张三,110105********002X,138****5678"
    assert exc.detail == "无法解析：张三,110105********002X,138****5678"
    assert str(UsageError(f"找不到 {ID}")) == "找不到 110105********002X"
    assert str(RootdbError("普通的话")) == "普通的话"


def test_a_csv_with_a_stray_quote_is_reported_without_the_id(tmp_path):
    """One stray quote makes the rest of the file one field: whatever ingest makes of
    it (the file rejected, or the row quarantined), nothing it says quotes the ID."""
    from conftest import DIBAO_HEADER, dibao_row, query, write_csv
    from rootdb.ingest import ingest

    rows = [DIBAO_HEADER, dibao_row(), dibao_row(cert="DB002", name="李四", pid="110105194912310021")]
    rows[1][4] = '"' + rows[1][4]
    path = write_csv(tmp_path / "dibao_2026-11.csv", rows)
    db = tmp_path / "ws" / "rootdb.duckdb"
    result = ingest([path], db=db)
    said = json.dumps(result.to_dict(), ensure_ascii=False)
    assert ID not in said and "13812345678" not in said and "110105194912310021" not in said
    stored = json.dumps(query(db, "SELECT * FROM batches"), ensure_ascii=False, default=str)
    assert ID not in stored and "13812345678" not in stored


def test_nightly_log_record_and_rejection_note_hold_no_id(tmp_path):
    from conftest import DIBAO_HEADER, dibao_row, write_csv
    from rootdb.nightly import run_nightly
    from rootdb.workspace import init_workspace

    ws = init_workspace(tmp_path / "街道")
    inbox = ws.root / "inbox"
    inbox.mkdir(exist_ok=True)
    rows = [DIBAO_HEADER, dibao_row()]
    rows[1][4] = '"' + rows[1][4]
    write_csv(inbox / "dibao_2026-11.csv", rows)
    # rejected: no known feed; its name (and so every message about it) holds a mobile and an ID
    (inbox / f"补报_张三_13812345678_{ID}.csv").write_text("序号,说明\n1,新搬来\n", encoding="utf-8")
    run = run_nightly(db=str(ws.db_path), as_of=dt.date(2026, 11, 1), settle_seconds=0, wait=1)
    assert any(f["status"] == "failed" for f in run.files)
    texts = [Path(run.log_file).read_text(encoding="utf-8"), Path(run.record_file).read_text(encoding="utf-8"),
             run.message, *run.warnings]
    notes = list((ws.root / "rejected").glob("*.原因.txt"))
    assert notes
    texts += [n.read_text(encoding="utf-8") for n in notes]
    for text in texts:
        assert ID not in text and "13812345678" not in text, text
    assert "138****5678" in texts[0]  # the file is still named, masked
