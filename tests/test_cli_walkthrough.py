"""Defects a new user met walking through the README, each pinned by the command they
typed: Chinese messages, the exit codes the README promises, names accepted as written."""

from __future__ import annotations

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
