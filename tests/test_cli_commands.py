"""The command layer: the CLI calls only `rootdb.commands`, the commands know nothing of
typer or rich, the global options are where they belong, and a command's scope limits
what a person query reads."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rootdb.cli.main import GLOBAL_OPTIONS, PERSON_OPTIONS, app
from rootdb.commands import Scope
from rootdb.errors import UsageError
from rootdb.reports.query import PersonQuery

PACKAGE = Path(__file__).resolve().parent.parent / "rootdb"
runner = CliRunner()


def _imported(path: Path) -> set[str]:
    """The modules a file imports, at any level."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return found


def test_the_cli_reaches_the_library_only_through_the_commands():
    rootdb_imports = {m for m in _imported(PACKAGE / "cli" / "main.py") if m.startswith("rootdb.")}
    allowed = ("rootdb.commands", "rootdb.cli", "rootdb.errors", "rootdb.resources", "rootdb.__version__")
    assert sorted(m for m in rootdb_imports if not m.startswith(allowed)) == []


def test_commands_neither_print_nor_know_typer_or_rich():
    for path in sorted((PACKAGE / "commands").glob("*.py")):
        modules = {m.split(".")[0] for m in _imported(path)}
        assert not modules & {"typer", "rich", "click"}, path.name
        calls = {node.func.id for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert "print" not in calls, path.name


def _options(*path: str) -> set[str]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {opt for param in command.params for opt in getattr(param, "opts", ())}


def test_global_options_are_on_the_commands_that_take_them():
    for path in (["status"], ["ingest"], ["link"], ["report"], ["query"], ["notify"], ["card"], ["nightly"], ["audit"],
                 ["quarantine"], ["review", "export"], ["review", "import"], ["export", "crosswalk"],
                 ["export", "persons"], ["export", "corrections"], ["export", "addresses"]):
        assert {"--db", "--json", "--debug"} <= _options(*path), path
    assert "--db" not in _options("feeds") and "--json" in _options("feeds")
    for path in (["init"], ["demo"]):
        assert not {"--db", "--json"} & _options(*path) and "--debug" in _options(*path), path
    assert {"--db", "--debug", "--host", "--port"} <= _options("serve") and "--json" not in _options("serve")
    assert set(GLOBAL_OPTIONS) == {"db", "as_json", "debug"}


def test_query_and_notify_share_one_declaration_of_the_conditions():
    own = {"--out", "--limit", "--unmasked", "--template", "--db", "--json", "--debug"}
    conditions = _options("query") - own
    assert len(conditions) == len(PERSON_OPTIONS) == 14
    assert conditions == _options("notify") - own


def test_the_database_comes_from_db_or_rootdb_db(tmp_path, monkeypatch):
    missing = tmp_path / "无.duckdb"
    given = runner.invoke(app, ["status", "--db", str(missing), "--json"])
    monkeypatch.setenv("ROOTDB_DB", str(missing))
    from_env = runner.invoke(app, ["status", "--json"])
    for result in (given, from_env):
        assert result.exit_code == 2 and str(missing.name) in result.output


def test_a_scope_replaces_the_area_of_a_query():
    query = PersonQuery(age="0-3", community="幸福社区", grid="第一网格")
    assert Scope().apply(query) == query
    assert not Scope() and Scope(grid="第三网格")
    limited = Scope(community="建设社区").apply(query)
    assert (limited.community, limited.grid, limited.age) == ("建设社区", "第一网格", "0-3")


@pytest.mark.parametrize("args", [["query", "--age", "0-3", "--grid", ""], ["report", "R01", "--community", " "],
                                  ["notify", "--template", "托育服务通知", "--age", "0-3", "--grid", ""]])
def test_an_empty_area_is_refused_not_read_as_the_whole_area(args, tmp_path):
    """A script whose $GRID is unset must not get the whole area's list."""
    result = runner.invoke(app, [*args, "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "不能为空" in result.output
    with pytest.raises(UsageError):
        Scope(grid="")


def test_feeds_counts_each_kind_from_the_schemas():
    from rootdb.commands.feeds import feeds

    listed = feeds()
    kinds = listed.kinds()
    assert sum(kinds.values()) == len(listed.specs)
    heading = runner.invoke(app, ["feeds"], env={"COLUMNS": "200"}).stdout.splitlines()[0]
    assert f"{kinds['feed']} 个部门数据源" in heading and f"{kinds['reference']} 个公安基准库" in heading
    assert json.loads(runner.invoke(app, ["feeds", "--json"]).stdout).keys() == listed.specs.keys()
