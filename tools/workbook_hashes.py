"""The workbooks (and R41's floor plans) of the bundled sample, as a list of SHA-256 sums: a refactoring
must leave them byte-identical.

    python tools/workbook_hashes.py > /tmp/before.txt      # before the change
    python tools/workbook_hashes.py --compare /tmp/before.txt

Ingests and links sample_data in a temporary workspace with the rootdb command, then
writes every report as of the sample's date twice: masked xlsx (what staff print) and
unmasked CSV (every value). Prints `sum  name` lines; with --compare, the names whose
sums differ, and exits 1 if any do.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-01"


def _rootdb(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "rootdb", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"rootdb {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-2000:]}")


def hashes() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "ws" / "rootdb.duckdb")
        _rootdb("ingest", str(ROOT / "sample_data"), "--db", db)
        _rootdb("link", "--db", db)
        out = {}
        for label, extra in (("xlsx", []), ("csv", ["--format", "csv", "--unmasked"])):
            folder = Path(tmp) / label
            _rootdb("report", "--all", "--as-of", AS_OF, "--out", str(folder), "--db", db, *extra)
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):  # R41's floor plans too
                out[f"{label}/{path.relative_to(folder)}"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="a list printed before the change")
    args = parser.parse_args()
    now = hashes()
    if not args.compare:
        for name, digest in now.items():
            print(f"{digest}  {name}")
        return
    before = dict(reversed(line.split("  ", 1)) for line in args.compare.read_text().splitlines() if line)
    differ = sorted(n for n in before.keys() | now.keys() if before.get(n) != now.get(n))
    for name in differ:
        print(f"differs: {name}")
    print(f"{len(now)} files, {len(differ)} differ")
    raise SystemExit(1 if differ else 0)


if __name__ == "__main__":
    main()
