"""The command line as a user and a nightly script meet it: help, exit codes, JSON,
the database location rules, status and the quarantine export."""

from __future__ import annotations

import json

import openpyxl
import pytest
import typer
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from conftest import DIBAO_HEADER, dibao_row, write_csv, write_xlsx
from rootdb.cli import render
from rootdb.cli.main import app
from rootdb.ingest import ingest

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)


def test_every_command_has_help_text():
    group = typer.main.get_command(app)
    assert group.help
    for name, command in group.commands.items():
        assert command.help and command.help.strip(), name
        result = invoke(name, "--help")
        assert result.exit_code == 0, name
        for param in command.params:
            if param.param_type_name == "option" and not param.hidden:
                assert param.help, f"{name} {param.name}"


def test_readme_documents_every_command():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for name in typer.main.get_command(app).commands:
        assert f"rootdb {name}" in readme, name


def test_ingest_json_equals_the_library_result(tmp_path):
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(), dibao_row(cert="")])
    result = invoke("ingest", path, "--db", tmp_path / "a.duckdb", "--json")
    assert result.exit_code == 0
    cli = json.loads(result.stdout)
    lib = ingest([path], db=tmp_path / "b.duckdb").to_dict()
    for summary in (cli, lib):
        summary.pop("seconds")
        for f in summary["files"]:
            f.pop("seconds"), f.pop("path")
    assert cli == lib
    (f,) = cli["files"]
    assert {k: f[k] for k in ("file", "feed", "status", "rows_read", "rows_loaded", "rows_quarantined")} == {
        "file": "dibao_2026-11.xlsx", "feed": "dibao", "status": "loaded",
        "rows_read": 2, "rows_loaded": 1, "rows_quarantined": 1,
    }


def test_exit_codes(tmp_path):
    good = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(), dibao_row(cert="")])
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 broken")
    db = tmp_path / "x.duckdb"
    assert invoke("ingest", good, "--db", db).exit_code == 0
    assert invoke("ingest", good, "--db", db, "--strict").exit_code == 0  # unchanged: nothing quarantined now
    assert invoke("ingest", bad, good, "--db", db).exit_code == 1
    assert invoke("ingest", tmp_path / "missing.xlsx", "--db", db).exit_code == 2
    assert invoke("ingest", good, "--db", db, "--feed", "nosuch").exit_code == 2
    assert invoke("status", "--db", tmp_path / "none.duckdb").exit_code == 2
    assert runner.invoke(app, ["ingest"]).exit_code == 2
    db2 = tmp_path / "y.duckdb"
    assert invoke("ingest", good, "--db", db2, "--strict").exit_code == 1


def test_failed_file_is_named_in_the_human_summary(tmp_path):
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 broken")
    result = invoke("ingest", bad, "--db", tmp_path / "x.duckdb")
    assert result.exit_code == 1
    assert "broken.xlsx" in result.stdout and "损坏" in result.stdout


def test_database_location_precedence(tmp_path, monkeypatch):
    from rootdb.workspace import locate

    ws = tmp_path / "ws"
    assert invoke("init", ws).exit_code == 0
    assert (ws / "rootdb.toml").is_file() and (ws / "rootdb.duckdb").is_file()
    sub = ws / "deeper"
    sub.mkdir()
    monkeypatch.delenv("ROOTDB_DB", raising=False)
    assert locate(cwd=sub).db_path == (ws / "rootdb.duckdb").resolve()
    assert locate(cwd=tmp_path).db_path == (tmp_path / "rootdb.duckdb").resolve()
    monkeypatch.setenv("ROOTDB_DB", str(tmp_path / "env.duckdb"))
    assert locate(cwd=sub).db_path == (tmp_path / "env.duckdb").resolve()
    assert locate(tmp_path / "flag.duckdb", cwd=sub).db_path == (tmp_path / "flag.duckdb").resolve()


def test_status_lists_feeds_and_runs(tmp_path):
    db = tmp_path / "x.duckdb"
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(), dibao_row(cert="")])
    invoke("ingest", path, "--db", db)
    human = invoke("status", "--db", db)
    assert human.exit_code == 0 and "城乡最低生活保障对象花名册" in human.stdout
    data = json.loads(invoke("status", "--db", db, "--json").stdout)
    (feed,) = data["feeds"]
    assert (feed["feed"], feed["rows_loaded"], feed["rows_quarantined"], feed["snapshots"]) == ("dibao", 1, 1, 1)
    assert data["batches"][0]["rows_read"] == 2


@pytest.fixture()
def terminal(monkeypatch):
    """Call with a width: the commands then print as in a terminal that wide."""
    def resize(width: int) -> None:
        monkeypatch.setattr(render, "out", Console(highlight=False, width=width))
    return resize


def _lines_from(output: str, first_word: str, count: int) -> list[list[str]]:
    """`count` lines of a table, from the one starting with `first_word` (or, when it
    ends in …, with what is before it), split into words."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.split()[:1] == [first_word]
                 or first_word.endswith("…") and line.split()[:1] and line.split()[0].startswith(first_word[:-1]))
    return [line.split() for line in lines[start:start + count]]


LONG_NAME = "2026年11月低保对象花名册（民政局报送，第二批）.xlsx"


def test_status_fits_an_80_column_terminal(tmp_path, terminal):
    db = tmp_path / "x.duckdb"
    delivered = write_xlsx(tmp_path / LONG_NAME, [DIBAO_HEADER, dibao_row(), dibao_row(cert="")])
    invoke("ingest", delivered, "--db", db)
    (feed,) = json.loads(invoke("status", "--db", db, "--json").stdout)["feeds"]
    counts = [str(feed[k]) for k in ("rows_loaded", "rows_quarantined", "rows_flagged", "snapshots")]

    terminal(80)
    narrow = invoke("status", "--db", db).stdout
    assert max(cell_len(line) for line in narrow.splitlines()) <= 80
    # One line a feed: its Chinese name, the file name clipped in its middle, the day it
    # was loaded, the counts.
    row, below = _lines_from(narrow, "城乡最低…", 2)
    assert below == []  # the table's end: no line folded over
    assert row[0].endswith("…") and row[1].startswith("2026年") and "…" in row[1] and row[1].endswith(".xlsx")
    assert row[2] == feed["loaded_at"][5:10] and row[3:] == counts

    terminal(120)
    (row,) = _lines_from(invoke("status", "--db", db).stdout, "城乡最低生活保障对象花名册", 1)
    assert row[1].startswith("2026年") and " ".join(row[2:4]) == feed["loaded_at"][5:16] and row[4:] == counts

    terminal(160)  # wide: the feed's code beside its name, the whole file name
    (row,) = _lines_from(invoke("status", "--db", db).stdout, "城乡最低生活保障对象花名册", 1)
    assert row[1:3] == ["dibao", LONG_NAME] and row[5:] == counts


def test_audit_fits_an_80_column_terminal(tmp_path, terminal):
    db = tmp_path / "x.duckdb"
    delivered = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [DIBAO_HEADER, dibao_row(), dibao_row(cert="")])
    invoke("ingest", delivered, "--db", db)
    out = tmp_path / "给民政局的退回数据" / "第二网格" / "隔离数据_未脱敏_请妥善保管.xlsx"
    assert invoke("quarantine", "--out", out, "--unmasked", "--db", db).exit_code == 0
    (entry,) = json.loads(invoke("audit", "--db", db, "--json").stdout)["entries"]

    terminal(80)
    narrow = invoke("audit", "--db", db).stdout
    assert max(cell_len(line) for line in narrow.splitlines()) <= 80
    # The day over the time, the command over 未脱敏, what was asked over the file.
    first, second, below = _lines_from(narrow, entry["happened_at"][:10], 3)
    assert first[1:] == [entry["os_user"], "quarantine", "1", entry["detail"]]
    assert second[:2] == [entry["happened_at"][11:16], "未脱敏"]
    assert len(second) == 3 and "…" in second[2] and second[2].endswith(out.name[-12:]) and below == []

    terminal(200)
    first, second = _lines_from(invoke("audit", "--db", db).stdout, entry["happened_at"][:10], 2)
    assert second[2] == str(out.resolve()) == entry["file"]


@pytest.mark.parametrize("unmasked", [False, True])
def test_quarantine_export_masks_ids_and_writes_formulas_as_text(tmp_path, unmasked):
    db = tmp_path / "x.duckdb"
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [
        DIBAO_HEADER,
        dibao_row(cert="", head="=1+1", phone="13812345678"),
        dibao_row(cert="", phone="无"),
    ])
    invoke("ingest", path, "--db", db)
    out = tmp_path / "q.xlsx"
    args = ["quarantine", "--out", out, "--db", db] + (["--unmasked"] if unmasked else [])
    result = invoke(*args)
    assert result.exit_code == 0, result.stdout
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["汇总", "城乡最低生活保障对象花名册"]
    sheet = book["城乡最低生活保障对象花名册"]
    assert sheet["A1"].value == "城乡最低生活保障对象花名册：隔离数据" and "共 2 行" in sheet["A2"].value
    header = [c.value for c in sheet[3]]  # below the heading
    row = dict(zip(header, [c.value for c in sheet[4]]))
    assert row["隔离原因"] == "缺少低保证号" and row["行号"] == 2
    assert row["户主姓名"] == "=1+1" and sheet.cell(4, header.index("户主姓名") + 1).data_type == "s"
    assert dict(zip(header, [c.value for c in sheet[5]]))["联系电话"] == "无"
    if unmasked:
        assert row["成员身份证号"] == "11010519491231002X" and row["联系电话"] == "13812345678"
        from conftest import query

        assert query(db, "SELECT command, rows FROM audit_log") == [("quarantine --unmasked", 2)]
    else:
        assert row["成员身份证号"] == "110105********002X" and row["联系电话"] == "138****5678"


def test_quarantine_json_without_out_prints_the_counts_masked(tmp_path):
    """README says quarantine takes --json; without --out it failed with 缺少选项 --out."""
    db = tmp_path / "x.duckdb"
    path = write_xlsx(tmp_path / "dibao_2026-11.xlsx", [
        DIBAO_HEADER,
        dibao_row(cert="", phone="13812345678"),
        dibao_row(cert="", pid="110105194912310011"),
        dibao_row(cert="DB2"),
    ])
    invoke("ingest", path, "--db", db)
    result = invoke("quarantine", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rows"] == 2 and data["masked"] is True
    (feed,) = data["feeds"]
    assert (feed["feed"], feed["title"], feed["rows"]) == ("dibao", "城乡最低生活保障对象花名册", 2)
    assert feed["files"] == [{"file": path.name, "rows": 2, "reasons": [{"reason": "缺少低保证号", "rows": 2}]}]
    assert "11010519491231002X" not in result.stdout and "13812345678" not in result.stdout
    assert json.loads(invoke("quarantine", "--json", "--feed", "canji", "--db", db).stdout)["rows"] == 0
    # Without --json a file is still needed, and said so; --unmasked only with a file.
    bare = invoke("quarantine", "--db", db)
    assert bare.exit_code == 2 and "--out" in bare.output and "--json" in bare.output
    assert invoke("quarantine", "--json", "--unmasked", "--db", db).exit_code == 2


def test_ci_runs_the_readme_commands_verbatim():
    from pathlib import Path

    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(commands) == 2
    for command in commands:
        assert command in ci


@pytest.mark.parametrize("wrapped", [False, True])
def test_ctrl_c_during_a_query_ends_with_the_chinese_message_not_a_traceback(capsys, wrapped):
    """DuckDB turns a Ctrl+C during a query into its own error, not KeyboardInterrupt
    (and splink wraps that in its own): the command still ends with the message and exit
    status 1 (a report's query, the link's model, say)."""
    import threading

    import duckdb

    from rootdb.cli.main import _run

    def a_long_query():
        con = duckdb.connect()
        done = threading.Event()

        def press_ctrl_c():  # again and again, until the query has started and stopped
            while not done.wait(0.1):
                con.interrupt()

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        try:
            con.execute("SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3").fetchall()
        except duckdb.Error as exc:
            if wrapped:  # as splink does: its own error, raised from DuckDB's
                raise Exception(f"Error executing the following sql … Error was: {exc}") from exc
            raise
        finally:
            done.set()

    with pytest.raises(typer.Exit) as stopped:
        _run(a_long_query, {}, debug=False)
    assert stopped.value.exit_code == 1
    assert "已中断" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["status"], ["ingest", "dibao.csv"], ["report", "R01"], ["link"]])
def test_a_database_a_newer_rootdb_wrote_is_refused_and_left_as_it_was(tmp_path, command):
    """Its tables may mean what this version does not know: no command reads or writes
    it; a Chinese error says to upgrade."""
    import duckdb

    from rootdb.store import SCHEMA_VERSION
    from rootdb.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    write_csv(tmp_path / "dibao.csv", [DIBAO_HEADER, dibao_row()])
    with duckdb.connect(str(ws.db_path)) as con:
        con.execute("UPDATE rootdb_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    before = ws.db_path.read_bytes()
    args = [tmp_path / a if a.endswith(".csv") else a for a in command]
    result = runner.invoke(app, [str(a) for a in [*args, "--db", ws.db_path]])
    assert result.exit_code not in (0, 2), result.output
    assert "更新版本的 rootdb" in result.output and "请升级 rootdb" in result.output, result.output
    assert "Traceback" not in result.output
    assert ws.db_path.read_bytes() == before
