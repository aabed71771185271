"""`rootdb link --engine spark` on a real standalone Spark cluster: a master and two
workers started on this machine with Spark's own daemon script (the one a city's
cluster runs them with), each worker with one core and 1 GB, the driver being this
test process. The link on a copy of the sample area gives DuckDB's crosswalk, and it
really ran there: the application holds an executor on each worker and both executors
ran tasks. Executors get no Python (PYSPARK_PYTHON points nowhere): only JVM code runs
on them. The daemons are stopped afterwards, and no JVM of theirs is left behind.

This is the Spark link of the default suite (local mode keeps the cheap checks and the
slow training test, tests/test_spark.py). Skipped without pyspark or Java 17. Run time
on the shared 2-core machine: 1.5–2.5 minutes (the cluster 10–30 s, the link 55–130 s),
about what the same link took in local mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest

from rootdb.link import link
from rootdb.link.evaluate import pairwise_scores
from test_spark import KEYS, _copy, _crosswalk, needs_spark

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
WORKERS = 2
STARTUP_SECONDS = 180  # the shared 2-core machine under load: three JVMs start one after another


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _json(url: str) -> dict | list:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _cluster_pids(folder: Path) -> list[int]:
    """Processes of the cluster started in `folder`: the daemons name its conf and work
    folders on their command lines, and executors run inside the work folders."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
            if str(folder) in cmdline or cwd.startswith(str(folder)):
                found.append(int(proc.name))
    return found


@dataclass
class Cluster:
    url: str  # spark://127.0.0.1:<port>, what ROOTDB_SPARK_MASTER names
    web: str  # the master's web UI
    folder: Path  # logs, pid files, the workers' folders; the checkpoint folder both reach

    def state(self) -> dict:
        return _json(f"{self.web}/json/")

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                         for log in sorted((self.folder / "logs").glob("*.out")))


class _Daemons:
    """spark-daemon.sh from pyspark's own folder (SPARK_HOME), with this cluster's logs,
    pid files and (empty) configuration in `folder`, bound to 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        import pyspark

        home = Path(pyspark.__file__).parent
        self.script = home / "sbin" / "spark-daemon.sh"
        for sub in ("logs", "pids", "conf"):
            (folder / sub).mkdir(parents=True)
        # spark-daemon.sh would rsync from SPARK_MASTER; the others change where things run
        dropped = ("SPARK_MASTER", "SPARK_NO_DAEMONIZE", "SPARK_ENV_LOADED", "PYSPARK_PYTHONPATH_SET")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        self.env = env | {"SPARK_HOME": str(home), "SPARK_LOG_DIR": str(folder / "logs"),
                          "SPARK_PID_DIR": str(folder / "pids"), "SPARK_CONF_DIR": str(folder / "conf"),
                          "SPARK_IDENT_STRING": "rootdb-test", "SPARK_LOCAL_IP": "127.0.0.1"}

    def run(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(["bash", str(self.script), *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)


def _wait(what: str, ready, cluster: Cluster) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            if ready():
                return
        time.sleep(0.5)
    pytest.fail(f"the Spark cluster: {what} not within {STARTUP_SECONDS} s\n{cluster.logs()}")


def _stop(daemons: _Daemons, folder: Path) -> list[int]:
    """Stop the workers and the master (SIGTERM: a worker kills its executors), wait for
    their JVMs to end, kill what is left after 60 s; the cluster's processes still alive."""
    stops = [daemons.run("stop", WORKER, str(n)) for n in range(1, WORKERS + 1)]
    stops.append(daemons.run("stop", MASTER, "1"))
    for stop in stops:
        stop.communicate(timeout=60)
    deadline = time.monotonic() + 60
    while (left := _cluster_pids(folder)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A standalone master and two one-core, 1 GB workers on 127.0.0.1 (free ports),
    ready once the master's web UI reports both workers ALIVE; stopped afterwards, the
    test failing if a JVM of theirs had to be killed."""
    folder = tmp_path_factory.mktemp("spark-cluster")
    daemons = _Daemons(folder)
    port, web = _free_port(), _free_port()
    found = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}", folder)
    started = time.perf_counter()
    try:
        daemons.run("start", MASTER, "1", "--host", "127.0.0.1", "--port", str(port),
                    "--webui-port", str(web)).communicate(timeout=60)
        _wait("the master", lambda: found.state()["status"] == "ALIVE", found)
        workers = [daemons.run("start", WORKER, str(n), found.url, "--host", "127.0.0.1", "--cores", "1",
                               "--memory", "1g", "--webui-port", "0",
                               "--work-dir", str(folder / f"worker{n}"))
                   for n in range(1, WORKERS + 1)]
        for worker in workers:
            worker.communicate(timeout=60)
        _wait(f"{WORKERS} workers ALIVE",
              lambda: sum(w["state"] == "ALIVE" for w in found.state()["workers"]) == WORKERS, found)
        print(f"\nSpark cluster up: {time.perf_counter() - started:.1f} s")
        yield found
    finally:
        left = _stop(daemons, folder)
        assert not left, f"JVMs of the test's Spark cluster had to be killed: {left}"


@pytest.fixture(scope="module")
def spark(cluster, tmp_path_factory):
    """The engine's session on the cluster, set up as a data office would: the master and
    a checkpoint folder every worker reaches (here a local folder: all run on one machine)."""
    from pyspark.sql import SparkSession

    from rootdb.link.engines.spark import session, stop_session

    assert SparkSession.getActiveSession() is None, "a Spark session of another module is still running"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ROOTDB_SPARK_MASTER", cluster.url)
        env.setenv("ROOTDB_SPARK_CHECKPOINT_DIR", str(tmp_path_factory.mktemp("spark-checkpoints")))
        env.setenv("ROOTDB_SPARK_SHUFFLE_PARTITIONS", "4")
        env.setenv("PYSPARK_PYTHON", "/nonexistent/python")  # no Python on the executors
        started = time.perf_counter()
        spark = session()
        print(f"\nSpark session on the cluster: {time.perf_counter() - started:.1f} s")
        try:
            yield spark
        finally:
            stop_session()


def _review(db: Path) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql("SELECT * FROM link_person_review ORDER BY unique_id_l, unique_id_r").pl()


def _executors_by_worker(cluster: Cluster, app: str) -> dict[str, list[int]]:
    """The application's executors on each worker, as the workers' own web UIs list them."""
    return {worker["id"]: [e["id"] for e in _json(f"{worker['webuiaddress']}/json/")["executors"]
                           if e["appid"] == app]
            for worker in cluster.state()["workers"]}


@needs_spark
def test_spark_on_a_cluster_gives_the_duckdb_crosswalk_on_the_sample(cluster, spark, sample_db, tmp_path):
    context = spark.sparkContext
    assert context.master == cluster.url
    db = _copy(sample_db, tmp_path / "spark")
    started = time.perf_counter()
    result = link(db=db, engine="spark", charts=tmp_path / "charts")
    print(f"\nspark link on the cluster: {time.perf_counter() - started:.1f} s, stages {result.timings}")
    assert not result.model_trained  # the saved (DuckDB-trained) model

    expected, got = _crosswalk(sample_db), _crosswalk(db)
    assert got.height == expected.height
    scores = pairwise_scores(got, expected.rename({"entity_id": "entity_uid"}), KEYS)
    shared = round(scores["precision"] * scores["predicted_pairs"])
    differing_pairs = scores["predicted_pairs"] + scores["true_pairs"] - 2 * shared
    print(f"person records {got.height}, same-entity pairs: DuckDB {scores['true_pairs']}, Spark "
          f"{scores['predicted_pairs']}, in one only {differing_pairs}")
    # The same partition, and more: the same entity ids, registry keys and methods.
    assert scores["precision"] == scores["recall"] == 1.0
    assert got.drop("match_probability").equals(expected.drop("match_probability"))
    # Every comparison level agrees (test_spark.py); only the term-frequency adjustment
    # (log2 in Java and in C++) may differ in the last bit, ~1e-15: a pair could change
    # side only that close to a threshold; the bound checked is far above that noise.
    assert (got["match_probability"] - expected["match_probability"]).abs().max() <= 1e-12
    review, review_duckdb = _review(db), _review(sample_db)
    assert review.drop("match_probability", "match_weight").equals(
        review_duckdb.drop("match_probability", "match_weight"))
    for column in ("match_probability", "match_weight"):
        assert (review[column] - review_duckdb[column]).abs().max() <= 1e-12
    assert all(Path(p).is_file() for p in result.charts)
    # what the run registered and splink made is dropped, and so are its checkpoint files
    assert not [t.name for t in spark.catalog.listTables() if t.name.startswith(("rootdb_", "__splink__"))]
    checkpoints = Path(os.environ["ROOTDB_SPARK_CHECKPOINT_DIR"])
    assert not [p for p in checkpoints.rglob("*") if p.is_file()]

    # It ran on the cluster: the master runs the application with one core of each
    # worker, each worker runs one executor of it, and both executors ran tasks (their
    # logs, which each worker keeps in its own folder, at Spark's default level). Not the
    # driver's REST API: its UI is off if this process ran a local session first (pyspark
    # gives the first session's settings to the JVM as defaults for later ones).
    app = context.applicationId
    assert [(a["id"], a["cores"]) for a in cluster.state()["activeapps"]] == [(app, WORKERS)]
    by_worker = _executors_by_worker(cluster, app)
    assert len(by_worker) == WORKERS and all(len(ids) == 1 for ids in by_worker.values()), by_worker
    tasks = {log.parent.parent.parent.name: log.read_text(errors="replace").count("Running task")
             for log in cluster.folder.glob(f"worker*/{app}/*/stderr")}
    print(f"tasks run by the executor of each worker: {tasks}")
    assert len(tasks) == WORKERS and all(n > 0 for n in tasks.values()), tasks
    # and only JVM code: Python code on the executors fails there, for want of Python
    started = time.perf_counter()
    with pytest.raises(Exception, match="nonexistent/python"):
        spark.range(1).rdd.map(lambda row: row).collect()
    print(f"a Python task on the executors fails as it should ({time.perf_counter() - started:.1f} s)")
