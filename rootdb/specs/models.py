"""Typed model of a feed schema file (``schemas/<code>.yaml``).

A schema implements one file kind of the delivery contract: how its headers map to
target fields, which type and cleaning rule each field gets, which fields identify
a record, and which entities (person / house / place) a row carries in which role.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FieldType = Literal[
    "text",  # trimmed free text
    "name",  # a person's name: spaces out, pinyin kept beside it
    "id18",  # resident ID (GB 11643)
    "uscc",  # unified social credit code (GB 32100)
    "date",
    "yearmonth",
    "money",
    "int",
    "phone",
    "address",
    "enum",
]
FeedKind = Literal["feed", "reference", "community"]
EntityType = Literal["person", "house", "place"]

# The attributes a role may point at, per entity type.
ROLE_ATTRIBUTES: dict[str, set[str]] = {
    "person": {"name", "id", "sex", "birth_date", "ethnicity", "phone", "address", "relation"},
    "house": {"address", "code"},
    "place": {"name", "uscc", "code", "address", "kind"},
}

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")

# Columns the cleaner adds beside a field of each type (see rootdb.clean.frame).
DERIVED_SUFFIXES: dict[str, tuple[str, ...]] = {
    "id18": ("_valid", "_check", "_birth", "_sex"),
    "uscc": ("_valid",),
    "name": ("_pinyin",),
    "phone": ("_all",),
    "address": ("_community", "_compound", "_building", "_unit", "_room", "_house_key"),
}


def _enum_form(text: str) -> str:
    """The form the cleaner compares enum cells in: NFKC, no whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One delivered column and the field it becomes."""

    field: str = Field(description="target field name, snake_case")
    header: str = Field(description="header exactly as the contract names it")
    aliases: list[str] = Field(default_factory=list, description="other headers seen for it")
    type: FieldType
    required: bool = False
    required_unless_valid: str | None = Field(
        default=None,
        description="an id18 field: a row missing this column still identifies its "
        "record when that ID is valid",
    )
    values: list[str] | None = Field(default=None, description="allowed values of an enum")
    synonyms: dict[str, str] = Field(
        default_factory=dict, description="delivered spelling -> allowed value (enum)"
    )
    note: str = ""

    @field_validator("field")
    @classmethod
    def _field_is_identifier(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"字段名 '{v}' 只能用小写英文字母、数字和下划线，并以字母开头")
        return v

    @field_validator("values")
    @classmethod
    def _values_in_enum_form(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [_enum_form(x) for x in v]

    @field_validator("synonyms")
    @classmethod
    def _synonyms_in_enum_form(cls, v: dict[str, str]) -> dict[str, str]:
        return {_enum_form(k): _enum_form(x) for k, x in v.items()}

    @model_validator(mode="after")
    def _enum_rules(self) -> ColumnSpec:
        if self.type != "enum" and (self.values or self.synonyms):
            raise ValueError(f"字段 '{self.field}' 不是 enum 类型，不能声明 values/synonyms")
        if self.values is not None:
            unknown = sorted(set(self.synonyms.values()) - set(self.values))
            if unknown:
                raise ValueError(
                    f"字段 '{self.field}' 的 synonyms 指向未列在 values 中的值：{unknown}"
                )
        return self

    @property
    def headers(self) -> list[str]:
        return [self.header, *self.aliases]


class RoleSpec(_Strict):
    """An entity a row names, e.g. the household head of a dibao row."""

    role: str
    entity: EntityType
    fields: dict[str, str] = Field(description="role attribute -> field of this schema")

    @model_validator(mode="after")
    def _attributes_known(self) -> RoleSpec:
        allowed = ROLE_ATTRIBUTES[self.entity]
        unknown = sorted(set(self.fields) - allowed)
        if unknown:
            raise ValueError(
                f"角色 '{self.role}'（{self.entity}）不认识的属性：{unknown}；可用：{sorted(allowed)}"
            )
        if not self.fields:
            raise ValueError(f"角色 '{self.role}' 没有声明任何字段")
        return self


class FeedSpec(_Strict):
    """A whole schema file."""

    code: str
    kind: FeedKind = "feed"
    department: str
    title: str
    file_patterns: list[str] = Field(min_length=1, description="glob on the delivered file name")
    record_key: list[str] = Field(default_factory=list, description="fields naming a record")
    columns: list[ColumnSpec] = Field(min_length=1)
    roles: list[RoleSpec] = Field(default_factory=list)

    @field_validator("code")
    @classmethod
    def _code_is_identifier(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError(f"code '{v}' 只能用小写英文字母、数字和下划线，并以字母开头")
        return v

    @model_validator(mode="after")
    def _references_resolve(self) -> FeedSpec:
        fields = [c.field for c in self.columns]
        dupes = sorted({f for f in fields if fields.count(f) > 1})
        if dupes:
            raise ValueError(f"字段名重复：{dupes}")
        headers = [h for c in self.columns for h in c.headers]
        dup_headers = sorted({h for h in headers if headers.count(h) > 1})
        if dup_headers:
            raise ValueError(f"表头或别名重复：{dup_headers}")
        derived = {
            c.field + suffix: c.field for c in self.columns for suffix in DERIVED_SUFFIXES.get(c.type, ())
        }
        clashes = sorted(f for f in fields if f in derived)
        if clashes:
            raise ValueError(
                f"字段名 {clashes} 与清洗时由字段 '{derived[clashes[0]]}' 派生的列同名，请改名"
            )
        known = set(fields)
        for key in self.record_key:
            if key not in known:
                raise ValueError(f"record_key 中的 '{key}' 不是本表的字段")
        by_field = {c.field: c for c in self.columns}
        for col in self.columns:
            ref = col.required_unless_valid
            if ref is not None and (ref not in by_field or by_field[ref].type != "id18"):
                raise ValueError(
                    f"字段 '{col.field}' 的 required_unless_valid 必须指向本表的 id18 字段"
                )
        for role in self.roles:
            for attr, field in role.fields.items():
                if field not in known:
                    raise ValueError(f"角色 '{role.role}' 的 {attr} 指向不存在的字段 '{field}'")
        return self

    def column(self, field: str) -> ColumnSpec:
        for col in self.columns:
            if col.field == field:
                return col
        raise KeyError(field)

    @property
    def required_fields(self) -> list[str]:
        return [c.field for c in self.columns if c.required]
