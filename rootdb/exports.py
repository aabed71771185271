"""Exports for scripts and departments: the crosswalk (contract/outputs.md).

ID numbers are masked unless `unmasked` is asked for; every unmasked export is
written to the audit log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from rootdb.errors import UsageError
from rootdb.privacy import mask_id, record_audit
from rootdb.store import fetch_frame, table_exists
from rootdb.workspace import open_existing

CROSSWALK_COLUMNS = [
    "feed", "source_file", "source_row", "role", "entity_type", "entity_id",
    "registry_key", "match_method", "match_probability",
]


@dataclass
class ExportResult:
    file: str
    rows: int
    masked: bool

    def to_dict(self) -> dict:
        return asdict(self)


def export_crosswalk(out: Path, db: str | None = None, unmasked: bool = False) -> ExportResult:
    with open_existing(db, read_only=not unmasked) as con:
        if not table_exists(con, "crosswalk"):
            raise UsageError("还没有比对结果：请先运行 rootdb link")
        frame = fetch_frame(
            con, f"SELECT {', '.join(CROSSWALK_COLUMNS)} FROM crosswalk ORDER BY feed, source_file, source_row, role"
        )
        if not unmasked:
            frame = frame.with_columns(
                pl.when(pl.col("entity_type") == "person")
                .then(mask_id(pl.col("registry_key")))
                .otherwise(pl.col("registry_key"))
                .alias("registry_key")
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.write_csv(out)
        if unmasked:
            record_audit(con, "export crosswalk --unmasked", "", frame.height, str(out.resolve()))
    return ExportResult(file=str(out), rows=frame.height, masked=not unmasked)
