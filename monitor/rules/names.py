"""One key for the spellings of a name across scripts: Aliyev = Aliev = Əliyev = Алиев.

The press writes a Central Asian or Caucasian name in several ways: English-language
transliteration (Tokayev, Mirziyoyev), the national Latin alphabet (Əliyev, Mirziyoyev,
Tokaev), Cyrillic (Токаев, Тоқаев, Мирзиёев, Алиев). ``fold`` already maps each of them
to plain Latin letters, but the folded spellings still differ (``aliyev``, ``aliev``,
``eliyev``; ``ilham``, ``ilkham``; ``japarov``, ``zhaparov``). ``name_key`` takes a folded
word and erases exactly those differences:

- digraphs of one sound become one letter: dzh, dj, zh and j are ``j``; kh, x and h are
  ``h``; sh is ``s`` (ş already folds to s); ch is ``c`` (ç already folds to c); q is
  ``k``; w is ``v``;
- a glide y next to a vowel is dropped (iy -> i, ye -> e, yo -> o, ya -> a): Aliyev and
  Aliev, Tokayev and Tokaev;
- a run of vowels becomes one letter, the class of its first vowel: ``A`` for a and e
  (ə folds to e, and is "a" in Əliyev but "e" in Ərdoğan), ``I`` for i and y, ``O`` for o
  and u (ö and ü fold to o and u); so Mirziyoyev (mirzioev once the glides are gone) and
  Мирзиёев (folded mirzieev, as ё folds to e) both give ``mIrzIv``;
- a doubled consonant counts once.

The consonants stay, and so does the class of every vowel, so names that only look alike
keep apart: Tokayev ``tOkAv`` and Токарев ``tOkArAv``; Nazarbayev ``nAzArbAv`` and Назаров
``nAzArOv``; Japarov ``jApArOv`` and Japan ``jApAn``.
"""

from __future__ import annotations

import re

__all__ = ["name_key"]

_DIGRAPHS = (
    ("dzh", "j"),
    ("dj", "j"),
    ("zh", "j"),
    ("kh", "h"),
    ("sh", "s"),
    ("ch", "c"),
    ("x", "h"),
    ("q", "k"),
    ("w", "v"),
)
_GLIDE = re.compile(r"y(?=[aeiou])|(?<=[aeiou])y")
_VOWELS = re.compile(r"[aeiouy]+")
_CLASS = {"a": "A", "e": "A", "i": "I", "y": "I", "o": "O", "u": "O"}
_DOUBLE = re.compile(r"([b-df-hj-np-tv-z])\1+")


def name_key(folded: str) -> str:
    """The transliteration-insensitive key of one folded word (see the module's text)."""
    word = folded
    for pair, letter in _DIGRAPHS:
        if pair in word:
            word = word.replace(pair, letter)
    if "y" in word:
        word = _GLIDE.sub("", word)
    word = _VOWELS.sub(lambda m: _CLASS[m.group()[0]], word)
    return _DOUBLE.sub(r"\1", word)
