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
