"""Every masked output, scanned: no resident ID and no mobile number anywhere in it.

A copy of the linked sample area gets IDs and mobiles planted into free-text columns (a
roster's 备注 and 工作单位, a job's 就业单位 and 居住地址, a quarantined row), then every
output rootdb writes without --unmasked is written through the command line — the
reports (xlsx and csv), the exports, query and notify, the review workbook, the
quarantine workbook, splink's charts, and a nightly run's log, run record and rejection
notes — and every file (each part of a workbook, unzipped) is read as text and searched.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import SAMPLE
from rootdb.cli.main import app
from rootdb.commands.demo import SAMPLE_AS_OF
from rootdb.workspace import init_workspace

runner = CliRunner()

PLANTED_ID, PLANTED_MOBILE = "11010519491231002X", "13812345678"
# A valid-looking resident ID (region, birth date, sequence, check) and a mobile, as a
# reader would recognise them; full-width digits are searched as their ASCII twins.
ID_RE = re.compile(r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
MOBILE_RE = re.compile(r"(?<![\dA-Za-z])1[3-9]\d{9}(?![\dA-Za-z])")  # not inside a hex digest of the charts' JS
_HALF_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
TEXT_SUFFIXES = {".csv", ".html", ".log", ".json", ".txt"}


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False, env={"ROOTDB_INBOX_SETTLE": "0"})
    assert result.exit_code in (0, 3), (args, result.output)
    return result


def _texts(path: Path) -> list[tuple[str, str]]:
    """(name, text) of a file, or of every part of a workbook."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as book:
            return [(f"{path.name}!{n}", book.read(n).decode("utf-8", "replace")) for n in book.namelist()
                    if n.endswith((".xml", ".rels"))]
    if path.suffix in TEXT_SUFFIXES:
        return [(path.name, path.read_bytes().decode("utf-8", "replace"))]
    return []


def leaks(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for name, text in _texts(path):
            searched = text.translate(_HALF_WIDTH)
            for regex in (ID_RE, MOBILE_RE):
                for match in regex.finditer(searched):
                    found.append(f"{name}: …{text[max(0, match.start() - 60):match.end() + 20]}…")
    return found


def _files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in ([folder] if folder.is_file() else folder.rglob("*"))
                  if p.is_file())


def _sheet(path: Path, header_first: str) -> pl.DataFrame:
    """A sample workbook's rows under its header row (the one starting with `header_first`)."""
    raw = pl.read_excel(path, has_header=False, infer_schema_length=0)
    start = raw.with_row_index().filter(pl.col(raw.columns[0]) == header_first)["index"][0]
    header = [str(v) for v in raw.row(start)]
    return raw.slice(start + 1).rename(dict(zip(raw.columns, header))).filter(
        pl.col(header[1]).is_not_null() | pl.col(header[2]).is_not_null())


def _plant(folder: Path) -> list[Path]:
    """A new delivery of the roster and the jobs list: the sample's rows, with IDs and
    mobiles written into free-text columns, and one roster row that is quarantined."""
    roster = _sheet(SAMPLE / "community_residents_2026.xlsx", "网格")
    planted = pl.int_range(pl.len()) < 40
    roster = roster.with_columns(
        pl.when(planted).then(pl.lit(f"联系{PLANTED_MOBILE}，代办人{PLANTED_ID}")).otherwise(pl.col("备注")).alias("备注"),
        pl.when(planted).then(pl.lit(f"某公司（电话 139 0000 1234，证号 ４１０１０２１９９１１２１９０４７４）"))
        .otherwise(pl.col("工作单位")).alias("工作单位"),
    )
    quarantined = {c: None for c in roster.columns} | {
        "网格": "第一网格", "身份证号码": "无", "联系电话": PLANTED_MOBILE, "备注": f"姓名不详，身份证 {PLANTED_ID}",
        "现住址": f"幸福小区1号楼1单元101（联系{PLANTED_MOBILE}）"}
    roster = pl.concat([roster, pl.DataFrame([quarantined], schema=roster.schema)])
    jobs = _sheet(SAMPLE / "jiuye_2026-11.xlsx", "姓名")
    jobs = jobs.with_columns(
        pl.when(pl.int_range(pl.len()) < 40).then(pl.lit(f"个体（联系人{PLANTED_MOBILE}）"))
        .otherwise(pl.col("就业单位")).alias("就业单位"),
        pl.when(pl.int_range(pl.len()) < 5).then(pl.col("居住地址") + f"（户主{PLANTED_ID}）")
        .otherwise(pl.col("居住地址")).alias("居住地址"),
        # one ID with two digits of its sequence swapped: only the model can match it
        pl.when(pl.int_range(pl.len()) == 50)
        .then(pl.col("身份证号").str.slice(0, 14) + pl.col("身份证号").str.slice(15, 1)
              + pl.col("身份证号").str.slice(14, 1) + pl.col("身份证号").str.slice(16))
        .otherwise(pl.col("身份证号")).alias("身份证号"),
    )
    paths = [folder / "community_residents_2027.csv", folder / "jiuye_2026-12.csv"]
    roster.write_csv(paths[0], include_bom=True)
    jobs.write_csv(paths[1], include_bom=True)
    return paths


@pytest.fixture(scope="module")
def outputs(sample_db, tmp_path_factory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("scan")
    ws = init_workspace(root / "街道")
    shutil.copy(sample_db, ws.db_path)
    db = ws.db_path
    extra = root / "extra"
    extra.mkdir()
    invoke("ingest", *_plant(extra), "--db", db)
    out = root / "out"
    charts = out / "charts"
    invoke("link", "--charts", charts, "--db", db)
    as_of = SAMPLE_AS_OF.isoformat()
    produced: dict[str, list[Path]] = {"charts": _files(charts)}

    invoke("report", "--all", "--as-of", as_of, "--out", out / "reports_xlsx", "--db", db)
    invoke("report", "--all", "--as-of", as_of, "--format", "csv", "--out", out / "reports_csv", "--db", db)
    produced["reports"] = _files(out / "reports_xlsx", out / "reports_csv")

    for name in ("crosswalk.csv", "crosswalk.xlsx"):
        invoke("export", "crosswalk", "--out", out / name, "--db", db)
    for name in ("persons.csv", "persons.xlsx"):
        invoke("export", "persons", "--out", out / name, "--db", db)
    invoke("export", "corrections", "--out", out / "corrections.xlsx", "--db", db)
    produced["exports"] = [out / n for n in ("crosswalk.csv", "crosswalk.xlsx", "persons.csv", "persons.xlsx",
                                               "corrections.xlsx")]

    for name in ("query.xlsx", "query.csv"):
        invoke("query", "--age", "0-", "--as-of", as_of, "--out", out / name, "--db", db)
    invoke("notify", "--age", "0-6", "--template", "托育服务通知", "--as-of", as_of, "--out", out / "notify.xlsx",
           "--db", db)
    notify_csv = runner.invoke(app, ["notify", "--age", "0-6", "--template", "托育服务通知", "--as-of", as_of,
                                     "--out", str(out / "notify.csv"), "--db", str(db)])
    assert notify_csv.exit_code in (0, 2), notify_csv.output  # CSV may be refused (usage), never half-written
    produced["query_notify"] = _files(*(p for p in (out / "query.xlsx", out / "query.csv", out / "notify.xlsx",
                                                     out / "notify.csv") if p.exists()))

    invoke("review", "export", "--out", out / "review.xlsx", "--db", db)
    produced["review"] = [out / "review.xlsx"]
    invoke("quarantine", "--out", out / "quarantine.xlsx", "--db", db)
    produced["quarantine"] = [out / "quarantine.xlsx"]

    # A nightly run: a file it rejects (its name holds a mobile and an ID), and a roster
    # with a stray quote before an ID (rejected, or the row quarantined).
    inbox = ws.root / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / f"补报_张三_{PLANTED_MOBILE}_{PLANTED_ID}.csv").write_text("序号,说明\n1,新搬来\n", encoding="utf-8")
    jobs = (extra / "jiuye_2026-12.csv").read_text(encoding="utf-8-sig").splitlines()
    jobs[3] = jobs[3].replace(",15", ',"15', 1)
    (inbox / "jiuye_2026-12-02.csv").write_text("\n".join(jobs) + "\n", encoding="utf-8")
    invoke("nightly", "--as-of", as_of, "--db", db)
    produced["nightly"] = _files(ws.root / "logs", ws.root / "runs", ws.root / "rejected", ws.root / "reports")
    assert any(p.name.endswith(".原因.txt") for p in produced["nightly"])
    produced["_db"] = [db]
    return produced


def _check(outputs, kind: str) -> None:
    paths = outputs[kind]
    assert paths, f"no {kind} output written"
    found = leaks(paths)
    assert not found, f"{len(found)} IDs or mobiles in {kind}:\n" + "\n".join(found[:20])


@pytest.mark.parametrize("kind", ["exports", "review", "quarantine", "charts", "nightly"])
def test_masked_outputs_hold_no_id_or_mobile(outputs, kind):
    _check(outputs, kind)


@pytest.mark.parametrize("kind", ["reports", "query_notify"])
def test_masked_reports_query_and_notify_hold_no_id_or_mobile(outputs, kind):
    _check(outputs, kind)


def test_planted_values_reach_the_outputs_masked(outputs):
    """The scan means something: what was planted is there, masked."""
    quarantine = " ".join(t for _, t in _texts(outputs["quarantine"][0]))
    assert "138****5678" in quarantine and "110105********002X" in quarantine
    unmasked = outputs["_db"][0].parent / "unmasked.xlsx"
    invoke("quarantine", "--out", unmasked, "--unmasked", "--db", outputs["_db"][0])
    assert any(PLANTED_ID in leak for leak in leaks([unmasked]))  # the scan sees what is there
    charts = {p.name: p for p in outputs["charts"]}
    assert set(charts) == {"match_weights.html", "m_u_parameters.html", "comparison_viewer.html",
                           "cluster_studio.html"}


def test_chart_records_mask_the_registry_label():
    """A registry record's training label is its ID: cluster studio shows it."""
    from rootdb.link.model import _masked

    frame = pl.DataFrame({"unique_id": [123456198501011234], "cluster_id": ["registry-__-123456198501011234"],
                          "label": [PLANTED_ID], "id_number": [PLANTED_ID], "phone": [PLANTED_MOBILE],
                          "house_key": [f"幸福小区|1|1|101 {PLANTED_MOBILE}"]})
    masked = _masked(frame).row(0, named=True)
    assert masked["unique_id"] == 123456198501011234 and masked["cluster_id"] == frame["cluster_id"][0]
    assert masked["label"] == masked["id_number"] == "110105********002X"
    assert masked["phone"] == "138****5678" and masked["house_key"].endswith("138****5678")


def test_exports_neutralise_formulas_and_write_real_workbooks(outputs, tmp_path):
    import openpyxl

    from rootdb.csvfile import write_csv
    from rootdb.exports import write_table

    out = outputs["exports"]
    for book, first in (("crosswalk.xlsx", "feed"), ("persons.xlsx", "entity_id")):
        path = next(p for p in out if p.name == book)
        assert zipfile.is_zipfile(path)  # a real workbook, not CSV text named .xlsx
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        assert next(sheet.iter_rows(max_row=1, values_only=True))[0] == first
    frame = pl.DataFrame({"备注": ["=Cmd|' /C Calc'!A0", "+Sum(1,2)", "@Sum(1,2)", "正常"]})
    write_table(frame, tmp_path / "t.csv", "表")
    write_csv(frame, tmp_path / "u.csv")
    for name in ("t.csv", "u.csv"):
        back = pl.read_csv(tmp_path / name, infer_schema=False)["备注"].to_list()
        assert back == ["'=Cmd|' /C Calc'!A0", "'+Sum(1,2)", "'@Sum(1,2)", "正常"]
    write_table(frame, tmp_path / "t.xlsx", "表")
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").worksheets[0]
    assert [c.value for c in sheet["A"]] == ["备注", "=Cmd|' /C Calc'!A0", "+Sum(1,2)", "@Sum(1,2)", "正常"]
    assert all(c.data_type == "s" for c in sheet["A"])


def test_export_refuses_a_spreadsheet_suffix_it_cannot_write(sample_db, tmp_path):
    result = runner.invoke(app, ["export", "persons", "--out", str(tmp_path / "人员.xls"), "--db", str(sample_db)])
    assert result.exit_code == 2 and ".xlsx" in result.output


def test_quarantine_of_an_unknown_feed_is_a_usage_error(sample_db, tmp_path):
    result = runner.invoke(app, ["quarantine", "--feed", "nosuch", "--out", str(tmp_path / "q.xlsx"),
                                 "--db", str(sample_db)])
    assert result.exit_code == 2 and "nosuch" in result.output and "不认识的数据源" in result.output
    assert not (tmp_path / "q.xlsx").exists()
