"""`rootdb export`: the workspace's tables as files for other systems and departments —
the crosswalk (`rootdb.exports`), the person master list and the corrections
(`rootdb.golden.exports`), the addresses that matched no standard address
(`rootdb.link.address_export`). Unmasked exports write `audit_log`."""

from __future__ import annotations

from pathlib import Path

from rootdb.errors import UsageError
from rootdb.exports import ExportResult, export_crosswalk
from rootdb.golden.exports import export_corrections, export_persons
from rootdb.link.address_export import AddressExport, export_unmatched_addresses


def crosswalk(out: Path, unmasked: bool = False, db: str | Path | None = None) -> ExportResult:
    """Which person, house or place each record is (.csv or .xlsx by `out`'s suffix)."""
    return export_crosswalk(out, db=db, unmasked=unmasked)


def persons(out: Path, unmasked: bool = False, db: str | Path | None = None) -> ExportResult:
    """One row per person, each field from its most trusted source."""
    return export_persons(db, out, unmasked=unmasked)


def corrections(out: Path, department: str | None = None, unmasked: bool = False,
                db: str | Path | None = None) -> ExportResult:
    """Where departments disagree with the registry, one sheet per feed; `department`:
    one department's only (民政)."""
    return export_corrections(db, out, department=department, unmasked=unmasked)


def addresses(out: Path, unmatched: bool = False, unmasked: bool = False,
              db: str | Path | None = None) -> AddressExport:
    """The delivered addresses that matched no standard address (`unmatched`, for now
    the only list there is), with their records, reasons and nearest candidates."""
    if not unmatched:
        raise UsageError("请加 --unmatched：目前只能导出没有对上标准地址的报送地址")
    return export_unmatched_addresses(out, db=db, unmasked=unmasked)
