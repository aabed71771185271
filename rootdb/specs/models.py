"""Typed model of a feed schema file (``schemas/<code>.yaml``).

A schema implements one file kind of the delivery contract: how its headers map to
target fields, which type and cleaning rule each field gets, which fields identify
a record, and which entities (person / house / place) a row carries in which role.
It also says what a row means beyond the entities it names (`subject`, `active`,
`group`, `owns`, `relations`): the benefit or special group it makes a person part of
and while when, the golden fields it is the source of, the relations between the
entities of one row, and who answers for a child it names. Everything that works with
these meanings (report tables, query, nightly, corrections, golden records, notify)
reads them through `rootdb.specs.meaning`; no feed is named in the code.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rootdb.clean.types import FIELD_TYPES

# The names of the field-type registry (rootdb.clean.types), in its order.
FieldType = Literal[tuple(FIELD_TYPES)]  # type: ignore[valid-type]
# The types whose values cleaning checks (a `required_unless_valid` field has one).
VALIDATED_TYPES = tuple(name for name, t in FIELD_TYPES.items() if t.checks_validity)
FeedKind = Literal["feed", "reference", "community"]
EntityType = Literal["person", "house", "place"]

# The attributes a role may point at, per entity type.
ROLE_ATTRIBUTES: dict[str, set[str]] = {
    "person": {"name", "id", "sex", "birth_date", "ethnicity", "phone", "address", "relation"},
    "house": {"address", "code"},
    "place": {"name", "uscc", "code", "address", "kind"},
}

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


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
        description="a field of a type that checks validity (an ID): a row missing this "
        "column still identifies its record when that field is valid",
    )
    values: list[str] | None = Field(default=None, description="allowed values of an enum")
    synonyms: dict[str, str] = Field(
        default_factory=dict, description="delivered spelling -> allowed value (enum)"
    )
    optional: bool = Field(
        default=False, description="an empty cell is how the column is normally delivered (a hotline "
        "caller gives no ID): no correction asks the department for it")
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
    """An entity a row names, e.g. the household head of a dibao row. A house role with
    `places_residents: false` (a home visit's 走访地址) is where the row's persons were
    seen, not where they live: the link still looks for them there, but no golden
    residence comes from it."""

    role: str
    entity: EntityType
    fields: dict[str, str] = Field(description="role attribute -> field of this schema")
    places_residents: bool = Field(
        default=True, description="a house role: the row's persons live there (false: a visit, an event)")

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
        if not self.places_residents and self.entity != "house":
            raise ValueError(f"角色 '{self.role}'（{self.entity}）：places_residents 只用于 house 角色")
        return self


class ActiveRule(_Strict):
    """When a row is current: its `field` holds one of `values` (an empty cell does not);
    or, with `after_death` (a date field), a dead person's row counts as current when it
    is dated after the death (a registration made after it)."""

    field: str
    values: list[str] | None = Field(default=None, min_length=1)
    after_death: bool = False

    @model_validator(mode="after")
    def _one_rule(self) -> ActiveRule:
        if (self.values is None) == (not self.after_death):
            raise ValueError("active 需要 values（当前有效的取值）或 after_death: true 二者之一")
        return self


GoldenField = Literal["death_date", "registration_status"]
# The entity each golden field belongs to.
GOLDEN_ENTITIES: dict[str, str] = {"death_date": "person", "registration_status": "place"}

# The golden tables a feed's rows can be kept in (`keeps`): the fields its schema must
# then have (with the type the golden build relies on; None: any text) and its roles.
KEPT_TABLES: dict[str, dict] = {
    "events": {"fields": {"event_no": None, "reported_at": "datetime", "source": None, "category": None,
                          "subcategory": None, "description": None, "incident_address": None,
                          "platform_grid": None, "handling_dept": None, "status": None,
                          "time_limit_days": "int", "closed_at": "datetime", "satisfaction": None},
               "roles": ("person", "location")},
    "visits": {"fields": {"visit_no": None, "visit_date": "date", "grid": None, "grid_worker": None,
                          "visit_address": None, "visit_type": None, "problems": None, "event_no": None},
               "roles": ("person", "residence")},
}

RelationKind = Literal["owner", "tenant", "household", "guardian", "legal_rep", "employee"]
# The entity of `of` per relation kind (`person` is always a person role).
RELATION_TARGETS: dict[str, str] = {"owner": "house", "tenant": "house", "household": "person",
                                    "guardian": "person", "legal_rep": "place", "employee": "place"}


class OwnedField(_Strict):
    """A golden field this feed is the source of: `golden` of the entity of `role`, from `field`."""

    golden: GoldenField
    role: str
    field: str


class RelationSpec(_Strict):
    """A relation one row gives: the person of role `person` is the `kind` of the entity
    of role `of` (owner / tenant of a house, household member of a head, guardian of a
    child, legal representative / employee of a place). A guardian is who receives a
    message for the child (rootdb notify): `rank` orders guardians of every feed, best
    first; `label` names them on a message list; `sex` is the guardian's when no record
    says it (a mother)."""

    kind: RelationKind
    person: str
    of: str
    rank: int | None = Field(default=None, ge=1)
    label: str | None = None
    sex: Literal["男", "女"] | None = None

    @model_validator(mode="after")
    def _guardian_fields(self) -> RelationSpec:
        guardian = self.kind == "guardian"
        if guardian and (self.rank is None or not self.label):
            raise ValueError("guardian 关系需要 rank（先后）和 label（名单上的称呼）")
        if not guardian and (self.rank is not None or self.label or self.sex):
            raise ValueError(f"{self.kind} 关系不能有 rank、label、sex（只用于 guardian）")
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
    subject: str | None = Field(
        default=None, description="the person role a row serves or registers: a dead one whose "
        "row is current is a correction (R36); the one a `group` takes")
    active: ActiveRule | None = Field(default=None, description="when a row is current (none: every row)")
    group: str | None = Field(default=None, description="the special group or benefit the subject of a "
                              "current row belongs to (r_persons.groups, query --group, nightly)")
    owns: list[OwnedField] = Field(default_factory=list)
    relations: list[RelationSpec] = Field(default_factory=list)
    keeps: Literal["events", "visits"] | None = Field(
        default=None, description="the golden table every row is also kept in, one row per record: "
        "golden_events (a grid event, 诉求) or golden_visits (a grid worker's home visit)")

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
        derived = {name: c.field for c in self.columns for name in FIELD_TYPES[c.type].derived_columns(c.field)}
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
            if ref is not None and not (ref in by_field and FIELD_TYPES[by_field[ref].type].checks_validity):
                raise ValueError(
                    f"字段 '{col.field}' 的 required_unless_valid 必须指向本表能校验有效性的字段"
                    f"（类型 {'、'.join(VALIDATED_TYPES)}）"
                )
        for role in self.roles:
            for attr, field in role.fields.items():
                if field not in known:
                    raise ValueError(f"角色 '{role.role}' 的 {attr} 指向不存在的字段 '{field}'")
        self._meaning_resolves()
        return self

    def _meaning_resolves(self) -> None:
        entities = {r.role: r.entity for r in self.roles}

        def need(role: str | None, entity: str, where: str) -> None:
            if role is not None and entities.get(role) != entity:
                raise ValueError(f"{where} 的 '{role}' 不是本表的 {entity} 角色")

        need(self.subject, "person", "subject")
        if self.group is not None and self.subject is None:
            raise ValueError("声明了 group 就要声明 subject（哪个人员角色属于该群体）")
        if self.active is not None:
            col = self.column(self.active.field) if self.active.field in {c.field for c in self.columns} else None
            if col is None:
                raise ValueError(f"active.field 指向不存在的字段 '{self.active.field}'")
            if self.active.after_death and col.type != "date":
                raise ValueError(f"active.after_death 需要 date 类型的字段，'{col.field}' 是 {col.type}")
            if self.active.values is not None and col.type not in ("enum", "text"):
                raise ValueError(f"active.values 需要 enum 或 text 类型的字段，'{col.field}' 是 {col.type}")
            unknown = sorted(set(self.active.values or []) - set(col.values or self.active.values or []))
            if unknown:
                raise ValueError(f"active.values 中 {unknown} 不在字段 '{col.field}' 的 values 中")
            if self.active.after_death and self.group is not None:
                raise ValueError("after_death 只用于纠错（死亡后仍有登记），不能用来判断 group")
        for owned in self.owns:
            need(owned.role, GOLDEN_ENTITIES[owned.golden], f"owns（{owned.golden}）的 role")
            if owned.field not in {c.field for c in self.columns}:
                raise ValueError(f"owns（{owned.golden}）的 field 指向不存在的字段 '{owned.field}'")
        for rel in self.relations:
            need(rel.person, "person", f"relations（{rel.kind}）的 person")
            need(rel.of, RELATION_TARGETS[rel.kind], f"relations（{rel.kind}）的 of")
        if self.keeps is not None:
            kept = KEPT_TABLES[self.keeps]
            types = {c.field: c.type for c in self.columns}
            missing = [f for f, t in kept["fields"].items() if f not in types or t not in (None, types[f])]
            if missing:
                raise ValueError(f"keeps: {self.keeps} 需要字段 {missing}（类型：" + "，".join(
                    f"{f} {kept['fields'][f] or 'text'}" for f in missing) + "）")
            absent = [r for r in kept["roles"] if r not in entities]
            if absent:
                raise ValueError(f"keeps: {self.keeps} 需要角色 {absent}")

    def column(self, field: str) -> ColumnSpec:
        for col in self.columns:
            if col.field == field:
                return col
        raise KeyError(field)

    @property
    def required_fields(self) -> list[str]:
        return [c.field for c in self.columns if c.required]
