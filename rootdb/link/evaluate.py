"""Scoring a linkage against a ground truth: pairwise precision, recall and F1.

Two records are a predicted pair when they share an entity_id, a true pair when they
share the true entity. Counting pairs per cluster keeps this linear in the records.
"""

from __future__ import annotations

import polars as pl


def _pairs(counts: pl.Expr) -> pl.Expr:
    return (counts * (counts - 1) // 2).sum()


def pairwise_scores(predicted: pl.DataFrame, truth: pl.DataFrame, on: list[str]) -> dict[str, float]:
    """`predicted` has `on` + entity_id, `truth` has `on` + entity_uid. Records in
    only one of them count as singletons on the other side."""
    both = truth.select(*on, "entity_uid").join(predicted.select(*on, "entity_id"), on=on, how="full", coalesce=True)
    both = both.with_row_index("_i").with_columns(
        pl.col("entity_uid").fill_null(pl.format("_t{}", pl.col("_i"))),
        pl.col("entity_id").cast(pl.String).fill_null(pl.format("_p{}", pl.col("_i"))),
    )
    tp = both.group_by("entity_uid", "entity_id").len().select(_pairs(pl.col("len"))).item()
    true_pairs = both.group_by("entity_uid").len().select(_pairs(pl.col("len"))).item()
    pred_pairs = both.group_by("entity_id").len().select(_pairs(pl.col("len"))).item()
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": true_pairs, "predicted_pairs": pred_pairs}
