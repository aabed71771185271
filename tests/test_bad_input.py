"""Bad input beyond the contract's list (see also test_ingest.py): each gets a clear
message naming the file, nothing already loaded is lost, and the other files still
load."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from conftest import DIBAO_HEADER, dibao_row, query, write_csv, write_xlsx

from rootdb import ingest
from rootdb.ingest import pipeline
from rootdb.ingest.readers import read_grid

TEKUN_HEADER = ["供养证号", "姓名", "身份证号", "性别", "出生日期", "供养方式", "家庭住址", "联系电话", "月供养金（元）",
                "开始日期"]


def _ingest_beside_a_good_file(tmp_path: Path, db_path: Path, bad: Path):
    good = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    result = ingest([bad, good], db=db_path)
    failed, loaded = result.files  # as given
    assert loaded.file == good.name and loaded.status == "loaded"
    assert query(db_path, "SELECT count(*) FROM dibao") == [(1,)]
    return failed


def test_truncated_workbook(tmp_path, db_path):
    whole = write_xlsx(tmp_path / "whole.xlsx", [DIBAO_HEADER] + [dibao_row(cert=f"DB{i}") for i in range(300)])
    bad = tmp_path / "tekun_2026-11.xlsx"
    bad.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    failed = _ingest_beside_a_good_file(tmp_path, db_path, bad)
    assert failed.status == "failed" and failed.message.startswith(bad.name) and "损坏" in failed.message


def test_zip_bomb_is_refused_without_unpacking_it(tmp_path, db_path):
    bad = tmp_path / "tekun_2026-11.xlsx"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (600 * 1024 * 1024))  # 600 MB of zeros
    bad.write_bytes(buffer.getvalue())
    assert bad.stat().st_size < 2 * 1024 * 1024
    failed = _ingest_beside_a_good_file(tmp_path, db_path, bad)
    assert failed.status == "failed" and failed.message.startswith(bad.name)
    assert "解压" in failed.message or "过大" in failed.message or "损坏" in failed.message


# About a minute of CPU and 3.5 GB alone (the address parser and the header matcher run
# their regular expressions over the 35-million-character cell, over a thousand times):
# out of the fast tier and the default run until the cleaners stop at a length; pytest -m slow.
@pytest.mark.slow
def test_a_100_mb_cell(tmp_path, db_path):
    bad = tmp_path / "dibao_2026-12.csv"
    with bad.open("w", encoding="utf-8") as fh:
        fh.write(",".join(DIBAO_HEADER) + "\n")
        fh.write("DB9,张三,,张三,,户主,男," + "幸" * (35 * 1024 * 1024) + ",,1,100,A类,2020-01-01,在保\n")
    assert bad.stat().st_size > 100 * 1024 * 1024
    result = ingest([bad], db=db_path)
    f = result.files[0]
    assert f.file == bad.name and f.status in ("loaded", "failed")
    if f.status == "failed":
        assert f.message.startswith(bad.name)
    else:  # loaded: the row is there, or quarantined with a reason; nothing lost
        assert f.rows_read == f.rows_loaded + f.rows_quarantined == 1


def test_wrong_feed_in_a_file_named_for_another(tmp_path, db_path):
    """A tekun list saved under a dibao name: the header decides, and says so."""
    wrong = write_xlsx(tmp_path / "dibao_2026-12.xlsx", [
        TEKUN_HEADER, ["TK001", "李四", "11010519491231002X", "女", "1949-12-31", "分散供养", "幸福小区1号楼1单元101",
                       "13812345678", 900, "2020-01-01"]])
    result = ingest([wrong], db=db_path)
    f = result.files[0]
    assert f.status == "loaded" and f.feed == "tekun"
    assert query(db_path, "SELECT count(*) FROM tekun") == [(1,)]


def test_duplicated_header_row_and_column(tmp_path, db_path):
    repeated = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [
        DIBAO_HEADER, dibao_row(cert="DB1"), DIBAO_HEADER, dibao_row(cert="DB2")])
    result = ingest([repeated], db=db_path)
    assert result.files[0].status == "loaded" and result.files[0].rows_read == 2  # the repeat is not data
    twice = write_csv(tmp_path / "dibao_2026-12.csv", [DIBAO_HEADER + ["状态"], dibao_row(cert="DB3") + ["停保"]])
    f = ingest([twice], db=db_path).files[0]
    assert f.status in ("loaded", "failed")
    if f.status == "failed":
        assert f.message.startswith(twice.name) and "状态" in f.message


def test_binary_junk_named_csv(tmp_path, db_path):
    bad = tmp_path / "yibao_2026-11.csv"
    bad.write_bytes(bytes(range(256)) * 400)
    failed = _ingest_beside_a_good_file(tmp_path, db_path, bad)
    assert failed.status == "failed" and failed.message.startswith(bad.name)


def test_a_file_named_for_a_feed_without_its_header_says_so(tmp_path, db_path):
    """A text list saved as 低保_….xlsx: read as CSV, and the message names the feed its
    name claims and asks for the header, not for another name."""
    bad = tmp_path / "低保_2026-12.xlsx"
    bad.write_text("姓名,备注\n张三,新搬来\n", encoding="utf-8")
    failed = _ingest_beside_a_good_file(tmp_path, db_path, bad)
    assert failed.status == "failed"
    assert "文件名表明是“城乡最低生活保障对象花名册”（dibao）" in failed.message and "表头" in failed.message
    assert "--feed" not in failed.message


def test_a_file_that_disappears_while_being_read(tmp_path, db_path, monkeypatch):
    vanishing = write_xlsx(tmp_path / "tekun_2026-11.xlsx", [TEKUN_HEADER])
    real = pipeline.sha256_of

    def hash_then_vanish(path: Path) -> str:
        digest = real(path)
        if path.name == vanishing.name:
            path.unlink()
        return digest

    monkeypatch.setattr(pipeline, "sha256_of", hash_then_vanish)
    failed = _ingest_beside_a_good_file(tmp_path, db_path, vanishing)
    assert failed.status == "failed" and failed.message.startswith(vanishing.name)
    assert "不存在" in failed.message or "无法打开" in failed.message


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_reader_errors_name_the_file(tmp_path, suffix):
    from rootdb.errors import InputFileError

    path = tmp_path / f"x{suffix}"
    path.write_bytes(b"\x00\x01\x02" * 10)
    with pytest.raises(InputFileError, match=path.name):
        read_grid(path)


def _named_in_bytes(folder: Path, name: bytes, source: Path) -> Path:
    """`source` copied into `folder` under a name given as bytes (as an archive made on
    Windows leaves it when unzipped): a path Python holds with undecodable bytes."""
    import os

    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + name))
    path.write_bytes(source.read_bytes())
    return path


def test_a_file_name_in_gbk_is_rejected_saying_how_it_reads(tmp_path, db_path, monkeypatch):
    """No reader, database or terminal takes a name that is not UTF-8: the file is
    rejected with its name read as GBK (or shown as \\xNN where it is not GBK either),
    the run is recorded, its JSON printed, and the other files load."""
    import json

    from typer.testing import CliRunner

    from rootdb.cli.main import app

    source = write_csv(tmp_path / "source.csv", [DIBAO_HEADER, dibao_row()])
    (tmp_path / "in").mkdir()
    gbk = _named_in_bytes(tmp_path / "in", "低保_2026-11.csv".encode("gbk"), source)
    junk = _named_in_bytes(tmp_path / "in", b"\xff\xfe_2026-11.csv", source)
    failed = _ingest_beside_a_good_file(tmp_path, db_path, gbk)
    assert failed.status == "failed" and failed.file == "低保_2026-11.csv"
    assert failed.message.startswith("低保_2026-11.csv：文件名不是 UTF-8 编码") and "改名为「低保_2026-11.csv」" in failed.message
    assert Path(failed.path) == gbk  # the real path: the file can still be moved by it
    assert json.loads(query(db_path, "SELECT summary FROM batches ORDER BY batch_id DESC LIMIT 1")[0][0])[
        "files"][0]["path"] == str(tmp_path / "in" / "低保_2026-11.csv")

    monkeypatch.chdir(tmp_path)
    shown = CliRunner().invoke(app, ["ingest", "in", "--db", str(db_path), "--json"], catch_exceptions=False)
    assert shown.exit_code == 1, shown.output
    files = {f["file"]: f for f in json.loads(shown.output)["files"]}
    assert set(files) == {"低保_2026-11.csv", "\\xff\\xfe_2026-11.csv"}
    assert "也不是 GBK" in files["\\xff\\xfe_2026-11.csv"]["message"]
    (tmp_path / "in" / "低保_2026-11.csv").write_text("taken", encoding="utf-8")  # its readable name is taken
    (again,) = ingest([gbk], db=db_path).files
    assert "同一文件夹里已有「低保_2026-11.csv」，请另取一个名字" in again.message
    human = CliRunner().invoke(app, ["ingest", str(junk), "--db", str(db_path)], catch_exceptions=False)
    assert human.exit_code == 1 and "\\xff\\xfe_2026-11.csv：文件名不是 UTF-8 编码，也不是 GBK" in human.output


def test_a_link_to_nothing_in_a_folder_fails_named_instead_of_passing_unseen(tmp_path, db_path):
    folder = tmp_path / "收件"
    folder.mkdir()
    write_xlsx(folder / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    (folder / "tekun_2026-11.xlsx").symlink_to(tmp_path / "已删除.xlsx")
    result = ingest([folder], db=db_path)
    by_name = {f.file: f for f in result.files}
    assert by_name["dibao_2026-11.xlsx"].status == "loaded"
    assert by_name["tekun_2026-11.xlsx"].status == "failed"
    assert "这是一个链接，指向的文件不存在" in by_name["tekun_2026-11.xlsx"].message


def test_names_are_printed_as_text_never_as_markup_or_terminal_controls(tmp_path, db_path):
    """A delivered name is shown as it is: [red]… is not colour, an escape character
    does not clear the screen."""
    from typer.testing import CliRunner

    from rootdb.cli.main import app

    marked = write_xlsx(tmp_path / "[red]dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    control = tmp_path / "tekun\x1b[2J_2026-11.csv"
    control.write_bytes(b"\x00\x01" * 50)
    shown = CliRunner().invoke(app, ["ingest", str(marked), str(control), "--db", str(db_path)],
                               catch_exceptions=False)
    assert shown.exit_code == 1, shown.output
    assert "[red]dibao_2026-11.xlsx" in shown.output and "tekun\\x1b[2J_2026-11.csv" in shown.output
    assert "\x1b" not in shown.output
