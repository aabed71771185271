"""`python -m rootdb …` is the `rootdb` command."""

from rootdb.cli.main import run

run()
