"""Turn the raw rows of one delivered file into typed records, row issues and
quarantined rows, as the feed's schema says.

Input: a frame with `source_row` and one text column per schema field that the file
has (as delivered). Output (`CleanResult`):
- records: one row per loaded row: `source_row`, `record_key`, every field typed, and
  the derived columns of its type (see `rootdb.clean.types`);
- issues: one row per problem found in a loaded row (kept, flagged; feeds R36);
- quarantine: one row per row that cannot identify its record, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from rootdb.clean.types import FIELD_TYPES, ID18, ID_AGREEMENT, message
from rootdb.specs import ColumnSpec, FeedSpec

ISSUE_SCHEMA = {
    "source_row": pl.Int64,
    "field": pl.String,
    "header": pl.String,
    "code": pl.String,
    "message": pl.String,
    "value": pl.String,
}


@dataclass
class CleanResult:
    records: pl.DataFrame
    issues: pl.DataFrame
    quarantine: pl.DataFrame  # source_row, reason


def _keys(field: str) -> list[str]:
    """The columns a field's cleaning depends on: its text and whether the
    spreadsheet stored the cell as a long number."""
    return [f"__raw_{field}", f"__num_{field}"]


def _clean_column(frame: pl.DataFrame, col: ColumnSpec, ids: list[str]) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Typed and derived columns for one field, row-aligned with `frame` (its `_keys`,
    and the columns `ids` that name a row of it), and the issues they raised, by `ids`."""
    f = col.field
    field_type = FIELD_TYPES[col.type]
    cleaned = field_type.clean(
        frame.select(pl.col(f"__raw_{f}").alias("text"), pl.col(f"__num_{f}").alias("as_number")), col
    )
    out = cleaned.select(
        pl.col("value").alias(f),
        *[pl.col(part).alias(field_type.column(f, part)) for part in field_type.derived],
    )
    joined = pl.concat([frame.select(list(dict.fromkeys([*ids, *_keys(f)]))), cleaned], how="horizontal")
    allowed = "/".join(col.values or ())
    issues = [
        joined.filter(pl.col(issue.code)).select(
            *ids,
            pl.lit(f).alias("field"),
            pl.lit(col.header).alias("header"),
            pl.lit(issue.code).alias("code"),
            message(issue.message, col.header, pl.col("value"), allowed).alias("message"),
            pl.col(f"__raw_{f}").alias("value"),
        )
        for issue in field_type.issues
    ]
    return out, issues


# Types whose cleaning works once per distinct value by itself (addresses: parsed once per
# distinct text, then joined back): cleaned row by row here.
_DISTINCT_INSIDE = {"address"}
# Below this share of distinct values among the rows, a column is cleaned once per value
# and the results joined back; above it (IDs, phones) finding the values and joining them
# back costs more than it saves.
_BY_VALUE_SHARE = 0.75


def _by_value(base: pl.DataFrame, col: ColumnSpec) -> bool:
    """Whether `col` is cleaned once per distinct value (`_keys`) rather than row by row;
    the two give the same rows and issues."""
    if col.type in _DISTINCT_INSIDE:
        return False
    text = base.get_column(f"__raw_{col.field}")
    return text.approx_n_unique() < _BY_VALUE_SHARE * base.height


def _role_consistency(records: pl.DataFrame, spec: FeedSpec) -> list[pl.DataFrame]:
    """Birth date and sex delivered beside an ID must agree with the ID."""
    issues = []
    for role in spec.roles:
        id_field = role.fields.get("id")
        if role.entity != "person" or id_field is None:
            continue
        for attr, (part, issue) in ID_AGREEMENT.items():
            field = role.fields.get(attr)
            if field is None:
                continue
            derived = ID18.column(id_field, part)
            col = spec.column(field)
            mismatch = (
                pl.col(ID18.column(id_field, "valid"))
                & pl.col(field).is_not_null()
                & (pl.col(field) != pl.col(derived))
            )
            issues.append(
                records.filter(mismatch).select(
                    pl.col("source_row"),
                    pl.lit(field).alias("field"),
                    pl.lit(col.header).alias("header"),
                    pl.lit(issue.code).alias("code"),
                    message(issue.message, col.header, pl.col(derived).cast(pl.String)).alias("message"),
                    pl.col(field).cast(pl.String).alias("value"),
                )
            )
    return issues


def _quarantine_reasons(records: pl.DataFrame, spec: FeedSpec, present: set[str]) -> pl.Series:
    """A reason per row (null when the row is fine): which required value is missing."""
    reasons = []
    for col in spec.columns:
        if not col.required:
            continue
        f = col.field
        if f not in present:
            continue  # a whole missing required column fails the file before this
        missing = pl.col(f).is_null()
        unreadable = FIELD_TYPES[col.type].unreadable
        if unreadable is not None:
            text = pl.when(pl.col(f"__raw_{f}").is_not_null()).then(
                message(unreadable, col.header, pl.col(f"__raw_{f}"))
            ).otherwise(pl.lit(f"缺少{col.header}"))
        else:
            text = pl.lit(f"缺少{col.header}")
        if col.required_unless_valid:
            other = spec.column(col.required_unless_valid)
            valid = FIELD_TYPES[other.type].column(other.field, "valid")
            missing = missing & ~pl.col(valid).fill_null(False)
            text = pl.lit(f"缺少{col.header}，且{other.header}为空或无效，无法识别是谁")
        reasons.append(pl.when(missing).then(text))
    if not reasons:
        return pl.Series("reason", [None] * records.height, dtype=pl.String)
    return records.select(pl.concat_str(reasons, separator="；", ignore_nulls=True).alias("reason"))[
        "reason"
    ].replace("", None)


def clean_frame(spec: FeedSpec, raw: pl.DataFrame, number_cells: dict[str, set[int]] | None = None) -> CleanResult:
    """Clean the raw rows of one file (`source_row` + text columns named by field).
    `number_cells`: field -> rows where a spreadsheet stored that cell as a long number."""
    number_cells = number_cells or {}
    present = {c.field for c in spec.columns if c.field in raw.columns}
    base = raw.select(
        pl.col("source_row").cast(pl.Int64),
        *[
            (pl.col(c.field) if c.field in present else pl.lit(None, dtype=pl.String)).alias(f"__raw_{c.field}")
            for c in spec.columns
        ],
    )
    base = base.with_columns(
        pl.col("source_row").is_in(list(number_cells.get(c.field, ()))).alias(f"__num_{c.field}")
        for c in spec.columns
    )
    parts = [base]
    issues: list[pl.DataFrame] = []
    for col in spec.columns:
        keys = _keys(col.field)
        if not _by_value(base, col):
            out, col_issues = _clean_column(base.select("source_row", *keys), col, ["source_row"])
            parts.append(out)
            issues.extend(i for i in col_issues if i.height)
            continue
        # Clean each distinct value once (most columns repeat a few values), then map back.
        distinct = base.select(keys).unique(maintain_order=True)
        out, col_issues = _clean_column(distinct, col, keys)
        lookup = pl.concat([distinct, out], how="horizontal")
        parts.append(
            base.select(keys).join(lookup, on=keys, how="left", maintain_order="left", nulls_equal=True).drop(keys)
        )
        by_row = base.select("source_row", *keys)
        issues.extend(
            by_row.join(i, on=keys, how="inner", nulls_equal=True).drop(keys) for i in col_issues if i.height
        )
    records = pl.concat(parts, how="horizontal")
    issues.extend(_role_consistency(records, spec))

    reason = _quarantine_reasons(records, spec, present)
    records = records.with_columns(reason.alias("__reason"))
    quarantine = records.filter(pl.col("__reason").is_not_null()).select(
        "source_row", pl.col("__reason").alias("reason")
    )
    loaded = records.filter(pl.col("__reason").is_null())
    key = (
        pl.concat_str([pl.col(k).cast(pl.String) for k in spec.record_key], separator="|", ignore_nulls=False)
        if spec.record_key
        else pl.lit(None, dtype=pl.String)
    )
    loaded = loaded.with_columns(key.alias("record_key")).select(
        "source_row", "record_key", *[c for c in loaded.columns if not c.startswith("__") and c not in ("source_row", "record_key")]
    )
    issue_frame = pl.concat(
        [i.cast(ISSUE_SCHEMA) for i in issues if i.height], how="vertical"
    ) if any(i.height for i in issues) else pl.DataFrame(schema=ISSUE_SCHEMA)
    issue_frame = issue_frame.join(loaded.select("source_row"), on="source_row", how="semi").sort(
        "source_row", "field", maintain_order=True
    )
    return CleanResult(records=loaded, issues=issue_frame, quarantine=quarantine)
