"""Folding and tokenising: the one way both feed text and query terms are normalised.

``fold`` makes text case- and diacritic-insensitive, Turkish-aware (İ, I, ı and i are all
``i``), maps Azerbaijani ə to ``e`` and transliterates Cyrillic (Russian, Kazakh, Kyrgyz,
Uzbek, Ukrainian, ...) to Latin, so ``Омуралиев`` and ``Omuraliev`` fold to the same word.

``tokens`` / ``tokens_with_spans`` split text into folded words. The words are found in the
*original* text and folded one by one, so every word keeps the character span it had
before folding: that is what highlights point at. ASCII text takes a fast path (folding is
``lower()``, which keeps every offset).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Container

__all__ = [
    "WORD_RE",
    "analyze",
    "category_class",
    "fold",
    "tokens",
    "tokens_and_words",
    "tokens_with_spans",
]

# --------------------------------------------------------------------------- tables

#: Cyrillic to Latin, lower case; upper case is derived below. The target is the
#: English-language press spelling (BGN/PCGN style: х = kh, ы = y, ё = e), which is how
#: Latin aliases of Central Asian and Russian names are usually written.
# fmt: off
_CYRILLIC = {
    # Russian
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
    # Kazakh
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h",
    "і": "i",
    # Uzbek (ў, ҳ; қ and ғ above)
    "ў": "o", "ҳ": "h",
    # Kyrgyz uses ң, ө, ү (above). Ukrainian, Belarusian, Serbian, Macedonian:
    "є": "ye", "ї": "yi", "ґ": "g", "ђ": "dj", "ј": "j", "љ": "lj", "њ": "nj", "ћ": "c",
    "џ": "dz", "ѓ": "g", "ќ": "k", "ѕ": "dz", "ӏ": "",
}
# fmt: on

#: Letters that neither NFKC nor removing diacritics turns into plain Latin.
_SPECIAL = {
    # Turkish and Azerbaijani: dotted and dotless i are one letter for matching; ə = e.
    "İ": "i",
    "ı": "i",
    "ə": "e",
    "Ə": "e",  # I -> i is plain case folding
    # Uzbek Latin apostrophe letters (oʻ, gʻ) and other modifier apostrophes.
    "ʻ": "",
    "ʼ": "",
    "ʽ": "",
    # Latin letters without a decomposition.
    "ß": "ss",
    "ẞ": "ss",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ø": "o",
    "Ø": "o",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "þ": "th",
    "Þ": "th",
    "ł": "l",
    "Ł": "l",
    "ħ": "h",
    "Ħ": "h",
    "ŀ": "l",
    "Ŀ": "l",
}


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for lower, latin in _CYRILLIC.items():
        table[ord(lower)] = latin
        upper = lower.upper()
        if len(upper) == 1 and upper != lower:
            table[ord(upper)] = latin
    for char, latin in _SPECIAL.items():
        table[ord(char)] = latin
    return table


_TABLE = _build_table()


def category_class(categories: Container[str], first: int, last: int) -> str:
    """A character class body (ranges) of every character from code point ``first`` to
    ``last`` whose Unicode category is one of ``categories``."""
    ranges: list[tuple[int, int]] = []
    for code in range(first, last + 1):
        if unicodedata.category(chr(code)) in categories:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


#: Every combining mark (Mn, Mc, Me) in planes 0 and 1.
_MARKS = category_class(("Mn", "Mc", "Me"), 0x300, min(sys.maxunicode, 0x1FFFF))
_MARKS_RE = re.compile(f"[{_MARKS}]+")
_LATIN_MARKS_RE = re.compile("[\u0300-\u036f]+")
_TABLE_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_TABLE)) + "]")

#: Combining marks that may follow a letter inside a word in decomposed text (I + ̇).
_WORD_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"

#: A word: letters and digits (no underscore), with any combining marks inside it.
WORD_RE = re.compile(f"[^\\W_]+(?:[{_WORD_MARKS}]+[^\\W_]*)*")
_ASCII_WORD_RE = re.compile(r"[a-z0-9]+")
_FOLDED_WORD_RE = re.compile(r"[^\W_]+")
#: ASCII bytes: letters to lower case, punctuation and symbols to spaces, so that split()
#: finds the folded words. bytes.translate is a plain table lookup per byte, faster than
#: lower() and str.translate with a dict (tokenising an item takes about a third less).
_ASCII_FOLD = bytes.maketrans(
    bytes(range(128)),
    "".join(c.lower() if c.isalnum() else " " for c in map(chr, range(128))).encode("ascii"),
)

# --------------------------------------------------------------------------- fold


def fold(text: str) -> str:
    """The single folding function for text and terms.

    NFKC, Turkish/Azerbaijani letters and Cyrillic mapped to Latin, case folded,
    diacritics removed. Idempotent; never raises on any ``str``.
    """
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text)
    if _TABLE_RE.search(text):
        text = text.translate(_TABLE)
    text = unicodedata.normalize("NFD", text.casefold())
    text = _LATIN_MARKS_RE.sub("", text)  # the usual diacritics, quickly
    if text.isascii():
        return text
    text = _MARKS_RE.sub("", text)  # every other combining mark
    text = unicodedata.normalize("NFKC", text)
    # Compatibility forms can unfold into letters of the table (𝚤 -> ı): one more pass.
    return text.translate(_TABLE) if _TABLE_RE.search(text) else text


#: Original word -> its folded words. A plain dict is the fastest cache; it is emptied
#: when it grows past _CACHE_SIZE words (news vocabulary repeats, so it refills quickly).
_CACHE: dict[str, tuple[str, ...]] = {}
_CACHE_SIZE = 200_000


def _fold_word(word: str) -> tuple[str, ...]:
    """The folded words one original word becomes (usually one; none for ъ alone)."""
    found = _CACHE.get(word)
    if found is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        found = _CACHE[word] = tuple(_FOLDED_WORD_RE.findall(fold(word)))
    return found


def _folded(words: list[str]) -> list[str]:
    """The folded words of words as written, in order."""
    get = _CACHE.get
    out: list[str] = []
    for word in words:
        found = get(word)
        if found is None:
            found = _fold_word(word)
        if len(found) == 1:
            out.append(found[0])
        else:
            out.extend(found)
    return out


# --------------------------------------------------------------------------- tokens


def tokens(text: str) -> list[str]:
    """The folded words of a text, in order."""
    if text.isascii():  # the same words as [a-z0-9]+ in text.lower(), found faster
        return text.encode("ascii").translate(_ASCII_FOLD).decode("ascii").split()
    return _folded(WORD_RE.findall(text))


def tokens_and_words(text: str) -> tuple[list[str], list[str]]:
    """The folded words of a text, and its words as written (the same list for ASCII text,
    whose words are their folded selves once lower-cased)."""
    if text.isascii():
        folded = tokens(text)
        return folded, folded
    written = WORD_RE.findall(text)
    return _folded(written), written


def tokens_with_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The folded words of a text and, for each, its (start, end) in the original text."""
    if text.isascii():
        found = list(_ASCII_WORD_RE.finditer(text.lower()))
        return [m.group() for m in found], [m.span() for m in found]
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in WORD_RE.finditer(text):
        word = m.group()
        if word.isascii():
            words.append(word.lower())
            spans.append(m.span())
            continue
        for part in _fold_word(word):
            words.append(part)
            spans.append(m.span())
    return words, spans


#: Query terms are analysed exactly like text, so both sides always agree.
analyze = tokens
