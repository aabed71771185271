"""How a user names a feed: its code (dibao), its title (城乡最低生活保障对象花名册) or
the Chinese word its files are recognised by (低保). One resolver for every option that
names a feed (`ingest --feed`, `quarantine --feed`, `query --in` / `--not-in`), and one
list of the feeds for their errors, as 代码（名称）.

Reads the feed schemas; writes nothing.
"""

from __future__ import annotations

import unicodedata

from rootdb.errors import UsageError
from rootdb.specs.loader import load_specs


def feed_names() -> dict[str, str]:
    """Every way a user names a feed, to its code: the code (dibao), the title
    (城乡最低生活保障对象花名册) and the Chinese words its files are recognised by (低保)."""
    names: dict[str, set[str]] = {}
    for code, spec in load_specs().items():
        words = {code, spec.title}
        for pattern in spec.file_patterns:
            stem = pattern.rsplit(".", 1)[0].strip("*")
            if stem and not stem.isascii() and not any(ch in stem for ch in "*?[]"):
                words.add(stem)
        for word in words:
            names.setdefault(word, set()).add(code)
    return {word: next(iter(codes)) for word, codes in names.items() if len(codes) == 1}


def feed_code(text: str, names: dict[str, str] | None = None) -> str | None:
    """The code of the feed `text` names, or None when it names none (or several)."""
    names = feed_names() if names is None else names
    value = unicodedata.normalize("NFKC", text).strip()
    if value.lower() in names:
        return names[value.lower()]
    if value in names:
        return names[value]
    # 低保名册, 低保对象: one feed's word inside what was typed, or what was typed inside one title.
    found = {code for word, code in names.items() if not word.isascii() and len(word) >= 2
             and (word in value or (len(value) >= 2 and value in word))}
    return found.pop() if len(found) == 1 else None


def known_feeds_text() -> str:
    """Every feed as 代码（名称）, for an error that names a feed rootdb does not know."""
    return "、".join(f"{code}（{spec.title}）" for code, spec in sorted(load_specs().items()))


def resolve_feeds(typed: list[str], option: str) -> list[str]:
    """The feed codes of what the user typed; an unknown one is a usage error listing
    every feed as 代码（名称）."""
    names = feed_names()
    typed = [t.strip() for t in typed if t and t.strip()]
    resolved = [feed_code(t, names) for t in typed]
    unknown = [t for t, c in zip(typed, resolved) if c is None]
    if unknown:
        raise UsageError(f"{option}：没有数据源 {'、'.join(unknown)}；可用代码或名称：{known_feeds_text()}"
                         "（rootdb feeds 列出各数据源）")
    return list(dict.fromkeys(c for c in resolved if c))


def resolve_feed(typed: str | None, option: str = "--feed") -> str | None:
    """The code of one feed the user named (None stays None)."""
    if typed is None:
        return None
    code = feed_code(typed) if typed.strip() else None
    if code is None:
        raise UsageError(f"{option}：不认识的数据源“{typed.strip()}”；可用代码或名称：{known_feeds_text()}"
                         "（rootdb feeds 列出各数据源）")
    return code
