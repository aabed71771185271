"""Masking as outputs.md says: 150602********123X and 138****5678 (a landline keeps its
area code: 0477-****8872); nothing invented."""

from __future__ import annotations

import polars as pl

from rootdb.privacy import mask_id, mask_phone


def _apply(fn, values):
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(fn(pl.col("v")).alias("v"))["v"].to_list()


def test_ids_keep_region_and_last_four():
    assert _apply(mask_id, ["15060219850302123X", "110105491231002"]) == ["150602********123X", "110105*****1002"]


def test_mobiles_keep_first_three_and_last_four():
    assert _apply(mask_phone, ["13812345678", "19900001234"]) == ["138****5678", "199****1234"]


def test_landlines_keep_the_area_code_and_hide_part_of_the_number():
    # As ingest stores them (digits only: 0477-8268872 → 04778268872): a four-digit area
    # code with a 7- or 8-digit number, and the three-digit codes 010 and 020-029.
    stored = ["04778268872", "047782688720", "01062345678", "02151234567", "0291234567"]
    assert _apply(mask_phone, stored) == [
        "0477-****8872", "0477-****8720", "010-****5678", "021-****4567", "029-****4567"]
    # As delivered (R36 shows the delivered value): dashes, spaces and brackets are ignored.
    assert _apply(mask_phone, ["0477-8268872", "(0477)8268872", "0477 826 8872", "010-62345678"]) == [
        "0477-****8872", "0477-****8872", "0477-****8872", "010-****5678"]
    # A number without its area code keeps only its last four digits.
    assert _apply(mask_phone, ["8268872", "62345678"]) == ["****8872", "****5678"]


def test_other_shapes_still_hide_the_middle():
    assert _apply(mask_phone, ["1381234567", "+86 138 1234 5678"]) == ["138***4567", "+86**********5678"]


def test_empty_and_wordy_values_are_left_as_they_are():
    assert _apply(mask_id, [None, "", "无"]) == [None, "", "无"]
    assert _apply(mask_phone, [None, "不详"]) == [None, "不详"]


def test_short_numbers_are_hidden_whole():
    assert _apply(mask_phone, ["123"]) == ["*"]
