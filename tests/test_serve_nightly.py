"""A nightly run in the middle of a stream of page requests (issue 14's "done means"):
the real `rootdb serve` answers a few logged-in clients while `rootdb nightly`, in
another process, ingests a new delivery, links and publishes; nightly never waits for
the page, every request made meanwhile is answered, and afterwards the page reads the
new published copy (the newborn the delivery adds can be found)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import pytest
from conftest import SAMPLE, copy_sample

from rootdb.clean.ids import check_digit
from rootdb.serve import store
from rootdb.serve.published import PublishedReader
from rootdb.workspace import KEY_ENV, init_workspace, locate

ROOTDB = [sys.executable, "-m", "rootdb"]
PASSWORD = "网格-secret-1"
USERS = {"grid1": ("grid", "建设社区", "第一网格"), "comm": ("community", "建设社区", None),
         "street": ("street", None, None)}
NEWBORN = "祁小满"
STREAM_SECONDS = 4  # of requests before and after the nightly run
THINK_SECONDS = 0.2  # between a client's rounds: a stream, not a flood of the 2-CPU test machine


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("ROOTDB_DB", raising=False)


def _workspace(sample_db: Path, folder: Path) -> Path:
    """A workspace (rootdb.toml, inbox/) holding a copy of the linked sample and its
    model, with a newborn's registry delivery waiting in its inbox; its database."""
    ws = init_workspace(folder)
    copy_sample(sample_db, folder)
    source = SAMPLE / "registry_persons_2026-11.csv"
    header, first, *_ = source.read_text(encoding="utf-8").splitlines()
    parent = dict(zip(header.split(","), first.split(",")))
    first17 = parent["公民身份号码"][:6] + "20261029917"
    baby = {**parent, "公民身份号码": first17 + pl.select(check_digit(pl.lit(first17))).item(), "姓名": NEWBORN,
            "性别": "女", "出生日期": "2026-10-29", "与户主关系": "子女", "联系电话": ""}
    delivery = ws.root / "inbox" / "registry_persons_2026-11-20.csv"
    delivery.write_text(source.read_text(encoding="utf-8") + ",".join(baby[k] for k in header.split(",")) + "\n",
                        encoding="utf-8")
    return ws.db_path


def _nightly(db: Path) -> tuple[int, float, float, str]:
    """`rootdb nightly` in another process: (exit code, started, ended, stderr)."""
    started = time.monotonic()
    proc = subprocess.run([*ROOTDB, "nightly", "--db", str(db)], env={**os.environ, "ROOTDB_INBOX_SETTLE": "0"},
                          capture_output=True, text=True, timeout=600)
    return proc.returncode, started, time.monotonic(), proc.stderr[-2000:]


class _Client(threading.Thread):
    """A logged-in user asking the page again and again: the residents, a card, 待走访;
    every request kept as (started, path, status or the exception)."""

    def __init__(self, base_url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
        assert self.http.post("/login", data={"username": name, "password": PASSWORD}).status_code == 303
        self.stop = threading.Event()
        self.requests: list[tuple[float, str, object]] = []

    def ask(self, path: str, **params) -> httpx.Response | None:
        started = time.monotonic()
        try:
            answer = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            self.requests.append((started, path, exc))
            return None
        self.requests.append((started, path, answer.status_code))
        return answer

    def run(self) -> None:
        ages = ["60-", "0-17", "18-59", ""]
        i = 0
        while not self.stop.is_set():
            found = self.ask("/api/residents", age=ages[i % len(ages)], limit="20")
            residents = found.json()["residents"] if found is not None and found.status_code == 200 else []
            if residents:
                self.ask(f"/api/residents/{residents[i % len(residents)]['entity_id']}")
            self.ask("/due")
            i += 1
            time.sleep(THINK_SECONDS)
        self.http.close()


def _newborns(base_url: str) -> int:
    """How many residents named NEWBORN a street user finds on the page."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        http.post("/login", data={"username": "street", "password": PASSWORD})
        return http.get("/api/residents", params={"name": NEWBORN}).json()["total"]


@pytest.fixture()
def server(sample_db, tmp_path):
    """`rootdb serve` on a workspace of the sample with USERS: (database, base URL)."""
    db = _workspace(sample_db, tmp_path / "served")
    ws = locate(db)
    for name, (role, community, grid) in USERS.items():
        store.add_user(ws, name, role, community, grid, PASSWORD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log, out = tmp_path / "serve.log", tmp_path / "serve.out"
    process = subprocess.Popen([*ROOTDB, "serve", "--db", str(db), "--port", str(port)],
                               stdout=out.open("wb"), stderr=log.open("wb"))
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base_url}/login", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert process.poll() is None, log.read_text(errors="replace")[-2000:]
        yield db, base_url, log
    finally:
        process.terminate()  # what systemctl stop sends: the page ends cleanly and says so
        assert process.wait(timeout=60) == 0, log.read_text(errors="replace")[-2000:]
        assert "页面已停止" in out.read_text(encoding="utf-8")


def test_nightly_runs_while_the_page_answers_and_the_page_then_reads_its_copy(sample_db, tmp_path, server):
    alone_code, started, ended, stderr = _nightly(_workspace(sample_db, tmp_path / "alone"))
    assert alone_code in (0, 3), stderr
    alone = ended - started
    shutil.rmtree(tmp_path / "alone")

    db, base_url, log = server
    reader = PublishedReader(locate(db))
    version = reader.current()[0]
    assert _newborns(base_url) == 0
    clients = [_Client(base_url, name) for name in USERS]
    for client in clients:
        client.start()
    try:
        time.sleep(STREAM_SECONDS)
        code, started, ended, stderr = _nightly(db)
        time.sleep(STREAM_SECONDS)
    finally:
        for client in clients:
            client.stop.set()
            client.join(timeout=60)
    assert code in (0, 3), stderr
    during = ended - started
    assert during < 2 * alone + 15, (during, alone)  # nothing waits for the page (the clients share the CPU)

    requests = [r for c in clients for r in c.requests]
    meanwhile = [r for r in requests if started <= r[0] <= ended]
    assert len(meanwhile) >= 3 * len(clients), len(meanwhile)
    failed = [r for r in requests if r[2] != 200]
    assert not failed, (failed[:5], log.read_text(errors="replace")[-3000:])
    assert {r[1] for r in meanwhile} >= {"/api/residents", "/due"}

    assert reader.current()[0] > version
    assert _newborns(base_url) == 1
