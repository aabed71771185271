"""Where the user asks a file to go (`--out`): an existing folder given as a file, or an
existing file given as report's folder, is a Chinese usage error (exit 2) before anything
is read, written or audited; `audit --limit`; `query --limit 0`; the numbers of CSV reports."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import SAMPLE_AS_OF
from typer.testing import CliRunner

from rootdb.cli.main import app
from rootdb.errors import UsageError
from rootdb.outpaths import output_file, output_folder
from rootdb.reports.templates import ReportColumn, ReportTemplate
from rootdb.reports.writer import write_csv

runner = CliRunner()


def invoke(*args):
    # catch_exceptions=True: a traceback would show as exit 1 and an exception, not escape
    return runner.invoke(app, [str(a) for a in args])


def flat(output: str) -> str:
    """An error panel's text without its frame and line breaks."""
    return re.sub(r"[\s│╭╮╰╯─]", "", output)


@pytest.fixture(scope="module")
def work_db(sample_db, tmp_path_factory) -> Path:
    """A copy of the linked sample: query, notify and unmasked exports write the audit log."""
    path = tmp_path_factory.mktemp("output_paths") / "rootdb.duckdb"
    shutil.copy(sample_db, path)
    return path


def audit_count(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'audit_log'").fetchall()
        return con.execute("SELECT count(*) FROM audit_log").fetchone()[0] if tables else 0


# --- the check itself --------------------------------------------------------------------

def test_output_file_refuses_a_folder_and_a_file_on_the_way(tmp_path):
    (tmp_path / "名单.xlsx").mkdir()
    with pytest.raises(UsageError, match="是一个已有的文件夹"):
        output_file(tmp_path, "人员.csv")
    with pytest.raises(UsageError, match="是一个已有的文件夹") as info:
        output_file(tmp_path / "名单.xlsx", "名单.xlsx")
    assert info.value.exit_code == 2
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UsageError, match="a.txt 是一个文件，不是文件夹"):
        output_file(tmp_path / "a.txt" / "sub" / "x.csv")
    # an existing file is overwritten as before; missing folders are created on writing
    assert output_file(tmp_path / "a.txt") == tmp_path / "a.txt"
    assert output_file(tmp_path / "new" / "deeper" / "x.csv") == tmp_path / "new" / "deeper" / "x.csv"


def test_output_folder_refuses_an_existing_file(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(UsageError, match="是一个已有的文件，不是文件夹"):
        output_folder(tmp_path / "f.txt")
    with pytest.raises(UsageError, match="f.txt 是一个文件"):
        output_folder(tmp_path / "f.txt" / "sub")
    assert output_folder(tmp_path) == tmp_path
    assert output_folder(tmp_path / "new") == tmp_path / "new"


# --- every command that writes a file -----------------------------------------------------

FILE_COMMANDS = [
    ["export", "persons"],
    ["export", "crosswalk"],
    ["export", "corrections"],
    ["export", "addresses", "--unmatched"],
    ["quarantine"],
    ["review", "export"],
    ["query", "--age", "80+"],
    ["notify", "--template", "托育服务通知", "--age", "0-3"],
]


@pytest.mark.parametrize("command", FILE_COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("folder_name", ["plain", "名单.xlsx", "名单.csv"])
def test_a_folder_as_out_is_a_usage_error_not_a_traceback(work_db, tmp_path, command, folder_name):
    folder = tmp_path / folder_name
    folder.mkdir()
    before = audit_count(work_db)
    result = invoke(*command, "--out", folder, "--db", work_db)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output and "Error:" not in result.output
    assert "是一个已有的文件夹，不是文件" in flat(result.output)
    assert list(folder.iterdir()) == []  # nothing written into it
    assert audit_count(work_db) == before  # no audit row for a file that never appears


@pytest.mark.parametrize("command", [["query", "--age", "80+"], ["notify", "--template", "托育服务通知"],
                                     ["export", "persons"]], ids=lambda c: c[0] + c[1])
def test_unmasked_into_a_folder_writes_no_audit_row(work_db, tmp_path, command):
    folder = tmp_path / "out.xlsx"
    folder.mkdir()
    before = audit_count(work_db)
    result = invoke(*command, "--unmasked", "--out", folder, "--db", work_db)
    assert result.exit_code == 2, result.output
    assert audit_count(work_db) == before


def test_a_file_on_the_way_is_a_usage_error(work_db, tmp_path):
    (tmp_path / "a.txt").write_text("x")
    result = invoke("export", "persons", "--out", tmp_path / "a.txt" / "人员.csv", "--db", work_db)
    assert result.exit_code == 2, result.output
    assert "是一个文件，不是文件夹" in flat(result.output)


def test_missing_parent_folders_are_still_created(work_db, tmp_path):
    out = tmp_path / "新建" / "子目录" / "人员.csv"
    result = invoke("export", "persons", "--out", out, "--db", work_db)
    assert result.exit_code == 0, result.output
    assert out.is_file()


def test_report_out_an_existing_file_is_a_usage_error(work_db, tmp_path):
    existing = tmp_path / "报表.txt"
    existing.write_text("keep me")
    for out in (existing, existing / "sub"):
        result = invoke("report", "R01", "--as-of", SAMPLE_AS_OF.isoformat(), "--out", out, "--db", work_db)
        assert result.exit_code == 2, (result.output, result.exception)
        assert "不是文件夹" in flat(result.output)
    assert existing.read_text() == "keep me"


def test_export_help_says_csv_or_xlsx():
    for what in ("persons", "crosswalk"):
        text = invoke("export", what, "-h").output
        assert ".csv 或 .xlsx" in text, what


# --- audit --limit -------------------------------------------------------------------------

def test_audit_limit_negative_is_rejected_and_zero_means_all(work_db):
    invoke("query", "--age", "80+", "--db", work_db)  # at least two entries
    invoke("query", "--age", "0-3", "--db", work_db)
    total = audit_count(work_db)
    assert total >= 2
    result = invoke("audit", "--limit", "-1", "--db", work_db)
    assert result.exit_code == 2
    assert "不能小于 0" in result.output and "Traceback" not in result.output
    import json

    entries = json.loads(invoke("audit", "--limit", "0", "--json", "--db", work_db).output)["entries"]
    assert len(entries) == total
    assert "审计日志为空" not in invoke("audit", "--limit", "0", "--db", work_db).output
    assert len(json.loads(invoke("audit", "--limit", "1", "--json", "--db", work_db).output)["entries"]) == 1
    assert "0 = 全部" in invoke("audit", "-h").output


def test_audit_rows_rejects_a_negative_limit(work_db):
    from rootdb.privacy import audit_rows

    with duckdb.connect(str(work_db), read_only=True) as con:
        with pytest.raises(UsageError):
            audit_rows(con, -1)
        assert len(audit_rows(con, 0)) == len(audit_rows(con, None)) == audit_count(work_db)


# --- query --limit 0 -----------------------------------------------------------------------

def test_query_limit_0_says_the_count_once(work_db):
    result = invoke("query", "--age", "80+", "--limit", "0", "--db", work_db)
    assert result.exit_code == 0, result.output
    assert len(re.findall(r"共 [\d,]+ 人", result.output)) == 1, result.output
    assert "--out 名单.xlsx" in result.output


# --- numbers in CSV reports ----------------------------------------------------------------

def test_csv_numbers_are_written_as_the_formats_say(tmp_path):
    template = ReportTemplate(code="R99", title="测试", sql="SELECT 1 AS n ORDER BY n", columns=[
        ReportColumn(field="n", header="人数", format="int"),
        ReportColumn(field="y", header="年份", format="plain_int"),
        ReportColumn(field="amount", header="金额", format="money"),
        ReportColumn(field="whole_amount", header="整数金额", format="money"),
        ReportColumn(field="area", header="面积", format="decimal"),
        ReportColumn(field="x", header="数值", format="number"),
        ReportColumn(field="rate", header="比率", format="percent"),
        ReportColumn(field="code", header="编码", format="text"),
    ])
    frame = pl.DataFrame({
        "n": [808.0, None], "y": [2026.0, 2025.0], "amount": [1560.0, 307.456], "whole_amount": [100, 0],
        "area": [85.5, 139.7], "x": [3.0, 85.456], "rate": [0.806930693069307, None], "code": ["0012", "-5"],
    })
    path = tmp_path / "R99.csv"
    write_csv(path, template, frame)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "序号,人数,年份,金额,整数金额,面积,数值,比率,编码"
    assert lines[1] == "1,808,2026,1560.00,100.00,85.50,3,0.8069,0012"
    assert lines[2] == "2,,2025,307.46,0.00,139.70,85.46,,-5"


def test_sample_csv_reports_have_no_raw_floats(report_csv):
    r12 = report_csv("R12")
    assert all(re.fullmatch(r"\d\.\d{1,4}|", v or "") for v in r12["参保率"]), r12["参保率"].to_list()
    r01 = report_csv("R01")
    amounts = [v for v in r01["月保障金（元）"] if v]
    assert amounts and all(re.fullmatch(r"\d+\.\d\d", v) for v in amounts), amounts[:5]
    assert all(re.fullmatch(r"\d+", v) for v in r01["保障人数"] if v)


@pytest.mark.parametrize("command", [["export", "persons"], ["export", "crosswalk"],
                                     ["export", "addresses", "--unmatched"]])
def test_an_export_refuses_a_suffix_it_does_not_write(command, tmp_path):
    """A CSV written under .txt or .json would mislead whoever opens it: only .csv or .xlsx."""
    result = invoke(*command, "--out", tmp_path / "导出.json", "--db", tmp_path / "none.duckdb")
    assert result.exit_code == 2 and ".csv 或 .xlsx" in result.output
    assert not (tmp_path / "导出.json").exists()


_WRITE_TOO_MUCH = """
import resource, signal, sys
import polars as pl
from rootdb.exports import write_table
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
frame = pl.DataFrame({"k": range(200_000), "v": [f"值{i}" for i in range(200_000)]})
try:
    write_table(frame, sys.argv[1], "表")
except OSError as exc:  # polars says it in its own words: File too large (os error 27)
    print("failed", exc.errno or "")
"""


@pytest.mark.parametrize("name", ["导出.xlsx", "导出.csv"])
def test_an_output_that_cannot_be_written_whole_leaves_what_was_there(tmp_path, name):
    """A write that fails midway (the operating system refuses the file past 200 KB here, as
    a full disk would): the file the user had at that path is as it was, and nothing
    half written is left beside it."""
    import errno
    import subprocess
    import sys

    out = tmp_path / name
    out.write_text("上次的导出", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _WRITE_TOO_MUCH, str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.stdout.split()[0] == "failed" and done.stdout.split()[1:] in ([], [str(errno.EFBIG)]), \
        done.stdout + done.stderr
    assert out.read_text(encoding="utf-8") == "上次的导出"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_what_a_killed_writer_left_beside_an_output_is_removed_by_the_next(tmp_path):
    """kill -9 skips the clean-up: the hidden half-written file (residents' data) goes at
    the next write of that output; a live writer's is left alone."""
    import os
    import subprocess
    import sys

    from rootdb.csvfile import write_csv as write_plain_csv

    from rootdb.outpaths import partial_name

    out = tmp_path / "名单[1].csv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    mine = partial_name(out).name.rsplit(".", 2)[0]
    left = tmp_path / f"{mine}.{int(dead.stdout)}.part"
    spliced = tmp_path / f"{mine}.{int(dead.stdout)}.part.rows"  # a workbook killed while its rows went in
    live = tmp_path / f"{mine}.{os.getppid()}.part"
    for partial in (left, spliced, live):
        partial.write_text("姓名\n张三\n", encoding="utf-8")
    write_plain_csv(pl.DataFrame({"姓名": ["李四"]}), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, live.name])
    assert "李四" in out.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_output_named_near_the_file_systems_limit_is_written(tmp_path, suffix):
    """A name of 255 bytes, the most a file system takes: its hidden partial file is named
    by a hash, not by the name with more added."""
    from rootdb.exports import write_table

    out = tmp_path / ("名" * ((255 - len(suffix)) // 3) + "x" * ((255 - len(suffix)) % 3) + suffix)
    assert len(out.name.encode("utf-8")) == 255
    write_table(pl.DataFrame({"姓名": ["李四"] * 30_000}), out, "表")
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
