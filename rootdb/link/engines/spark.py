"""The person model on Spark (`rootdb link --engine spark`): splink's `SparkAPI`, so
that a region's data office can use a Spark cluster. Only the splink work moves:
records, the deterministic pass, houses, places, golden records and the crosswalk stay
in DuckDB, and so do the charts (drawn by the DuckDB engine on the same model and pairs).

The model is built in the Spark dialect (`model.settings("spark")`, or a saved model
through `model.for_dialect`), and a model trained here is saved in the DuckDB dialect,
so the workspace's model file runs on either engine.

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
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import polars as pl

from rootdb.errors import UsageError
from rootdb.link import model as person_model
from rootdb.link.engines.duckdb import DuckDBEngine
from rootdb.workspace import KEY_ENV

DIALECT = "spark"
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
    """Remove the parquet splink wrote for a run (the folder is this application's own).
    Through pyspark's private JVM gateway: pyspark has no public call to list or delete
    files, and the folder may be on HDFS, which Python's own file functions cannot reach."""
    folder = spark.sparkContext.getCheckpointDir()
    if not folder:
        return
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(path):
        for status in fs.listStatus(path):
            fs.delete(status.getPath(), True)


def _to_spark(spark, frame: pl.DataFrame):
    """A polars frame as a Spark frame, through Arrow (plain strings; untyped columns as strings)."""
    import pyarrow as pa

    frame = frame.with_columns(pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Null)
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    table = table.cast(pa.schema(
        [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]))
    return spark.createDataFrame(table)


Register = Callable[[pl.DataFrame, str], object]


def _temp_views(spark) -> set[str]:
    return {table.name for table in spark.catalog.listTables() if table.isTemporary}


@contextlib.contextmanager
def _linker(registry: pl.DataFrame, feed: pl.DataFrame, model) -> Iterator[tuple[object, Register]]:
    """A Spark linker on the registry and feed records (`model`: settings or a model in
    the Spark dialect), and a function registering more frames. Every temporary view
    that appears meanwhile is dropped afterwards: the frames registered here and the
    tables splink made (its own `delete_tables_created_by_splink_from_db` misses some,
    such as the blocked pairs), and so are the parquet files behind them."""
    from splink import Linker
    from splink.backends.spark import SparkAPI

    spark = session()
    before = _temp_views(spark)
    # The model has no Jaro / Jaccard levels: splink's similarity jar is not needed.
    api = SparkAPI(spark_session=spark, break_lineage_method="parquet", register_udfs_automatically=False)
    run = uuid.uuid4().hex[:8]

    def register(frame: pl.DataFrame, name: str, dataset: bool = False):
        view = f"rootdb_{name}_{run}"
        _to_spark(spark, frame).createOrReplaceTempView(view)
        return api.register(view, **{"dataset_display_name" if dataset else "table_name": name})

    try:
        tables = [register(registry, "registry", dataset=True), register(feed, "feed", dataset=True)]
        yield Linker(tables, model, log_level=logging.WARNING), register
    finally:
        for view in _temp_views(spark) - before:
            spark.catalog.dropTempView(view)
        _clear_checkpoints(spark)


def _frame(splink_frame) -> pl.DataFrame:
    return pl.from_arrow(splink_frame.as_pyarrow_table())


class SparkEngine:
    """See `rootdb.link.engines.Engine`. The workspace is not used: Spark refuses an
    encrypted workspace (`session`), and keeps its scratch data in its checkpoint folder."""

    def __init__(self) -> None:
        started = time.perf_counter()
        session()
        self.timings = {"spark_session": round(time.perf_counter() - started, 2)}

    def train(self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame,
              training: pl.DataFrame) -> tuple[dict, bool]:
        with _linker(registry, training, person_model.settings(DIALECT)) as (linker, _):
            complete = person_model.fit(linker)
            trained = linker.misc.save_model_to_json()
        return person_model.for_dialect(trained, person_model.SAVED_DIALECT), complete

    def predict(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        threshold: float,
    ) -> pl.DataFrame:
        with _linker(registry, feed, person_model.for_dialect(model, DIALECT)) as (linker, _):
            return _frame(linker.inference.predict(threshold_match_probability=threshold, warning_mode="never"))

    def cluster(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        pairs: pl.DataFrame, threshold: float,
    ) -> pl.DataFrame:
        with _linker(registry, feed, person_model.for_dialect(model, DIALECT)) as (linker, register):
            found = linker.clustering.cluster_using_single_best_links(
                register(pairs, "decided_predictions"), duplicate_free_datasets=["registry"],
                threshold_match_probability=threshold,
            )
            return _frame(found).select(
                pl.col("unique_id").cast(pl.Int64), "source_dataset", pl.col("cluster_id").cast(pl.String)
            )

    def write_charts(
        self, workspace: duckdb.DuckDBPyConnection, registry: pl.DataFrame, feed: pl.DataFrame, model: dict,
        pairs: pl.DataFrame, clusters: pl.DataFrame, out: Path,
    ) -> None:
        DuckDBEngine().write_charts(workspace, registry, feed, model, pairs, clusters, out)
