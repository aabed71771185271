"""Worker processes: the pool ingest reads files with and reports write workbooks with.

Workers start by `spawn` (never a fork of a process holding DuckDB and polars threads),
take one polars thread each (the workers already fill the cores), leave Ctrl+C to the
main process, and die with it: a `kill -9` of a run leaves no worker behind, also when
the run died while a worker was still starting.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor


def cores() -> int:
    """The cores this process may run on (a container or `taskset` may give fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    return _Pool(workers, mp_context=multiprocessing.get_context("spawn"),
                 initializer=_start_worker, initargs=(os.getpid(),))


class _Pool(ProcessPoolExecutor):
    """Workers start (on a `submit`) with Ctrl+C blocked, a mask they keep through exec:
    one pressed while a worker is still importing waits in it until `_start_worker`
    ignores it, instead of printing the worker's traceback (the run then ends as after
    any Ctrl+C: once the workers' current files are read). The main process still takes
    it at once: the mask is this thread's, and its other threads leave SIGINT open."""

    def submit(self, fn, /, *args, **kwargs):
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _start_worker(parent: int) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers still end when their queue closes
        pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    os.environ["POLARS_MAX_THREADS"] = "1"  # before the work imports polars
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl+C pressed while it started is dropped
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
