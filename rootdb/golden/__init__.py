"""Golden records: one corrected row per person, house and place, the relations
between them, and the corrections to send back to departments.

Golden records take each field from the most trusted source (the registry, then the
department that owns the field; see `entities`), and every disagreement between a
feed and the registry becomes a row of `corrections` (report R36; see `corrections`).

Reads the link tables (`link_*_records`, `link_*_matches`, `link_person_conflicts`,
`link_houses`, `link_places`), `files`, `row_issues`, the `<feed>` views and
`raw_<feed>`; writes `golden_persons`, `golden_houses`, `golden_places`,
`rel_person_house`, `rel_household`, `rel_place_person`, `golden_events`, `golden_visits`
(the grid's events and home visits; see `grid`), `corrections`.

The build is the list of named stages `stages(specs)`, on temporary `_g…` tables that
`rootdb.store.sql.scratch` drops when it ends. `build_golden(con)` runs inside the
caller's open transaction (right after the crosswalk is built): plain SQL on `con`, no
commit, no other connection.
"""

from __future__ import annotations

import time
from functools import partial

import duckdb

from rootdb.golden import corrections as _corrections
from rootdb.golden import entities as _entities
from rootdb.golden import grid as _grid
from rootdb.golden.relations import build_relations
from rootdb.specs import FeedSpec, load_specs
from rootdb.store import require_linked
from rootdb.store.sql import Stage, run_stages, scalar, scratch

GOLDEN_TABLES = ("golden_persons", "golden_houses", "golden_places", "rel_person_house", "rel_household",
                 "rel_place_person", "golden_events", "golden_visits", "corrections")
_REQUIRED = ("link_person_records", "link_person_matches", "link_person_conflicts", "link_house_records",
             "link_house_matches", "link_houses", "link_place_records", "link_place_matches", "link_places")


def stages(specs: dict[str, FeedSpec]) -> tuple[Stage, ...]:
    """The golden build in the order it runs; each stage reads what the ones before it wrote."""
    return (
        # _g_rec, _g_reg (the person records and registry rows), _g_dead, _g_relations
        Stage("base", partial(_entities.build_person_base, specs=specs)),
        Stage("persons", _entities.build_golden_persons),                        # golden_persons
        Stage("houses", _entities.build_golden_houses),                          # golden_houses
        Stage("places", partial(_entities.build_golden_places, specs=specs)),    # golden_places
        Stage("relations", build_relations),  # rel_person_house, rel_household, rel_place_person
        Stage("events", partial(_grid.build_golden_events, specs=specs)),        # golden_events
        Stage("visits", partial(_grid.build_golden_visits, specs=specs)),        # golden_visits
        Stage("corrections", partial(_corrections.build_corrections, specs=specs)),  # corrections
    )


def build_golden(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec] | None = None,
                 seconds: dict[str, float] | None = None) -> dict:
    """(Re)build the golden tables from the link tables; row counts per table. With
    `seconds`, each stage's time as `golden_<stage>`."""
    started = time.perf_counter()
    require_linked(con, *_REQUIRED)
    specs = load_specs() if specs is None else specs
    with scratch(con, "_g"):
        run_stages(con, stages(specs), seconds, prefix="golden_")
    counts: dict = {table: scalar(con, f"SELECT count(*) FROM {table}") for table in GOLDEN_TABLES}
    counts["corrections_by_kind"] = dict(con.execute(
        "SELECT kind, count(*) FROM corrections GROUP BY kind ORDER BY count(*) DESC, kind").fetchall())
    counts["dead"] = scalar(con, "SELECT count(*) FROM golden_persons WHERE status = '死亡'")
    counts["seconds"] = round(time.perf_counter() - started, 2)
    return counts


__all__ = ["GOLDEN_TABLES", "build_golden"]
