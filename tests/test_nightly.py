"""`rootdb nightly` through a week of deliveries dropped night by night into the inbox
of a sample workspace: each morning the reports say what the deliveries say, the
files are filed away, bad files are rejected with a note, and the changes since the
night before are listed."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from conftest import SAMPLE

from rootdb.ingest import ingest
from rootdb.errors import ExitCode
from rootdb.nightly import LOCK_NAME, _run_lock, recent_runs, run_nightly
from rootdb.reports import load_templates
from rootdb.workspace import init_workspace

pytestmark = pytest.mark.sample  # every night ingests, links and reports the sample's files itself

UNKNOWN_LIST, UNKNOWN_LIST_TEXT = "新增名单_2026-11-03.csv", "序号,姓名,备注\n1,张三,新搬来\n"


def _night(ws, day: int):
    return run_nightly(db=None if ws is None else str(ws.db_path), as_of=dt.date(2026, 11, day), settle_seconds=0,
                       wait=1)


def _csv_rows(path: Path, encoding: str = "utf-8-sig") -> tuple[str, list[str]]:
    lines = path.read_bytes().decode(encoding).splitlines()
    return lines[0], lines[1:]


def _changes(ws, day: int) -> pl.DataFrame:
    """The morning's 变动情况 rows (its one sheet named so), without the 合计 line, notes and footer."""
    import openpyxl

    path = ws.root / "reports" / f"变动情况_2026-11-{day:02d}.xlsx"
    assert openpyxl.load_workbook(path, read_only=True).sheetnames == ["变动情况"]
    return pl.read_excel(path, read_options={"header_row": 2}).filter(pl.col("序号").is_not_null())


def _states(ws, day: int) -> tuple[dict, dict]:
    """The state the night saved (only what changed, where it could) and the whole state
    of that night worked out afresh: each table sorted by its key."""
    import duckdb

    from rootdb.nightly import EVENT_STATE, PERSON_STATE, _changes

    fresh = _changes(ws.db_path, dt.date(2026, 11, day))[0]
    with duckdb.connect(str(ws.db_path), read_only=True) as con:
        saved = {t: con.sql(f"SELECT * FROM {t}").pl() for t in (PERSON_STATE, EVENT_STATE)}
    return ({t: f.sort(f.columns[0]) for t, f in saved.items()},
            {t: f.sort(f.columns[0]) for t, f in fresh.items()})


def _report(ws, code: str) -> pl.DataFrame:
    """A report of this morning read back: header on row 3 (or 3-4), data rows below."""
    import openpyxl

    path = next((ws.root / "reports").glob(f"{code}_*.xlsx"))
    sheet = openpyxl.load_workbook(path, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(c) for c in rows[2]]
    data = [r for r in rows[3:] if isinstance(r[0], int)]
    return pl.DataFrame(data, schema=header, orient="row", infer_schema_length=None)


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """Runs the week once; each test checks one morning."""
    root = tmp_path_factory.mktemp("nightly")
    ws = init_workspace(root / "街道")
    inbox = ws.root / "inbox"
    truth = pl.read_csv(SAMPLE / "_truth" / "persons.csv", infer_schema=False)
    mornings = {}

    # Night 1: the first full delivery.
    for source in SAMPLE.iterdir():
        if source.is_file():
            shutil.copy(source, inbox / source.name)
    mornings[1] = (_night(ws, 1), _report(ws, "R03"), _report(ws, "R09"))

    # Night 2: 殡葬 delivers again, with one more death: a living gaoling recipient.
    header, rows = _csv_rows(SAMPLE / "binzang_2026-11.csv", "gb18030")
    gaoling_ids = set(_report(ws, "R03")["身份证号"].to_list())  # masked: match on the visible parts
    alive = truth.filter((pl.col("status") == "正常") & pl.col("id_number").is_not_null())
    alive = alive.with_columns((pl.col("id_number").str.slice(0, 6) + "********" + pl.col("id_number").str.slice(14))
                               .alias("masked"))
    dies = alive.filter(pl.col("masked").is_in(list(gaoling_ids))).row(0, named=True)
    row = f"SW2026009999,{dies['name']},{dies['id_number']},{dies['sex']},2026/11/1,,"
    (inbox / "binzang_2026-11-02.csv").write_bytes(("\n".join([header, *rows, row]) + "\n").encode("gb18030"))
    mornings[2] = (_night(ws, 2), _report(ws, "R03"), _report(ws, "R07"), _changes(ws, 2))

    # Night 3: junk under a feed's name, a list whose name and header say no feed, and
    # 医保 stops five people's insurance.
    (inbox / "yibao_2026-11-03_损坏.csv").write_bytes(bytes(range(256)) * 50)
    (inbox / UNKNOWN_LIST).write_text(UNKNOWN_LIST_TEXT, encoding="utf-8")
    yibao = pl.read_csv(SAMPLE / "yibao_2026-11.csv", infer_schema=False)
    stopped = yibao.filter(pl.col("参保状态") == "参保缴费").head(5)
    yibao.with_columns(pl.when(pl.col("个人编号").is_in(stopped["个人编号"].implode())).then(pl.lit("终止参保"))
                       .otherwise(pl.col("参保状态")).alias("参保状态")).write_csv(inbox / "yibao_2026-11-03.csv")
    mornings[3] = (_night(ws, 3), _report(ws, "R09"), _changes(ws, 3))

    # Night 4: nothing arrives.
    mornings[4] = (_night(ws, 4), _changes(ws, 4))

    # Night 5: the registry registers a newborn in an existing household.
    header, rows = _csv_rows(SAMPLE / "registry_persons_2026-11.csv")
    parent = rows[0].split(",")
    baby = ["150602202610290026", "侯小雨", "女", "汉族", "2026-10-29", parent[5], "子女", parent[7], parent[8], "户籍人口",
            "正常", ""]
    (inbox / "registry_persons_2026-11-05.csv").write_text("\n".join([header, *rows, ",".join(baby)]) + "\n",
                                                          encoding="utf-8")
    mornings[5] = (_night(ws, 5),)
    return ws, mornings, dies, stopped, _states(ws, 5)


def test_night_one_loads_everything_and_files_it_away(week):
    ws, mornings, *_ = week
    run = mornings[1][0]
    assert run.exit_code == ExitCode.OK and run.status == "done", run.message
    assert [s.name for s in run.steps] == ["ingest", "link", "reports", "changes"]
    assert all(s.status == "done" for s in run.steps)
    assert len(run.files) == 24 and all(f["status"] == "loaded" for f in run.files)
    assert not [p for p in (ws.root / "inbox").iterdir() if p.is_file()]
    archived = [Path(f["moved_to"]) for f in run.files]
    assert all(p.parent.parent == ws.root / "archive" and p.exists() for p in archived)
    assert len(list((ws.root / "reports").glob("R*.xlsx"))) >= 2
    record = json.loads(Path(run.record_file).read_text(encoding="utf-8"))
    assert record["status"] == "done" and record["steps"][0]["detail"]["loaded"] == 24
    assert "首次运行" in " ".join(run.warnings)
    log = Path(run.log_file).read_text(encoding="utf-8")
    assert log.count("步骤") == 4
    assert "提示：首次运行" in log and '"files"' not in log  # warnings in the log too; counts in words


def test_night_two_a_death_stops_the_allowance_and_is_listed(week):
    ws, mornings, dies, *_ = week
    run, r03, r07, changes = mornings[2]
    assert run.exit_code == ExitCode.OK, run.message
    masked = dies["id_number"][:6] + "********" + dies["id_number"][14:]
    assert masked not in r03["身份证号"].to_list()  # no longer a living recipient
    assert masked in r07["身份证号"].to_list()  # dead, still paid: to be stopped
    assert run.changes.get("死亡") == 1
    assert changes.filter(pl.col("变动类型") == "死亡")["姓名"].to_list() == [dies["name"]]


def test_night_three_rejects_junk_with_a_note_and_takes_the_rest(week):
    ws, mornings, _, stopped, _ = week
    run, r09, _ = mornings[3]
    assert run.exit_code == ExitCode.REJECTED and run.status == "done_with_rejected"
    rejected = ws.root / "rejected" / "yibao_2026-11-03_损坏.csv"
    assert rejected.exists()
    note = Path(str(rejected) + ".原因.txt").read_text(encoding="utf-8")
    assert "yibao_2026-11-03_损坏.csv" in note and "原因" in note
    assert "处理：请按原因修改后重新放入收件箱（inbox）" in note
    assert run.changes.get("移出名单", 0) >= 4
    names = set(r09["姓名"].to_list())
    assert not names & set(stopped["姓名"].to_list()) - set(pl.read_csv(SAMPLE / "yibao_2026-11.csv", infer_schema=False)
                                                           .filter(~pl.col("个人编号").is_in(stopped["个人编号"].implode()))
                                                           ["姓名"].to_list())


def test_a_file_of_no_known_feed_is_rejected_with_what_to_do_in_the_inbox(week, tmp_path):
    """`rootdb ingest` says to name the feed with --feed; nightly has no options, so its
    note says to rename the file (or fix its header) and put it back in the inbox."""
    ws, mornings, *_ = week
    run = mornings[3][0]
    (entry,) = [f for f in run.files if f["file"] == UNKNOWN_LIST]
    assert entry["status"] == "failed" and Path(entry["moved_to"]) == ws.root / "rejected" / UNKNOWN_LIST
    note = Path(entry["moved_to"] + ".原因.txt").read_text(encoding="utf-8")
    assert "--feed" not in note and "--feed" not in entry["message"]
    assert "原因：新增名单_2026-11-03.csv：找不到可识别的表头" in note
    assert "处理：请将文件改名，使文件名表明是哪类数据" in note and "rootdb feeds" in note and "收件箱（inbox）" in note
    assert "改名" in entry["message"] and "--feed" not in Path(run.log_file).read_text(encoding="utf-8")
    # `rootdb ingest` keeps its own advice.
    (tmp_path / UNKNOWN_LIST).write_text(UNKNOWN_LIST_TEXT, encoding="utf-8")
    (by_hand,) = ingest([tmp_path / UNKNOWN_LIST], db=tmp_path / "rootdb.duckdb").files
    assert by_hand.status == "failed" and "或用 --feed 指定数据源" in by_hand.message


def test_night_four_with_nothing_new_skips_the_link(week):
    _, mornings, *_ = week
    run = mornings[4][0]
    assert run.exit_code == ExitCode.OK and {s.name: s.status for s in run.steps}["link"] == "skipped"
    # Nobody's state changed; only time passed: events and visits fall overdue.
    assert set(run.changes) == {"事件超期", "走访超期"}


def _newly_overdue(day: dt.date) -> dict[str, int]:
    """Truth: the events open on `day` whose deadline fell the day before (overdue since the
    run of that day), with days overdue (1)."""
    events = pl.read_csv(SAMPLE / "_truth" / "events.csv", infer_schema=False)
    open_ = events.filter(~pl.col("status").is_in(["已办结", "已退回"]))
    before = (day - dt.timedelta(days=1)).isoformat()
    return {e: 1 for e in open_.filter(pl.col("deadline").str.slice(0, 10) == before)["event_no"]}


def _visits_lapsed(day: dt.date) -> set[str]:
    """Truth: the special-group residents whose last visit was 90 days before `day`: visited
    within 90 days the day before, no longer (no visit falls after the sample's date)."""
    special = pl.read_csv(SAMPLE / "_truth" / "special_groups.csv", infer_schema=False)
    return set(special.filter(pl.col("last_visit") == (day - dt.timedelta(days=90)).isoformat())["name"])


@pytest.mark.parametrize("day", [3, 4])
def test_a_morning_lists_the_events_newly_overdue_and_the_visits_lapsed(week, day):
    """Nights 3 and 4 after nights 2 and 3: events whose deadline passed in between (their
    number, 1 day overdue, 处置部门), special-group residents whose last visit passed 90
    days in between (never those overdue or unvisited the night before)."""
    _, mornings, *_ = week
    run, changes = mornings[day][0], mornings[day][-1]
    expected = _newly_overdue(dt.date(2026, 11, day))
    lapsed = _visits_lapsed(dt.date(2026, 11, day))
    assert expected and lapsed, "the sample has both on these mornings"
    events = changes.filter(pl.col("变动类型") == "事件超期")
    numbers = events["说明"].str.extract(r"事件 (SJ\d+)，超期 (\d+) 天", 1).to_list()
    days = events["说明"].str.extract(r"超期 (\d+) 天", 1).cast(pl.Int64).to_list()
    assert dict(zip(numbers, days)) == expected and len(numbers) == len(expected)
    assert events["说明"].str.contains("，处置部门：").all()
    assert run.changes["事件超期"] == len(expected)
    visits = changes.filter(pl.col("变动类型") == "走访超期")
    assert set(visits["姓名"]) == lapsed and visits.height == len(lapsed) == run.changes["走访超期"]
    last = (dt.date(2026, 11, day) - dt.timedelta(days=90)).isoformat()
    assert visits["说明"].str.contains(f"最近走访 {last}，已满90天未走访").all()


def test_a_morning_with_nothing_lapsed_lists_no_overdue(week):
    """Night 2 (1 November to 2 November): no open event's deadline was on 1 November, no
    last visit on 4 August (the sample keeps both edges clear): neither kind is listed."""
    _, mornings, *_ = week
    run = mornings[2][0]
    assert not _newly_overdue(dt.date(2026, 11, 2)) and not _visits_lapsed(dt.date(2026, 11, 2))
    assert "事件超期" not in run.changes and "走访超期" not in run.changes


def test_night_five_a_newborn_is_newly_registered(week):
    ws, mornings, *_ = week
    run = mornings[5][0]
    assert run.exit_code == ExitCode.OK, run.message
    assert run.changes.get("新登记") == 1
    runs = recent_runs(ws.root)
    assert len(runs) == 5 and runs[0]["status"] == "done" and runs[2]["status"] == "done_with_rejected"


def test_a_second_run_at_once_gives_up_without_changing_anything(week, tmp_path):
    ws, *_ = week
    before = sorted(p.name for p in (ws.root / "reports").iterdir())
    holding, release = threading.Event(), threading.Event()

    def hold():
        with _run_lock(ws.root / LOCK_NAME, 0):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    try:
        run = _night(ws, 6)
    finally:
        release.set()
        holder.join()
    assert run.exit_code == ExitCode.BUSY and "另一次" in run.message
    assert sorted(p.name for p in (ws.root / "reports").iterdir()) == before


def test_before_the_registry_arrives_files_are_loaded_and_linking_waits(tmp_path):
    """A new workspace whose first delivery lacks the registry: the files are loaded and
    archived, link / reports / changes wait for it (exit 0, a warning says why); the
    night the registry arrives, everything runs."""
    ws = init_workspace(tmp_path / "街道")
    shutil.copy(SAMPLE / "yibao_2026-11.csv", ws.root / "inbox")
    first = _night(ws, 2)
    assert first.exit_code == ExitCode.OK, first.message
    steps = {s.name: s for s in first.steps}
    assert steps["ingest"].status == "done" and first.files[0]["status"] == "loaded"
    assert all(steps[n].status == "skipped" and steps[n].detail["headline"] == "等待公安实有人口库"
               for n in ("link", "reports", "changes"))
    assert any("尚未收到公安实有人口库" in w for w in first.warnings)
    assert not (ws.root / "inbox" / "yibao_2026-11.csv").exists()
    assert not list((ws.root / "reports").glob("*.xlsx"))
    assert "等待公安实有人口库" in Path(first.log_file).read_text(encoding="utf-8")

    shutil.copy(SAMPLE / "registry_persons_2026-11.csv", ws.root / "inbox")
    second = _night(ws, 3)
    assert second.exit_code == ExitCode.OK, second.message
    assert {s.name: s.status for s in second.steps} == {
        "ingest": "done", "link": "done", "reports": "done", "changes": "done"}
    assert len(list((ws.root / "reports").glob("R*.xlsx"))) == len(load_templates())  # R37–R41 too


def test_names_in_gbk_are_renamed_as_they_read_and_loaded(tmp_path):
    """Files unzipped from an archive made on Windows have GBK names (and folders): the
    night renames them as they read and loads them; a name that is not GBK either is
    rejected, filed and noted under a name that can be shown; the run's record is kept."""

    ws = init_workspace(tmp_path / "街道")
    inbox = os.fsencode(ws.root / "inbox")
    os.mkdir(inbox + b"/" + "11月数据".encode("gbk"))
    gbk = inbox + b"/" + "11月数据".encode("gbk") + b"/" + "医保_2026-11.csv".encode("gbk")
    Path(os.fsdecode(gbk)).write_bytes((SAMPLE / "yibao_2026-11.csv").read_bytes())
    Path(os.fsdecode(inbox + b"/\xff\xfe.csv")).write_bytes((SAMPLE / "tekun_2026-11.xlsx").read_bytes())
    run = _night(ws, 2)
    assert run.exit_code == ExitCode.REJECTED, run.message
    files = {f["file"]: f for f in run.files}
    assert files["医保_2026-11.csv"]["status"] == "loaded"
    assert Path(files["医保_2026-11.csv"]["moved_to"]).name == "医保_2026-11.csv"
    assert sum("原为 GBK 编码" in w for w in run.warnings) == 2  # the folder and the file
    junk = files["\\xff\\xfe.csv"]
    assert junk["status"] == "failed" and "也不是 GBK" in junk["message"]
    assert Path(junk["moved_to"]) == ws.root / "rejected" / "\\xff\\xfe.csv"
    assert "文件：\\xff\\xfe.csv" in Path(junk["moved_to"] + ".原因.txt").read_text(encoding="utf-8")
    assert json.loads(Path(run.record_file).read_text(encoding="utf-8"))["status"] == "done_with_rejected"
    assert [r["status"] for r in recent_runs(ws.root)] == ["done_with_rejected"]
    assert not [p for p in (ws.root / "inbox").rglob("*") if p.is_file()]


def test_a_link_in_the_inbox_is_filed_away_never_its_target(tmp_path):
    """A department's share linked into the inbox: the link is archived, the file it
    points to stays where the department keeps it."""
    ws = init_workspace(tmp_path / "街道")
    share = tmp_path / "民政共享"
    share.mkdir()
    shutil.copy(SAMPLE / "yibao_2026-11.csv", share)
    (ws.root / "inbox" / "yibao_2026-11.csv").symlink_to(share / "yibao_2026-11.csv")
    run = _night(ws, 2)
    assert run.exit_code == ExitCode.OK, run.message
    assert run.files[0]["status"] == "loaded" and (share / "yibao_2026-11.csv").is_file()
    filed = Path(run.files[0]["moved_to"])
    assert filed.is_symlink() and filed.resolve() == share / "yibao_2026-11.csv"
    assert not list((ws.root / "inbox").iterdir())


def test_gbk_names_are_renamed_once_they_have_settled(tmp_path):
    """A file or folder keeps its GBK name until it has settled, as ingest waits for a
    file: a folder with a file still being written into it too (a copying program goes on
    by the old name); then both are renamed."""
    import time

    from rootdb.nightly import _readable_names

    inbox = os.fsencode(tmp_path)
    folder = inbox + b"/" + "民政".encode("gbk")
    os.mkdir(folder)
    settled, writing = folder + b"/" + "低保.csv".encode("gbk"), folder + b"/" + "特困.csv".encode("gbk")
    for path in (settled, writing):
        Path(os.fsdecode(path)).write_text("x", encoding="utf-8")
    old = time.time() - 7200
    os.utime(settled, (old, old))
    first = _readable_names(tmp_path, settle=3600)  # 特困.csv is still being written: its folder waits
    assert len(first) == 1 and "低保.csv" in first[0] and not (tmp_path / "民政").exists()
    for path in (writing, folder):
        os.utime(path, (old, old))
    assert len(_readable_names(tmp_path, settle=3600)) == 2
    assert set(os.listdir(tmp_path / "民政")) == {"低保.csv", "特困.csv"}


def test_a_gbk_rename_never_replaces_what_arrived_under_the_readable_name(tmp_path):
    """The rename itself refuses a taken name (a file arriving under it between the check
    and the rename), for files and folders alike, and renames when the name is free."""
    from rootdb.nightly import _rename_no_replace

    for make in (lambda p: p.write_text("delivered", encoding="utf-8"), lambda p: p.mkdir()):
        source, target = tmp_path / "source", tmp_path / "target"
        make(source)
        target.write_text("arrived meanwhile", encoding="utf-8")
        assert not _rename_no_replace(str(source), str(target))
        assert source.exists() and target.read_text(encoding="utf-8") == "arrived meanwhile"
        target.unlink()
        assert _rename_no_replace(str(source), str(target)) and target.exists() and not source.exists()
        shutil.rmtree(target) if target.is_dir() else target.unlink()


def test_a_killed_run_shows_as_interrupted_a_live_one_as_running(tmp_path):
    """A run record left "running" by a killed run reads 中断 once no run holds the lock."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "nightly_20261101_010000.json").write_text(
        json.dumps({"run_id": "20261101_010000", "status": "running"}), encoding="utf-8")
    assert recent_runs(tmp_path)[0]["status"] == "interrupted"
    with _run_lock(tmp_path / LOCK_NAME, 0):
        assert recent_runs(tmp_path)[0]["status"] == "running"
    assert recent_runs(tmp_path)[0]["status"] == "interrupted"


def test_the_nights_save_their_whole_state(week):
    """Each night saves only the rows of its state that changed (stops, a death, nothing
    new, a newborn); what the last leaves in the database is still its whole state, as
    worked out afresh — a row one of them left stale would still be there."""
    saved, fresh = week[4]
    assert saved.keys() == fresh.keys()
    for table in fresh:
        assert saved[table].equals(fresh[table], null_equal=True), table


_PEOPLE = st.lists(st.tuples(st.one_of(st.integers(1, 12), st.none()), st.tuples(st.sampled_from(["张三", "李四", None]),
                                                         st.lists(st.sampled_from(["低保", "特困"]), max_size=2),
                                                         st.sampled_from([True, False, None]))), max_size=8)


@given(before=_PEOPLE, after=_PEOPLE)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_state_saved_by_its_changes_is_the_whole_state(tmp_path, before, after):
    """Whoever came, went or changed (a name, a benefit, a visit, a null) between two
    nights: the table saved with only the changed keys holds exactly tonight's state —
    also when a key is missing or twice (then the table is written whole)."""
    import duckdb

    from rootdb.nightly import PERSON_STATE, _save_state

    def frame(people):
        return pl.DataFrame([(k, *v) for k, v in people], orient="row",
                            schema={"person_id": pl.Int64, "name": pl.String, "benefits": pl.List(pl.String),
                                    "visited_90d": pl.Boolean})

    db = tmp_path / f"state_{abs(hash((str(before), str(after))))}.duckdb"
    db.unlink(missing_ok=True)
    _save_state(db, {PERSON_STATE: frame(before)})
    _save_state(db, {PERSON_STATE: frame(after)}, {PERSON_STATE: frame(before)})
    with duckdb.connect(str(db), read_only=True) as con:
        saved = con.sql(f"SELECT * FROM {PERSON_STATE}").pl()
    assert _sorted(saved).equals(_sorted(frame(after)), null_equal=True)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("benefits").list.join("|").alias("_b")).sort(pl.all(), nulls_last=True).drop("_b")


def test_a_file_loaded_after_the_link_makes_the_night_link(sample_db, tmp_path):
    """The linked sample is current (its link came after every file); a file ingested by
    hand afterwards (or by a night killed before its link) is not linked yet. (Review
    decisions: tests/test_review.py.)"""
    import duckdb
    from conftest import copy_sample

    from rootdb.nightly import _changed_since_link

    def changed(db) -> bool:
        with duckdb.connect(str(db), read_only=True) as con:
            return _changed_since_link(con)

    db = copy_sample(sample_db, tmp_path)
    assert not changed(db)
    header, rows = _csv_rows(SAMPLE / "binzang_2026-11.csv", "gb18030")
    (tmp_path / "binzang_2026-11-20.csv").write_bytes(("\n".join([header, *rows[:-1]]) + "\n").encode("gb18030"))
    assert ingest([tmp_path / "binzang_2026-11-20.csv"], db=db).ok
    assert changed(db)


def test_a_night_out_of_memory_records_which_limit_to_raise(sample_db, tmp_path, monkeypatch):
    """The reports reach DuckDB's memory limit: the night fails (1) with the Chinese
    message naming ROOTDB_MEMORY_LIMIT in its record, and yesterday's reports stay."""
    from conftest import copy_sample

    from rootdb import workspace

    db = copy_sample(sample_db, tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "yesterday.xlsx").write_bytes(b"kept")
    monkeypatch.setattr(workspace, "MEMORY_LIMIT", "30MB")
    run = run_nightly(db=str(db), settle_seconds=0)
    assert run.exit_code == ExitCode.FAILED
    assert "内存不够" in run.message and "ROOTDB_MEMORY_LIMIT" in run.message and "30MB" in run.message
    assert json.loads(Path(run.record_file).read_text(encoding="utf-8"))["message"] == run.message
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["yesterday.xlsx"]


def test_a_file_that_cannot_be_filed_away_stays_in_the_inbox_and_the_night_keeps_its_work(tmp_path):
    """archive/ and rejected/ cannot be written (here: a file stands where each folder
    goes; a full disk ends the same way): the night still loads, rejects and records
    what it did, says in Chinese which file stayed in the inbox, and the next run, with
    the folders free, files them away (the loaded one is then unchanged)."""
    ws = init_workspace(tmp_path / "街道")
    inbox = ws.root / "inbox"
    shutil.copy(SAMPLE / "binzang_2026-11.csv", inbox)
    (inbox / "yibao_2026-11-03_损坏.csv").write_bytes(bytes(range(256)) * 50)
    for blocked in ("archive", "rejected"):
        (ws.root / blocked).write_text("不是文件夹", encoding="utf-8")
    night = subprocess.run([sys.executable, "-m", "rootdb", "nightly", "--db", str(ws.db_path), "--as-of", "2026-11-02"],
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, "ROOTDB_INBOX_SETTLE": "0", "COLUMNS": "200"})
    assert night.returncode == ExitCode.REJECTED, night.stdout + night.stderr
    first = json.loads(next((ws.root / "runs").glob("nightly_*.json")).read_text(encoding="utf-8"))
    assert first["status"] == "done_with_rejected"
    files = {f["file"]: f for f in first["files"]}
    assert files["binzang_2026-11.csv"]["status"] == "loaded"
    assert all(f["moved_to"] is None and f["kept_in_inbox"] for f in files.values())
    assert sorted(p.name for p in inbox.iterdir()) == ["binzang_2026-11.csv", "yibao_2026-11-03_损坏.csv"]
    stayed = [w for w in first["warnings"] if "仍留在收件箱" in w]
    assert len(stayed) == 2 and any(w.startswith("binzang_2026-11.csv 未能移入 archive/") for w in stayed)
    assert any(w.startswith("yibao_2026-11-03_损坏.csv 未能移入 rejected/（有同名的文件占着文件夹的位置）")
               for w in stayed)
    assert "（未能移到 rejected/，留在收件箱）" in night.stdout and "已移到" not in night.stdout, night.stdout

    for blocked in ("archive", "rejected"):
        (ws.root / blocked).unlink()
    second = _night(ws, 3)
    assert {f["file"]: f["status"] for f in second.files} == {"binzang_2026-11.csv": "unchanged",
                                                             "yibao_2026-11-03_损坏.csv": "failed"}
    assert not any(inbox.iterdir())
    assert [p.name for p in (ws.root / "rejected").iterdir() if p.suffix == ".csv"] == ["yibao_2026-11-03_损坏.csv"]
    assert [p.name for p in (ws.root / "archive").rglob("*.csv")] == ["binzang_2026-11.csv"]


def test_a_rejection_note_that_cannot_be_written_leaves_the_file_rejected_and_says_so(tmp_path):
    """The note beside a rejected file cannot be written (here: its name would pass the
    file system's 255 bytes; a full disk ends the same way): the file is in rejected/ all
    the same, recorded as moved there, and a warning says the note is missing."""
    ws = init_workspace(tmp_path / "街道")
    name = "yibao_2026-11-03_" + "损" * 75 + ".csv"  # 246 bytes: the note's name would be 259
    (ws.root / "inbox" / name).write_bytes(bytes(range(256)) * 50)
    run = _night(ws, 2)
    assert run.exit_code == ExitCode.REJECTED, run.message
    [entry] = run.files
    assert entry["moved_to"] == str(ws.root / "rejected" / name) and not entry.get("kept_in_inbox")
    assert [p.name for p in (ws.root / "rejected").iterdir()] == [name]  # no note, not even an empty one
    assert not any((ws.root / "inbox").iterdir())
    assert [w for w in run.warnings if "原因.txt 未能写入（文件名太长）" in w and "已退回" in w]
    assert not [w for w in run.warnings if "仍留在收件箱" in w]


def test_a_run_record_is_replaced_whole_or_not_at_all(tmp_path):
    """A record that cannot be written (here: a folder stands where its new text goes; a
    full disk ends the same way) leaves the one written before as it was, readable."""
    from rootdb.nightly import NightlyRun, _write_record
    from rootdb.outpaths import partial_name

    record = tmp_path / "nightly_1.json"
    run = NightlyRun(run_id="1", started="2026-11-02T02:30:00", as_of="2026-11-02", record_file=str(record))
    _write_record(run)
    partial_name(record).mkdir()
    run.status = "done"
    with pytest.raises(OSError):
        _write_record(run)
    assert json.loads(record.read_text(encoding="utf-8"))["status"] == "running"


def test_a_file_that_does_not_fit_in_memory_waits_in_the_inbox_not_in_rejected(tmp_path, monkeypatch):
    """A file that fails for want of DuckDB's memory is not the department's to mend: it
    stays in the inbox (no note in rejected/, never called 退回), the night exits 5 saying
    so, the other file is loaded and filed away; the next night, with memory enough, loads it."""
    from rootdb import workspace

    ws = init_workspace(tmp_path / "街道")
    header, *rows = (SAMPLE / "yibao_2026-11.csv").read_text(encoding="utf-8-sig").splitlines()
    big = ws.root / "inbox" / "yibao_2026-11.csv"
    big.write_text("\n".join([header, *rows * 40]) + "\n", encoding="utf-8")  # ~110,000 rows
    shutil.copy(SAMPLE / "binzang_2026-11.csv", ws.root / "inbox")
    (ws.root / "inbox" / "yibao_2026-11-03_损坏.csv").write_bytes(bytes(range(256)) * 50)  # the department's to mend
    monkeypatch.setenv("ROOTDB_INGEST_WORKERS", "0")
    monkeypatch.setattr(workspace, "MEMORY_LIMIT", "5MB")
    first = _night(ws, 2)
    assert first.exit_code == ExitCode.RETRY and first.status == "done_with_retry"
    files = {f["file"]: f for f in first.files}
    assert files[big.name]["retry"] and "内存不够" in files[big.name]["message"]
    assert files["binzang_2026-11.csv"]["status"] == "loaded" and not files["binzang_2026-11.csv"]["retry"]
    assert [p.name for p in (ws.root / "inbox").iterdir()] == [big.name]
    assert [p.name for p in (ws.root / "rejected").iterdir() if p.suffix == ".csv"] == ["yibao_2026-11-03_损坏.csv"]
    assert "待重试 1" in first.headline() and "退回 1" in first.headline()
    assert first.steps[0].detail == {"files": 3, "loaded": 1, "unchanged": 0, "failed": 1, "retry": 1}
    assert f"文件 {big.name}：待重试" in Path(first.log_file).read_text(encoding="utf-8")
    # exit 5 outranks 3, and `rootdb status` says both
    assert (recent_runs(ws.root)[0]["status"], recent_runs(ws.root)[0]["rejected"]) == ("done_with_retry", 1)
    status = subprocess.run([sys.executable, "-m", "rootdb", "status", "--db", str(ws.db_path)],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert "完成，有文件待重试，有退回" in status.stdout, status.stdout + status.stderr

    monkeypatch.undo()
    second = _night(ws, 3)
    assert second.exit_code == ExitCode.OK, second.message
    assert [f["status"] for f in second.files] == ["loaded"] and not any((ws.root / "inbox").iterdir())


@pytest.mark.parametrize("pause_at", ["ingest.before_commit", "nightly.before_swap"])
def test_ctrl_c_during_a_night_is_recorded_in_chinese(tmp_path, pause_at):
    """Ctrl+C (SIGINT to a real `rootdb nightly`) while a file is being stored, or while
    the reports are swapped in: the command ends with the Chinese message and exit 1, and
    the night's record says so — not left 'running' with an empty message; the file is
    still in the inbox for the next run."""
    import signal
    import time

    ws = init_workspace(tmp_path / "街道")
    for name in ("registry_persons_2026-11.csv", "binzang_2026-11.csv"):
        shutil.copy(SAMPLE / name, ws.root / "inbox")
    marker = tmp_path / "paused"
    env = {**os.environ, "ROOTDB_PAUSE_AT": pause_at, "ROOTDB_PAUSE_FILE": str(marker), "ROOTDB_INBOX_SETTLE": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "rootdb", "nightly", "--db", str(ws.db_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "已中断" in err, out + err
    record = json.loads(next((ws.root / "runs").glob("nightly_*.json")).read_text(encoding="utf-8"))
    assert record["status"] == "failed" and record["message"].startswith("已中断"), record
    assert recent_runs(ws.root)[0]["status"] == "failed"
    assert not list(ws.root.glob(".reports-*"))  # nothing half made left beside reports/
    if pause_at == "ingest.before_commit":
        assert sorted(p.name for p in (ws.root / "inbox").iterdir()) == ["binzang_2026-11.csv",
                                                                         "registry_persons_2026-11.csv"]
    else:
        assert record["steps"][-1]["name"] == "changes" and record["steps"][-1]["status"] == "failed"
