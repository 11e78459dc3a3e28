"""The rules' word tables: the prefixes and the form keys that some rule uses, and what is
known of the words seen so far.

News vocabulary repeats, so after a while each table answers an item with one C-level set
difference (the item's words minus the words known to have nothing for any rule) and a
look at the few words left. ``Prefixes`` tells which rule prefixes (``diaspor*``, alias
``Omuraliev*``) a word starts with; ``Forms`` which rule form keys (``monitor.rules.
inflect``) a word of text has.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from monitor.rules.inflect import EMPTY, text_forms

__all__ = ["Forms", "Prefixes"]

#: A table forgets what it knows past this many words (it refills quickly).
_SIZE = 200_000


class _Known:
    """What a table knows of the words seen so far: what each word that has something
    has, and the words known to have nothing (most words)."""

    def __init__(self) -> None:
        self.cache: dict[str, frozenset[str]] = {}
        self.none: set[str] = set()

    def remember(self, word: str, found: frozenset[str]) -> frozenset[str]:
        """Keep what ``word`` has (``found``, maybe nothing); hand it back."""
        if found:
            if len(self.cache) >= _SIZE:
                self.cache.clear()
            self.cache[word] = found
        else:
            if len(self.none) >= _SIZE:
                self.none.clear()
            self.none.add(word)
        return found


class Prefixes(_Known):
    """Every prefix the rules use, and the prefixes each word seen so far starts with."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.prefixes = frozenset(prefixes)
        self.lengths = tuple(sorted({len(p) for p in self.prefixes}))
        super().__init__()

    def of_word(self, word: str) -> frozenset[str]:
        found = frozenset(
            word[:n] for n in self.lengths if len(word) >= n and word[:n] in self.prefixes
        )
        return self.remember(word, found)

    def of_words(self, words: Set[str]) -> set[str]:
        """The rule prefixes that some word of ``words`` starts with."""
        if not self.prefixes:
            return set()
        get = self.cache.get
        out: set[str] = set()
        for word in words - self.none:
            hits = get(word)
            if hits is None:
                hits = self.of_word(word)
            if hits:
                out |= hits
        return out


class Forms(_Known):
    """Every form key the rules use, and the ones each word of text seen so far has.

    A word is looked up as written (its script decides how it is analysed); an ASCII word
    may be given folded, as its analysis ignores case."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = frozenset(keys)
        super().__init__()

    def of_word(self, word: str) -> frozenset[str]:
        found = self.cache.get(word)
        if found is not None:
            return found
        if not self.keys or word in self.none:
            return EMPTY
        return self.remember(word, text_forms(word) & self.keys)

    def of_words(self, words: Set[str]) -> dict[str, frozenset[str]]:
        """The words of ``words`` that have rule form keys, and their keys."""
        out: dict[str, frozenset[str]] = {}
        if not self.keys:
            return out
        get = self.cache.get
        for word in words - self.none:
            hits = get(word)
            if hits is None:
                hits = self.of_word(word)
            if hits:
                out[word] = hits
        return out
