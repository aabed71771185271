"""Defects a new user met walking through the README, each pinned by the command they
typed: Chinese messages, the exit codes the README promises, names accepted as written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from conftest import DIBAO_HEADER, dibao_row, write_xlsx
from rootdb.cli.main import app

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)


def test_a_file_that_is_not_a_database_is_bad_usage_in_chinese(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# not a database\n" * 50, encoding="utf-8")
    result = invoke("status", "--db", readme)
    assert result.exit_code == 2
    text = result.stdout + result.stderr
    assert "不是 rootdb 的数据库文件" in text
    assert "IO Error" not in text and "not a valid" not in text


def _option_help(command: str, option: str) -> str:
    import typer.main

    group = typer.main.get_command(app)
    param = next(p for p in group.commands[command].params if option in p.opts)
    return param.help


def test_in_says_it_counts_everyone_named_whatever_their_status():
    """`query --in 低保` gave 50 people, `--group 低保` 48: --in counts a 停保 household too,
    and its help says so and points to --group."""
    for command in ("query", "notify"):
        text = _option_help(command, "--in")
        assert "名单中出现即算，含停保等状态" in text
        assert "按正在享受的待遇筛选请用 --group" in text
        page = " ".join(invoke(command, "-h").output.split())
        assert "含停保等状态" in page.replace("│", "").replace(" ", "")


def test_ingest_footer_counts_the_rows_of_a_failed_file(tmp_path, monkeypatch):
    """With --strict a failed file's rows are neither loaded nor quarantined: the table
    has a 失败 column and the footer says 读取 = 导入 + 隔离 + 失败."""
    monkeypatch.setenv("COLUMNS", "160")
    good = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(), dibao_row(cert="DB2")])
    bad = write_xlsx(tmp_path / "dibao_2026-12.xlsx",
                     [DIBAO_HEADER, dibao_row(cert="DB3"), dibao_row(cert=""), dibao_row(cert="DB4")])
    result = invoke("ingest", good, bad, "--db", tmp_path / "x.duckdb", "--strict")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "读取" in line and "导入" in line and "文件" in line)
    assert header.split()[-5:] == ["读取", "导入", "隔离", "失败", "有问题"]
    total = next(line for line in lines if line.strip().startswith("合计"))
    assert total.split()[-5:] == ["5", "2", "0", "3", "0"]
    assert "读取 = 导入 + 隔离 + 失败" in result.stdout

    clean = invoke("ingest", write_xlsx(tmp_path / "dibao_2027-01.xlsx", [DIBAO_HEADER, dibao_row()]),
                   "--db", tmp_path / "y.duckdb")
    assert clean.exit_code == 0
    assert "失败" not in clean.stdout and "读取 = 导入 + 隔离。" in clean.stdout


def test_init_on_an_existing_workspace_says_so_and_keeps_the_data(tmp_path):
    ws = tmp_path / "建设社区"
    first = invoke("init", ws)
    assert first.exit_code == 0 and "已创建工作区" in first.stdout
    good = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()])
    assert invoke("ingest", good, "--db", ws / "rootdb.duckdb").exit_code == 0
    again = invoke("init", ws)
    assert again.exit_code == 0
    assert "工作区已存在，未改动" in again.stdout and "已创建" not in again.stdout
    status = invoke("status", "--db", ws / "rootdb.duckdb", "--json")
    assert '"dibao"' in status.stdout


def test_a_feed_is_named_by_code_title_or_chinese_name_everywhere(tmp_path):
    """`query --in 低保` worked while `ingest --feed 低保` and `quarantine --feed 低保` were
    refused with a list of codes only."""
    db = tmp_path / "x.duckdb"
    odd = write_xlsx(tmp_path / "收到的表.xlsx", [DIBAO_HEADER, dibao_row(), dibao_row(cert="")])
    result = invoke("ingest", odd, "--db", db, "--feed", "低保", "--json")
    assert result.exit_code == 0, result.output
    assert '"feed": "dibao"' in result.stdout
    for name in ("dibao", "低保", "城乡最低生活保障对象花名册"):
        summary = invoke("quarantine", "--feed", name, "--db", db, "--json")
        assert summary.exit_code == 0, summary.output
        assert '"rows": 1' in summary.stdout
        out = tmp_path / f"隔离_{name}.xlsx"
        assert invoke("quarantine", "--feed", name, "--db", db, "--out", out).exit_code == 0
        assert out.is_file()
    for args in (["ingest", odd, "--feed", "无此数据"], ["quarantine", "--feed", "无此数据", "--json"],
                 ["query", "--in", "无此数据"]):
        bad = invoke(*args, "--db", db)
        assert bad.exit_code == 2
        text = " ".join((bad.stdout + bad.stderr).replace("│", " ").split()).replace(" ", "")
        assert "没有数据源无此数据" in text or "不认识的数据源“无此数据”" in text
        assert "dibao（城乡最低生活保障对象花名册）" in text


def test_a_typo_is_matched_to_the_option_it_most_likely_meant():
    from rootdb.cli.zh import closest

    result = runner.invoke(app, ["query", "--aeg", "0-3"])
    assert result.exit_code == 2
    assert "没有这个选项：--aeg（您是不是要用 --age？）" in result.stderr
    options = ["--age", "--tag", "--sex", "--grid", "--family-tag", "--as-of", "--in", "--not-in"]
    assert closest("--aeg", options) == "--age"
    assert closest("--gird", options) == "--grid"
    assert closest("--asof", options) == "--as-of"
    assert closest("--famly-tag", options) == "--family-tag"
    assert closest("--zzzzzz", options) is None


def test_community_and_grid_by_name_without_suffix(sample_db, tmp_path):
    """`--community 建设` listed grids (没有社区或网格 建设…): a name without 社区 / 网格 that
    picks out one is that one; an unknown one lists communities or grids as asked."""
    full = invoke("query", "--community", "建设社区", "--grid", "第三网格", "--db", sample_db, "--json")
    short = invoke("query", "--community", "建设", "--grid", "第三", "--db", sample_db, "--json")
    assert full.exit_code == 0 and short.exit_code == 0, short.output
    assert json.loads(short.stdout)["people"] == json.loads(full.stdout)["people"]
    assert json.loads(short.stdout)["people"]

    bad = invoke("query", "--community", "光明", "--db", sample_db)
    assert bad.exit_code == 2
    text = _flat(bad.stderr + bad.stdout)
    assert "没有社区“光明”；已有：建设社区" in text and "网格" not in text.split("已有：")[1]
    bad_grid = invoke("query", "--grid", "第九", "--db", sample_db)
    assert bad_grid.exit_code == 2
    assert "没有网格“第九”；已有：第一网格、第二网格、第三网格、第四网格" in _flat(bad_grid.stderr + bad_grid.stdout)

    out = tmp_path / "报表"
    report = invoke("report", "R01", "--community", "建设", "--grid", "第三", "--format", "csv", "--out", out,
                    "--as-of", "2026-11-01", "--db", sample_db)
    assert report.exit_code == 0, report.output
    assert [p.name for p in out.iterdir() if "建设社区_第三网格" in p.name]
    notify = invoke("notify", "--template", "托育服务通知", "--age", "0-3", "--grid", "第三", "--db", sample_db,
                    "--json")
    assert notify.exit_code == 0, notify.output


def _flat(text: str) -> str:
    return "".join(text.replace("│", "").replace("╭", "").replace("╰", "").replace("─", "").split())


def test_as_of_takes_the_dates_offices_write(monkeypatch):
    """`--as-of 20261101` was accepted but 2026/11/01 and 2026年11月1日 were not."""
    import datetime as dt

    from rootdb.commands import parse_date
    from rootdb.errors import UsageError

    for text in ("2026-11-01", "2026/11/01", "2026/11/1", "2026.11.01", "20261101", "2026年11月1日",
                 "2026年11月01日", "２０２６年１１月１日", " 2026-11-1 "):
        assert parse_date(text) == dt.date(2026, 11, 1), text
    for text in ("2026-13-01", "2026/02/30", "11/01/2026", "明天", "2026-11/01"):
        try:
            parse_date(text)
        except UsageError as exc:
            assert "--as-of" in str(exc)
        else:
            raise AssertionError(text)
    seen = []
    monkeypatch.setattr("rootdb.commands.query.find_people", lambda q, **kw: seen.append(q.as_of) or 1 / 0)
    for text in ("2026/11/01", "2026年11月1日"):
        try:
            runner.invoke(app, ["query", "--as-of", text], catch_exceptions=True)
        except ZeroDivisionError:
            pass
    assert seen == [dt.date(2026, 11, 1)] * 2
    bad = runner.invoke(app, ["query", "--as-of", "2026年13月1日"])
    assert bad.exit_code == 2 and "没有 2026年13月1日 这一天" in bad.output


def test_an_option_that_takes_one_value_given_twice_is_refused(tmp_path):
    """`--sex 男 --sex 女` silently kept 女: now a Chinese usage error; --in, --tag and
    flags repeat as before."""
    for args in (["query", "--sex", "男", "--sex", "女"], ["query", "--sex=男", "--sex", "女"],
                 ["report", "R01", "--as-of", "2026-11-01", "--as-of", "2026-10-31"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "只能给一次，却给了 2 次" in result.stderr
    repeated = runner.invoke(app, ["query", "--in", "低保", "--in", "特困", "--json", "--json",
                                   "--db", str(tmp_path / "none.duckdb")])
    assert repeated.exit_code == 2 and "只能给一次" not in repeated.output and "找不到数据库" in repeated.output


def test_review_import_with_one_bad_cell_saves_the_rest_and_exits_0(monkeypatch, tmp_path):
    """One bad cell among 8 decisions: they are saved and the bad one listed, so the
    import is done (0); only an import that saved nothing failed (1)."""
    from rootdb.commands import review

    sheet = tmp_path / "复核.xlsx"
    sheet.write_bytes(b"")
    partial = review.ReviewImport(file=str(sheet), decided=8, yes=5, no=3,
                                  problems=["复核.xlsx 第9行：判定“大概吧”看不懂，应为 是 或 否"])
    monkeypatch.setattr(review, "import_review", lambda path, db=None: partial)
    result = invoke("review", "import", sheet)
    assert result.exit_code == 0
    assert "已导入 8 条判定" in result.stdout and "大概吧" in result.stdout
    assert "其余判定已保存" in result.stdout

    nothing = review.ReviewImport(file=str(sheet), problems=["复核.xlsx 第2行：判定“大概吧”看不懂"])
    monkeypatch.setattr(review, "import_review", lambda path, db=None: nothing)
    failed = invoke("review", "import", sheet)
    assert failed.exit_code == 1 and "没有保存任何判定" in failed.stdout


def test_nightly_that_finds_another_running_says_so_in_one_line(tmp_path, monkeypatch):
    """Exit 4 printed a title wrapped over 4 lines, an empty steps table and the reason
    last: now the reason first, in one line, and no table."""
    from rootdb.nightly import LOCK_NAME, _run_lock

    monkeypatch.setattr("rootdb.workspace.LOCK_WAIT_SECONDS", 0)
    monkeypatch.setenv("COLUMNS", "60")
    ws = tmp_path / "街道"
    assert invoke("init", ws).exit_code == 0
    with _run_lock(ws / LOCK_NAME, 0):
        result = invoke("nightly", "--db", ws / "rootdb.duckdb")
    assert result.exit_code == 4
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == "另一个 nightly 正在运行，本次未做任何事"
    assert not any(word in result.stdout for word in ("步骤", "─", "夜间运行"))


def test_no_empty_temporary_folder_is_left_in_the_workspace(sample_db, tmp_path):
    """An empty rootdb.duckdb.tmp/ stayed beside the database after `link` (splink's
    side connection spills into a folder inside it)."""
    import shutil

    db = tmp_path / "rootdb.duckdb"
    shutil.copy(sample_db, db)
    result = invoke("link", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "rootdb.duckdb.tmp").exists()
    assert invoke("status", "--db", db, "--json").exit_code == 0
    assert not (tmp_path / "rootdb.duckdb.tmp").exists()


def test_a_text_file_named_xlsx_is_called_what_it_is(tmp_path):
    """A text file named .xlsx got 找不到可识别的表头 plus advice; it is no Excel file at
    all. A CSV table named .xlsx is still read, with a warning."""
    notes = tmp_path / "dibao_2026-12.xlsx"
    notes.write_text("这是一份说明\n请查收\n", encoding="utf-8")
    page = tmp_path / "导出.xls"
    page.write_text("<html><body><table><tr><td>低保</td></tr></table></body></html>\n", encoding="utf-8")
    table = tmp_path / "dibao_2026-11.xlsx"
    rows = [DIBAO_HEADER, dibao_row()]
    table.write_text("\n".join(",".join(map(str, row)) for row in rows) + "\n", encoding="utf-8")
    result = invoke("ingest", notes, page, table, "--db", tmp_path / "x.duckdb", "--json")
    files = {f["file"]: f for f in json.loads(result.stdout)["files"]}
    assert files["dibao_2026-12.xlsx"]["status"] == "failed"
    assert "不是 Excel 文件（内容是文本）" in files["dibao_2026-12.xlsx"]["message"]
    assert "找不到可识别的表头" not in files["dibao_2026-12.xlsx"]["message"]
    assert "不是 Excel 文件（内容是网页（HTML）文本）" in files["导出.xls"]["message"]
    assert files["dibao_2026-11.xlsx"]["status"] == "loaded"
    assert any("内容是文本（CSV），已按 CSV 读取" in w for w in files["dibao_2026-11.xlsx"]["warnings"])
