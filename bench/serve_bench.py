"""Page benchmark (not a test): 20 users at once on `rootdb serve`, and nightly under load.

    python bench/serve_bench.py                       # the linked sample
    python bench/serve_bench.py --persons 500000      # bench/out/link_500000 (copied)
    python bench/serve_bench.py --nightly             # and a nightly run during the stream

A fresh workspace under bench/out/serve_work_<N>/ (the linked sample, built once into
bench/out/serve_base_sample/, or a copy of bench/out/link_<N>/ — never changed) gets 20
users (grid, community and street mixed); the real `rootdb serve` runs on it (uvicorn, a
child process) and 20 client threads (httpx) each log in once, then loop for a fixed
time: search (/api/residents with varied filters), open a card of a person found,
the 待走访 page, now and then a visit (POST /api/visits). Every request is counted with
its status; p50/p95/p99 per kind and overall; errors must be 0. Logins (argon2, about
0.3 s a check) and each client's first requests (the scope's report tables built) are
counted apart from the steady state.

The yardstick, in the same run: the same clients and mix calling the command layer on
the page's prepared cursors in this process (no HTTP, no session, no audit, no HTML):
what HTTP and the page add is the difference.

--nightly: `rootdb nightly` alone on a copy of the workspace with a new delivery in its
inbox (a newborn added to the registry), then the same during the stream of requests on
the served workspace: it must end 0 (or 3), take about as long as alone, every request
during it must be answered, and afterwards the page must find the newborn (the new
published copy is read).

Writes bench/out/serve_<N>.json (N: persons, or "sample") and prints a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common import OUT

REPO = Path(__file__).resolve().parent.parent
ROOTDB = [sys.executable, "-m", "rootdb"]
PASSWORD = "bench-口令-2026"
NEWBORN = "祁小满"  # the person the nightly delivery adds (a name the generator does not use)
VISIT_CHANCE = 0.03  # a loop records a visit this often
SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "侯", "赵"]
AGES = [None, "0-3", "0-17", "18-59", "60-", "80-", "35-45"]


# ------------------------------------------------------------------ the workspace

def base_database(persons: int | None) -> Path:
    """The linked database the run copies: bench/out/link_<N>, or the sample linked once."""
    if persons:
        db = OUT / f"link_{persons}" / "rootdb.duckdb"
        if not db.exists():
            raise SystemExit(f"{db} is missing: run bench/ingest_bench.py and bench/link_bench.py --persons "
                             f"{persons} first")
        return db
    db = OUT / "serve_base_sample" / "rootdb.duckdb"
    if not (db.parent / "linked").exists():
        from rootdb import ingest
        from rootdb.link import link
        from rootdb.workspace import init_workspace

        shutil.rmtree(db.parent, ignore_errors=True)
        ws = init_workspace(db.parent)
        ingest([REPO / "sample_data"], db=ws.db_path)
        link(db=ws.db_path)
        (db.parent / "linked").touch()
    return db


def copy_workspace(base: Path, folder: Path) -> Path:
    """The base database (and its trained model, when it has one) copied into a fresh
    workspace `folder`; the copy's database path."""
    from rootdb.workspace import init_workspace

    shutil.rmtree(folder, ignore_errors=True)
    ws = init_workspace(folder)
    shutil.copy(base, ws.db_path)
    if (base.parent / "models").is_dir():
        shutil.copytree(base.parent / "models", folder / "models", dirs_exist_ok=True)
    return ws.db_path


def areas(db: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(community, grid) of every grid of the standard address registry in `db` (the
    areas `rootdb user add` accepts), and its communities, the largest first."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        grids = con.execute("SELECT community, grid FROM golden_houses WHERE registry_key IS NOT NULL "
                            "AND grid IS NOT NULL GROUP BY ALL ORDER BY min(registry_key)").fetchall()
        communities = [r[0] for r in con.execute(
            "SELECT community FROM golden_houses WHERE registry_key IS NOT NULL AND grid IS NOT NULL "
            "GROUP BY ALL ORDER BY count(*) DESC, community").fetchall()]
    return grids, communities


def add_users(db: Path, count: int) -> tuple[list, float]:
    """`count` users: half grid workers, a third community, the rest street; the time taken."""
    from rootdb.serve import store
    from rootdb.workspace import locate

    ws = locate(db)
    grids, communities = areas(db)
    started = time.perf_counter()
    users = []
    for i in range(count):
        if i % 6 in (0, 2, 4):
            community, grid = grids[i % len(grids)]
            users.append(store.add_user(ws, f"grid{i:02d}", "grid", community, grid, PASSWORD))
        elif i % 6 in (1, 3):
            users.append(store.add_user(ws, f"comm{i:02d}", "community", communities[i % len(communities)], None,
                                        PASSWORD))
        else:
            users.append(store.add_user(ws, f"street{i:02d}", "street", None, None, PASSWORD))
    return users, time.perf_counter() - started


def newborn_delivery(area: Path, inbox: Path) -> Path:
    """The area's registry again with one newborn (NEWBORN) in its first household, dropped
    into `inbox` as today's delivery."""
    import polars as pl

    from rootdb.clean.ids import check_digit

    source = area / "registry_persons_2026-11.csv"
    with open(source, encoding="utf-8") as rows:
        header, first = rows.readline().rstrip("\n"), rows.readline().rstrip("\n")
    parent = dict(zip(header.split(","), first.split(",")))
    first17 = parent["公民身份号码"][:6] + "20261029" + "917"
    baby = {**parent, "公民身份号码": first17 + pl.select(check_digit(pl.lit(first17))).item(), "姓名": NEWBORN,
            "性别": "女", "出生日期": "2026-10-29", "与户主关系": "子女", "联系电话": ""}
    target = inbox / f"registry_persons_{dt.date.today().isoformat()}.csv"
    with open(source, encoding="utf-8") as rows, open(target, "w", encoding="utf-8") as out:
        shutil.copyfileobj(rows, out)
        out.write(",".join(baby[k] for k in header.split(",")) + "\n")
    return target


def run_nightly(db: Path) -> dict:
    """`rootdb nightly` on the workspace of `db` in a child process: exit code, wall time
    and CPU time (wall time beyond the CPU time is time spent waiting: for the disk, for
    a CPU other processes hold, or for a lock)."""
    import resource

    env = {**os.environ, "ROOTDB_INBOX_SETTLE": "0"}
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([*ROOTDB, "nightly", "--db", str(db), "--json"], env=env, capture_output=True, text=True)
    ended = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"exit_code": proc.returncode, "seconds": round(ended - started, 1),
            "cpu_seconds": round(after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime, 1),
            "started": started, "ended": ended, "stderr": proc.stderr[-2000:] if proc.returncode not in (0, 3) else ""}


# ------------------------------------------------------------------ the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    """`rootdb serve` on `db`, once it answers."""
    server = subprocess.Popen([*ROOTDB, "serve", "--db", str(db), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"rootdb serve ended ({server.returncode}): {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("rootdb serve did not answer in 5 minutes")


# ------------------------------------------------------------------ the clients

@dataclass
class Request:
    """One request: what, when it started (monotonic), how long, its status (0: no answer)."""

    kind: str
    at: float
    seconds: float
    status: int
    error: str | None = None


class HttpClient:
    """A user on the page, on a phone of its own behind nginx (its address in
    X-Forwarded-For, which rootdb serve believes from 127.0.0.1): logs in once, then asks
    the JSON and the 待走访 page."""

    expected = {"login": 303, "search": 200, "card": 200, "due": 200, "visit": 201}

    def __init__(self, base_url: str, user, address: str = "10.8.0.1") -> None:
        self.user = user
        self.http = httpx.Client(base_url=base_url, timeout=120, follow_redirects=False,
                                 headers={"X-Forwarded-For": address})
        self.turned_away = 0  # logins told to come back (503 while two password checks run: the page's login gate)

    def login(self) -> int:
        """Log in, coming back after Retry-After when the page is busy checking passwords."""
        while True:
            answer = self.http.post("/login", data={"username": self.user.name, "password": PASSWORD})
            if answer.status_code != 503:
                return answer.status_code
            self.turned_away += 1
            time.sleep(float(answer.headers.get("retry-after", 1)))

    def search(self, params: dict) -> tuple[int, list[str]]:
        answer = self.http.get("/api/residents", params=params)
        ids = [r["entity_id"] for r in answer.json()["residents"]] if answer.status_code == 200 else []
        return answer.status_code, ids

    def card(self, entity_id: str) -> int:
        return self.http.get(f"/api/residents/{entity_id}").status_code

    def due(self) -> int:
        return self.http.get("/due").status_code

    def visit(self, entity_id: str, visit_type: str) -> int:
        return self.http.post("/api/visits", json={"entity_id": entity_id, "走访类型": visit_type,
                                                   "发现问题": "无"}).status_code

    def close(self) -> None:
        self.http.close()


class DirectClient:
    """The yardstick: the same requests as calls of the command layer on the page's
    prepared cursors (rootdb.serve.prepared) in this process."""

    expected = HttpClient.expected

    def __init__(self, site, user) -> None:
        from rootdb.serve.app import scope_of

        self.site, self.user, self.scope = site, user, scope_of(user)

    def login(self) -> int:
        return 303

    def search(self, params: dict) -> tuple[int, list[str]]:
        from rootdb.reports.query import PersonQuery
        from rootdb.serve import views

        query = self.scope.apply(PersonQuery(age=params.get("age"), groups=params.get("group", [])))
        with self.site.cache.use(self.scope, self.site.as_of()) as con:
            rows, _ = views.residents(con, query, params.get("name"), params["limit"], params["offset"])
        return 200, [r["entity_id"] for r in rows]

    def card(self, entity_id: str) -> int:
        from rootdb.commands.card import card_on

        as_of = self.site.as_of()
        with self.site.cache.use(self.scope, as_of) as con:
            card_on(con, entity_id, self.scope, as_of)
        return 200

    def due(self) -> int:
        from rootdb.serve import views

        as_of = self.site.as_of()
        with self.site.cache.use(self.scope, as_of) as con:
            views.due_visits(con, as_of)
        return 200

    def visit(self, entity_id: str, visit_type: str) -> int:
        self.site.record_visit(self.user, entity_id, visit_type, "无", None)
        return 201

    def close(self) -> None:
        pass


@dataclass
class Worker:
    """One client thread's loop and everything it asked."""

    client: object
    seed: int
    groups: list[str]
    visit_types: list[str]
    think: float = 0.0  # mean seconds a user waits between requests (0: at once, the page saturated)
    done: list[Request] = field(default_factory=list)
    first: list[Request] = field(default_factory=list)

    def timed(self, kind: str, call, *args, into: list | None = None):
        started = time.monotonic()
        try:
            result = call(*args)
            status = result[0] if isinstance(result, tuple) else result
            error = None if status == self.client.expected[kind] else f"status {status}"
        except Exception as exc:  # noqa: BLE001 (an unanswered request is what is counted)
            result, status, error = None, 0, f"{type(exc).__name__}: {exc}"[:300]
        (self.done if into is None else into).append(Request(kind, started, time.monotonic() - started, status, error))
        return result

    def params(self, rng: random.Random) -> dict:
        params = {"limit": rng.choice([20, 50]), "offset": rng.choice([0, 0, 0, 20])}
        if age := rng.choice(AGES):
            params["age"] = age
        if rng.random() < 0.4:
            params["group"] = [rng.choice(self.groups)]
        if rng.random() < 0.3:
            params["name"] = rng.choice(SURNAMES)
        return params

    def run(self, stop: threading.Event) -> None:
        rng = random.Random(self.seed)
        # The first requests build the scope's report tables: counted apart.
        found = self.timed("search", self.client.search, {"limit": 50, "offset": 0}, into=self.first)
        self.timed("due", self.client.due, into=self.first)
        loops = 0
        while not stop.is_set():
            found = self.timed("search", self.client.search, self.params(rng))
            stop.wait(rng.uniform(0.5, 1.5) * self.think)
            ids = found[1] if found else []
            if ids:
                entity_id = rng.choice(ids)
                self.timed("card", self.client.card, entity_id)
                stop.wait(rng.uniform(0.5, 1.5) * self.think)
                if rng.random() < VISIT_CHANCE:
                    self.timed("visit", self.client.visit, entity_id, rng.choice(self.visit_types))
            if loops % 3 == 0:
                self.timed("due", self.client.due)
                stop.wait(rng.uniform(0.5, 1.5) * self.think)
            loops += 1


def run_clients(clients: list, seconds: float, stop: threading.Event | None = None,
                think: float = 0.0) -> list[Worker]:
    """Every client's loop in a thread of its own for `seconds` (or until `stop` is set),
    waiting about `think` seconds after each request."""
    from rootdb.reports.query import all_groups
    from rootdb.serve import views

    stop = stop or threading.Event()
    workers = [Worker(c, seed, all_groups(), views.visit_types(), think) for seed, c in enumerate(clients)]
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    if seconds:
        time.sleep(seconds)
        stop.set()
    for t in threads:
        t.join()
    return workers


def login_all(clients: list) -> list[Request]:
    """Every client logs in at once (argon2 checks side by side)."""
    out: list[Request] = []
    workers = [Worker(c, 0, [], []) for c in clients]
    threads = [threading.Thread(target=w.timed, args=("login", c.login)) for w, c in zip(workers, clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in workers:
        out += w.done
    return out


# ------------------------------------------------------------------ figures

def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def stats(requests: list[Request], seconds: float | None = None) -> dict:
    """Count, errors, statuses and latency percentiles (ms) of `requests`, overall and per kind."""
    def one(rs: list[Request]) -> dict:
        ms = [r.seconds * 1000 for r in rs]
        out = {"count": len(rs), "errors": sum(1 for r in rs if r.error),
               "statuses": {str(s): sum(1 for r in rs if r.status == s) for s in sorted({r.status for r in rs})}}
        if ms:
            out |= {"p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
                    "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms), 1)}
        if seconds:
            out["per_second"] = round(len(rs) / seconds, 1)
        return out

    result = {"all": one(requests)}
    for kind in sorted({r.kind for r in requests}):
        result[kind] = one([r for r in requests if r.kind == kind])
    result["error_samples"] = sorted({r.error for r in requests if r.error})[:5]
    return result


def line(label: str, s: dict) -> str:
    kinds = "; ".join(f"{k} {v['count']} × p50 {v['p50_ms']} / p95 {v['p95_ms']} ms"
                      for k, v in s.items() if k != "all" and isinstance(v, dict) and v["count"])
    a = s["all"]
    if not a["count"]:
        return f"{label}: no request (the first ones took the whole time)"
    return (f"{label}: {a['count']} requests ({a.get('per_second', '-')}/s), {a['errors']} errors, "
            f"p50 {a['p50_ms']} / p95 {a['p95_ms']} / p99 {a['p99_ms']} ms — {kinds}")


def flat(workers: list[Worker], attr: str = "done") -> list[Request]:
    return [r for w in workers for r in getattr(w, attr)]


# ------------------------------------------------------------------ the run

def served_version(db: Path) -> int | None:
    from rootdb.serve.published import PublishedReader
    from rootdb.workspace import locate

    current = PublishedReader(locate(db)).current()
    return current[0] if current else None


def newborn_found(base_url: str, street_user) -> int:
    """How many residents named NEWBORN a street user finds on the page."""
    client = HttpClient(base_url, street_user, "10.8.2.1")
    try:
        client.login()
        return client.http.get("/api/residents", params={"name": NEWBORN}).json()["total"]
    finally:
        client.close()


def nightly_under_load(db: Path, base_url: str, users: list, area: Path, settle: float) -> dict:
    """A nightly run in the middle of the clients' stream on the served workspace."""
    street = next(u for u in users if u.role == "street")
    before = newborn_found(base_url, street), served_version(db)
    newborn_delivery(area, db.parent / "inbox")
    clients = [HttpClient(base_url, u, f"10.8.1.{i + 1}") for i, u in enumerate(users)]
    login_all(clients)
    stop = threading.Event()
    box: dict = {}
    streaming = threading.Thread(target=lambda: box.update(workers=run_clients(clients, 0, stop)), daemon=True)
    streaming.start()
    time.sleep(settle)
    nightly = run_nightly(db)
    deadline = time.monotonic() + 60
    while newborn_found(base_url, street) == before[0] and time.monotonic() < deadline:
        time.sleep(0.5)
    served_at = time.monotonic()
    time.sleep(settle)
    stop.set()
    streaming.join()
    for c in clients:
        c.close()
    requests = flat(box["workers"])
    during = [r for r in requests if nightly["started"] <= r.at <= nightly["ended"]]
    return {"nightly": {k: v for k, v in nightly.items() if k not in ("started", "ended")},
            "during": stats(during, nightly["seconds"]), "whole_stream": stats(requests),
            "version_before": before[1], "version_after": served_version(db),
            "newborn_found_before": before[0], "newborn_found_after": newborn_found(base_url, street),
            "seconds_from_nightly_end_to_served": round(served_at - nightly["ended"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, help="bench/out/link_<N> instead of the sample")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60, help="steady-state time of each phase")
    parser.add_argument("--nightly", action="store_true", help="also a nightly run during the stream")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a user waits between requests (0: none, the page saturated)")
    args = parser.parse_args()
    os.environ.pop("ROOTDB_DB", None)
    label = str(args.persons or "sample")
    base = base_database(args.persons)
    area = OUT / f"area_{args.persons}" if args.persons else REPO / "sample_data"
    report: dict = {"persons": label, "users": args.users, "seconds": args.seconds, "think": args.think,
                    "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()},
                    "at": dt.datetime.now().isoformat(timespec="seconds")}

    if args.nightly:  # alone first: no server, no clients
        alone_db = copy_workspace(base, OUT / f"serve_work_{label}_alone")
        newborn_delivery(area, alone_db.parent / "inbox")
        alone = run_nightly(alone_db)
        report["nightly_alone"] = {k: v for k, v in alone.items() if k not in ("started", "ended")}
        print(f"rootdb nightly alone: exit {alone['exit_code']}, {alone['seconds']} s ({alone['cpu_seconds']} s CPU)")
        shutil.rmtree(alone_db.parent)

    db = copy_workspace(base, OUT / f"serve_work_{label}")
    users, add_seconds = add_users(db, args.users)
    port = free_port()
    started = time.perf_counter()
    server = start_server(db, port)
    report["server_start_seconds"] = round(time.perf_counter() - started, 1)
    base_url = f"http://127.0.0.1:{port}"
    try:
        clients = [HttpClient(base_url, u, f"10.8.0.{i + 1}") for i, u in enumerate(users)]
        logins = login_all(clients)
        report["user_add_seconds_each"] = round(add_seconds / args.users, 3)
        report["login"] = stats(logins) | {"turned_away_503": sum(c.turned_away for c in clients)}
        workers = run_clients(clients, args.seconds, think=args.think)
        for c in clients:
            c.close()
        report["http_first_requests"] = stats(flat(workers, "first"))
        report["http"] = stats(flat(workers), args.seconds)
        if args.nightly:
            report["nightly_under_load"] = nightly_under_load(db, base_url, users, area, min(args.seconds, 10))
    finally:
        server.terminate()
        server.wait(timeout=60)

    report["load_after_http"] = os.getloadavg()
    from rootdb.serve.app import Site
    from rootdb.serve.published import PublishedReader
    from rootdb.workspace import locate

    ws = locate(db)
    site = Site(ws, PublishedReader(ws), dt.datetime.now)
    workers = run_clients([DirectClient(site, u) for u in users], args.seconds, think=args.think)
    site.cache.close()
    report["direct_first_requests"] = stats(flat(workers, "first"))
    report["direct"] = stats(flat(workers), args.seconds)
    report["machine"]["load_after"] = os.getloadavg()
    out = OUT / f"serve_{label}{'_think' if args.think else ''}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))

    print(f"{args.users} users on {label} ({os.cpu_count()} CPUs, load {report['machine']['load_before'][0]:.2f} "
          f"before), {args.seconds:.0f} s each phase, {args.think} s between a user's requests")
    print(line("login (argon2)", report["login"]) + f"; {report['login']['turned_away_503']} times told to "
          "come back (503: two password checks at a time)")
    print(line("http first requests", report["http_first_requests"]))
    print(line("http", report["http"]))
    print(line("direct (no HTTP)", report["direct"]))
    if args.nightly:
        n = report["nightly_under_load"]
        print(f"rootdb nightly during the stream: exit {n['nightly']['exit_code']}, {n['nightly']['seconds']} s, "
              f"{n['nightly']['cpu_seconds']} s CPU (alone {report['nightly_alone']['seconds']} s, "
              f"{report['nightly_alone']['cpu_seconds']} s CPU); version {n['version_before']} → "
              f"{n['version_after']}; {NEWBORN} found {n['newborn_found_before']} → {n['newborn_found_after']}")
        print(line("requests during nightly", n["during"]))
    errors = report["http"]["all"]["errors"] + report["direct"]["all"]["errors"] + report["login"]["all"]["errors"]
    if args.nightly:
        errors += report["nightly_under_load"]["during"]["all"]["errors"]
    if errors:
        raise SystemExit(f"{errors} requests failed: see {out} (error_samples)")


if __name__ == "__main__":
    main()
