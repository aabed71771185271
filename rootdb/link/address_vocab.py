"""An area's own address vocabulary, learnt from its standard address registry: how a
grid worker recognises a compound (小区) however a department writes it.

For every compound of the registry (one per community and name) it keeps

- its name (the registry's 小区 column, else the name the standard address writes),
- its doorplates: the road + number the standard address writes before the name
  ("康宁路83号" in "康宁路83号康城雅苑1号楼1单元101室"); a compound may have several,
- its short forms: the name without a generic suffix (康城雅苑 → 康城, 御景华府 → 御景,
  幸福小区二期 → 幸福) and its leading characters (two or more), each with or without a
  doorplate.

A written compound ("康宁路83号", "御景", "文化路25号康城", "康成雅苑") is resolved to
the compounds it can mean (`resolve_compounds`): by its whole text, then by its
doorplate and its name apart (the two must agree), then by a close name (same pinyin,
one character off, another suffix). Only the candidates are returned; whether one
compound is left once the community and street written are checked is for the caller
(`rootdb.link.houses`), which links a house only when exactly one is.

Nothing here is specific to one area: everything is learnt from the rows given.
Runs in Python once per distinct compound of the registry and per distinct written
compound, never per record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rootdb.clean.addresses import _number, normalize_address_text

# Generic words a compound name ends with, longest first where one ends another.
GENERIC_SUFFIXES = (
    "小区", "花园", "家园", "雅苑", "华府", "嘉园", "名苑", "名邸", "名府", "花苑", "佳苑", "雅居", "华庭", "豪庭",
    "府邸", "公馆", "庄园", "新城", "新村", "公寓", "大厦", "广场", "宿舍", "家属院", "家属楼", "大院", "社区",
    "苑", "园", "城", "庭", "府", "居", "里", "坊", "湾", "郡", "邸", "阁", "轩", "院",
)
_PHASE = re.compile(r"(?:[一二三四五六七八九十]+|\d+)期$")
_ROAD_END = ("路", "街", "巷", "大道", "大街", "胡同", "弄", "道")
# road + number + 号 at the start of a written compound: 康宁路83号, 文化路二十五号
_DOORPLATE = re.compile(
    r"^(?P<road>[\u4e00-\u9fffA-Za-z]{1,12}?(?:大道|大街|路|街|巷|胡同|弄|道))"
    r"(?P<num>\d+|[〇○零一二两三四五六七八九十百千]+)号(?!楼|院)(?P<rest>.*)$"
)
MIN_SHORT = 2

FUZZY_PROBABILITY = {"pinyin": 0.95, "suffix": 0.9, "one_char": 0.85}
ALIAS_PROBABILITY = 0.99


def split_doorplate(written: str) -> tuple[str | None, str]:
    """("康宁路83号", "康城雅苑") from "康宁路八十三号康城雅苑"; (None, text) when the
    text does not start with a doorplate. The number is normalised to digits."""
    m = _DOORPLATE.match(written)
    if not m:
        return None, written
    num = _number(m.group("num"))
    if num is None:
        return None, written
    return f"{m.group('road')}{num}号", m.group("rest")


def strip_generic(name: str) -> str:
    """The name without its 期 part and one generic suffix, when two characters or
    more are left; else the name."""
    core = _PHASE.sub("", name)
    for suffix in GENERIC_SUFFIXES:
        if core.endswith(suffix) and len(core) - len(suffix) >= MIN_SHORT:
            return core[: -len(suffix)]
    return core if len(core) >= MIN_SHORT else name


def is_road(name: str) -> bool:
    return name.endswith(_ROAD_END)


@dataclass
class Vocabulary:
    """names / shorts / doorplates: text → compound ids (cid = community|name)."""

    names: dict[str, set[str]] = field(default_factory=dict)
    shorts: dict[str, set[str]] = field(default_factory=dict)
    doorplates: dict[str, set[str]] = field(default_factory=dict)
    cid_doorplates: dict[str, set[str]] = field(default_factory=dict)
    cid_name: dict[str, str] = field(default_factory=dict)

    def _add(self, table: dict[str, set[str]], key: str, cid: str) -> None:
        if key:
            table.setdefault(key, set()).add(cid)


def compound_id(community: str | None, name: str) -> str:
    return f"{community or ''}|{name}"


def learn(rows: list[tuple[str | None, str | None, str | None]]) -> tuple[Vocabulary, dict[tuple, str]]:
    """rows: distinct (community, parsed compound of the standard address, 小区 column).
    Returns the vocabulary and, per row, its compound id (rows with no compound are
    left out)."""
    vocab = Vocabulary()
    cid_of: dict[tuple, str] = {}
    for raw in rows:
        community, parsed, column = raw
        parsed = normalize_address_text(parsed) if parsed else None
        column = normalize_address_text(column) if column else None
        if column:
            name, door = column, None
            if parsed and parsed != column and parsed.endswith(column):
                d, r = split_doorplate(parsed[: -len(column)])
                door = d if d and not r else None
        elif parsed:
            door, rest = split_doorplate(parsed)
            # "康宁路83号康城雅苑" → 康城雅苑 at 康宁路83号; "文化路25号" alone names the compound;
            # "建设路12号院" is a name of its own
            name = rest if door and rest and rest not in ("院", "大院") else parsed
        else:
            continue
        cid = compound_id(community, name)
        cid_of[raw] = cid
        vocab.cid_name[cid] = name
        vocab.cid_doorplates.setdefault(cid, set())
        vocab._add(vocab.names, name, cid)
        if parsed:
            vocab._add(vocab.names, parsed, cid)
        if door:
            vocab.cid_doorplates[cid].add(door)
            vocab._add(vocab.doorplates, door, cid)
            vocab._add(vocab.names, door + name, cid)
    for cid, name in vocab.cid_name.items():
        if is_road(name):
            continue
        forms = {name[:k] for k in range(MIN_SHORT, len(name))}
        core = strip_generic(name)
        if core != name:
            forms.add(core)
            forms.update(core[:k] for k in range(MIN_SHORT, len(core)))
        for form in forms:
            if form and form not in vocab.names and not is_road(form):
                vocab._add(vocab.shorts, form, cid)
    return vocab, cid_of


def _by_name(vocab: Vocabulary, name: str) -> set[str] | None:
    """The compounds a name (no doorplate) picks: a full name first, else a short form."""
    if not name:
        return None
    return vocab.names.get(name) or vocab.shorts.get(name)


def _agree(cids: set[str], vocab: Vocabulary, door: str | None, door_cids: set[str] | None) -> set[str]:
    """Keep the compounds a written doorplate does not contradict: a known doorplate
    must be one of theirs; an unknown one only passes compounds that have none."""
    if door is None:
        return cids
    if door_cids:
        return cids & door_cids
    return {c for c in cids if not vocab.cid_doorplates.get(c)}


def resolve_compounds(written: list[str], vocab: Vocabulary) -> list[tuple[str, str, str, float]]:
    """(written compound, cid, method, probability) for every candidate compound of
    every written compound; method is "alias" or a fuzzy kind (pinyin / suffix /
    one_char). A written compound with no candidate has no row; one whose parts
    contradict each other (a doorplate of one compound, the name of another) neither."""
    from rootdb.link.houses import similar_compounds

    out: list[tuple[str, str, str, float]] = []
    fuzzy_wanted: dict[str, tuple[str | None, set[str] | None, str]] = {}
    for w in written:
        if not w:
            continue
        if w in vocab.names:
            out.extend((w, c, "alias", ALIAS_PROBABILITY) for c in sorted(vocab.names[w]))
            continue
        door, rest = split_doorplate(w)
        if door is None and w in vocab.shorts:
            out.extend((w, c, "alias", ALIAS_PROBABILITY) for c in sorted(vocab.shorts[w]))
            continue
        door_cids = vocab.doorplates.get(door) if door else None
        if door and not rest:
            if door_cids:
                out.extend((w, c, "alias", ALIAS_PROBABILITY) for c in sorted(door_cids))
            continue
        by_name = _by_name(vocab, rest)
        if by_name:
            cids = _agree(by_name, vocab, door, door_cids)
            out.extend((w, c, "alias", ALIAS_PROBABILITY) for c in sorted(cids))
            continue
        if len(rest) >= MIN_SHORT and not is_road(rest):
            fuzzy_wanted[w] = (door, door_cids, rest)
    if fuzzy_wanted:
        known = sorted(n for n in vocab.names if not split_doorplate(n)[0])
        names = sorted({rest for _, _, rest in fuzzy_wanted.values()})
        pairs: dict[str, list[tuple[str, str]]] = {}
        for u, k, kind in similar_compounds(names, known):
            pairs.setdefault(u, []).append((k, kind))
        rank = {"pinyin": 0, "suffix": 1, "one_char": 2}
        for w, (door, door_cids, rest) in fuzzy_wanted.items():
            found = pairs.get(rest)
            if not found:
                continue
            best = min(rank[kind] for _, kind in found)
            kind = next(kind for _, kind in found if rank[kind] == best)
            cids = set().union(*(vocab.names[k] for k, kd in found if rank[kd] == best))
            cids = _agree(cids, vocab, door, door_cids)
            out.extend((w, c, kind, FUZZY_PROBABILITY[kind]) for c in sorted(cids))
    return out
