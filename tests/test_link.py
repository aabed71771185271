"""`rootdb link` on the sample area, scored against its ground truth, plus the
Chinese-name comparison levels checked on real DuckDB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import TRUTH
from rootdb.link import link
from rootdb.link.evaluate import pairwise_scores
from rootdb.link.model import DAY_MONTH_SWAPPED, ONE_CHAR_OFF, SHARE_TWO_CHARS

KEYS = ["file", "source_row", "role"]
CROSSWALK_SQL = "source_file AS file, * EXCLUDE (source_file)"


@pytest.fixture(scope="module")
def linked(sample_db):
    """The linked sample (read only), the person model its first link trained, its crosswalk."""
    with duckdb.connect(str(sample_db), read_only=True) as con:
        crosswalk = con.sql(f"SELECT {CROSSWALK_SQL} FROM crosswalk ORDER BY ALL").pl()
    return sample_db, sample_db.parent / "models" / "person_model.json", crosswalk


def _truth(entity: str) -> pl.DataFrame:
    return pl.read_csv(TRUTH / "records.csv", infer_schema=False).filter(pl.col("entity_type") == entity).with_columns(
        pl.col("source_row").cast(pl.Int64)
    )


def test_people_are_linked_as_the_truth_says(linked):
    _, _, crosswalk = linked
    scores = pairwise_scores(crosswalk.filter(pl.col("entity_type") == "person"), _truth("person"), KEYS)
    print(f"\nperson pairwise: precision {scores['precision']:.4f} recall {scores['recall']:.4f} F1 {scores['f1']:.4f}")
    assert scores["f1"] >= 0.99


def test_registry_keys_of_people_are_right(linked):
    _, _, crosswalk = linked
    persons = pl.read_csv(TRUTH / "persons.csv", infer_schema=False).select(
        pl.col("person_uid").alias("entity_uid"),
        pl.when(pl.col("in_registry") == "true").then(pl.col("id_number")).alias("true_key"),
    )
    joined = _truth("person").join(persons, on="entity_uid").join(
        crosswalk.filter(pl.col("entity_type") == "person"), on=KEYS, how="left"
    )
    predicted = joined.filter(pl.col("registry_key").is_not_null())
    correct = predicted.filter(pl.col("registry_key") == pl.col("true_key")).height
    precision = correct / predicted.height
    recall = correct / joined.filter(pl.col("true_key").is_not_null()).height
    print(f"\nregistry key: precision {precision:.4f} recall {recall:.4f}")
    assert precision >= 0.995 and recall >= 0.99


def test_every_crosswalk_row_is_well_formed(linked):
    _, _, crosswalk = linked
    assert crosswalk.columns == ["file", "feed", "source_row", "role", "entity_type", "entity_id",
                                 "registry_key", "match_method", "match_probability"]
    assert crosswalk["entity_id"].null_count() == 0
    assert crosswalk.filter(pl.col("match_probability").is_null() | (pl.col("match_probability") > 1)).height == 0
    people = crosswalk.filter(pl.col("entity_type") == "person")
    keys = people["registry_key"].drop_nulls()
    assert keys.str.contains(r"^\d{17}[\dX]$").all()
    # A person entity has at most one registry key, and a registry key one entity.
    per_entity = people.group_by("entity_id").agg(pl.col("registry_key").drop_nulls().n_unique().alias("n"))
    assert per_entity["n"].max() <= 1
    per_key = people.drop_nulls("registry_key").group_by("registry_key").agg(pl.col("entity_id").n_unique().alias("n"))
    assert per_key["n"].max() == 1
    # Two people named in one row are two people, but for a dibao head listed as a member.
    shared = people.group_by("file", "source_row", "entity_id").agg(pl.col("role").sort()).filter(
        pl.col("role").list.len() > 1
    )
    assert shared["role"].to_list() == [["head", "member"]] * shared.height


def test_a_second_run_reuses_the_model_and_keeps_entity_ids(linked, tmp_path):
    db, model, crosswalk = linked
    assert model.is_file()
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    (tmp_path / "models").mkdir()
    shutil.copy(model, tmp_path / "models" / model.name)
    second = link(db=copy)
    assert not second.model_trained
    con = duckdb.connect(str(copy), read_only=True)
    again = con.sql(f"SELECT {CROSSWALK_SQL} FROM crosswalk ORDER BY ALL").pl()
    con.close()
    assert again.equals(crosswalk)


def test_a_damaged_model_file_is_said_and_trained_again(linked, tmp_path):
    """A model file cut short (a disk full, a copy interrupted) or not a model at all
    makes the next link say so in Chinese and train again, not fail with a traceback;
    the new model is written whole (renamed into place) and gives the same crosswalk."""
    db, trained, crosswalk = linked
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    model = tmp_path / "models" / trained.name
    model.parent.mkdir()
    whole = trained.read_text(encoding="utf-8")
    for damaged in (whole[: len(whole) // 2], "[1, 2, 3]"):
        model.write_text(damaged, encoding="utf-8")
        again = link(db=copy)
        assert again.model_trained
        assert len(again.warnings) == 1 and "重新训练" in again.warnings[0] and model.name in again.warnings[0]
        assert json.loads(model.read_text(encoding="utf-8"))["comparisons"]
        assert not list(model.parent.glob("*.partial"))
    con = duckdb.connect(str(copy), read_only=True)
    retrained = con.sql(f"SELECT {CROSSWALK_SQL} FROM crosswalk ORDER BY ALL").pl()
    con.close()
    same = ["file", "feed", "source_row", "role", "entity_id", "registry_key"]
    assert retrained.select(same).sort(same).equals(crosswalk.select(same).sort(same))


def test_a_model_edited_by_hand_or_from_another_version_is_refused(linked, tmp_path):
    """Valid JSON is not enough: a comparison left out (the link would run on, splitting
    hundreds of people) or a parameter that is not a probability makes the model unfit."""
    import copy

    from rootdb.link.model import model_problem

    _, trained, _ = linked
    model = json.loads(trained.read_text(encoding="utf-8"))
    path = tmp_path / "person_model.json"
    path.write_text(json.dumps(model), encoding="utf-8")
    assert model_problem(path) is None
    fewer = copy.deepcopy(model)
    fewer["comparisons"] = fewer["comparisons"][:1]
    not_a_number = copy.deepcopy(model)
    not_a_number["comparisons"][0]["comparison_levels"][1]["m_probability"] = "abc"
    other_level = copy.deepcopy(model)
    other_level["comparisons"][2]["comparison_levels"][2]["sql_condition"] = "TRUE"
    for damaged, why in ((fewer, "比较项"), (not_a_number, "不是概率"), (other_level, "比较项")):
        path.write_text(json.dumps(damaged), encoding="utf-8")
        assert why in model_problem(path) and "重新训练" in model_problem(path)


@pytest.mark.parametrize(
    ("left", "right", "one_off", "two_shared"),
    [("张伟", "章伟", True, False), ("张伟", "张伟", False, True), ("王小明", "王晓明", True, True),
     ("李娜", "王芳", False, False), ("阿依古丽", "阿依古力", True, True), ("张伟", "张伟伟", False, True)],
)
def test_chinese_name_levels_count_characters_not_bytes(left, right, one_off, two_shared):
    con = duckdb.connect()
    sql = f"SELECT ({ONE_CHAR_OFF}) AS one_off, ({SHARE_TWO_CHARS}) AS two_shared FROM (SELECT ? AS name_l, ? AS name_r)"
    assert con.execute(sql, [left, right]).fetchall() == [(one_off, two_shared)]


@pytest.mark.parametrize(
    ("left", "right", "within_two"),
    [("110105198001020011", "110105198001020012", True), ("110105198001020011", "110105198001020222", False),
     ("11010519800102001X", "11010519800102001Ｘ", True), ("1101051980010200张", "1101051980010200章", True)],
)
def test_id_level_counts_characters(left, right, within_two):
    """The person model's "ID within two edits" level counts characters, whatever is
    in the ID (DuckDB 2.0.0's levenshtein counted UTF-8 bytes; the lock pins 2.0.1)."""
    from rootdb.link.model import settings

    ids = next(c for c in settings().create_settings_dict("duckdb")["comparisons"]
               if c["output_column_name"] == "id_number")
    level = next(lv["sql_condition"] for lv in ids["comparison_levels"] if "levenshtein" in lv["sql_condition"])
    con = duckdb.connect()
    sql = f"SELECT ({level}) FROM (SELECT ? AS id_number_l, ? AS id_number_r)"
    assert con.execute(sql, [left, right]).fetchall() == [(within_two,)]


def test_day_month_swap_level():
    con = duckdb.connect()
    sql = f"SELECT {DAY_MONTH_SWAPPED} FROM (SELECT DATE '1985-03-02' AS birth_date_l, ?::DATE AS birth_date_r)"
    assert con.execute(sql, ["1985-02-03"]).fetchall() == [(True,)]
    assert con.execute(sql, ["1985-03-02"]).fetchall() == [(False,)]


def test_charts_are_written_with_ids_masked(linked, tmp_path):
    import re

    db, _, _ = linked
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    result = link(db=copy, charts=tmp_path / "charts")
    assert [Path(p).name for p in result.charts] == [
        "match_weights.html", "m_u_parameters.html", "comparison_viewer.html", "cluster_studio.html"]
    viewer = (tmp_path / "charts" / "comparison_viewer.html").read_text(encoding="utf-8")
    shown = re.findall(r'"id_number_[lr]": ?"([^"]*)"', viewer)
    assert shown and all("*" in value for value in shown)


def test_running_out_of_memory_says_which_limits_to_raise(linked, tmp_path, monkeypatch):
    from rootdb import workspace
    from rootdb.errors import WorkspaceError
    from rootdb.link import model as splink_model

    db, _, crosswalk = linked
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    monkeypatch.setattr(workspace, "MEMORY_LIMIT", "100MB")
    monkeypatch.setattr(splink_model, "SPLINK_MEMORY_LIMIT", "20MB")
    with pytest.raises(WorkspaceError, match="内存不够.*ROOTDB_MEMORY_LIMIT.*ROOTDB_SPLINK_MEMORY_LIMIT"):
        link(db=copy, retrain=True)
    con = duckdb.connect(str(copy), read_only=True)  # the database as it was
    assert con.sql(f"SELECT {CROSSWALK_SQL} FROM crosswalk ORDER BY ALL").pl().equals(crosswalk)
    con.close()


@pytest.mark.parametrize("feed", ["binzang_2026-11.csv", "yanglao_2026-11.csv"])
def test_a_new_workspace_with_one_small_feed_links_and_trains_again_later(tmp_path, monkeypatch, feed):
    """The registry and one small feed (24 funeral records; 466 pension records) are too
    few for EM: the link still runs, says so in Chinese, prints none of splink's English
    warnings, and keeps no model — and the model it links with still has every comparison
    and a small prior (a failed EM round must not leave splink's blocking-adjusted model
    behind: it merged strangers); the next link, once the other feeds have arrived,
    trains and saves one."""
    import subprocess
    import sys

    from conftest import SAMPLE

    from rootdb.ingest import ingest
    from rootdb.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    assert ingest([SAMPLE / "registry_persons_2026-11.csv", SAMPLE / feed], db=ws.db_path).ok
    done = subprocess.run([sys.executable, "-m", "rootdb", "link", "--db", str(ws.db_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "模型未能完整训练" in done.stdout and "已训练，未保存" in done.stdout
    assert "WARNING" not in done.stdout + done.stderr and "Level" not in done.stdout + done.stderr
    model = ws.root / "models" / "person_model.json"
    assert not model.exists()

    from rootdb.link.engines.duckdb import DuckDBEngine

    trained: list[tuple[dict, bool]] = []
    real_train = DuckDBEngine.train
    monkeypatch.setattr(DuckDBEngine, "train", lambda self, *a: trained.append(real_train(self, *a)) or trained[-1])
    again = link(db=ws.db_path)
    monkeypatch.undo()
    (used, complete), = trained
    assert not complete and again.model_trained and not again.model_saved and not model.exists()
    assert [c["output_column_name"] for c in used["comparisons"]] == [
        "name", "birth_date", "id_number", "sex", "phone", "house_key"]
    assert used["probability_two_random_records_match"] < 0.01

    assert ingest([SAMPLE], db=ws.db_path).ok
    later = link(db=ws.db_path)
    assert later.model_trained and later.model_saved and not later.warnings and model.is_file()


@pytest.mark.parametrize("files", [["registry_persons_2026-11.csv"], ["registry_persons_2026-11.csv", "xueji_2026-11.csv"]])
def test_nothing_matched_by_id_still_links_in_chinese(tmp_path, files):
    """The registry alone, or with a feed whose records share no ID with it: splink's
    prior would be 0 (no record matched by ID) and its prediction fail on log(0); the link
    finishes, says the model could not be trained, and saves none."""
    from conftest import SAMPLE

    from rootdb.ingest import ingest
    from rootdb.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    paths = [SAMPLE / f for f in files]
    if len(files) == 2:  # the students' IDs (and the 学籍号 that holds one) blanked
        students = pl.read_csv(paths[1], infer_schema=False).with_columns(
            pl.lit(None, pl.String).alias("身份证号"), pl.lit(None, pl.String).alias("学籍号"))
        paths[1] = tmp_path / files[1]
        students.write_csv(paths[1])
    assert ingest(paths, db=ws.db_path).ok
    result = link(db=ws.db_path)
    assert not result.model_saved and any("未能完整训练" in w for w in result.warnings)
    assert not (ws.root / "models" / "person_model.json").exists()
