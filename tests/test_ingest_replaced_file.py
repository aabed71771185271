"""A file replaced in the inbox while a run is under way: the fingerprint stored with
its rows must be the fingerprint of the rows stored (found by the hostile test of the
ingest workers, issue 15)."""

from __future__ import annotations

from pathlib import Path

from rootdb.ingest import ingest
from rootdb.ingest.pipeline import _Silent, sha256_of
from rootdb.ingest.workers import WORKERS_ENV
from conftest import DIBAO_HEADER, dibao_row, query, write_csv


class _ReplaceLater(_Silent):
    """When the first file starts, a later file of the run is replaced by a new delivery."""

    def __init__(self, later: Path, rows: list[list]):
        self.later, self.rows, self.done = later, rows, False

    def file_started(self, path: Path) -> None:
        if not self.done and path != self.later:
            write_csv(self.later, self.rows)
            self.done = True


def test_fingerprint_is_of_the_rows_stored(tmp_path, monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "0")
    first = write_csv(tmp_path / "dibao_2026-10.csv", [DIBAO_HEADER, dibao_row()])
    later = write_csv(tmp_path / "dibao_2026-11.csv", [DIBAO_HEADER, dibao_row(cert="DB002")])
    original = sha256_of(later)
    replaced = [DIBAO_HEADER, dibao_row(cert="DB003"), dibao_row(cert="DB004", name="李四", pid="110105194912310046")]
    db = tmp_path / "rootdb.duckdb"
    result = ingest([first, later], db=db, progress=_ReplaceLater(later, replaced))
    assert [f.status for f in result.files] == ["loaded", "loaded"]
    stored = query(db, "SELECT sha256, rows_read FROM files WHERE file_name = ?", [later.name])
    assert stored == [(sha256_of(later), 2)]
    # The original delivery was never stored: delivered again, it is not "unchanged".
    write_csv(later, [DIBAO_HEADER, dibao_row(cert="DB002")])
    assert sha256_of(later) == original
    again = ingest([later], db=db)
    assert again.files[0].status == "loaded"
