"""The field-type registry (`rootdb.clean.types`): every type a schema may name is in
it, cleaning a field gives exactly the columns its type derives, each issue is raised
with its message, and every issue code is written in one place only."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

import rootdb
from rootdb.clean.frame import clean_frame
from rootdb.clean.types import FIELD_TYPES, ROW_ISSUES
from rootdb.golden.corrections import ISSUE_CODES, KINDS
from rootdb.specs import ColumnSpec, FeedSpec
from rootdb.specs.models import FieldType


def _spec(*columns: ColumnSpec, roles: list | None = None) -> FeedSpec:
    return FeedSpec(code="t", department="测试", title="测试", file_patterns=["*.csv"],
                    columns=list(columns), roles=roles or [])


def _clean(spec: FeedSpec, **cells: list[str | None]):
    rows = len(next(iter(cells.values())))
    text = {field: pl.Series(values, dtype=pl.String) for field, values in cells.items()}
    return clean_frame(spec, pl.DataFrame({"source_row": list(range(2, rows + 2)), **text}))


def test_a_schema_may_name_the_types_of_the_registry_and_no_other():
    assert list(typing.get_args(FieldType)) == list(FIELD_TYPES)
    with pytest.raises(ValidationError) as caught:
        ColumnSpec(field="f", header="字段", type="idcard")
    assert all(repr(name) in str(caught.value) for name in FIELD_TYPES)


@pytest.mark.parametrize("type_name", list(FIELD_TYPES))
def test_cleaning_gives_the_field_and_the_columns_its_type_derives(type_name):
    values = ["甲"] if type_name == "enum" else None
    result = _clean(_spec(ColumnSpec(field="f", header="字段", type=type_name, values=values)), f=[None])
    assert result.records.columns == ["source_row", "record_key", "f",
                                      *FIELD_TYPES[type_name].derived_columns("f")]


# type -> a cell that raises the issue, its code and message (header 字段).
BAD_CELLS = [
    ("id18", "110101198001011235", "id_checksum", "字段：身份证号校验位错误"),
    ("id18", "11010119800101123", "id_format", "字段：身份证号位数或字符不对（应为18位，最后一位可为X）"),
    ("id18", "110101800101123", "id_from15", "字段：15位旧身份证号，已按规则升为18位"),
    ("uscc", "91110000600037341X", "uscc_invalid", "字段：统一社会信用代码校验不通过"),
    ("date", "1985-02-30", "date_invalid", "字段：无法识别为日期，已置空"),
    ("datetime", "2025-06-03 24:10", "datetime_invalid", "字段：无法识别为日期时间，已置空"),
    ("yearmonth", "2024-13", "yearmonth_invalid", "字段：无法识别为年月，已置空"),
    ("money", "八百元", "money_invalid", "字段：无法识别为金额，已置空"),
    ("int", "2.5", "int_invalid", "字段：无法识别为整数，已置空"),
    ("phone", "123", "phone_invalid", "字段：无法识别电话号码"),
    ("enum", "丙", "enum_unknown", "字段：“丙”不是规定的取值（甲/乙）"),
]


@pytest.mark.parametrize(("type_name", "cell", "code", "message"), BAD_CELLS)
def test_each_type_raises_its_issue_with_its_message(type_name, cell, code, message):
    values = ["甲", "乙"] if type_name == "enum" else None
    result = _clean(_spec(ColumnSpec(field="f", header="字段", type=type_name, values=values)), f=[cell])
    assert result.issues.select("field", "code", "message", "value").rows() == [("f", code, message, cell)]


def test_birth_and_sex_beside_an_id_must_agree_with_it():
    spec = _spec(
        ColumnSpec(field="id_number", header="身份证号", type="id18"),
        ColumnSpec(field="birth_date", header="出生日期", type="date"),
        ColumnSpec(field="sex", header="性别", type="enum", values=["男", "女"]),
        roles=[{"role": "person", "entity": "person",
                "fields": {"id": "id_number", "birth_date": "birth_date", "sex": "sex"}}],
    )
    result = _clean(spec, id_number=["110101198001011232"], birth_date=["1980-01-02"], sex=["女"])
    assert result.issues.select("code", "message").rows() == [
        ("birth_mismatch", "出生日期与身份证号不符（身份证号为 1980-01-01）"),
        ("sex_mismatch", "性别与身份证号不符（身份证号为 男）"),
    ]


def test_every_issue_the_department_corrects_has_a_kind():
    corrected = {i.code for i in ROW_ISSUES if i.correction is not None}
    assert set(ISSUE_CODES) == corrected
    assert set(ISSUE_CODES.values()) <= set(KINDS)
    assert {i.code for i in ROW_ISSUES} - corrected == {"id_region"}


def test_every_issue_code_is_written_once_in_the_package():
    package = Path(rootdb.__file__).parent
    sources = [p.read_text(encoding="utf-8") for p in package.rglob("*") if p.suffix in (".py", ".sql")]
    for issue in ROW_ISSUES:
        quoted = re.compile(rf"[\"']{issue.code}[\"']")
        assert sum(len(quoted.findall(text)) for text in sources) == 1, issue.code


def test_ids_and_phones_are_masked_as_what_they_are():
    assert {name: t.masked_as for name, t in FIELD_TYPES.items() if t.masked_as} == {"id18": "id", "phone": "phone"}
