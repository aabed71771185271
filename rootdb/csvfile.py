"""CSV files rootdb writes: UTF-8 with BOM (Excel opens them right), and no cell that a
spreadsheet would run as a formula.

A text cell that starts with = + - @ (or a tab or carriage return, which Excel strips
before looking) gets a leading apostrophe, as OWASP advises: Excel and LibreOffice show
the text, never evaluate it. Plain numbers written as text (-12.5, +86…) and a lone "-"
are left as they are: no spreadsheet runs them.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

_FORMULA_START = r"^[=+\-@\t\r]"
_HARMLESS = r"^[+\-]?\d+(\.\d+)?$|^-$"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text cell that a spreadsheet would read as a formula, prefixed with '."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START) & ~pl.col(c).str.contains(_HARMLESS))
        .then("'" + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def write_csv(frame: pl.DataFrame, path: Path | str, *, bom: bool = True, date_format: str = "%Y-%m-%d") -> None:
    """The frame as a CSV file, formulas neutralised; lists written as 低保、特困."""
    from rootdb.outpaths import output_file, written_whole

    path = output_file(path, "导出.csv")  # not an existing folder
    frame = frame.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join("、")
        for c, dtype in frame.schema.items() if isinstance(dtype, pl.List)
    )
    with written_whole(path) as partial:
        neutralise_formulas(frame).write_csv(partial, include_bom=bom, date_format=date_format)
