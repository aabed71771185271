"""Try the newest versions pyproject.toml's ranges allow, and report what breaks.

Not part of CI: CI and the README install from the locks in this folder, so a release
elsewhere never turns a fresh clone red. Run this before deciding to upgrade:

    python3 requirements/try_newest.py            # the whole test suite
    python3 requirements/try_newest.py -- -x tests/test_link.py   # arguments for pytest

It builds a throw-away venv, installs rootdb with its test extras without the lock (so
pip takes the newest allowed release of everything), lists every package whose version
differs from requirements/test.lock, runs pytest there, and exits with pytest's status.
If the tests pass, `requirements/lock.sh` (with `uv`) moves the locks forward.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "test.lock").read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            pins[_key(match.group(1))] = match.group(2)
    return pins


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(pytest_args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="rootdb-newest-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip, python = venv / "bin" / "pip", venv / "bin" / "python"
        subprocess.run([str(pip), "install", "-q", "--upgrade", "-e", f"{ROOT}[test]"], check=True)
        frozen = subprocess.run([str(pip), "freeze", "--exclude-editable"], check=True, capture_output=True,
                                text=True).stdout
        pins = locked()
        moved = []
        for line in frozen.splitlines():
            if match := PIN.match(line):
                name, version = _key(match.group(1)), match.group(2)
                if name in pins and pins[name] != version:
                    moved.append(f"  {name}: {pins[name]} (lock) -> {version} (newest allowed)")
                elif name not in pins:
                    moved.append(f"  {name}: not in the lock -> {version}")
        print("Versions that differ from requirements/test.lock:")
        print("\n".join(moved) if moved else "  none: the lock is up to date")
        status = subprocess.run([str(python), "-m", "pytest", "-q", *pytest_args], cwd=ROOT).returncode
        print("\nThe newest allowed versions " + ("pass the tests: run requirements/lock.sh to move the locks."
                                                 if status == 0 else f"break the tests (pytest exit {status})."))
        return status


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(args[1:] if args[:1] == ["--"] else args))
