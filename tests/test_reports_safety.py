"""Reports, query and notify that can be trusted with personal data: masked by content,
CSV without formulas, report SQL that reaches nothing but the workspace database, no
unmasked file without its audit row, hand-run reports out of nightly's way, safe file
names, feeds named in Chinese, guardians' phones for children, message templates only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from conftest import SAMPLE_AS_OF

from rootdb.errors import SchemaError, UsageError
from rootdb.reports import run_reports, select_templates
from rootdb.reports.notify import find_template
from rootdb.reports.output import PRIVATE_STAGING, safe_name
from rootdb.reports.query import PersonQuery, find_people, run_query
from rootdb.reports.templates import clear_template_cache

ROOTDB = [sys.executable, "-m", "rootdb"]
# A resident ID anywhere in a text (inside a longer code too).
ID18 = re.compile(r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


@pytest.fixture()
def work_db(sample_db, tmp_path) -> Path:
    """A copy of the linked sample (writable: audit rows)."""
    db = tmp_path / "ws" / "rootdb.duckdb"
    db.parent.mkdir()
    shutil.copy(sample_db, db)
    return db


def _cells(path: Path) -> list[str]:
    if path.suffix == ".csv":
        return [v for row in pl.read_csv(path, infer_schema=False).iter_rows() for v in row if v]
    sheet = openpyxl.load_workbook(path, read_only=True).active
    return [str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None]


def _audit(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT command, file FROM audit_log ORDER BY happened_at, rowid").fetchall()


# ------------------------------------------------------------------ 1. masked by content

@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_masked_reports_hold_no_id_inside_a_longer_code(work_db, tmp_path, fmt):
    """R07's 证号, R27 and R28's 残疾人证号 (the ID + 2 digits) were printed in full."""
    run = run_reports(select_templates(["R07", "R27", "R28"], False), as_of=SAMPLE_AS_OF, out=tmp_path, fmt=fmt,
                      db=str(work_db))
    rows = 0
    for report in run.reports:
        cells = _cells(Path(report.file))
        leaked = [c for c in cells if ID18.search(c) or MOBILE.search(c)]
        assert not leaked, (report.code, leaked[:3])
        rows += report.rows
    assert rows > 0
    # the unmasked run still shows the full codes
    full = run_reports(select_templates(["R27"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "full", fmt=fmt,
                       unmasked=True, db=str(work_db))
    assert any(ID18.search(c) for c in _cells(Path(full.reports[0].file)))


def _template_dir(tmp_path: Path, sql: str, name: str = "R90_测试.yaml", extra: str = "") -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    body = "code: R90\ntitle: 测试\nsql: |\n" + "".join(f"  {line}\n" for line in sql.splitlines())
    body += "columns:\n  - {field: a, header: 内容}\n" + extra
    (folder / name).write_text(body, encoding="utf-8")
    return folder


def test_a_template_without_masks_is_masked_by_content_and_csv_has_no_formulas(work_db, tmp_path, monkeypatch):
    sql = ("SELECT * FROM (VALUES ('证号 150602198503021234' || '11'), ('电话13812345678'), "
           "('=Cmd|'' /C Calc''!A0'), ('+Sum(1,2)'), ('-12.5')) t(a) ORDER BY a")
    monkeypatch.setenv("ROOTDB_REPORTS", str(_template_dir(tmp_path, sql)))
    clear_template_cache()
    try:  # a custom template: its run is audited, so on a copy of the sample
        run = run_reports(select_templates(["R90"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "out", fmt="csv",
                          db=str(work_db))
    finally:
        clear_template_cache()
    text = Path(run.reports[0].file).read_text(encoding="utf-8-sig")
    assert "150602********123411" in text and "138****5678" in text
    assert "150602198503021234" not in text and "13812345678" not in text
    cells = pl.read_csv(Path(run.reports[0].file), infer_schema=False)["内容"].to_list()
    assert "'=Cmd|' /C Calc'!A0" in cells and "'+Sum(1,2)" in cells and "-12.5" in cells
    assert not any(re.match(r"[=+@]", c) for c in cells)


def test_query_output_is_masked_by_content_and_csv_neutralised(work_db, tmp_path):
    out = tmp_path / "名单.csv"
    result = find_people(PersonQuery(as_of=SAMPLE_AS_OF, age="80+"), out=out, db=work_db)
    assert result.rows > 0
    text = out.read_text(encoding="utf-8-sig")
    assert not ID18.search(text) and not MOBILE.search(text)
    data = result.to_dict()["people"]
    assert not any(ID18.search(str(v)) or MOBILE.search(str(v)) for row in data for v in row.values())


# ------------------------------------------------------------------ 3. report SQL reaches nothing else

MALICIOUS = {
    "read_csv": "SELECT column0 AS a FROM read_csv('/etc/passwd', header=false) ORDER BY 1",
    "read_text": "SELECT content AS a FROM read_text('/etc/passwd') ORDER BY 1",
    "glob": "SELECT file AS a FROM glob('/etc/*') ORDER BY 1",
    "copy": "COPY (SELECT * FROM golden_persons) TO '{target}' (HEADER)",
    "copy_in_with": "WITH x AS (SELECT 1 AS a) SELECT a FROM x ORDER BY 1;\nCOPY golden_persons TO '{target}'",
    "load": "LOAD httpfs",
    "install": "INSTALL httpfs",
    "attach": "ATTACH '{target}' AS other",
    "pragma": "PRAGMA database_list",
    "set": "SET enable_external_access = true",
    "two_selects": "SELECT 1 AS a ORDER BY 1; SELECT 2 AS a ORDER BY 1",
    "call": "CALL pragma_version()",
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_malicious_templates_are_refused_naming_the_file(sample_db, tmp_path, monkeypatch, kind):
    target = tmp_path / "leak.csv"
    sql = MALICIOUS[kind].format(target=target)
    if "ORDER BY" not in sql:
        sql += "\n-- ORDER BY"  # past the ORDER BY rule: the statement itself must be refused
    folder = _template_dir(tmp_path, sql)
    monkeypatch.setenv("ROOTDB_REPORTS", str(folder))
    clear_template_cache()
    out = tmp_path / "out"
    try:
        with pytest.raises(SchemaError) as info:
            run_reports(select_templates(["R90"], False), as_of=SAMPLE_AS_OF, out=out, db=str(sample_db))
    finally:
        clear_template_cache()
    message = str(info.value)
    assert str(folder / "R90_测试.yaml") in message
    assert re.search(r"[\u4e00-\u9fff]", message.split("：", 1)[1])
    assert "root:" not in message
    assert not target.exists() and not (out.exists() and any(out.iterdir()))


def test_a_malicious_count_note_or_base_sql_is_refused(sample_db, tmp_path, monkeypatch):
    folder = _template_dir(tmp_path, "SELECT 1 AS a ORDER BY 1", extra=(
        "count_notes:\n  - sql: SELECT count(*) FROM read_csv('/etc/passwd')\n    text: 另有 {n} 行\n"))
    monkeypatch.setenv("ROOTDB_REPORTS", str(folder))
    clear_template_cache()
    try:
        with pytest.raises(SchemaError, match="R90_测试.yaml.*count_notes"):
            run_reports(select_templates(["R90"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "o", db=str(sample_db))
        base = tmp_path / "base"
        base.mkdir()
        shutil.copy(Path(__file__).parent.parent / "report_templates" / "_base.sql", base / "_base.sql")
        with (base / "_base.sql").open("a", encoding="utf-8") as fh:
            fh.write(f"\nCOPY (SELECT 1) TO '{tmp_path / 'leak2.csv'}';\n")
        monkeypatch.setenv("ROOTDB_REPORTS", str(base))
        clear_template_cache()
        with pytest.raises(SchemaError, match="_base.sql"):
            run_reports(select_templates(["R01"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "o", db=str(sample_db))
    finally:
        clear_template_cache()
    assert not (tmp_path / "leak2.csv").exists()


def test_notify_accepts_only_message_templates(tmp_path):
    with pytest.raises(UsageError, match="不是短信模板"):
        find_template("/etc/passwd")
    roster = tmp_path / "名单.csv"
    roster.write_text("姓名\n张三\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"\.txt\.j2"):
        find_template(roster)
    link = tmp_path / "偷看.txt.j2"
    link.symlink_to("/etc/passwd")
    with pytest.raises(UsageError):
        find_template(link)
    own = tmp_path / "通知.txt.j2"
    own.write_text("{{ 称呼 }}您好", encoding="utf-8")
    assert find_template(own) == own


# ------------------------------------------------------------------ 4. no unmasked file without its audit row

@pytest.mark.parametrize("args, point, target", [
    (["report", "R01", "--unmasked"], "report.staged", "out/R01_低保对象花名册.xlsx"),
    (["query", "--age", "80+", "--unmasked"], "query.staged", "名单.xlsx"),
    (["notify", "--age", "80+", "--template", "托育服务通知", "--unmasked"], "notify.staged", "短信.xlsx"),
])
def test_a_locked_database_at_audit_time_leaves_no_file(work_db, tmp_path, args, point, target):
    """The database lock taken between writing and auditing: the run fails (1), no file
    where it was asked, no audit row, no staging folder left."""
    out_arg = ["--out", str(tmp_path / "out")] if args[0] == "report" else ["--out", str(tmp_path / target)]
    marker = tmp_path / "paused"
    env = {**os.environ, "ROOTDB_LOCK_WAIT": "1", "ROOTDB_PAUSE_AT": point, "ROOTDB_PAUSE_FILE": str(marker),
           "ROOTDB_PAUSE_SECONDS": "3"}
    before = len(_audit(work_db)) if _has_audit(work_db) else 0
    proc = subprocess.Popen(ROOTDB + args + out_arg + ["--as-of", SAMPLE_AS_OF.isoformat(), "--db", str(work_db)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()[1][-1000:]
    with duckdb.connect(str(work_db)):  # another process holds the database until the run ends
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout[-500:] + stderr[-500:]
    assert "审计" in stdout + stderr
    assert not (tmp_path / target).exists()
    assert (len(_audit(work_db)) if _has_audit(work_db) else 0) == before
    staging = work_db.parent / PRIVATE_STAGING
    assert not staging.exists() or not any(staging.iterdir())


def _has_audit(db: Path) -> bool:
    with duckdb.connect(str(db), read_only=True) as con:
        return bool(con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'audit_log'").fetchall())


def test_a_killed_unmasked_run_leaves_no_staging_folder_after_the_next_run(work_db, tmp_path):
    marker = tmp_path / "paused"
    env = {**os.environ, "ROOTDB_PAUSE_AT": "report.written_one", "ROOTDB_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen(ROOTDB + ["report", "R01", "R02", "--unmasked", "--out", str(tmp_path / "out"),
                                      "--as-of", SAMPLE_AS_OF.isoformat(), "--db", str(work_db)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    proc.kill()
    proc.wait()
    staging = work_db.parent / PRIVATE_STAGING
    assert any(staging.iterdir())  # the killed run's unmasked workbook, in the private area only
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    find_people(PersonQuery(as_of=SAMPLE_AS_OF, age="100+"), db=work_db, out=tmp_path / "q.xlsx")
    assert not any(staging.iterdir())


def test_unmasked_report_is_audited_with_its_final_path(work_db, tmp_path):
    run = run_reports(select_templates(["R02"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "r", unmasked=True,
                      db=str(work_db))
    assert Path(run.reports[0].file).exists()
    assert ("report --unmasked", str(Path(run.reports[0].file).resolve())) in _audit(work_db)


# ------------------------------------------------------------------ 5, 6. where files go, their names

def test_a_hand_run_report_goes_to_a_dated_folder_out_of_nightlys_way(work_db):
    run = run_reports(select_templates(["R05"], False), as_of=SAMPLE_AS_OF, fmt="csv", db=str(work_db))
    path = Path(run.reports[0].file)
    assert path.parent == work_db.parent / "报表" / SAMPLE_AS_OF.isoformat()
    assert path.exists() and not (work_db.parent / "reports").exists()


def test_a_grid_name_with_a_slash_is_a_safe_file_name(sample_db, tmp_path):
    assert safe_name("一/二网格") == "一_二网格"
    assert safe_name('a\\b:c*d?"e<f>g|h') == "a_b_c_d__e_f_g_h"
    assert safe_name("..") == "_"
    with duckdb.connect(str(sample_db), read_only=True) as con:
        grid = con.execute("SELECT grid FROM golden_houses WHERE grid IS NOT NULL ORDER BY 1 LIMIT 1").fetchall()[0][0]
    db = tmp_path / "slash.duckdb"
    shutil.copy(sample_db, db)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE golden_houses SET grid = ? WHERE grid = ?", [grid + "/二", grid])
    run = run_reports(select_templates(["R05"], False), as_of=SAMPLE_AS_OF, out=tmp_path / "out", grid=grid + "/二",
                      db=str(db))
    path = Path(run.reports[0].file)
    assert path.exists() and path.parent == tmp_path / "out" and "/二" not in path.name


# ------------------------------------------------------------------ 10. feeds by name, children's phones

def test_feeds_are_named_by_code_or_chinese_name(sample_db):
    by_code = run_query(PersonQuery(as_of=SAMPLE_AS_OF, in_feeds=["dibao"]), db=sample_db).people
    for name in ("低保", "城乡最低生活保障对象花名册", "DIBAO"):
        other = run_query(PersonQuery(as_of=SAMPLE_AS_OF, in_feeds=[name]), db=sample_db).people
        assert other["人员编号"].to_list() == by_code["人员编号"].to_list(), name
    not_in = run_query(PersonQuery(as_of=SAMPLE_AS_OF, age="80+", not_in_feeds=["高龄"]), db=sample_db).people
    not_in_code = run_query(PersonQuery(as_of=SAMPLE_AS_OF, age="80+", not_in_feeds=["gaoling"]), db=sample_db).people
    assert not_in.height == not_in_code.height > 0
    with pytest.raises(UsageError, match="没有数据源 火星"):
        run_query(PersonQuery(in_feeds=["火星"]), db=sample_db)


def test_children_0_3_show_their_guardians_phone(sample_db):
    people = run_query(PersonQuery(as_of=SAMPLE_AS_OF, age="0-3"), db=sample_db).people
    assert people.height > 0
    with_phone = people["联系电话"].drop_nulls().len()
    assert with_phone >= 0.9 * people.height, (with_phone, people.height)


# ------------------------------------------------------------------ custom templates are audited

# What masking by content cannot see: a template that writes the ID out in Chinese
# numerals, in base64, reversed, or split over two columns.
DISGUISED = ("SELECT translate(pid, '0123456789', '〇一二三四五六七八九') AS a, to_base64(encode(pid)) AS b, "
             "reverse(pid) AS c, left(pid, 9) AS d, right(pid, 9) AS e "
             "FROM (SELECT any_value(id_number) AS pid FROM golden_persons WHERE id_number IS NOT NULL) ORDER BY 1")
DISGUISED_COLUMNS = "".join(f"  - {{field: {c}, header: 列{c}}}\n" for c in "bcde")


def test_every_run_of_a_custom_template_is_audited_before_its_file_appears(work_db, tmp_path, monkeypatch):
    """Masked or not, a report of a template from ROOTDB_REPORTS has its audit row
    (naming the template's file) committed before the report is moved into place; a
    masked run of rootdb's own templates writes none; report --list marks the custom one."""
    from typer.testing import CliRunner

    import rootdb.reports.engine as engine
    from rootdb.cli.main import app

    folder = _template_dir(tmp_path, DISGUISED, extra=DISGUISED_COLUMNS)
    monkeypatch.setenv("ROOTDB_REPORTS", str(folder))
    clear_template_cache()
    before = len(_audit(work_db)) if _has_audit(work_db) else 0  # the session's sample may hold some
    audited_when_published = []
    real_publish = engine.publish

    def publish(staged, target):
        audited_when_published.append((Path(target).name, [f for _, f in _audit(work_db)[before:]]))
        assert not Path(target).exists()
        real_publish(staged, target)

    monkeypatch.setattr(engine, "publish", publish)
    try:
        for fmt in ("xlsx", "csv"):
            run = run_reports(select_templates(["R90", "R01"], False), as_of=SAMPLE_AS_OF, out=tmp_path / fmt,
                              fmt=fmt, db=str(work_db))
            assert run.masked
        listed = CliRunner().invoke(app, ["report", "--list"], env={"COLUMNS": "200"})
    finally:
        clear_template_cache()
    template = str((folder / "R90_测试.yaml").resolve())
    rows = _audit(work_db)[before:]
    assert [c for c, _ in rows] == [f"report R90（自定义模板 {template}）"] * 2  # R01 (rootdb's own, masked): none
    assert [Path(f).name for _, f in rows] == ["R90_测试.xlsx", "R90_测试.csv"]
    for name, files_audited in audited_when_published:
        assert (name in {Path(f).name for f in files_audited}) == name.startswith("R90"), name
    assert listed.exit_code == 0, listed.output
    r90 = next(line for line in listed.output.splitlines() if "R90" in line)
    assert "*" in r90 and "自定义模板" in listed.output and "R01 *" not in listed.output


def test_a_custom_template_run_whose_audit_cannot_be_written_leaves_no_file(work_db, tmp_path):
    """The database lock taken between writing and auditing a masked run of a custom
    template: the run fails (1), no report where it was asked, no audit row."""
    folder = _template_dir(tmp_path, DISGUISED, extra=DISGUISED_COLUMNS)
    marker = tmp_path / "paused"
    env = {**os.environ, "ROOTDB_LOCK_WAIT": "1", "ROOTDB_PAUSE_AT": "report.staged", "ROOTDB_PAUSE_FILE": str(marker),
           "ROOTDB_PAUSE_SECONDS": "3", "ROOTDB_REPORTS": str(folder)}
    before = len(_audit(work_db)) if _has_audit(work_db) else 0
    proc = subprocess.Popen(ROOTDB + ["report", "R90", "--out", str(tmp_path / "out"), "--as-of",
                                      SAMPLE_AS_OF.isoformat(), "--db", str(work_db)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()[1][-1000:]
    with duckdb.connect(str(work_db)):
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout[-500:] + stderr[-500:]
    assert "审计" in stdout + stderr and "自定义模板" in stdout + stderr
    assert not (tmp_path / "out" / "R90_测试.xlsx").exists()
    assert (len(_audit(work_db)) if _has_audit(work_db) else 0) == before


@pytest.mark.parametrize("limit", ["30MB", "60MB"])  # reached building the report tables / in a report's SQL
def test_reports_out_of_memory_say_which_limit_to_raise_and_write_nothing(work_db, tmp_path, limit):
    """DuckDB's memory limit reached: a Chinese message naming ROOTDB_MEMORY_LIMIT and its
    value (not the template's SQL blamed), exit status 1, no report and no traceback."""
    env = {**os.environ, "ROOTDB_MEMORY_LIMIT": limit}
    proc = subprocess.run(ROOTDB + ["report", "--all", "--out", str(tmp_path / "out"), "--as-of",
                                    SAMPLE_AS_OF.isoformat(), "--db", str(work_db)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-500:] + proc.stderr[-500:]
    said = re.sub(r"[\s│╭╮╰╯─]+", "", proc.stdout + proc.stderr)
    assert "内存不够" in said and "ROOTDB_MEMORY_LIMIT" in said and limit in said, said[-500:]
    assert "Traceback" not in said
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
