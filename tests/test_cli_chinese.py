"""The command line as a data officer reads it: Chinese throughout (help pages, usage
errors with a suggestion), feeds named by their Chinese names, tables in a log wide
enough for whole file names, cut lists that say so; and `rootdb --help` quick because
it does not load the ingest stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from conftest import DIBAO_HEADER, dibao_row, write_xlsx
from rootdb.cli import render
from rootdb.cli.main import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("duckdb", "polars", "splink", "fastexcel", "pyarrow")


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)


def _python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TERMINAL_WIDTH")}
    env.update(kwargs.pop("env", {}))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, encoding="utf-8", env=env,
                          cwd=kwargs.pop("cwd", ROOT), timeout=120, **kwargs)


# 1. `rootdb --help` does not load the ingest stack ---------------------------------------


def test_help_and_version_do_not_import_the_ingest_stack():
    """Not timed: the modules that made `rootdb --help` take most of a second are simply
    not imported by the command line until a command needs them."""
    for flag in ("--help", "--version"):
        done = _python("-X", "importtime", "-m", "rootdb", flag)
        assert done.returncode == 0, done.stderr
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
        assert imported, done.stderr[:500]
        loaded = sorted(m for m in imported if m.split(".")[0] in HEAVY)
        assert loaded == [], f"rootdb {flag} imports {loaded[:10]}"
    probe = ("import sys, rootdb, rootdb.cli.main, rootdb.cli.render, rootdb.cli.zh; "
             f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert _python("-c", probe).stdout.strip() == "[]"


def test_no_help_page_loads_polars_duckdb_or_splink():
    """Every help page — rootdb's and each command's — is drawn from the declarations
    alone: the commands and what they call are imported only when a command runs."""
    probe = (
        "import contextlib, io, sys, typer\n"
        "from rootdb.cli.main import app\n"
        "group = typer.main.get_command(app)\n"
        "paths = [[]] + [[n] for n in group.commands]\n"
        "paths += [[n, s] for n, c in group.commands.items() for s in getattr(c, 'commands', {})]\n"
        "for path in paths:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        app([*path, '--help'], prog_name='rootdb')\n"
        "print(len(paths), sorted({m.split('.')[0] for m in sys.modules} & {'polars', 'duckdb', 'splink'}))"
    )
    done = _python("-c", probe)
    assert done.returncode == 0, done.stderr
    pages, loaded = done.stdout.split(maxsplit=1)
    assert int(pages) > 20 and loaded.strip() == "[]", done.stdout


def test_public_names_of_the_package_still_resolve():
    probe = ("import rootdb.ingest.results, rootdb.commands.status, rootdb; from rootdb import ingest, status, init, "
             "ExitCode, IngestResult; print(callable(ingest), callable(status), callable(init), "
             "callable(rootdb.ingest), ExitCode.USAGE == 2, IngestResult.__name__, sorted(rootdb.__all__)[:2])")
    done = _python("-c", probe)
    assert done.stdout.split() == ["True", "True", "True", "True", "True", "IngestResult", "['ExitCode',",
                                   "'IngestResult']"], done.stderr


# 2. Chinese help pages and usage errors --------------------------------------------------

ENGLISH = re.compile(r"Usage|Options|Arguments|Commands|Show this message|Error|Try '|No such|Missing|"
                     r"Invalid value|unexpected extra|Did you mean|Possible options|requires an|<bool>|<list|"
                     r"<path>|<int>|<float>|\[default|\[required\]|Aborted")


def _all_commands():
    group = typer.main.get_command(app)
    yield []
    for name, command in group.commands.items():
        yield [name]
        for sub in getattr(command, "commands", {}):
            yield [name, sub]


@pytest.mark.parametrize("path", list(_all_commands()), ids=lambda p: " ".join(p) or "rootdb")
def test_help_pages_are_chinese(path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert "用法：rootdb" in result.output and "显示本帮助并退出" in result.output
    assert not ENGLISH.search(result.output), ENGLISH.search(result.output).group()
    if path in (["report"], ["link"]):
        assert "[默认：" in result.output
    assert result.output == invoke(*path, "-h").output


def test_plain_help_without_rich_is_chinese_too():
    done = _python("-m", "rootdb", "ingest", "--help", env={"TYPER_USE_RICH": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("用法：rootdb ingest [选项] 路径...")
    assert "参数" in done.stdout and "选项" in done.stdout and "显示本帮助并退出" in done.stdout
    assert not ENGLISH.search(done.stdout), ENGLISH.search(done.stdout).group()


@pytest.mark.parametrize("args, message", [
    (["report", "--asof", "2026-11-01"], "没有这个选项：--asof（您是不是要用 --as-of？）"),
    (["reprot"], "没有这个命令：reprot（您是不是要用 report？）"),
    (["export", "persns", "--out", "x.csv"], "没有这个命令：persns（您是不是要用 persons？）"),
    (["notify", "--age", "0-3"], "缺少选项 --template（短信模板（jinja2），或自带模板的名称，如 托育服务通知）"),
    (["ingest"], "缺少参数 路径...（要导入的文件或文件夹）"),
    (["status", "多余"], "多余的参数：多余"),
    (["audit", "--limit", "十"], "选项 --limit 的值无效：“十”应为整数"),
    (["query", "--limit", "-1"], "选项 --limit 的值无效：“-1”不能小于 0"),
    (["link", "--threshold", "高"], "选项 --threshold 的值无效：“高”应为数字"),
    (["report", "--out"], "选项 --out 后面要跟一个值"),
    (["report", "--json=yes"], "选项 --json 是开关，后面不能跟值"),
])
def test_usage_errors_are_chinese_with_exit_status_2(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"错误：{message}" in result.stderr
    assert not ENGLISH.search(result.output), ENGLISH.search(result.output).group()
    if args[0] not in ("report",) or "--asof" in args:
        assert "用法：rootdb" in result.stderr and "查看帮助：rootdb" in result.stderr


def test_usage_error_from_the_installed_command():
    done = _python("-m", "rootdb", "report", "--asof", "2026-11-01")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "用法：rootdb report [选项] [报表代码]...",
        "错误：没有这个选项：--asof（您是不是要用 --as-of？）",
        "查看帮助：rootdb report -h",
    ]


def test_library_errors_keep_their_exit_status_and_chinese_panel(tmp_path):
    result = runner.invoke(app, ["status", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "错误" in result.stderr and "Error" not in result.output
    assert invoke("--version").output.startswith("rootdb ")


# 3. Feeds named in Chinese, 4. wide tables in a log --------------------------------------

LONG_NAME = "2026年11月低保对象花名册（民政局报送，第二批）_社区汇总后重新核对的版本.xlsx"


def test_status_and_ingest_piped_to_a_file_name_feeds_in_chinese_and_keep_file_names_whole(tmp_path):
    db = tmp_path / "x.duckdb"
    delivered = write_xlsx(tmp_path / LONG_NAME, [DIBAO_HEADER, dibao_row(), dibao_row(cert="")])
    log = tmp_path / "ingest.log"
    with open(log, "w", encoding="utf-8") as stdout:  # as under cron: stdout is a file
        subprocess.run([sys.executable, "-m", "rootdb", "ingest", str(delivered), "--db", str(db)], stdout=stdout,
                       stderr=subprocess.PIPE, cwd=ROOT, timeout=300, check=True,
                       env={k: v for k, v in os.environ.items() if k != "COLUMNS"})
    ingest_line = next(line for line in log.read_text(encoding="utf-8").splitlines() if LONG_NAME in line)
    assert "城乡最低生活保障对象花名册" in ingest_line and "已导入" in ingest_line

    done = _python("-m", "rootdb", "status", "--db", str(db))
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if LONG_NAME in line]
    words = line.split()
    assert words[:3] == ["城乡最低生活保障对象花名册", "dibao", LONG_NAME]
    assert words[-4:] == ["1", "1", "0", "1"]


def test_consoles_are_wide_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert render.new_console().width == render.LOG_WIDTH == 200
    assert render.new_console(stderr=True).width == 200
    assert render.feed_title("dibao") == "城乡最低生活保障对象花名册"
    assert render.feed_title("nosuch") == "nosuch" and render.feed_title(None) == "-"


def test_status_json_keeps_the_code_and_gives_the_title(tmp_path):
    db = tmp_path / "x.duckdb"
    invoke("ingest", write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row()]), "--db", db)
    (feed,) = json.loads(invoke("status", "--db", db, "--json").stdout)["feeds"]
    assert (feed["feed"], feed["title"]) == ("dibao", "城乡最低生活保障对象花名册")


# 5. A cut list says it is cut --------------------------------------------------------------


def test_cut_notice():
    assert render.cut_notice(76, 10, "条", "--out 短信.xlsx") == (
        "共 76 条，下面显示前 10 条；全部请用 --out 短信.xlsx 导出（或加 --limit 76 全部显示）。")
    assert render.cut_notice(10, 10, "条", "--out 短信.xlsx") is None
    assert render.cut_notice(76, 10, "条", "--out 短信.xlsx", "短信.xlsx") == "共 76 条，下面显示前 10 条；全部已写入 短信.xlsx。"


def test_notify_and_query_say_when_the_list_is_cut(tmp_path, sample_db, monkeypatch):
    import shutil

    from conftest import SAMPLE_AS_OF

    shutil.copy(sample_db, tmp_path / "rootdb.duckdb")
    monkeypatch.chdir(tmp_path)
    as_of = str(SAMPLE_AS_OF)
    found = invoke("query", "--age", "60-", "--as-of", as_of, "--limit", "5")
    total = int(re.search(r"共 ([\d,]+) 人", found.output).group(1).replace(",", ""))
    assert total > 5
    assert f"共 {total:,} 人，下面显示前 5 人；全部请用 --out 名单.xlsx（或 .csv）导出" in found.output

    sms = invoke("notify", "--age", "60-", "--template", "托育服务通知", "--as-of", as_of, "--limit", "3")
    assert sms.exit_code == 0, sms.output
    count = json.loads(invoke("notify", "--age", "60-", "--template", "托育服务通知", "--as-of", as_of,
                              "--json").stdout)
    messages = len(count["messages"])
    assert messages > 3
    assert f"共 {messages:,} 条，下面显示前 3 条；全部请用 --out 短信.xlsx 导出" in sms.output


def test_nightly_table_in_a_log_keeps_a_long_note_on_one_line(monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(render, "out", render.new_console())  # stdout captured: not a terminal
    note = ("退回 2026年11月低保对象花名册（民政局报送，第二批）_社区汇总后重新核对的版本.xlsx："
            "缺少必需的列“低保证号”，已移到 rejected/")
    render.nightly_table([{"started": "2026-11-02T02:00:05", "status": "done_with_rejected", "files": 3,
                           "seconds": 12, "message": note}], "最近的夜间运行")
    lines = capsys.readouterr().out.splitlines()
    assert any(note in line for line in lines), "\n".join(lines)
    assert "完成，有退回" in "\n".join(lines)
