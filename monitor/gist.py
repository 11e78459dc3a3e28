"""The gist of an item's text, as stories.py compares items: its content words, and the
anchors that tell events apart (names, US-dollar amounts, calendar dates).

Pure and cheap: each text is scanned a few times by compiled patterns and the work per
word is cached, because every item with hits goes through here once.

- content words: the folded words of the headline and the text (the first MAX_WORDS), no
  function words, no single letters;
- names: words written with a capital that do not open a sentence, each reduced to how it
  sounds (``skeleton``), so Вашингтоне meets Washington. One pass finds the capitalised
  words, each marked as opening a sentence or not; a word is a name where it occurs once
  at least without opening one;
- the headline's names: in a Title Case Headline only the words the text also writes
  with a capital (and acronyms), otherwise every capitalised word;
- amounts (rules/amounts.py) rounded to three digits, and dates as month * 100 + day.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from monitor.rules.amounts import find_amounts
from monitor.rules.text import category_class, fold, tokens

__all__ = ["MAX_WORDS", "Gist", "content_words", "gist", "skeleton"]

#: Words of an item's text that go into its MinHash: the headline and the lead say which
#: event it is.
MAX_WORDS = 200

# Words that say nothing about which event an item reports (English, Turkish, Azerbaijani
# and Russian function words and the newsroom's own vocabulary), in folded form.
_STOPWORDS = """
    a an the and or but of in on at to for from by with without about as into over after
    before under between during against than then so that this these those there here it
    its is are was were be been being has have had do does did will would shall should can
    could may might must not no nor also just only very more most much many some any all
    each other such own same both few which who whom whose what when where why how he she
    they them their his her we our you your i me my us said says say told according added
    new news report reports reported today yesterday tomorrow week year years day days
    monday tuesday wednesday thursday friday saturday sunday mr mrs ms dr
    ve ile bir bu da de icin olarak olan gibi daha en cok ise ki mi ne veya
    i v vo na s so po k o ob ot do za iz u ne chto kak eto dlya pri a no zhe li takzhe
"""
_STOP = frozenset(_STOPWORDS.split())
#: What a content word may not be: a function word, or one letter or digit (ASCII text's
#: single letters are taken out with the function words; others one by one).
_NOT_CONTENT = _STOP | frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_NOT_CONTENT_ASCII = frozenset(w.encode("ascii") for w in _NOT_CONTENT)

#: Month names as the folded text spells them (English, Turkish, Azerbaijani, Russian).
_MONTHS: dict[str, int] = {}
for _number, _spellings in enumerate(
    (
        "january jan ocak yanvar yanvarya",
        "february feb subat fevral fevralya",
        "march mar mart marta",
        "april apr nisan aprel aprelya",
        "may mayis maya",
        "june jun haziran iyun iyunya",
        "july jul temmuz iyul iyulya",
        "august aug agustos avqust avgust avgusta",
        "september sep sept eylul sentyabr sentyabrya",
        "october oct ekim oktyabr oktyabrya",
        "november nov kasim noyabr noyabrya",
        "december dec aralik dekabr dekabrya",
    ),
    start=1,
):
    for _name in _spellings.split():
        _MONTHS.setdefault(_name, _number)

_DIGIT = re.compile(r"\d")
#: A run of digits (a day of the month has one or two).
_NUMBER = re.compile(r"\d+")
#: ASCII text: digits to "0" and everything else to ".", so that bytes.find walks the runs
#: of digits (many times faster than a pattern over the text).
_ASCII_DIGITS = bytes.maketrans(
    bytes(range(128)), bytes(48 if 48 <= c <= 57 else 46 for c in range(128))
)
#: ASCII bytes: letters to lower case, everything else to a space, so that split() finds
#: the folded words (rules.text's tokens, as bytes).
_ASCII_WORDS = bytes.maketrans(
    bytes(range(128)),
    "".join(c.lower() if c.isalnum() else " " for c in map(chr, range(128))).encode("ascii"),
)
#: What may stand between a sentence's end and its first word, and what ends one.
_OPENERS = " \t\"'“‘«("
_ENDS = ".!?:;…\n"
#: A word: letters and digits (no underscore).
_WORDISH = re.compile(r"[^\W_][^\W_'’-]*")


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Words that start with a capital letter, in one scan: each match is (the character
    it starts at, the word if that is a sentence's end and the word opens the sentence,
    else the rest of a word written with a capital that no letter or digit comes before);
    and the word at the start of a text. Built when first needed (the store imports this
    module in every process, and only deliveries make stories). The scan starts with one
    character class, which the regex engine skips to quickly; two scans (every such word,
    then the words after a sentence's end) took a quarter longer."""
    upper = category_class(("Lu", "Lt"), 0x41, 0xFFFF)  # every capital of plane 0
    word = rf"[{upper}][^\W_'’-]*"
    openers = re.escape(_OPENERS)
    ends = re.escape(_ENDS)
    return (
        re.compile(
            rf"([{ends}{upper}])(?:(?<=[{ends}])[{openers}]*({word})"
            rf"|(?<=[{upper}])(?<![^\W_].)([^\W_'’-]*))"
        ),
        re.compile(rf"[{openers}]*({word})"),
    )


def _capitals(text: str) -> tuple[list[str], list[str]]:
    """The words of a text written with a capital: those inside sentences, and those
    that open one (after a sentence's end; the text's first word is among the others)."""
    inside: list[str] = []
    opening: list[str] = []
    for first, opener, rest in _patterns()[0].findall(text):
        if opener:
            opening.append(opener)
        else:
            inside.append(first + rest)
    return inside, opening


#: Spellings of one sound across transliterations (Джаббаров / Jabbarov, Ибрагим / Ibrahim,
#: Вашингтон / Washington), longest first.
_SOUNDS = (("dzh", "j"), ("zh", "j"), ("kh", "g"), ("sh", "s"), ("ch", "c"), ("ts", "c"))
_LETTERS = str.maketrans({"w": "v", "y": "i", "h": "g", "q": "k", "x": "g"})
_DOUBLE = re.compile(r"(.)\1+")


@lru_cache(maxsize=100_000)
def skeleton(name: str) -> str:
    """A folded name reduced to how it sounds, so that its Latin and Cyrillic spellings
    and their case endings meet: Вашингтоне and Washington are both "vasington"."""
    for spelled, sound in _SOUNDS:
        name = name.replace(spelled, sound)
    name = _DOUBLE.sub(r"\1", name.translate(_LETTERS))
    if len(name) > 5 and name[-1] in "aeiou":
        name = name[:-1]
    return name


@lru_cache(maxsize=100_000)
def _name_parts(word: str) -> tuple[str, ...]:
    """The names a capitalised word holds (no function word, month or number)."""
    return tuple(
        skeleton(part)
        for part in tokens(word)
        if part not in _STOP and part not in _MONTHS and not part.isdigit()
    )


@lru_cache(maxsize=100_000)
def _headline_word(word: str) -> tuple[bool, bool, bool, tuple[str, ...]]:
    """A headline's word: whether it counts (no function word), whether it starts with a
    capital, whether it is all capitals, and its names (a word with a capital)."""
    capital = word[0].isupper()
    names = _name_parts(word) if capital else ()
    return fold(word) not in _STOP, capital, word.isupper(), names


def _names(text: str, capitals: tuple[list[str], list[str]] | None = None) -> set[str]:
    """Names: words written with a capital that do not open a sentence (``capitals``:
    the text's ``_capitals``, when they are known)."""
    words = (_capitals(text) if capitals is None else capitals)[0]
    if not words:
        return set()
    first = _patterns()[1].match(text)
    if first:  # the text's first word opens a sentence too
        words = words.copy()
        words.remove(first.group(1))
    out: set[str] = set()
    for word in set(words):
        if len(word) > 1:
            out.update(_name_parts(word))
    return out


def _title_names(title: str, body_names: set[str]) -> set[str]:
    """The names of a headline. In a Title Case Headline every word has a capital, so
    only words that the text also writes with one count (and acronyms); otherwise every
    capitalised word, the first one too: a headline often starts with a name."""
    words = [w for w in map(_headline_word, _WORDISH.findall(title)) if w[0]]
    capitals = [w for w in words if w[1]]
    title_case = len(words) >= 3 and len(capitals) >= 0.6 * len(words)
    out: set[str] = set()
    for _, _, acronym, names in capitals:
        if not title_case or acronym:
            out.update(names)
        else:
            out.update(n for n in names if n in body_names)
    return out


def _ascii_headline(title: str, body_names: set[str]) -> tuple[str, set[str], set[str]]:
    """An ASCII headline's folded words, its names and ``_title_names``: its words are its
    tokens, and those with a capital the ones the names' pattern finds (each once)."""
    folded = tokens(title)
    found = _capitals(title)
    capitalised = found[0] + found[1]
    words = len(folded) - sum(map(_STOP.__contains__, folded))
    capitals = [w for w in capitalised if w.lower() not in _STOP]
    title_case = words >= 3 and len(capitals) >= 0.6 * words
    out: set[str] = set()
    for word in capitals:
        if not title_case or word.isupper():
            out.update(_name_parts(word))
        else:
            out.update(n for n in _name_parts(word) if n in body_names)
    return " ".join(folded), _names(title, found), out


def _date_at(folded: str, start: int, end: int) -> int | None:
    """The date (month * 100 + day) a run of digits at [start, end) gives, if any:
    "15 December", "December 15th", "15 декабря"."""
    if end - start > 2 or (start and folded[start - 1] in "$.,"):
        return None
    if folded[end : end + 1] in (".", ",") and folded[end + 1 : end + 2].isdigit():
        return None
    day = int(folded[start:end])
    if not 1 <= day <= 31:
        return None
    after = folded[end : end + 16].split()
    if after and after[0] in ("st", "nd", "rd", "th", "of"):
        after = after[1:]
    month = _MONTHS.get(after[0].strip(".,;:")) if after else None
    if month is None:
        before = folded[max(0, start - 12) : start].split()
        if before:
            month = _MONTHS.get(before[-1].strip(".,;:"))
    return month * 100 + day if month else None


def _dates(folded: str) -> set[int]:
    """Calendar dates as month * 100 + day."""
    out = {_date_at(folded, *m.span()) for m in _NUMBER.finditer(folded)}
    out.discard(None)
    return out  # type: ignore[return-value]


def _ascii_dates(folded: str, shape: bytes) -> set[int]:
    """``_dates`` of ASCII text, whose ``shape`` marks the digits (see _ASCII_DIGITS)."""
    out: set[int] = set()
    find = shape.find
    start = find(b"0")
    while start != -1:
        end = find(b".", start)
        if end == -1:
            end = len(shape)
        if end - start <= 2:
            date = _date_at(folded, start, end)
            if date:
                out.add(date)
        start = find(b"0", end)
    return out


def _round(value: float) -> int:
    """An amount to three significant digits: "$60 billion" and "60 bn dollars" agree."""
    if value < 1:
        return 0
    unit = 10 ** max(0, len(str(int(value))) - 3)
    return int(round(value / unit) * unit)


def content_words(title: str, body: str) -> list[str]:
    """The distinct content words of a headline and its text (in no particular order)."""
    return list(_content(f"{title}\n{body}"))


def _content(whole: str) -> set[str]:
    found = set(tokens(whole)[:MAX_WORDS])
    found.difference_update(_NOT_CONTENT)
    return found if whole.isascii() else {w for w in found if len(w) > 1}


class Gist(NamedTuple):
    """What one item's text says (see the module's docstring)."""

    #: How many distinct content words the text has, and the folded headline.
    words: int
    title: str
    #: Names in the text and the headline, and the headline's names (see _title_names).
    names: frozenset[str]
    title_names: frozenset[str]
    #: US-dollar amounts (rounded to three digits) and dates (month * 100 + day).
    amounts: frozenset[int]
    dates: frozenset[int]


def gist(title: str, body: str) -> tuple[set[bytes], Gist]:
    """The content words of a headline and its text (UTF-8), and the rest of its gist."""
    whole = f"{title}\n{body}"
    body_names = _names(body)
    amounts: frozenset[int] = _NONE
    dates: frozenset[int] = _NONE
    if whole.isascii():
        # The words as bytes (split without making a str of each), the digits found with
        # bytes.find; folding is lower(), and amounts are looked for only by their markers.
        raw = whole.encode("ascii")
        words = set(raw.translate(_ASCII_WORDS).split()[:MAX_WORDS])
        words.difference_update(_NOT_CONTENT_ASCII)
        shape = raw.translate(_ASCII_DIGITS)
        if b"0" in shape:
            folded = whole.lower()
            if "$" in whole or "usd" in folded or "dol" in folded:
                amounts = frozenset(_round(v) for v, _, _ in find_amounts(whole))
            dates = frozenset(_ascii_dates(folded, shape))
    else:
        words = {w.encode("utf-8") for w in _content(whole)}
        if _DIGIT.search(whole):
            amounts = frozenset(_round(v) for v, _, _ in find_amounts(whole))
            dates = frozenset(_dates(fold(whole)))
    if title.isascii():
        folded_title, names, title_names = _ascii_headline(title, body_names)
    else:
        folded_title = " ".join(tokens(title))
        names, title_names = _names(title), _title_names(title, body_names)
    names |= body_names
    return words, Gist(
        len(words), folded_title, frozenset(names), frozenset(title_names), amounts, dates
    )


_NONE: frozenset[int] = frozenset()
