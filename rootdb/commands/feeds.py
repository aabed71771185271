"""`rootdb feeds`: the file kinds rootdb recognises — the departments' feeds, the
community roster, the registry's reference files — from the schemas (`rootdb.specs`).
Reads no database."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rootdb.specs import load_specs
from rootdb.specs.models import FeedSpec


@dataclass
class FeedList:
    specs: dict[str, FeedSpec]  # code → schema

    def kinds(self) -> Counter[str]:
        """How many schemas of each kind: feed, community, reference."""
        return Counter(s.kind for s in self.specs.values())

    def to_dict(self) -> dict:
        return {code: s.model_dump() for code, s in sorted(self.specs.items())}


def feeds() -> FeedList:
    return FeedList(specs=load_specs())
