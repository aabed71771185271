"""`rootdb export addresses --unmatched`: every delivered address that reached no standard
address, with its record count, feeds, why, and the nearest standard addresses."""

from __future__ import annotations

import json
import shutil

import openpyxl
import polars as pl
import pytest

from conftest import query
from rootdb.link.address_export import REASONS, export_unmatched_addresses
from test_house_review import ROSTER, build_area, code_of


@pytest.fixture(scope="module")
def area(tmp_path_factory, sample_db):
    return build_area(tmp_path_factory.mktemp("export_addresses"), sample_db)


def _read(path) -> pl.DataFrame:
    if path.suffix == ".xlsx":  # the table below the title and the line of what it holds
        return pl.read_excel(path, infer_schema_length=0, read_options={"header_row": 2})
    return pl.read_csv(path, infer_schema=False)


EXPECTED = {  # delivered address → reason
    "幸福1号楼1单元101": "ambiguous",
    "幸福9号楼9单元909": "ambiguous",
    "康城雅苑9号楼1单元101室": "no_building",
    "光明小区3号楼2单元501室": "no_compound",
    "东胜区某某处": "unparsed",
    "内蒙古自治区包头市昆都仑区光明村6社34号": "outside",
}


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_lists_exactly_the_unresolved_addresses(area, tmp_path, suffix):
    result = export_unmatched_addresses(tmp_path / f"未匹配地址{suffix}", db=area)
    frame = _read(tmp_path / f"未匹配地址{suffix}")
    assert result.rows == frame.height == len(EXPECTED)
    if suffix == ".xlsx":
        sheet = openpyxl.load_workbook(tmp_path / "未匹配地址.xlsx")["未匹配地址"]
        assert sheet["A1"].value == "未匹配标准地址的报送地址"
        assert f"共 {result.rows:,} 个地址、{result.records:,} 条记录" in sheet["A2"].value
    assert set(frame["报送地址"]) == set(EXPECTED)
    rows = {r["报送地址"]: r for r in frame.iter_rows(named=True)}
    for address, reason in EXPECTED.items():
        assert rows[address]["未匹配原因"] == REASONS[reason], address
        assert int(rows[address]["记录数"]) == ROSTER[address]
        assert "最低生活保障" in rows[address]["数据源"]
    assert result.records == sum(ROSTER[a] for a in EXPECTED)
    counts = [int(c) for c in frame["记录数"]]
    assert counts == sorted(counts, reverse=True)  # most used first
    # parsed parts
    assert (rows["康城雅苑9号楼1单元101室"]["解析：小区"], rows["康城雅苑9号楼1单元101室"]["解析：楼栋"]) == ("康城雅苑", "9")
    # nearest candidates
    ambiguous = rows["幸福1号楼1单元101"]
    assert {ambiguous["最近候选1 地址编码"], ambiguous["最近候选2 地址编码"]} == {
        code_of("幸福小区", 1, 1, 101), code_of("幸福家园", 1, 1, 101)}
    assert ambiguous["最近候选3 地址编码"] in (None, "")
    assert rows["康城雅苑9号楼1单元101室"]["最近候选1 地址编码"] == code_of("康城雅苑", 1, 1, 101)
    assert "康城雅苑" in rows["康城雅苑9号楼1单元101室"]["最近候选2 标准地址"]
    neither = {rows["幸福9号楼9单元909"][f"最近候选{i} 标准地址"] for i in (1, 2)}
    assert any("幸福小区" in a for a in neither) and any("幸福家园" in a for a in neither)
    assert rows["内蒙古自治区包头市昆都仑区光明村6社34号"]["最近候选1 地址编码"] in (None, "")


def test_resolved_addresses_are_never_listed(area, tmp_path):
    export_unmatched_addresses(tmp_path / "a.csv", db=area)
    listed = set(_read(tmp_path / "a.csv")["报送地址"])
    resolved = {a for (a,) in query(area, """
        SELECT DISTINCT r.address FROM link_house_records r JOIN link_house_matches m USING (record_id)
        WHERE m.registry_key IS NOT NULL""")}
    assert resolved and not listed & resolved


def test_masks_ids_and_phones_in_addresses(area, tmp_path):
    import duckdb

    db = tmp_path / "ws" / "rootdb.duckdb"
    shutil.copytree(area.parent, db.parent)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE link_house_records SET address = address || ' 电联13812345678' "
                    "WHERE address = '光明小区3号楼2单元501室'")
    export_unmatched_addresses(tmp_path / "m.csv", db=db)
    text = (tmp_path / "m.csv").read_text(encoding="utf-8-sig")
    assert "13812345678" not in text and "光明小区3号楼2单元501室" in text
    export_unmatched_addresses(tmp_path / "u.csv", db=db, unmasked=True)
    assert "13812345678" in (tmp_path / "u.csv").read_text(encoding="utf-8-sig")
    assert query(db, "SELECT count(*) FROM audit_log WHERE command LIKE 'export addresses%'")[0][0] == 1


def test_on_the_sample_lists_the_addresses_missing_from_the_registry(sample_copy, tmp_path):
    db = sample_copy  # the export writes to its audit log
    result = export_unmatched_addresses(tmp_path / "sample.xlsx", db=db)
    frame = _read(tmp_path / "sample.xlsx")
    missing = {a for (a,) in query(db, """
        SELECT DISTINCT r.address FROM link_house_records r JOIN link_house_matches m USING (record_id)
        WHERE m.match_method = 'new' AND r.role <> 'registered_residence' AND r.address IS NOT NULL""")}
    assert missing and set(frame["报送地址"]) >= missing
    assert result.rows == frame.height and result.records >= len(missing)
    # the sample's compounds outside the registry (幸福小区 7号楼, 锦绣家园 4号楼 …) are named, with a reason
    assert frame.filter(pl.col("未匹配原因").is_null()).is_empty()


def test_cli(area, tmp_path):
    from typer.testing import CliRunner

    from rootdb.cli.main import app

    runner = CliRunner()
    out = tmp_path / "cli.xlsx"
    done = runner.invoke(app, ["export", "addresses", "--unmatched", "--out", str(out), "--db", str(area), "--json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.output)
    assert payload["rows"] == len(EXPECTED) and payload["masked"] is True
    assert payload["reasons"][REASONS["ambiguous"]] == 2
    shown = runner.invoke(app, ["export", "addresses", "--unmatched", "--out", str(out), "--db", str(area)])
    assert shown.exit_code == 0 and "未匹配原因" in shown.output
    bad = runner.invoke(app, ["export", "addresses", "--out", str(out), "--db", str(area)])
    assert bad.exit_code == 2 and "--unmatched" in bad.output
