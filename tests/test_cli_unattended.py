"""The CLI of the unattended and reporting commands: `rootdb nightly` exit statuses
and JSON, `rootdb status` listing nightly runs, `rootdb audit`, `rootdb report`."""

from __future__ import annotations

import json
import shutil

import duckdb

from typer.testing import CliRunner

from conftest import SAMPLE
from rootdb.cli.main import app

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kwargs)


def _workspace(tmp_path, sample_db):
    (tmp_path / "rootdb.toml").write_text('[workspace]\ndatabase = "rootdb.duckdb"\ninbox = "inbox"\n',
                                          encoding="utf-8")
    shutil.copy(sample_db, tmp_path / "rootdb.duckdb")
    (tmp_path / "inbox").mkdir()
    return tmp_path


def test_nightly_json_status_and_exit_codes(tmp_path, sample_db, monkeypatch):
    ws = _workspace(tmp_path, sample_db)
    monkeypatch.chdir(ws)
    monkeypatch.setenv("ROOTDB_INBOX_SETTLE", "0")
    shutil.copy(SAMPLE / "tekun_2026-11.xlsx", ws / "inbox" / "tekun_2026-11.xlsx")  # already loaded: unchanged
    (ws / "inbox" / "dibao_坏.csv").write_bytes(b"\x00\x01" * 300)
    result = invoke("nightly", "--as-of", "2026-11-01", "--json")
    assert result.exit_code == 3, result.output
    run = json.loads(result.output)
    assert run["status"] == "done_with_rejected" and {f["status"] for f in run["files"]} == {"unchanged", "failed"}
    assert (ws / "rejected" / "dibao_坏.csv.原因.txt").exists()
    assert (ws / "archive").is_dir() and not list((ws / "inbox").iterdir())
    assert len(list((ws / "reports").glob("R*.xlsx"))) == len(list((ws / "reports").glob("R*_*.xlsx"))) > 0

    human = invoke("nightly", "--as-of", "2026-11-01")
    assert human.exit_code == 0 and "夜间运行" in human.output and "跳过" in human.output

    status = invoke("status", "--json")
    runs = json.loads(status.output)["nightly_runs"]
    assert [r["status"] for r in runs[:2]] == ["done", "done_with_rejected"]
    assert "最近的夜间运行" in invoke("status").output


def test_audit_lists_unmasked_runs(tmp_path, sample_db, monkeypatch):
    ws = _workspace(tmp_path, sample_db)
    monkeypatch.chdir(ws)
    with duckdb.connect(str(ws / "rootdb.duckdb")) as con:  # the shared sample may hold audit rows already
        con.execute("DROP TABLE IF EXISTS audit_log")
    assert "审计日志为空" in invoke("audit").output
    result = invoke("report", "R02", "--unmasked", "--as-of", "2026-11-01", "--out", ws / "out")
    assert result.exit_code == 0 and "未脱敏" in result.output
    entries = json.loads(invoke("audit", "--json").output)["entries"]
    assert entries[0]["command"] == "report --unmasked" and entries[0]["file"].endswith("R02_特困供养人员花名册.xlsx")


def test_report_cli_options(tmp_path, sample_db, monkeypatch):
    ws = _workspace(tmp_path, sample_db)
    monkeypatch.chdir(ws)
    listed = json.loads(invoke("report", "--list", "--json").output)
    assert len(listed) == 41 and listed["R41"]["title"] == "楼栋慢病分色表（红黄蓝）"
    assert invoke("report").exit_code == 2
    assert invoke("report", "R05", "--as-of", "2026-13-01").exit_code == 2
    assert invoke("report", "R05", "--format", "pdf").exit_code == 2
    done = invoke("report", "R05", "R12", "--as-of", "2026-11-01", "--format", "csv", "--json")
    data = json.loads(done.output)
    assert done.exit_code == 0 and [r["code"] for r in data["reports"]] == ["R05", "R12"]
    # A report run by hand goes to 报表/<统计日期>/ (the nightly run keeps reports/).
    assert (ws / "报表" / "2026-11-01" / "R05_老年人口分年龄段统计表.csv").exists()
    assert data["out"].endswith("2026-11-01")
