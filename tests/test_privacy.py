"""Masking as outputs.md says: 150602********123X and 138****5678; nothing invented."""

from __future__ import annotations

import polars as pl

from rootdb.privacy import mask_id, mask_phone


def _apply(fn, values):
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(fn(pl.col("v")).alias("v"))["v"].to_list()


def test_ids_keep_region_and_last_four():
    assert _apply(mask_id, ["15060219850302123X", "110105491231002"]) == ["150602********123X", "110105*****1002"]


def test_phones_keep_first_three_and_last_four():
    assert _apply(mask_phone, ["13812345678", "04778512345"]) == ["138****5678", "047****2345"]


def test_empty_and_wordy_values_are_left_as_they_are():
    assert _apply(mask_id, [None, "", "无"]) == [None, "", "无"]
    assert _apply(mask_phone, [None, "不详"]) == [None, "不详"]


def test_short_numbers_are_hidden_whole():
    assert _apply(mask_phone, ["123"]) == ["*"]
