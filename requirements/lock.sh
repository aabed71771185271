#!/usr/bin/env bash
# Regenerate the locks from pyproject.toml's ranges (maintainers only; needs `pip install uv`).
# Every package of the whole tree is pinned with its hashes, for every platform (--universal),
# so a release anywhere never changes what a fresh clone installs. Upgrading is a decision:
# run bench/newest.py first to see what the newest allowed versions break.
set -euo pipefail
cd "$(dirname "$0")/.."
compile() { uv pip compile pyproject.toml requirements/build.in --universal --python-version 3.11 \
    --generate-hashes --no-header --quiet "$@"; }
compile -o requirements/run.lock
compile --extra test -o requirements/test.lock
compile --extra test --extra spark -o requirements/spark.lock
