"""The field types a feed schema may give a column, one entry each: its cleaner, the
columns it derives beside the field, and the issues it flags in a cell, each with its
code (the one place the code is written), its Chinese message and the correction it
becomes for the department.

`rootdb.clean.frame` runs the cleaners, `rootdb.specs` checks that no field is named
like a derived column, `rootdb.link.records` reads the derived columns, and
`rootdb.golden.corrections` turns the issues into corrections. A new type is one
entry in `FIELD_TYPES` (the schema model's `FieldType` lists its names). Pure data and
functions on polars frames: reads and writes no table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import polars as pl

from rootdb.clean.addresses import PARTS as ADDRESS_PARTS
from rootdb.clean.addresses import MAX_ADDRESS_CHARS, parse_addresses
from rootdb.clean.ids import clean_ids
from rootdb.clean.names import clean_names
from rootdb.clean.values import (
    clean_enum,
    clean_text,
    clean_uscc,
    parse_dates,
    parse_datetimes,
    parse_ints,
    parse_money,
    parse_phone_column,
    parse_yearmonths,
)


@dataclass(frozen=True)
class Correction:
    """A line of the corrections list (R36): its code and its kind, in the words the
    department reads."""

    code: str
    kind: str


@dataclass(frozen=True)
class Issue:
    """A problem cleaning finds in a loaded cell (a `row_issues` row). The message may
    hold {header} (the column's header), {value} (the value it is about) and {allowed}
    (an enum's allowed values). `correction`: None when the department is not asked to
    correct it."""

    code: str
    message: str
    correction: Correction | None


def _own_correction(code: str, message: str, kind: str) -> Issue:
    """An issue that is its own correction, under the same code."""
    return Issue(code, message, Correction(code, kind))


def message(template: str, header: str, value: pl.Expr, allowed: str = "") -> pl.Expr:
    """A message template with its placeholders filled (`value` per row, where the
    template shows it)."""
    text = template.replace("{header}", header).replace("{allowed}", allowed)
    if "{value}" not in text:
        return pl.lit(text)
    return pl.format(text.replace("{value}", "{}"), value)


class Column(Protocol):
    """What a cleaner reads of the column's schema entry (a `ColumnSpec`)."""

    values: list[str] | None
    synonyms: dict[str, str]


# A cleaner gets the distinct cells of a column, `text` (as delivered) and `as_number`
# (a spreadsheet stored the cell as a long number), and returns row-aligned `value`,
# one column per derived part, and one Boolean column per issue (named by its code).
Cleaner = Callable[[pl.DataFrame, Column], pl.DataFrame]


@dataclass(frozen=True)
class FieldType:
    """A type a schema column may have (`ColumnSpec.type`)."""

    name: str
    clean: Cleaner
    derived: tuple[str, ...] = ()  # parts; the column beside field `f` is `f_<part>`
    issues: tuple[Issue, ...] = ()
    # Quarantine reason for a required cell delivered but unreadable ({header}, {value}:
    # the cell); None: such a cell counts as missing.
    unreadable: str | None = None
    # How a value of this type is masked where it is shown (rootdb.privacy's mask_id,
    # mask_phone); None: like any text, by what it holds.
    masked_as: Literal["id", "phone"] | None = None

    def column(self, field: str, part: str) -> str:
        """The name of the column derived beside `field`."""
        if part not in self.derived:
            raise KeyError(f"{self.name} derives no {part}")
        return f"{field}_{part}"

    def derived_columns(self, field: str) -> list[str]:
        return [self.column(field, part) for part in self.derived]

    @property
    def checks_validity(self) -> bool:
        """Whether cleaning says if a value is valid (the derived `valid`): a valid one
        names its entity on its own."""
        return "valid" in self.derived


# ---------------------------------------------------------------- resident IDs

_ID_INVALID = Correction("id_invalid", "身份证号无效")
# clean_ids' check -> issue, in the order clean_ids tests them (`ok` raises none).
ID_CHECKS = {
    "from15": Issue("id_from15", "{header}：15位旧身份证号，已按规则升为18位",
                    Correction("id_legacy15", "身份证号为15位旧号码")),
    "excel": Issue("id_excel", "{header}：身份证号被Excel存成了数字，末几位已丢失，无法恢复，请按原件重录", _ID_INVALID),
    "format": Issue("id_format", "{header}：身份证号位数或字符不对（应为18位，最后一位可为X）", _ID_INVALID),
    "birthdate": Issue("id_birthdate", "{header}：身份证号中的出生日期不存在", _ID_INVALID),
    "checksum": Issue("id_checksum", "{header}：身份证号校验位错误", _ID_INVALID),
    # Still a valid ID: whether the registry knows it is what corrections check.
    "region": Issue("id_region", "{header}：身份证号前6位不在国家行政区划代码表中（可能是已撤销或新设的区划），"
                    "号码仍按有效处理，请核实", None),
}
# A role's birth date and sex delivered beside its ID must agree with what the ID says:
# role attribute -> (the ID's derived part, the issue on the attribute's field; {value}
# is what the ID says).
ID_AGREEMENT = {
    "birth_date": ("birth", Issue("birth_mismatch", "{header}与身份证号不符（身份证号为 {value}）",
                                  Correction("birth_vs_id", "出生日期与身份证号不符"))),
    "sex": ("sex", Issue("sex_mismatch", "{header}与身份证号不符（身份证号为 {value}）",
                         Correction("sex_vs_id", "性别与身份证号不符"))),
}


def _clean_id18(cells: pl.DataFrame, col: Column) -> pl.DataFrame:
    ids = clean_ids(cells["text"], stored_as_number=cells["as_number"])
    return ids.select(
        pl.col("id").alias("value"), "valid", "check", "birth", "sex",
        *[(pl.col("check") == check).alias(issue.code) for check, issue in ID_CHECKS.items()],
    )


# ---------------------------------------------------------------- other types

USCC_INVALID = _own_correction("uscc_invalid", "{header}：统一社会信用代码校验不通过", "统一社会信用代码无效")
PHONE_INVALID = _own_correction("phone_invalid", "{header}：无法识别电话号码", "电话号码无法识别")
ENUM_UNKNOWN = _own_correction("enum_unknown", "{header}：“{value}”不是规定的取值（{allowed}）", "取值不在规定范围")
DATE_INVALID = _own_correction("date_invalid", "{header}：无法识别为日期，已置空", "日期无法识别")
DATETIME_INVALID = Issue("datetime_invalid", "{header}：无法识别为日期时间，已置空", DATE_INVALID.correction)
YEARMONTH_INVALID = Issue("yearmonth_invalid", "{header}：无法识别为年月，已置空", DATE_INVALID.correction)
_NUMBER_INVALID = Correction("number_invalid", "数值无法识别")
MONEY_INVALID = Issue("money_invalid", "{header}：无法识别为金额，已置空", _NUMBER_INVALID)
INT_INVALID = Issue("int_invalid", "{header}：无法识别为整数，已置空", _NUMBER_INVALID)

_DELIVERED = clean_text(pl.col("text")).is_not_null()  # a cell that is not empty or a blank marker


def _clean_name(cells: pl.DataFrame, col: Column) -> pl.DataFrame:
    return clean_names(cells["text"]).select(pl.col("name").alias("value"), "pinyin")


ADDRESS_TOO_LONG = _own_correction(
    "address_too_long", f"{{header}}：超过{MAX_ADDRESS_CHARS}个字，不是一个地址，未作解析；原值已保留，请核对原始数据",
    "地址过长，无法识别")


def _clean_address(cells: pl.DataFrame, col: Column) -> pl.DataFrame:
    parsed = parse_addresses(cells["text"]).rename({"address": "value"})
    return parsed.with_columns(
        (pl.col("value").str.len_chars() > MAX_ADDRESS_CHARS).fill_null(False).alias(ADDRESS_TOO_LONG.code))


def _clean_uscc(cells: pl.DataFrame, col: Column) -> pl.DataFrame:
    codes = clean_uscc(cells["text"])
    return codes.select(
        pl.col("uscc").alias("value"), "valid",
        (pl.col("uscc").is_not_null() & ~pl.col("valid")).alias(USCC_INVALID.code),
    )


def _clean_phone(cells: pl.DataFrame, col: Column) -> pl.DataFrame:
    phones = pl.col("phones")
    return cells.with_columns(parse_phone_column(cells["text"]).alias("phones")).select(
        phones.list.first().alias("value"), phones.alias("all"),
        (_DELIVERED & (phones.list.len() == 0)).alias(PHONE_INVALID.code),
    )


def _clean_enum(cells: pl.DataFrame, col: Column) -> pl.DataFrame:
    value = cells.select(clean_enum(pl.col("text"), col.synonyms, col.values).alias("value"))
    if not col.values:
        return value.with_columns(pl.lit(False).alias(ENUM_UNKNOWN.code))
    unknown = pl.col("value").is_not_null() & ~pl.col("value").is_in(col.values)
    return value.with_columns(unknown.alias(ENUM_UNKNOWN.code))


def _clean_text(cells: pl.DataFrame, col: Column) -> pl.DataFrame:
    return cells.select(clean_text(pl.col("text")).alias("value"))


def _parsed(name: str, parse: Callable[[pl.Expr], pl.Expr], issue: Issue,
            unreadable: str | None = None) -> FieldType:
    """A type whose cleaner parses each cell and flags a delivered cell it cannot read."""

    def clean(cells: pl.DataFrame, col: Column) -> pl.DataFrame:
        parsed = cells.select(parse(pl.col("text")).alias("value"), _DELIVERED.alias("_delivered"))
        return parsed.select("value", (pl.col("_delivered") & pl.col("value").is_null()).alias(issue.code))

    return FieldType(name, clean, issues=(issue,), unreadable=unreadable)


_UNREADABLE_DATE = "{header}“{value}”无法识别为日期"

# By name, in the order a schema error lists them.
FIELD_TYPES = {
    t.name: t
    for t in (
        FieldType("text", _clean_text),  # trimmed free text
        FieldType("name", _clean_name, derived=("pinyin",)),  # a person's name, pinyin kept beside it
        # resident ID (GB 11643)
        FieldType("id18", _clean_id18, derived=("valid", "check", "birth", "sex"),
                  issues=tuple(ID_CHECKS.values()), masked_as="id"),
        # unified social credit code (GB 32100)
        FieldType("uscc", _clean_uscc, derived=("valid",), issues=(USCC_INVALID,)),
        _parsed("date", parse_dates, DATE_INVALID, unreadable=_UNREADABLE_DATE),
        _parsed("datetime", parse_datetimes, DATETIME_INVALID, unreadable=_UNREADABLE_DATE),
        _parsed("yearmonth", parse_yearmonths, YEARMONTH_INVALID, unreadable=_UNREADABLE_DATE),
        _parsed("money", parse_money, MONEY_INVALID),
        _parsed("int", parse_ints, INT_INVALID),
        FieldType("phone", _clean_phone, derived=("all",), issues=(PHONE_INVALID,), masked_as="phone"),
        FieldType("address", _clean_address, derived=ADDRESS_PARTS, issues=(ADDRESS_TOO_LONG,)),
        FieldType("enum", _clean_enum, issues=(ENUM_UNKNOWN,)),
    )
}
ID18, NAME, USCC, ADDRESS = (FIELD_TYPES[n] for n in ("id18", "name", "uscc", "address"))

# Every issue cleaning writes to `row_issues`.
ROW_ISSUES = (
    *(issue for t in FIELD_TYPES.values() for issue in t.issues),
    *(issue for _, issue in ID_AGREEMENT.values()),
)
