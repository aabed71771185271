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


# ---------------------------------------------------------------- any way of writing one

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rootdb.privacy import mask_series  # noqa: E402

# Ways of cutting a number apart that people type or paste: spaces of every kind (NBSP,
# ideographic, tab, thin), dashes of every width, dots, slashes, underscores, brackets.
SEPARATORS = [" ", "\u00a0", "\u3000", "\t", "\u2009", "\u200b", "-", "－", "–", "—", "‐", "−", ".", "．", "·",
              "/", "／", "\\", "_", "＿", "(", ")", "（", "）", "【", "】", "[", "]"]
FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
CHINESE = "身份证号码电话联系人备注住在幸福小区楼单元室是的请打给我妈妈手机"


def _check_digit(body: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


@st.composite
def resident_ids(draw):
    region = str(draw(st.integers(110000, 659999)))
    born = draw(st.dates(dt.date(1900, 1, 1), dt.date(2026, 12, 31)))
    sequence = f"{draw(st.integers(0, 999)):03d}"
    if draw(st.booleans()):
        body = region + born.strftime("%Y%m%d") + sequence
        return body + _check_digit(body)
    return region + born.strftime("%y%m%d") + sequence  # a first-generation ID


@st.composite
def mobiles(draw):
    return "1" + str(draw(st.integers(3, 9))) + f"{draw(st.integers(0, 10**9 - 1)):09d}"


@st.composite
def written(draw, number):
    """`number` cut anywhere into groups joined by 1-3 separators, perhaps full-width,
    perhaps after a country code, inside Chinese text."""
    cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=len(number) - 1)))
    groups = [number[a:b] for a, b in zip([0, *cuts], [*cuts, len(number)])]
    text = groups[0]
    for group in groups[1:]:
        text += "".join(draw(st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=3))) + group
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    if len(number) == 11:
        text = draw(st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", "＋８６", "(+86)"])) + text
    before = draw(st.text(alphabet=CHINESE, max_size=6))
    after = draw(st.text(alphabet=CHINESE, max_size=6))
    return before + text + after


def _digits(text: str) -> str:
    """The digits (and X) of a text once every separator is removed, as ASCII."""
    from rootdb.masking import _NORMALISE

    return "".join(ch for ch in text.translate(_NORMALISE).upper() if ch != " ")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_way_of_writing_an_id_or_a_mobile_is_masked(data):
    number = data.draw(st.one_of(resident_ids(), mobiles()))
    text = data.draw(written(number))
    masked = mask_text(text)
    left = _digits(masked)
    assert number not in left, (text, masked)
    for start in range(len(number) - 10):
        assert number[start:start + 11] not in left, (text, masked)
    # the cheap pre-filter of a column and the search agree: a column masks it the same way
    assert mask_series(pl.Series([text, "无"])).to_list() == [masked, "无"]


@given(text=st.text(alphabet="0123456789１３８９ -－–—.·/_()（）\u00a0\u3000电话号X", max_size=40))
@settings(max_examples=400, deadline=None)
def test_a_column_masks_exactly_what_the_text_search_masks(text):
    """`_MAYBE_PERSONAL` (polars) lets through every value `mask_text` would change."""
    assert mask_series(pl.Series([text])).to_list() == [mask_text(text)]
    digits = "".join(ch for ch in text if ch in "0123456789")[:18]
    if digits:  # a number cell
        assert mask_series(pl.Series([int(digits)])).cast(pl.String).to_list() == [mask_text(str(int(digits)))]


@given(pieces=st.lists(st.one_of(resident_ids(), mobiles(), st.sampled_from(["86", "0086", "0", "1"]),
                                 st.text(alphabet="0123456789", max_size=12)), max_size=4))
@settings(max_examples=200, deadline=None)
def test_a_column_of_digit_codes_masks_exactly_what_the_text_search_masks(pieces):
    """Codes of ASCII digits alone (个人编号, 地址编码) skip Python unless they may hold an
    ID or a mobile: they are masked exactly as one text is, however the ID or mobile
    sits in them (start, middle, end, after 86, twice, run together)."""
    code = "".join(pieces)
    assert mask_series(pl.Series([code, "无"])).to_list() == [mask_text(code), "无"]


@pytest.mark.parametrize("text", [
    "110101 1990 0307 4514", "110101-1990-0307-4514", "1101 0119 9003 0745 14", "110101.19900307.4514",
    "110101–19900307–4514", "110101—19900307—4514", "110101\t19900307\t4514", "１１０１０１１９９００３０７４５１４",
    "008613912345678", "0086 13912345678", "+86-139-1234-5678", "139.1234.5678", "(139)1234-5678",
    "139/1234/5678", "139_1234_5678", "139\u00a01234\u00a05678", "139－1234－5678", "139 1234  5678",
    "１３９１２３４５６７８", "1391234567813812345670", "11010119900307451413912345678",
    "13912345678110101199003074514",
])
def test_the_reviewers_ways_of_writing_them_are_masked(text):
    masked = mask_text(text)
    left = _digits(masked)
    for number in ("110101199003074514", "13912345678", "13812345670"):
        assert all(number[i:i + 11] not in left for i in range(len(number) - 10)), masked
    assert mask_series(pl.Series([text])).to_list() == [masked]


def test_dates_amounts_codes_and_times_written_with_separators_stay():
    kept = ["2026.11.01", "2026/11/01 23:59", "2026年11月01日 13:45", "金额 1,234,567.89 元",
            "20261101-235959-123456", "地址编码 1506 0200 1001 0000 0001", "0477-8268872", "P00000001"]
    assert [mask_text(t) for t in kept] == kept
    assert mask_series(pl.Series(kept)).to_list() == kept


# ---------------------------------------------------------------- file names that hold one

FILE_ID, FILE_MOBILE = "150602198503021234", "13912345678"


def test_ingest_and_status_mask_file_names_everywhere_they_show_them(tmp_path):
    """A delivered file named after a person (ID and mobile in the name): the ingest
    table, its warnings (已替换 …), --json `file`/`path`, and status (table and --json)
    show the name masked; the database keeps the real one."""
    from conftest import DIBAO_HEADER, dibao_row, query, write_csv
    from typer.testing import CliRunner

    from rootdb.cli.main import app

    ws = tmp_path / "ws"
    db = str(ws / "rootdb.duckdb")
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    first = write_csv(tmp_path / f"dibao_{FILE_ID}_{FILE_MOBILE}_2026-10.csv", [DIBAO_HEADER, dibao_row()])
    second = write_csv(tmp_path / f"dibao_{FILE_ID}_{FILE_MOBILE}_2026-11.csv",
                       [DIBAO_HEADER, dibao_row(), dibao_row(cert="DB002", name="李四", pid="110105194912310021")])
    said = []
    for path in (first, second):
        for extra in ([], ["--json"]):
            result = runner.invoke(app, ["ingest", str(path), "--db", db, *extra])
            assert result.exit_code == 0, result.output
            said.append(result.output)
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["status", "--db", db, *extra], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        said.append(result.output)
    replaced = [s for s in said if "已替换" in s]
    assert replaced, said  # the second delivery replaced the first, and said so
    folded = [s.replace("\n", "").replace("│", "").replace(" ", "") for s in said]
    for text in said + folded:
        assert FILE_ID not in text and FILE_MOBILE not in text, text
    assert any("150602********1234" in s for s in folded) and any("139****5678" in s for s in folded)
    files = json.loads(said[1])["files"][0]
    assert "139****5678" in files["file"] and "139****5678" in files["path"]
    assert {name for (name,) in query(Path(db), "SELECT file_name FROM files")} == {first.name, second.name}
