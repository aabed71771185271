"""`rootdb link --engine spark`, in local mode: every comparison level of the model
built for Spark means the same as the one built for DuckDB, a model trained on either
engine runs on the other, and (slow) training on Spark saves a model DuckDB runs. That
the Spark link gives DuckDB's crosswalk on the sample area is tested on a real
standalone cluster (tests/test_spark_cluster.py).

The Spark tests are skipped without pyspark (`pip install "rootdb[spark]"`) or Java 17.
Run time on the 2-core machine: 15–30 s, most of it the JVM's start; the slow training
test takes minutes (~5 s per splink step on small data).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import TRUTH, copy_sample
from rootdb.errors import UsageError
from rootdb.link import link
from rootdb.link.evaluate import pairwise_scores
from rootdb.link.model import for_dialect, settings

KEYS = ["source_file", "source_row", "role"]


def _spark_available() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return 'pyspark is not installed (pip install "rootdb[spark]")'
    from rootdb.link.engines.spark import MIN_JAVA, _java_version

    try:
        version = _java_version()
    except UsageError as error:
        return str(error)
    return None if version >= MIN_JAVA else f"Java {version} < {MIN_JAVA}"


SKIP = _spark_available()
needs_spark = pytest.mark.skipif(SKIP is not None, reason=f"Spark unavailable: {SKIP}")


@pytest.fixture(scope="module")
def spark():
    from rootdb.link.engines.spark import session, stop_session

    started = time.perf_counter()
    yield session()
    print(f"\nSpark module: {time.perf_counter() - started:.1f} s (session start included)")
    stop_session()


# ------------------------------------------------------------------ the dialect

def _duckdb_settings() -> dict:
    return settings().get_settings("duckdb").as_dict()


def _spark_settings() -> dict:
    return settings("spark").get_settings("spark").as_dict()


def test_a_saved_model_goes_to_spark_and_back_with_its_levels_order_and_parameters():
    model = _duckdb_settings()
    for comparison in model["comparisons"]:
        for i, level in enumerate(comparison["comparison_levels"]):
            level["m_probability"], level["u_probability"] = 0.1 + i / 100, 0.2 + i / 100
    on_spark = for_dialect(model, "spark")
    assert on_spark["sql_dialect"] == "spark"
    for mine, theirs, built in zip(on_spark["comparisons"], model["comparisons"], _spark_settings()["comparisons"],
                                   strict=True):
        assert len(mine["comparison_levels"]) == len(theirs["comparison_levels"])
        for level, original, spark_level in zip(mine["comparison_levels"], theirs["comparison_levels"],
                                                built["comparison_levels"], strict=True):
            assert {k: v for k, v in level.items() if k != "sql_condition"} == {
                k: v for k, v in original.items() if k != "sql_condition"}
            assert level["sql_condition"] == spark_level["sql_condition"]
    assert on_spark["blocking_rules_to_generate_predictions"] == _spark_settings()[
        "blocking_rules_to_generate_predictions"]
    # back to the DuckDB model the workspace saves: the same text as before
    assert for_dialect(on_spark, "duckdb") == {**model, "sql_dialect": "duckdb"}


def test_the_spark_model_is_built_in_spark_sql():
    """No DuckDB syntax in the Spark settings (`"x"` would be a string in Spark, not a
    column), and every level differs from DuckDB's only where the dialects differ."""
    spark_text = json.dumps(_spark_settings()["comparisons"]) + json.dumps(
        _spark_settings()["blocking_rules_to_generate_predictions"])
    for duckdb_only in ('\\"', "lambda", "list_", "string_split", "EPOCH", "::"):
        assert duckdb_only not in spark_text, duckdb_only


def test_a_model_with_other_comparisons_is_not_given_to_spark():
    model = _duckdb_settings()
    model["comparisons"] = model["comparisons"][1:]
    with pytest.raises(ValueError):
        for_dialect(model, "spark")


def test_unknown_engine_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="引擎"):
        link(db=tmp_path / "none.duckdb", engine="polars")


def test_missing_pyspark_or_java_says_how_to_install(monkeypatch):
    import sys

    from rootdb.link.engines import spark as engine

    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(UsageError, match=r'pip install "rootdb\[spark\]".*Java 17'):
        engine.session()
    monkeypatch.setenv("JAVA_HOME", "/nonexistent-java")
    with pytest.raises(UsageError, match=r"找不到 Java.*rootdb\[spark\]"):
        engine._java_version()


# Pairs chosen to reach every level of every comparison, with the traps: homophones,
# one character off in 2- and 3-character names, characters outside the BMP (生僻字:
# four UTF-8 bytes, two UTF-16 units), an empty name, a full-width X in an ID (one
# character, three bytes: DuckDB 2.0.0's levenshtein counted bytes), swapped day and month,
# 31 and 32 days apart across a year end and a leap day.
_D = dt.date
PAIRS = [
    # name_l, name_r, pinyin_l, pinyin_r, birth_l, birth_r, id_l, id_r, sex_l, sex_r, phone_l, phone_r, house_l, house_r
    ("张伟", "张伟", "zhangwei", "zhangwei", _D(1980, 1, 2), _D(1980, 1, 2), "110105198001020011", "110105198001020011",
     "男", "男", "13800000000", "13800000000", "H1", "H1"),
    ("张伟", "章伟", "zhangwei", "zhangwei", _D(1980, 1, 2), _D(1980, 2, 1), "110105198001020011", "110105198001020012",
     "男", "女", "13800000000", "13800000001", "H1", "H2"),
    ("张伟", "张玮", "zhangwei", "zhangwei2", _D(1980, 1, 2), _D(1980, 2, 2), "110105198001020011", "110105198001020022",
     "男", None, None, "1", None, "H2"),
    ("王小明", "王晓明", "wangxiaoming", "wangxiaoming2", _D(1999, 12, 20), _D(2000, 1, 20), "110105198001020011",
     "110105198001020222", None, None, "1", "2", "H1", "H1"),
    ("王小明", "明小王", "a", "b", _D(1999, 12, 20), _D(2000, 1, 21), "11010519800102001X", "11010519800102001Ｘ",
     "女", "女", "1", "1", "H1", "H3"),
    ("𠀀伟", "𠀁伟", "c", "d", _D(2000, 2, 28), _D(2000, 3, 30), "11010519800102001X", "11010519800102001Y",
     "女", "男", "1", "2", "H1", "H1"),
    ("𠀀伟", "伟𠀀", "e", "f", _D(2000, 2, 28), _D(2000, 3, 31), "1101051980010200张", "1101051980010200章",
     None, "男", "1", None, "H1", None),
    ("𠀀𠀁", "𠀁𠀀", "g", "h", _D(2001, 3, 5), _D(2001, 5, 3), "1", "12", "男", "男", "1", "1", "H1", "H1"),
    ("李娜", "王芳", "lina", "wangfang", _D(2001, 3, 5), _D(2002, 5, 3), "1", "123", "男", "男", "1", "1", "H1", "H1"),
    ("阿依古丽", "阿依古力", "ayiguli", "ayiguli2", _D(2001, 3, 5), _D(2001, 3, 5), "1", "1234", "男", "男", "1", "1",
     "H1", "H1"),
    ("张伟", "张伟伟", "i", "j", None, _D(2001, 3, 5), None, "1", "男", "男", "1", "1", "H1", "H1"),
    ("", "", "", "", _D(2001, 3, 5), _D(2001, 3, 6), "", "", "", "", "", "", "", ""),
    ("", "张", "", "k", _D(2001, 3, 5), _D(2001, 4, 5), "", "1", "", "男", "", "1", "", "H"),
    (None, "张伟", None, "zhangwei", _D(2001, 3, 5), None, "1", None, None, None, None, None, None, None),
    ("张伟", "张伟", "zhangwei", "zhangwei", _D(2001, 1, 1), _D(2001, 1, 1), "张三", "张四", "男", "男", "1", "1", "H", "H"),
]
COLUMNS = ["name_l", "name_r", "name_pinyin_l", "name_pinyin_r", "birth_date_l", "birth_date_r", "id_number_l",
           "id_number_r", "sex_l", "sex_r", "phone_l", "phone_r", "house_key_l", "house_key_r"]


def _level_sql(comparison: dict) -> str:
    levels = comparison["comparison_levels"]
    cases = " ".join(f"WHEN {lvl['sql_condition']} THEN {i}" for i, lvl in enumerate(levels)
                     if lvl["sql_condition"] != "ELSE")
    return f"CASE {cases} ELSE {len(levels) - 1} END AS {comparison['output_column_name']}"


@needs_spark
def test_every_level_means_the_same_in_spark_and_duckdb(spark):
    pairs = pl.DataFrame(PAIRS, schema=dict.fromkeys(COLUMNS), orient="row").with_columns(
        pl.col("birth_date_l", "birth_date_r").cast(pl.Date))
    model = _duckdb_settings()
    con = duckdb.connect()
    con.register("pairs", pairs.to_arrow())
    in_duckdb = con.sql(f"SELECT {', '.join(_level_sql(c) for c in model['comparisons'])} FROM pairs").pl()
    from rootdb.link.engines.spark import _to_spark

    _to_spark(spark, pairs).createOrReplaceTempView("pairs")
    in_spark = pl.from_arrow(spark.sql(
        f"SELECT {', '.join(_level_sql(c) for c in _spark_settings()['comparisons'])} FROM pairs").toArrow())
    print("\n" + str(in_duckdb.with_columns(pairs.select("name_l", "name_r", "id_number_l", "id_number_r"))))
    assert in_spark.cast(pl.Int64).equals(in_duckdb.cast(pl.Int64))
    # every level of every comparison is reached by some pair
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        assert sorted(in_duckdb[name].unique()) == list(range(len(comparison["comparison_levels"]))), name
    # the traps: 𠀀伟/𠀁伟 one character off; a full-width X is one character (three bytes)
    assert in_duckdb["name"][5] == 3 and in_duckdb["id_number"][4] == 2


# ------------------------------------------------------------------ the sample area

def _crosswalk(db: Path) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql("SELECT * FROM crosswalk WHERE entity_type = 'person' ORDER BY ALL").pl()


def _copy(sample_db: Path, to: Path, model: bool = True) -> Path:
    db = copy_sample(sample_db, to)
    if not model:
        shutil.rmtree(to / "models")
    return db


@needs_spark
@pytest.mark.slow
def test_training_on_spark_saves_a_duckdb_model(spark, sample_db, tmp_path):
    db = _copy(sample_db, tmp_path / "train", model=False)
    started = time.perf_counter()
    result = link(db=db, engine="spark")
    print(f"\nspark link with training: {time.perf_counter() - started:.1f} s, stages {result.timings}")
    assert result.model_trained
    saved = json.loads(Path(result.model_path).read_text(encoding="utf-8"))
    reference = json.loads((sample_db.parent / "models" / "person_model.json").read_text(encoding="utf-8"))
    assert saved["sql_dialect"] == "duckdb"
    assert saved["blocking_rules_to_generate_predictions"] == reference["blocking_rules_to_generate_predictions"]
    for mine, theirs in zip(saved["comparisons"], reference["comparisons"], strict=True):
        assert [lvl["sql_condition"] for lvl in mine["comparison_levels"]] == [
            lvl["sql_condition"] for lvl in theirs["comparison_levels"]]
    # u is sampled differently on Spark, so the parameters differ a little; the
    # links are as good, and the saved model runs on DuckDB.
    truth = pl.read_csv(TRUTH / "records.csv", infer_schema=False).filter(pl.col("entity_type") == "person") \
        .with_columns(pl.col("source_row").cast(pl.Int64)).rename({"file": "source_file"})
    scores = pairwise_scores(_crosswalk(db), truth, KEYS)
    print(f"person pairwise (Spark-trained): precision {scores['precision']:.4f} recall {scores['recall']:.4f} "
          f"F1 {scores['f1']:.4f}")
    assert scores["f1"] >= 0.99
    on_spark = _crosswalk(db)
    again = link(db=db)  # DuckDB, with the model Spark trained: the same links
    on_duckdb = _crosswalk(db)
    assert not again.model_trained
    assert on_duckdb.drop("match_probability").equals(on_spark.drop("match_probability"))
    assert (on_duckdb["match_probability"] - on_spark["match_probability"]).abs().max() <= 1e-12
