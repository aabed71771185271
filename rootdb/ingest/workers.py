"""Files read and cleaned in worker processes while the main process loads the one before.

Reading and cleaning a file needs no database: `Preparer` hands the files of a run to a
pool of worker processes, one file per worker ahead of the one being loaded (small files
further), and the main process takes each file's outcome in the run's order, then stores
it in its own transaction as before. Loading stays in one process and in order, so what a
run stores and in which order is the same as in one process.

The pool is used when it pays: more than one file, more than one core and at least
`PARALLEL_MIN_BYTES` to read (starting a worker costs about a second of imports).
`ROOTDB_INGEST_WORKERS` sets the number of workers: 0 or 1 reads in the main process;
a number above 1 uses that many workers (at most one per core) whatever the size. The
workers are `rootdb.processes.worker_pool`'s: spawned, and they die with the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import takewhile
from pathlib import Path

from rootdb.errors import UsageError
from rootdb.processes import cores, worker_pool

PARALLEL_MIN_BYTES = 32 << 20
AHEAD_BYTES = 64 << 20
WORKER_MAX_BYTES = 256 << 20
WORKERS_ENV = "ROOTDB_INGEST_WORKERS"


class WorkerFailure(Exception):
    """An unexpected error in a worker, as text (its own type may not cross processes)."""


def workers_setting() -> int | None:
    """`ROOTDB_INGEST_WORKERS` as a number, None when not set; a usage error when not a number."""
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if not setting:
        return None
    if not (setting.isascii() and setting.isdigit()):
        raise UsageError(f"环境变量 {WORKERS_ENV} 应为 0 或正整数（0 或 1：不用子进程），现为“{setting}”")
    return int(setting)


def worker_count(files: list[Path]) -> int:
    """How many worker processes read and clean `files`; 0: the main process does."""
    wanted = workers_setting()
    usable = cores()
    if wanted is not None:  # at most one per core and per file
        wanted = min(wanted, usable, len(files))
        return wanted if wanted > 1 else 0
    if usable < 2 or len(files) < 2 or sum(file_size(p) for p in files) < PARALLEL_MIN_BYTES:
        return 0
    return min(usable, len(files))


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Preparer:
    """`take(path)` gives the future of `work(path, *args)` in a worker (or, for one file,
    of `here(path, *args)` done in the main process at the start), or None where the main
    process is to do the work itself when it comes to the file (no pool, a very large one)."""

    def __init__(self, work: Callable, here: Callable, files: list[Path], args: tuple):
        self.work, self.here, self.args = work, here, args
        self.workers = worker_count(files)
        # The main process reads one file itself while the workers start (a second of
        # imports): the largest of the first few, so that it does not then wait for a worker
        # on it; and every very large file, at its turn: its cleaned rows would be held twice
        # while they cross between processes. Only files before the first very large one are
        # candidates: read ahead of its turn, a file is held while the files before it are
        # stored (a region's registry: 7 GB while the standard addresses were read and
        # stored), and a very large first file is begun at once, not after another.
        distinct = list(dict.fromkeys(files))
        first = list(takewhile(lambda p: file_size(p) <= WORKER_MAX_BYTES, distinct[:self.workers + 1]))
        self.mine = max(first, key=file_size, default=None) if self.workers else None
        self.pending = [p for p in distinct if p != self.mine and file_size(p) <= WORKER_MAX_BYTES]
        self.futures: dict[Path, Future] = {}
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Preparer:
        if self.workers:
            self.pool = worker_pool(self.workers)
            self._fill()
        return self

    def prepare_own(self) -> None:
        """Do `mine`, the main process's own file, now, while the workers start."""
        held = Future()
        held.set_result(self.here(self.mine, *self.args))
        self.futures[self.mine] = held

    def __exit__(self, exc_type, *exc) -> None:
        if self.pool is not None:
            # After a failure (Ctrl+C) do not wait for the workers: they die with this process.
            self.pool.shutdown(wait=exc_type is None, cancel_futures=True)

    def _fill(self) -> None:
        """Keep one file per worker, and small files further ahead up to `AHEAD_BYTES`: a
        worker goes on with the small files after a large one while the main process waits
        for the large one; cleaned files never pile up in memory. A file done by a worker
        is held by the main process until its turn: one more large file in hand held a
        region's 2 GB more while the main process stored a large file of its own, and
        did not make a city's ingest faster."""
        while self.pending:
            ahead = sum(file_size(p) for p in self.futures)
            if len(self.futures) >= self.workers and ahead + file_size(self.pending[0]) > AHEAD_BYTES:
                return
            path = self.pending.pop(0)
            self.futures[path] = self.pool.submit(self.work, path, *self.args)

    def take(self, path: Path) -> Future | None:
        if self.pool is None:
            return None
        future = self.futures.pop(path, None)
        try:
            self._fill()
        except BrokenProcessPool:
            self._broken()
        return future

    def outcome(self, future: Future):
        """The future's result; None when the pool broke (a worker killed, out of memory):
        then this file and every later one are read in the main process."""
        try:
            return future.result()
        except BrokenProcessPool:
            self._broken()
            return None

    def _broken(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool, self.futures, self.pending = None, {}, []
