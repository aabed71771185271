"""Golden records: one corrected row per person, house and place, the relations
between them, and the corrections to send back to departments.

Golden records take each field from the most trusted source (the registry, then the
department that owns the field; see `entities`), and every disagreement between a
feed and the registry becomes a row of `corrections` (report R36; see `corrections`).

Reads the link tables (`link_*_records`, `link_*_matches`, `link_person_conflicts`,
`link_houses`, `link_places`), `files`, `row_issues`, the `<feed>` views and
`raw_<feed>`; writes `golden_persons`, `golden_houses`, `golden_places`,
`rel_person_house`, `rel_household`, `rel_place_person`, `corrections`.

`build_golden(con)` runs inside the caller's open transaction (right after the
crosswalk is built): plain SQL on `con`, no commit, no other connection.
"""

from __future__ import annotations

import time

import duckdb

from rootdb.golden import corrections as _corrections
from rootdb.golden import entities as _entities
from rootdb.golden.relations import build_relations
from rootdb.specs import FeedSpec, load_specs
from rootdb.store import require_linked

GOLDEN_TABLES = ("golden_persons", "golden_houses", "golden_places", "rel_person_house", "rel_household",
                 "rel_place_person", "corrections")
_REQUIRED = ("link_person_records", "link_person_matches", "link_person_conflicts", "link_house_records",
             "link_house_matches", "link_houses", "link_place_records", "link_place_matches", "link_places")


def build_golden(con: duckdb.DuckDBPyConnection, specs: dict[str, FeedSpec] | None = None) -> dict:
    """(Re)build the golden tables from the link tables; row counts per table."""
    started = time.perf_counter()
    require_linked(con, *_REQUIRED)
    specs = load_specs() if specs is None else specs
    counts: dict = {
        "golden_persons": _entities.build_golden_persons(con),
        "golden_houses": _entities.build_golden_houses(con),
        "golden_places": _entities.build_golden_places(con),
    }
    counts.update(build_relations(con))
    counts["corrections"] = _corrections.build_corrections(con, specs)
    counts["corrections_by_kind"] = dict(con.execute(
        "SELECT kind, count(*) FROM corrections GROUP BY kind ORDER BY count(*) DESC, kind").fetchall())
    counts["dead"] = con.execute("SELECT count(*) FROM golden_persons WHERE status = '死亡'").fetchall()[0][0]
    for t in ("_g_rec", "_g_reg", "_g_dead", *_entities.TEMP_TABLES, *_corrections.TEMP_TABLES):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    counts["seconds"] = round(time.perf_counter() - started, 2)
    return counts


__all__ = ["GOLDEN_TABLES", "build_golden"]
