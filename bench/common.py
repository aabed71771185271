"""What the benchmarks share: the generated area, and steps run in child processes so
that each step's wall time and peak memory are its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def ensure_area(persons: int, seed: int = 20261101) -> Path:
    """bench/out/area_<persons>, generated once (the generation is not timed)."""
    from rootdb.sample.generate import generate

    data = OUT / f"area_{persons}"
    marker = data / "_generated.json"
    if not marker.exists():
        started = time.perf_counter()
        generate(data, persons=persons, seed=seed)
        marker.write_text(json.dumps({"persons": persons, "seed": seed,
                                      "seconds": round(time.perf_counter() - started, 1)}))
    return data


def run_step(script: str, name: str, *args: str) -> dict:
    """`python script --step name args…` in a child process: the JSON object it prints
    last, with the wall time added."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, script, "--step", name, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result
