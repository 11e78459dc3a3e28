"""Money amounts in US dollars, found in the original text with their character spans.

Recognised: ``$60 billion``, ``US$100bn``, ``USD 5 million``, ``$6.8 billion``,
``60 bn dollars``, ``100 billion US dollars``, ``60 milyar dolar`` (Turkish),
``60 milyard dollar`` (Azerbaijani), ``60 млрд долларов`` (Russian, Kazakh, Kyrgyz),
``1,5 milyar dolar`` (decimal comma), ``60,000 dollars`` (thousands separators).

Only US dollars count: ``€60 billion``, ``C$5bn`` or ``60 billion`` without a currency are
not amounts, so a threshold never fires on another currency or a bare number.
"""

from __future__ import annotations

import re

__all__ = ["find_amounts", "parse_number"]

_SCALES: dict[str, float] = {}
for _words, _factor in (
    ("k thousand bin тыс тысяча тысячи тысяч", 1e3),
    ("m mn mln million millions milyon milyonluk млн миллион миллиона миллионов", 1e6),
    (
        "b bn bln billion billions milyar milyarlık milyard mlrd млрд миллиард миллиарда "
        "миллиардов",
        1e9,
    ),
    ("t tn trn trillion trillions trilyon trilyonluk трлн триллион триллиона триллионов", 1e12),
):
    for _word in _words.split():
        _SCALES[_word] = _factor

_SCALE = "(?P<scale>{})".format(
    "|".join(re.escape(w) for w in sorted(_SCALES, key=len, reverse=True))
)
_END = r"(?![^\W\d_])"  # no letter right after (so "b" is not the start of "bonds")
_NUM = r"(?P<num>\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"
_QUALIFIER = r"(?:(?:US|U\.S\.|American|американских|АҚШ|AQSh|ABD)\s+)?"

#: Where an amount may be: a dollar sign or a dollar word. Scanning for these first and
#: then looking around each one is many times faster than one big pattern over the text.
_MARKER = re.compile(r"\$|usd|dol|долл", re.IGNORECASE)
#: Right at a "$" or "USD" (the US / U.S. before "$" is checked by hand): $60 billion.
_NEEDLES = ("$", "usd", "dol", "долл")
_BEFORE = re.compile(rf"(?:\$|USD)\s?{_NUM}(?:\s?{_SCALE}\.?{_END})?", re.IGNORECASE)
#: Right before a dollar word: "60 bn ", "60 milyar ", "100 billion US ".
_TAIL = re.compile(rf"{_NUM}\s?(?:{_SCALE}\.?\s?)?{_QUALIFIER}$", re.IGNORECASE)
#: The dollar word itself.
_CURRENCY = re.compile(
    r"(?:dollars?|dolar\w*|dollar\w*|доллар\w*|долл\.|USD|\$)" + _END, re.IGNORECASE
)
_BACK = 40  # characters before a dollar word in which its number must be


def _is_letter_before(text: str, start: int, digits: bool = False) -> bool:
    if start == 0:
        return False
    ch = text[start - 1]
    return ch.isalpha() or (digits and (ch.isdigit() or ch in ".,"))


def parse_number(text: str, scaled: bool = False) -> float:
    """'60', '6.8', '1,5', '60,000', '1.500', '2 000' -> a float.

    One separator followed by exactly three digits is a thousands separator, except a dot
    before a scale word ("$2.125 billion"); any other single separator is the decimal mark.
    """
    text = text.replace("\u00a0", " ").replace("\u202f", " ")
    if " " in text:
        text = text.replace(" ", "")
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        return float(text.replace(thousands, "").replace(decimal, "."))
    sep = "," if commas else "." if dots else ""
    if not sep:
        return float(text)
    if text.count(sep) > 1:
        return float(text.replace(sep, ""))
    head, tail = text.split(sep)
    if len(tail) == 3 and not (sep == "." and scaled):
        return float(head + tail)
    return float(f"{head}.{tail}")


_DIGIT = re.compile(r"\d")


def find_amounts(text: str) -> list[tuple[float, int, int]]:
    """Every US-dollar amount in ``text``: (value in dollars, start, end)."""
    if not _DIGIT.search(text):
        return []
    found: list[tuple[float, int, int]] = []
    last_end = 0
    for pos in _markers(text):
        if pos < last_end:
            continue
        amount = _before(text, pos) or _after(text, pos, last_end)
        if amount is not None:
            found.append(amount)
            last_end = amount[2]
    return found


def _markers(text: str) -> list[int]:
    """Positions of "$" and of dollar words; str.find is far faster than a regex here."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a letter whose lower case is longer (İ): use the regex
        return [m.start() for m in _MARKER.finditer(text)]
    out: list[int] = []
    for needle in _NEEDLES:
        at = lowered.find(needle)
        while at != -1:
            out.append(at)
            at = lowered.find(needle, at + 1)
    out.sort()
    return out


def _value(number: str, scale: str | None) -> float:
    value = parse_number(number, scaled=bool(scale))
    return value * _SCALES[scale.lower()] if scale else value


def _before(text: str, pos: int) -> tuple[float, int, int] | None:
    """$60 billion, US$100bn, U.S. $5 million, USD 5 million (the marker at ``pos``)."""
    m = _BEFORE.match(text, pos)
    if m is None:
        return None
    start = pos
    if text[pos] == "$":
        head = text[max(0, pos - 5) : pos].upper()
        for prefix in ("U.S. ", "U.S.", "US ", "US"):
            if head.endswith(prefix):
                start = pos - len(prefix)
                break
    if _is_letter_before(text, start):  # C$, HK$, A$: other dollars; BUSD: a word
        return None
    end = m.end() - 1 if text[m.end() - 1] == "." else m.end()  # "млрд." or a full stop
    return _value(m.group("num"), m.group("scale")), start, end


def _after(text: str, pos: int, floor: int) -> tuple[float, int, int] | None:
    """60 bn dollars, 60 milyar dolar, 60 млрд долларов (the dollar word at ``pos``)."""
    word = _CURRENCY.match(text, pos)
    if word is None or _is_letter_before(text, pos):
        return None
    base = max(floor, pos - _BACK)
    m = _TAIL.search(text, base, pos)
    if m is None or _is_letter_before(text, m.start(), digits=True):
        return None
    return _value(m.group("num"), m.group("scale")), m.start(), word.end()
