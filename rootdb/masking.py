"""Masking by content: every resident ID and mobile number in a piece of text, masked.

A leaf module (the standard library only), so that `rootdb.errors` can mask its messages
without importing `rootdb.privacy`, which raises its errors; `rootdb.privacy` re-exports
`mask_text`.
"""

from __future__ import annotations

import re
import unicodedata

# --- Masking by content ---------------------------------------------------------------
# Whatever a column is called and whatever a template says, a masked output never holds
# a resident ID or a mobile number: every text cell is searched. An ID is found inside a
# longer code too (残疾人证号 = the ID + 2 digits), written with full-width digits
# (４１０１…), or in groups however they are cut (150602 19850302 123X, 1101 0119 9003…,
# 110101.19900307.4514, 110101–19900307–4514); a 15-digit (first-generation) ID only
# standing alone, since 15 digits inside a longer run are too often something else.
#
# The text is first normalised one character for one, so that a match's place in the
# normalised text is its place in the original: every decimal digit of any script becomes
# its ASCII twin, full-width X and + their ASCII twins, and every separator (spaces of
# all kinds, dashes of all widths, dots, slashes, underscores, brackets) one space. The
# patterns then allow up to three separators between any two digits. The cheap polars
# pre-filter (`_MAYBE_PERSONAL`) is built from the same two character sets: "7 digits
# once separators are removed". Every match holds at least 11 digits with only
# separators between them, so a value the pre-filter passes over can never hold one.
# (Every space and every decimal digit Unicode knows lies below U+20000.)
_SEPARATOR_CHARS = "".join(sorted(
    {chr(c) for c in range(0x3001) if chr(c).isspace()}
    | set("\u200b\u200c\u200d\u2060\ufeff")  # zero-width
    | set("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d\u30fc\uff70")  # dashes
    | set(".\u00b7\u2022\u2027\u2219\u22c5\u3002\u30fb\uff0e\uff61\uff65")  # dots
    | set("/\\\u2044\u2215\uff0f\uff3c")  # slashes
    | set("_\uff3f")  # underscores
    | set("()[]{}\uff08\uff09\uff3b\uff3d\uff5b\uff5d\u3010\u3011\u3014\u3015\u3016\u3017")))  # brackets
_DIGIT_CHARS = {ch: str(unicodedata.decimal(ch)) for ch in map(chr, range(0x20000))
                if unicodedata.decimal(ch, None) is not None}


def _char_class(chars) -> str:
    """A regex character class (valid in Python's re and in polars' Rust regex) of `chars`,
    written as ranges of code points."""
    points = sorted(ord(c) for c in chars)
    ranges, start, prev = [], points[0], points[0]
    for p in points[1:] + [None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        ranges.append(f"\\U{start:08x}" if start == prev else f"\\U{start:08x}-\\U{prev:08x}")
        if p is not None:
            start = prev = p
    return "[" + "".join(ranges) + "]"


_SEPARATOR = _char_class(_SEPARATOR_CHARS)
_DIGIT = _char_class(_DIGIT_CHARS)
_MAYBE_PERSONAL = f"{_DIGIT}(?:{_SEPARATOR}*{_DIGIT}){{6}}"
_NORMALISE = str.maketrans({**{c: " " for c in _SEPARATOR_CHARS}, **_DIGIT_CHARS,
                            "Ｘ": "X", "ｘ": "x", "＋": "+"})
_GAP = " {0,3}"  # separators between two digits, once normalised


def _spaced(*atoms: str) -> str:
    """Digit patterns with any separators between them: _spaced('1', '[3-9]') → 1 {0,3}[3-9]."""
    return _GAP.join(atoms)


_D = r"\d"
_MONTH = f"(?:{_spaced('0', '[1-9]')}|{_spaced('1', '[0-2]')})"
_DAY = f"(?:{_spaced('0', '[1-9]')}|{_spaced('[12]', _D)}|{_spaced('3', '[01]')})"
_CENTURY = f"(?:{_spaced('1', '[89]')}|{_spaced('2', '0')})"
_ID18 = _spaced("[1-9]", *[_D] * 5, _CENTURY, _D, _D, _MONTH, _DAY, _D, _D, _D, "[\\dXx]")
_ID15 = r"(?<![\dA-Za-z])" + _spaced("[1-9]", *[_D] * 7, _MONTH, _DAY, _D, _D, _D) + r"(?!\d)"
_ONE_MOBILE = _spaced("1", "[3-9]", *[_D] * 9)
# +86 / 0086 / 86 before it; two or more run together (1391234567813812345670) are one
# match, each masked; a mobile may be followed directly by an ID.
_MOBILE_ANY = (rf"(?<!\d)(?:(?:\+|0{_GAP}0{_GAP})?8{_GAP}6{_GAP})?(?P<number>{_ONE_MOBILE}(?:{_GAP}{_ONE_MOBILE})*)"
               rf"(?:(?!\d)|(?={_ID18}))")
_CONTENT = re.compile(f"(?P<id18>{_ID18})|(?P<id15>{_ID15})|(?P<mobile>{_MOBILE_ANY})", re.ASCII)


def _masked_span(text: str, searched: str, start: int, end: int, keep_start: int, keep_end: int) -> str:
    """text[start:end] with every digit but the first `keep_start` and last `keep_end`
    (counted in digits and X, separators kept) replaced by *."""
    positions = [i for i in range(start, end) if searched[i] in "0123456789Xx"]
    hidden = set(positions[keep_start:len(positions) - keep_end])
    return "".join("*" if i in hidden else text[i] for i in range(start, end))


def _masked_mobiles(searched: str, start: int, end: int) -> str:
    """Each mobile of searched[start:end] as 138****5678 (separators and +86 dropped)."""
    digits = [ch for ch in searched[start:end] if ch.isdigit()]
    return "".join(f"{''.join(digits[i:i + 3])}****{''.join(digits[i + 7:i + 11])}"
                   for i in range(0, len(digits), 11))


def mask_text(text: str | None) -> str | None:
    """Every resident ID and mobile number in a piece of text, masked:
    '联系人13812345678' → '联系人138****5678', '残疾证 15060219850302123X11' →
    '残疾证 150602********123X11' (the ID inside the code), '110101 1990 0307 4514' →
    '110101 **** **** 4514', '(139)1234-5678' → '(139****5678'."""
    if not text or not isinstance(text, str):
        return text
    searched = text.translate(_NORMALISE)
    pieces, last = [], 0
    match = _CONTENT.search(searched)
    while match:
        start, end = match.span()
        pieces.append(text[last:start])
        if match.group("mobile"):
            pieces.append(_masked_mobiles(searched, match.start("number"), match.end("number")))
        else:
            pieces.append(_masked_span(text, searched, start, end, 6, 4))
        last = end
        # A number that follows this one directly (an ID, then a mobile) is searched as if
        # it stood alone: its "no digit before" must not see this one's last digit.
        searched = searched[:start] + "#" * (end - start) + searched[end:]
        match = _CONTENT.search(searched, end)
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)
