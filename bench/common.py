"""What the benchmarks share: the generated area, and steps run in child processes so
that each step's wall time and peak memory are its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
# The benchmarks run as scripts (`python bench/x.py`): the repository root on the path
# makes the sample generator (samplegen/, beside rootdb and not installed) importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def ensure_area(persons: int, seed: int = 20261101, styles: str = "default", fresh: bool = False) -> Path:
    """bench/out/area_<persons> (styles "default"), or bench/out/area_<styles>_<persons>_<seed>
    for another style of area (`python -m samplegen.generate --styles`), generated once
    (the generation is not timed); `fresh`: generated again even if cached."""
    from samplegen.generate import generate

    data = OUT / (f"area_{persons}" if styles == "default" else f"area_{styles}_{persons}_{seed}")
    marker = data / "_generated.json"
    if fresh or not marker.exists():
        started = time.perf_counter()
        marker.unlink(missing_ok=True)
        generate(data, persons=persons, seed=seed, styles=styles)
        marker.write_text(json.dumps({"persons": persons, "seed": seed, "styles": styles,
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


def redelivered_yibao(area: Path, folder: Path, phone: str) -> Path:
    """The area's yibao file (the largest feed after the registry) delivered again into
    `folder`: same name and rows, the last row's phone number `phone` (another if it
    already is), so a new delivery that replaces the last one."""
    import polars as pl

    source = area / "yibao_2026-11.csv"
    frame = pl.read_csv(source, infer_schema=False)
    last = frame.height - 1
    phone = phone if frame["联系电话"][last] != phone else phone[:-1] + "1"
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == last).then(pl.lit(phone))
                               .otherwise(pl.col("联系电话")).alias("联系电话"))
    target = folder / source.name
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_csv(target, include_bom=True)
    return target
