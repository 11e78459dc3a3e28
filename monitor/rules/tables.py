"""The rules' word tables: the prefixes and the form keys that some rule uses, and what is
known of the words seen so far.

News vocabulary repeats, so after a while each table answers an item with one C-level set
difference (the item's words minus the words known to have nothing for any rule) and a
look at the few words left. ``Prefixes`` tells which rule prefixes (``diaspor*``, alias
``Omuraliev*``) a word starts with; ``Forms`` which rule form keys (``monitor.rules.
inflect``) a word of text has.
"""

from __future__ import annotations

from collections.abc import Iterable, KeysView, Set

from monitor.rules.inflect import EMPTY, text_forms
from monitor.rules.text import tokens, tokens_and_words

__all__ = ["Forms", "Prefixes", "Reading", "TextWords"]

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


#: What an item's text is to the rules (see TextWords.read): its folded words in order,
#: its distinct folded words (ASCII text) or None, its words with rule form keys and
#: their keys, the words some rule tests or keys with the form keys of its words, and
#: the rule prefixes its words start with (ASCII text) or None.
Reading = tuple[list[str], set[str] | None, dict[str, frozenset[str]], set[str], set[str] | None]


class TextWords:
    """The rules' vocabulary, prefixes and form keys read from an item's text at once.

    An ASCII word is its own folded self, so what it brings (itself if some rule tests it,
    its rule form keys, the rule prefixes it starts with) is known once per word: most
    words of news bring nothing and are dropped by one C-level set difference, the rule
    words that bring only themselves by one intersection, and the few left are looked up.
    Other text goes through the tables one by one, its words looked up as written.
    """

    def __init__(self, vocab: KeysView[str], prefixes: Prefixes, forms: Forms) -> None:
        self.vocab = vocab
        self.prefixes = prefixes
        self.forms = forms
        #: Words with form keys or prefixes: (the item's words they bring, their rule
        #: form keys, the rule prefixes they start with).
        self.known: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {}
        #: Rule words with neither form keys nor prefixes: they bring themselves.
        self.plain: set[str] = set()
        #: Words that bring nothing.
        self.none: set[str] = set()

    def read(self, text: str) -> Reading:
        """What ``text`` is to the rules (see Reading)."""
        if not text.isascii():
            return self._read_other(text)
        all_words = tokens(text)
        distinct = set(all_words)
        rest = distinct - self.none
        words = rest & self.plain
        formed: dict[str, frozenset[str]] = {}
        starts: set[str] = set()
        if len(words) != len(rest):
            known = self.known
            for word in rest - words:
                found = known.get(word)
                if found is None:
                    found = self._learn(word)
                    if found is None:
                        continue
                brings, keys, prefixes = found
                words.update(brings)
                if keys:
                    formed[word] = keys
                if prefixes:
                    starts.update(prefixes)
        return all_words, distinct, formed, words, starts

    def _read_other(self, text: str) -> Reading:
        all_words, written = tokens_and_words(text)
        forms = self.forms
        formed = forms.of_words(set(written)) if forms.keys else {}
        words = self.vocab & all_words
        if formed:
            words = words.union(*formed.values())
        return all_words, None, formed, words, None

    def _learn(self, word: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]] | None:
        """What a new ASCII word brings (None: nothing), remembered."""
        if len(self.known) + len(self.plain) + len(self.none) >= _SIZE:
            self.known.clear()
            self.plain.clear()
            self.none.clear()
        keys = self.forms.of_word(word)
        prefixes = self.prefixes.of_word(word) if self.prefixes.prefixes else EMPTY
        if not keys and not prefixes:
            if word not in self.vocab:
                self.none.add(word)
                return None
            self.plain.add(word)
            return frozenset({word}), EMPTY, EMPTY
        brings = keys | {word} if word in self.vocab else keys
        found = self.known[word] = (brings, keys, prefixes)
        return found
