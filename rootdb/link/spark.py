"""The person model on Spark (`rootdb link --engine spark`): the same saved model —
m/u parameters, comparison levels, blocking rules — run through splink's `SparkAPI`,
so that a region's data office can use a Spark cluster. Only the splink work moves:
records, the deterministic pass, houses, places, golden records and the crosswalk stay
in DuckDB.

The saved model is DuckDB SQL. `spark_model` rewrites it for Spark level by level,
keeping every level, its order and its m/u probabilities:

- null / exact levels and blocking rules: transpiled by sqlglot (only plain columns,
  `=`, `IS NULL`, AND/OR/NOT and `substr` are accepted; anything else must be written
  by hand below, or the translation refuses);
- `levenshtein` (ID numbers): the same function; both count characters (DuckDB
  2.0.0 counted UTF-8 bytes, 2.0.1 characters: see PITFALLS and the lock);
- the absolute date difference: DuckDB's `EPOCH` of a date is days × 86400, Spark's
  `datediff` counts days (splink's own Spark form);
- the names' custom levels (`ONE_CHAR_OFF`, `SHARE_TWO_CHARS`) by characters:
  Spark's `length` and `substr` count code points as DuckDB's do; `split(x, '')`
  would cut a supplementary-plane character (生僻字 of CJK Extension B) into two
  UTF-16 halves, so character lists are built with `substr` instead;
- `DAY_MONTH_SWAPPED`: the same functions exist in Spark.

A model trained on Spark is saved in the DuckDB dialect (`duckdb_model`): the
workspace's model file always runs on either engine.

The session: `local[2]` unless ROOTDB_SPARK_MASTER (or SPARK_MASTER) names a cluster
(`spark://host:7077`, `yarn`, …; executors run only JVM code, no Python is needed on
them); ROOTDB_SPARK_DRIVER_MEMORY (4g: in local mode the driver does all the work, and
a 2-core 24 GB machine keeps room for DuckDB beside it); ROOTDB_SPARK_SHUFFLE_PARTITIONS
(8 in local mode, Spark's default on a cluster); ROOTDB_SPARK_CHECKPOINT_DIR, where
splink writes its intermediate tables as parquet (required on a cluster: a folder every
node reaches, e.g. hdfs://…; in local mode a temporary folder). Anything else through
Spark's own spark-defaults.conf / PYSPARK_SUBMIT_ARGS. An active session is reused.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import logging
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import polars as pl

from rootdb.errors import UsageError
from rootdb.workspace import KEY_ENV

DEFAULT_MASTER = "local[2]"
DRIVER_MEMORY = os.environ.get("ROOTDB_SPARK_DRIVER_MEMORY", "4g")
MIN_JAVA = 17
INSTALL_HINT = '请安装 Spark 引擎：pip install "rootdb[spark]"，并安装 Java 17（或更新版本，设置 JAVA_HOME 或放入 PATH）'

_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
# at the root's level, so that pyspark does not announce a default level of its own
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""


# ------------------------------------------------------------------ the Spark dialect

def _char_list(col: str) -> str:
    """The characters (code points) of a string as an array, as DuckDB's
    `string_split(col, '')` gives them."""
    return f"transform(sequence(1, length({col})), i -> substr({col}, i, 1))"


def _hand_written() -> dict[str, str]:
    """DuckDB conditions of `model.settings()` that sqlglot cannot be trusted with,
    and their Spark equivalents (by characters, with the same NULL and empty-string
    outcome: such a pair falls through to the next level in both)."""
    from rootdb.link.model import DAY_MONTH_SWAPPED, ONE_CHAR_OFF, SHARE_TWO_CHARS

    return {
        ONE_CHAR_OFF: (
            "length(`name_l`) = length(`name_r`) AND length(`name_l`) > 0 AND "
            "size(filter(sequence(1, length(`name_l`)), i -> substr(`name_l`, i, 1) <> substr(`name_r`, i, 1))) = 1"
        ),
        SHARE_TWO_CHARS: f"size(array_intersect({_char_list('`name_l`')}, {_char_list('`name_r`')})) >= 2",
        DAY_MONTH_SWAPPED: (
            "year(`birth_date_l`) = year(`birth_date_r`) AND month(`birth_date_l`) = day(`birth_date_r`) "
            "AND day(`birth_date_l`) = month(`birth_date_r`)"
        ),
    }


_LEVENSHTEIN = re.compile(r'^levenshtein\("(\w+)_l", "\1_r"\) <= (\d+)$')
_EPOCH_DIFF = re.compile(r'^ABS\(EPOCH\("(\w+)_l"\) - EPOCH\("\1_r"\)\) <= (\d+)$')


def _transpile_plain(sql: str, what: str) -> str:
    """Plain comparisons only: columns, literals, =, <>, IS NULL, AND / OR / NOT, and
    substr (of ASCII pinyin in the blocking rules)."""
    import sqlglot
    from sqlglot import exp

    allowed = (exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.EQ, exp.NEQ,
               exp.Is, exp.And, exp.Or, exp.Not, exp.Substring, exp.TableAlias, exp.Table)
    tree = sqlglot.parse_one(sql, read="duckdb")
    unknown = sorted({type(node).__name__ for node in tree.walk() if not isinstance(node, allowed)})
    if unknown:
        raise UsageError(f"模型的{what}含有 Spark 引擎没有对应写法的 SQL（{', '.join(unknown)}）：{sql}")
    return tree.sql(dialect="spark", identify=True)


def spark_condition(sql: str) -> str:
    """One comparison level's condition in Spark SQL."""
    if sql == "ELSE":
        return sql
    hand = _hand_written()
    if sql in hand:
        return hand[sql]
    if m := _LEVENSHTEIN.match(sql):
        col, n = m.groups()
        return f"levenshtein(`{col}_l`, `{col}_r`) <= {n}"
    if m := _EPOCH_DIFF.match(sql):
        col, seconds = m.groups()
        return f"abs(datediff(`{col}_l`, `{col}_r`)) <= {int(seconds) // 86400}"
    return _transpile_plain(sql, "比较条件")


def spark_model(model: dict) -> dict:
    """The saved (DuckDB) model with every condition and blocking rule in Spark SQL;
    levels, their order and all parameters unchanged."""
    out = copy.deepcopy(model)
    out["sql_dialect"] = "spark"
    for comparison in out["comparisons"]:
        for level in comparison["comparison_levels"]:
            level["sql_condition"] = spark_condition(level["sql_condition"])
    rules = []
    for rule in out.get("blocking_rules_to_generate_predictions", []):
        text = rule["blocking_rule"] if isinstance(rule, dict) else rule
        rules.append({**(rule if isinstance(rule, dict) else {}), "blocking_rule": _transpile_plain(text, "分块规则"),
                      "sql_dialect": "spark"})
    out["blocking_rules_to_generate_predictions"] = rules
    return out


def duckdb_model(trained: dict, duckdb_settings: dict) -> dict:
    """A model trained on Spark, saved as the DuckDB model: `duckdb_settings` (the
    same settings in the DuckDB dialect) with the trained parameters, level by level."""
    out = copy.deepcopy(trained)
    out["sql_dialect"] = "duckdb"
    out["blocking_rules_to_generate_predictions"] = copy.deepcopy(
        duckdb_settings["blocking_rules_to_generate_predictions"])
    for mine, theirs in zip(out["comparisons"], duckdb_settings["comparisons"], strict=True):
        for level, original in zip(mine["comparison_levels"], theirs["comparison_levels"], strict=True):
            if spark_condition(original["sql_condition"]) != level["sql_condition"]:
                raise AssertionError(f"level order differs: {original['sql_condition']} / {level['sql_condition']}")
            level["sql_condition"] = original["sql_condition"]
    return out


# ------------------------------------------------------------------ the session

def _java_version() -> int:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise UsageError("找不到 Java。" + INSTALL_HINT)
    try:
        text = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as error:
        raise UsageError(f"无法运行 Java（{error}）。" + INSTALL_HINT) from error
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not found:
        raise UsageError(f"无法识别 Java 版本：{text.strip()[:200]}。" + INSTALL_HINT)
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def master() -> str:
    return os.environ.get("ROOTDB_SPARK_MASTER") or os.environ.get("SPARK_MASTER") or DEFAULT_MASTER


_SCRATCH: list[Path] = []


def _scratch() -> Path:
    """This process's own temporary folder (log settings, local checkpoints), removed at exit."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="rootdb-spark-")))
        atexit.register(shutil.rmtree, _SCRATCH[0], True)
    return _SCRATCH[0]


def session():
    """The Spark session: the active one, else one started here (once per process)."""
    try:
        import pyspark
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise UsageError("没有安装 pyspark。" + INSTALL_HINT) from error
    if int(pyspark.__version__.split(".")[0]) < 4:
        raise UsageError(f"pyspark {pyspark.__version__} 太旧，需要 4.x。" + INSTALL_HINT)
    if os.environ.get(KEY_ENV):
        # Spark writes its shuffle and checkpoint files in plain text, outside the
        # encrypted database: with a key, personal data must not leave it.
        raise UsageError(f"工作区已加密（设置了 {KEY_ENV}），Spark 引擎的中间文件不加密，不能使用；"
                         "请用默认的 DuckDB 引擎（去掉 --engine spark）")
    where = master()
    local = where.startswith("local")
    # splink breaks the lineage of its intermediate tables by writing them as parquet
    # there (persisting them instead lets the plans of the iterative clustering grow
    # until the driver runs out of memory). Spark makes a folder of its own inside.
    checkpoint = os.environ.get("ROOTDB_SPARK_CHECKPOINT_DIR")
    if not checkpoint and not local:
        raise UsageError("在 Spark 集群上运行须设置 ROOTDB_SPARK_CHECKPOINT_DIR（各节点都能读写的共享目录，如 hdfs://…）")
    spark = SparkSession.getActiveSession()
    if spark is None:
        java = _java_version()
        if java < MIN_JAVA:
            raise UsageError(f"Java {java} 太旧，Spark 4 需要 Java {MIN_JAVA} 或更新版本。" + INSTALL_HINT)
        log4j = _scratch() / "log4j2.properties"
        log4j.write_text(_LOG4J, encoding="utf-8")
        builder = (
            SparkSession.builder.master(where).appName("rootdb-link")
            .config("spark.driver.memory", DRIVER_MEMORY)
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.warehouse.dir", str(_scratch() / "warehouse"))
            .config("spark.ui.showConsoleProgress", "false")
        )
        partitions = os.environ.get("ROOTDB_SPARK_SHUFFLE_PARTITIONS") or ("8" if local else None)
        if partitions:
            builder = builder.config("spark.sql.shuffle.partitions", partitions)
        if local:
            builder = (builder.config("spark.ui.enabled", "false")
                       .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1"))
        try:
            spark = builder.getOrCreate()
        except Exception as error:  # the JVM did not start: no Java, too little memory, no cluster
            raise UsageError(f"无法启动 Spark（{where}）：{str(error).strip()[:300]}。" + INSTALL_HINT) from error
        spark.sparkContext.setLogLevel("ERROR")
    if spark.sparkContext.getCheckpointDir() is None:
        spark.sparkContext.setCheckpointDir(checkpoint or str(_scratch() / "checkpoints"))
    return spark


def stop_session() -> None:
    """Stop the active Spark session, if any (its JVM's memory is given back)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return
    spark = SparkSession.getActiveSession()
    if spark is not None:
        spark.stop()


def _clear_checkpoints(spark) -> None:
    """Remove the parquet splink wrote for a run (the folder is this application's own)."""
    folder = spark.sparkContext.getCheckpointDir()
    if not folder:
        return
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(path):
        for status in fs.listStatus(path):
            fs.delete(status.getPath(), True)


def _api(spark):
    from splink.backends.spark import SparkAPI

    # The model has no Jaro / Jaccard levels: splink's similarity jar is not needed.
    return SparkAPI(spark_session=spark, break_lineage_method="parquet", register_udfs_automatically=False)


def _to_spark(spark, frame: pl.DataFrame):
    """A polars frame as a Spark frame, through Arrow (plain strings; untyped columns as strings)."""
    import pyarrow as pa

    frame = frame.with_columns(pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Null)
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    table = table.cast(pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]))
    return spark.createDataFrame(table)


@contextlib.contextmanager
def _linker(registry: pl.DataFrame, feed: pl.DataFrame, model: dict):
    """A Spark linker on the registry and feed records, and a function registering
    more frames; what it made is dropped and unpersisted afterwards."""
    from splink import Linker

    spark = session()
    api = _api(spark)
    run = uuid.uuid4().hex[:8]
    views: list[str] = []

    def register(frame: pl.DataFrame, name: str):
        view = f"rootdb_{name}_{run}"
        _to_spark(spark, frame).createOrReplaceTempView(view)
        views.append(view)
        return api.register(view, table_name=name)

    tables = []
    for frame, name in ((registry, "registry"), (feed, "feed")):
        view = f"rootdb_{name}_{run}"
        _to_spark(spark, frame).createOrReplaceTempView(view)
        views.append(view)
        tables.append(api.register(view, dataset_display_name=name))
    try:
        yield Linker(tables, model, log_level=logging.WARNING), register
    finally:
        for view in views + [t.physical_name for t in api._intermediate_table_cache.values()]:
            with contextlib.suppress(Exception):
                spark.catalog.dropTempView(view)
        api._intermediate_table_cache.clear()
        _clear_checkpoints(spark)


def _frame(splink_frame) -> pl.DataFrame:
    return pl.from_arrow(splink_frame.as_pyarrow_table())


# ------------------------------------------------------------------ the splink work

def train(registry: pl.DataFrame, feed: pl.DataFrame, settings, fit) -> dict:
    """`fit(linker)` (model.py's training steps) on Spark; the trained model in the
    DuckDB dialect."""
    duckdb_settings = settings.get_settings("duckdb").as_dict()
    with _linker(registry, feed, spark_model(duckdb_settings)) as (linker, _):
        fit(linker)
        trained = linker.misc.save_model_to_json()
    return duckdb_model(trained, duckdb_settings)


def predict(registry: pl.DataFrame, feed: pl.DataFrame, model: dict, review_from: float) -> pl.DataFrame:
    """The pairs at or above `review_from`, as DuckDB's `linker.inference.predict` gives them."""
    with _linker(registry, feed, spark_model(model)) as (linker, _):
        return _frame(linker.inference.predict(threshold_match_probability=review_from, warning_mode="never"))


def single_best_links(
    registry: pl.DataFrame, feed: pl.DataFrame, model: dict, decided: pl.DataFrame, threshold: float
) -> pl.DataFrame:
    """splink's single-best-links clustering of the decided pairs (registry: one per cluster)."""
    with _linker(registry, feed, spark_model(model)) as (linker, register):
        found = linker.clustering.cluster_using_single_best_links(
            register(decided, "decided_predictions"), duplicate_free_datasets=["registry"],
            threshold_match_probability=threshold,
        )
        return _frame(found)
