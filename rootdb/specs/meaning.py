"""What the feeds mean, as their schemas say it (`subject`, `active`, `group`, `owns`,
`relations` in schemas/*.yaml, a house role's `places_residents`): the special groups,
when a row is current, which feed is the source of a golden field, the relations and
the guardians, the houses that are no evidence of residence. Every module that
works with these meanings asks here, so no feed is named in the code and a new feed
needs one YAML file.

The SQL built here names only a schema's own codes, roles and fields, quoted as
identifiers, and its values as string literals (`sql_name`, `sql_text`): a value in a
schema can never become SQL.

Reads the feed schemas; writes nothing.
"""

from __future__ import annotations

import polars as pl

from rootdb.specs.loader import load_specs
from rootdb.specs.models import FeedSpec, OwnedField, RelationSpec


def sql_name(identifier: str) -> str:
    """An identifier quoted for DuckDB: "status"."""
    return '"' + identifier.replace('"', '""') + '"'


def sql_text(value: str) -> str:
    """A string literal for DuckDB: '在保' (a quote doubled; DuckDB reads no backslash escapes)."""
    return "'" + value.replace("'", "''") + "'"


def _specs(specs: dict[str, FeedSpec] | None) -> dict[str, FeedSpec]:
    return load_specs() if specs is None else specs


def special_groups(specs: dict[str, FeedSpec] | None = None) -> list[str]:
    """The groups the feeds declare (低保, 特困, …), each once, in the order of their codes."""
    return list(dict.fromkeys(s.group for _, s in sorted(_specs(specs).items()) if s.group))


def current_row(spec: FeedSpec, row: str = "f", person: str = "p") -> str:
    """The SQL condition that the feed's row `row` is current (its `active` rule); `person`
    is the golden person, whose death_date an `after_death` rule compares with."""
    rule = spec.active
    if rule is None:
        return "true"
    column = f"{row}.{sql_name(rule.field)}"
    if rule.after_death:
        return f"{column} > {person}.death_date"
    return f"{column} IN ({', '.join(sql_text(v) for v in rule.values or [])})"


def group_rows_sql(specs: dict[str, FeedSpec] | None = None) -> list[str]:
    """One SELECT per feed with a `group`: (feed, file_id, source_row, role, grp) of its
    current rows, the role being the person who belongs to the group."""
    return [
        f"SELECT {sql_text(code)} AS feed, f.file_id, f.source_row, {sql_text(spec.subject)} AS role, "
        f"{sql_text(spec.group)} AS grp FROM {sql_name(code)} f WHERE {current_row(spec)}"
        for code, spec in sorted(_specs(specs).items()) if spec.group
    ]


def shown_field(spec: FeedSpec) -> str | None:
    """The field a correction about a dead subject points at: the `active` rule's field,
    else the subject's name."""
    if spec.active is not None:
        return spec.active.field
    role = next((r for r in spec.roles if r.role == spec.subject), None)
    return role.fields.get("name") if role else None


def owners(golden: str, specs: dict[str, FeedSpec] | None = None) -> list[tuple[str, OwnedField]]:
    """(feed, owned) of every feed that is the source of the golden field `golden`
    (death_date: the death registrations), in the order of their codes."""
    return [(code, owned) for code, spec in sorted(_specs(specs).items()) for owned in spec.owns
            if owned.golden == golden]


def owned_rows_sql(golden: str, specs: dict[str, FeedSpec] | None = None,
                   loaded: set[str] | None = None) -> list[str]:
    """One SELECT per feed that owns the golden field `golden`: (feed, role, file_id,
    source_row, v). `loaded`: the feeds whose view exists (others are left out)."""
    return [
        f"SELECT {sql_text(code)} AS feed, {sql_text(owned.role)} AS role, f.file_id, f.source_row, "
        f"f.{sql_name(owned.field)} AS v FROM {sql_name(code)} f"
        for code, owned in owners(golden, specs) if loaded is None or code in loaded
    ]


def non_residence_roles(specs: dict[str, FeedSpec] | None = None) -> pl.DataFrame:
    """(feed, role) of every house role that does not place its row's persons there
    (`places_residents: false`: a visit, an event): no evidence of residence."""
    rows = [(code, r.role) for code, spec in sorted(_specs(specs).items()) for r in spec.roles
            if r.entity == "house" and not r.places_residents]
    return pl.DataFrame(rows, schema={"feed": pl.String, "role": pl.String}, orient="row")


def relation_rules(specs: dict[str, FeedSpec] | None = None) -> pl.DataFrame:
    """Every relation the feeds give, one row each: feed, kind, person_role, of_role and,
    for guardians, rank, label, sex; guardians best rank first."""
    rows = [(code, r.kind, r.person, r.of, r.rank, r.label, r.sex)
            for code, spec in sorted(_specs(specs).items()) for r in spec.relations]
    frame = pl.DataFrame(rows, schema={"feed": pl.String, "kind": pl.String, "person_role": pl.String,
                                       "of_role": pl.String, "rank": pl.Int64, "label": pl.String,
                                       "sex": pl.String}, orient="row")
    return frame.sort("rank", "feed", "person_role", nulls_last=True)


def guardians(specs: dict[str, FeedSpec] | None = None) -> list[tuple[str, FeedSpec, RelationSpec]]:
    """(feed, spec, relation) of every guardian relation, best rank first."""
    found = [(code, spec, r) for code, spec in _specs(specs).items() for r in spec.relations if r.kind == "guardian"]
    return sorted(found, key=lambda g: (g[2].rank, g[0]))
