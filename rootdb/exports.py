"""Exports for scripts and departments: the crosswalk (contract/outputs.md).

ID numbers are masked unless `unmasked` is asked for — by column, and in every other
text by content (`rootdb.privacy.mask_frame`); every unmasked export is written to the
audit log. A table export is a CSV file (no cell a spreadsheet would run as a formula,
see `rootdb.csvfile`) or, named .xlsx, a workbook.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from rootdb.csvfile import write_csv
from rootdb.errors import UsageError
from rootdb.outpaths import output_file
from rootdb.privacy import mask_frame, mask_id, record_audit
from rootdb.store import fetch_frame, require_linked
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
    out = table_file(out, "对照表.csv")
    with open_existing(db, read_only=not unmasked) as con:
        require_linked(con, "crosswalk")
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
            # entity_id and a house's or place's registry code are rootdb's and the
            # registry's keys, not personal: left whole so that scripts can join on them.
            frame = mask_frame(frame, keep=("entity_id", "registry_key"))
        write_table(frame, out, "对照表", bom=False)
        if unmasked:
            record_audit(con, "export crosswalk --unmasked", "", frame.height, str(out.resolve()))
    return ExportResult(file=str(out), rows=frame.height, masked=not unmasked)



def table_file(out: Path | str, example: str) -> Path:
    """`out` as a table's file: .csv or .xlsx, not an existing folder (a usage error,
    checked before any database is opened)."""
    out = output_file(out, example)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError(f"{out.name}：只能导出为 .csv 或 .xlsx 文件，请换用其中一种后缀")
    return out


def write_table(frame: pl.DataFrame, out: Path, sheet: str, bom: bool = True,
                heading: tuple[str, ...] = ()) -> None:
    """`frame` to `out`: a workbook of one sheet when it is named .xlsx, else CSV (UTF-8,
    with a BOM unless `bom` is False, formula-like cells neutralised). A list for people
    gives a `heading` (title, then the parts of the line under it) to begin its sheet
    with; data a script reads back (crosswalk, persons) is a bare table, as in its CSV."""
    out = table_file(out, f"导出{Path(out).suffix or '.csv'}")
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        from rootdb.xlsx import new_workbook, write_frame, write_sheet

        workbook = new_workbook(out)
        if heading:
            write_sheet(workbook, sheet, frame, *heading)
        else:
            write_frame(workbook, workbook.add_worksheet(sheet), frame)
        workbook.close()
    else:
        write_csv(frame, out, bom=bom)
