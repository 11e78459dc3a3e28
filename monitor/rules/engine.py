"""Compile all rules once into a term index; match entries against it.

The idea is the presearcher of Lucene's Monitor. At compile time every rule gets a set of
*keys* such that any item it can match contains at least one of them: a word, a word
prefix, or "has a dollar amount". ``AND`` needs only one child's keys (the most selective
child's), ``OR`` needs the keys of every child, ``NOT`` gives none. The index maps each key
to the rules that need it. At match time the item's words are looked up in the index, and
only the rules found (the candidates) are evaluated. Cost grows with the item, not with
the number of rules. A rule whose query needs two things (``(a OR b) AND (c OR d*)``, a
phrase, two words) also gets a *gate*: a second key set, one of which the item must hold
too, so most such rules are dropped by set operations before any evaluation.

Evaluation works on folded words and their positions; phrases and ``"a b"~N`` are checked
on word positions within one field. Only for a rule that hits are the character spans of
its matched terms collected (``TermMatch``), pointing into the original field text; they
come from one search of the item's joined text fields per word (ASCII), or one tokenising
pass over them (other scripts), shared by every rule that hits the item.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeGuard

from monitor.model import FIELDS, TEXT_FIELDS, Entity, Entry, Hit, Rule, RuleSet, TermMatch
from monitor.rules.amounts import find_amounts
from monitor.rules.query import (
    Amount,
    And,
    EntityRef,
    Node,
    Not,
    Or,
    Phrase,
    Term,
    parse_query,
)
from monitor.rules.text import analyze, tokens, tokens_with_spans

__all__ = [
    "CompiledEntity",
    "RuleMatcher",
    "compile_entity",
    "compile_rules",
    "paused_gc",
    "rule_keys",
]

#: Words so common that a rule keyed on them would be a candidate for every item.
_COMMON = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "he",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "ve",
        "ile",
        "bir",
        "bu",
        "da",
        "de",
        "i",
        "v",
        "na",
        "s",
        "po",
    )
)


#: The text fields are title, summary and content, in this order: the item's joined text
#: (``title\nsummary\ncontent``) can then be searched once for all three.
_JOINED_FIELDS = TEXT_FIELDS == ("title", "summary", "content")

Eval = Callable[["_Item"], bool]
Key = tuple[str, str]  # ("w", word) | ("p", prefix) | ("a", "")
#: Every word some rule tests -> (the rules it is a key of, the gated rules it is a gate key
#: of); None for none. See RuleMatcher.__init__.
_Vocab = dict[str, tuple[frozenset[int] | None, frozenset[int] | None]]


# --------------------------------------------------------------------------- entities


@dataclass(frozen=True, slots=True)
class _Words:
    """An alias or veto phrase as folded words; ``prefix``: the last word is a prefix."""

    words: tuple[str, ...]
    prefix: bool
    text: str
    #: The whole words an item must hold (all but a last prefix): one C-level subset test.
    needed: frozenset[str] = field(compare=False)


@dataclass(frozen=True, slots=True)
class CompiledEntity:
    id: str
    aliases: tuple[_Words, ...]
    vetoes: tuple[_Words, ...]


def _compile_words(text: str) -> _Words | None:
    raw = text.strip()
    prefix = raw.endswith("*")
    words = tuple(analyze(raw.rstrip("*")))
    if not words:
        return None
    return _Words(words, prefix, raw, frozenset(words[:-1] if prefix else words))


def compile_entity(entity: Entity) -> CompiledEntity:
    aliases = [_compile_words(a) for a in (entity.name, *entity.aliases)]
    vetoes = [_compile_words(v) for v in entity.not_]
    return CompiledEntity(
        entity.id,
        tuple(dict.fromkeys(a for a in aliases if a is not None)),
        tuple(v for v in vetoes if v is not None),
    )


# --------------------------------------------------------------------------- prefixes


class _Prefixes:
    """Every prefix the rules use (``diaspor*``, alias ``Omuraliev*``), and what is known of
    the words seen so far: the prefixes a word starts with, or that it starts with none.
    News vocabulary repeats, so after a while an item's prefix matches cost one C-level
    set difference (its words minus the words known to start with no prefix) and a look
    at the few words left."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.prefixes = frozenset(prefixes)
        self.lengths = tuple(sorted({len(p) for p in self.prefixes}))
        self.cache: dict[str, frozenset[str]] = {}
        #: Words known to start with no rule prefix (most words).
        self.none: set[str] = set()

    def of_word(self, word: str) -> frozenset[str]:
        found = frozenset(
            word[:n] for n in self.lengths if len(word) >= n and word[:n] in self.prefixes
        )
        if found:
            if len(self.cache) >= 200_000:
                self.cache.clear()
            self.cache[word] = found
        else:
            if len(self.none) >= 200_000:
                self.none.clear()
            self.none.add(word)
        return found

    def of_words(self, words: Iterable[str]) -> set[str]:
        """The rule prefixes that some word of ``words`` starts with."""
        if not self.prefixes:
            return set()
        get = self.cache.get
        out: set[str] = set()
        for word in set(words) - self.none:
            hits = get(word)
            if hits is None:
                hits = self.of_word(word)
            if hits:
                out |= hits
        return out


# --------------------------------------------------------------------------- item view


def _whole_word_starts(lowered: str, word: str) -> list[int]:
    """Where a folded ASCII word stands as a whole word in lower-cased ASCII text: found by
    str.find (C speed); a hit between non-alphanumerics is a token."""
    at = lowered.find(word)
    if at == -1:
        return []
    size, end = len(word), len(lowered)
    out = []
    while at != -1:
        after = at + size
        if (at == 0 or not lowered[at - 1].isalnum()) and (
            after == end or not lowered[after].isalnum()
        ):
            out.append(at)
        at = lowered.find(word, at + 1)
    return out


class _Item:
    """One entry as the engine sees it; everything beyond the word set is computed lazily.

    ``words`` holds only the item's words that some rule mentions (the rules' vocabulary):
    a small set, found by one C-level intersection, and enough to answer every membership
    test a rule asks. Prefix tests search the lowered text (ASCII) or the full word list.
    Both cover the text fields only (title, summary, content); ``any_words`` adds the words
    of the other fields that some rule names (``feed:``, ``author:``, ``domain:``,
    ``lang:``), for the presearch and as a quick test before a field is tokenised.
    """

    __slots__ = (
        "_all",
        "_amounts",
        "_entities",
        "_extra",
        "_joined",
        "_joined_lower",
        "_lower",
        "_pos",
        "_prefix_hits",
        "_prefixes",
        "_sorted",
        "_spans",
        "_text_spans",
        "_tokens",
        "_word_spans",
        "any_words",
        "entry",
        "words",
    )

    def __init__(
        self, entry: Entry, vocab: _Vocab, extra_fields: Sequence[str], prefixes: _Prefixes
    ) -> None:
        self.entry = entry
        joined = f"{entry.title}\n{entry.summary}\n{entry.content}"
        all_words = tokens(joined)
        self._all = all_words
        #: The item's text words that appear in some rule.
        self.words = vocab.keys() & all_words
        extra: list[str] = []
        for name in extra_fields:
            extra.extend(tokens(entry.field_text(name)))
        self._extra = extra
        #: ``words`` and the other fields' words that appear in some rule.
        self.any_words = self.words | (vocab.keys() & extra) if extra else self.words
        self._prefixes = prefixes
        self._prefix_hits: set[str] | None = None
        self._sorted: list[str] | None = None
        self._joined = joined
        self._joined_lower: str | None = "\x00"
        self._lower: dict[str, str | None] = {}
        self._word_spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._text_spans: dict[str, list[tuple[str, int, int]]] = {}
        self._tokens: dict[str, list[str]] = {}
        self._pos: dict[str, dict[str, list[int]]] = {}
        self._spans: dict[str, list[tuple[int, int]]] = {}
        self._amounts: list[tuple[float, str, int, int]] | None = None
        self._entities: dict[str, bool] = {}

    # -- per field, lazily

    def field_tokens(self, name: str) -> list[str]:
        found = self._tokens.get(name)
        if found is None:
            found = self._tokens[name] = tokens(self.entry.field_text(name))
        return found

    def field_spans(self, name: str) -> list[tuple[int, int]]:
        found = self._spans.get(name)
        if found is None:
            words, found = tokens_with_spans(self.entry.field_text(name))
            self._spans[name] = found
            self._tokens.setdefault(name, words)
        return found

    def lowered(self, name: str) -> str | None:
        """The field's text in lower case if it is ASCII (offsets unchanged), else None."""
        found = self._lower.get(name, "\x00")
        if found == "\x00":
            text = self.entry.field_text(name)
            found = self._lower[name] = text.lower() if text.isascii() else None
        return found

    def _plain_fields(self) -> bool:
        """Whether the joined text is exactly the text fields, joined by newlines."""
        entry = self.entry
        return _JOINED_FIELDS and (
            type(entry.title) is str and type(entry.summary) is str and type(entry.content) is str
        )

    def joined_lower(self) -> str | None:
        """The text fields joined by newlines, in lower case, if all of them are ASCII
        strings (then every offset is the original one), else None."""
        found = self._joined_lower
        if found == "\x00":
            joined = self._joined
            found = self._joined_lower = (
                joined.lower() if joined.isascii() and self._plain_fields() else None
            )
        return found

    def text_spans(self, word: str) -> list[tuple[str, int, int]]:
        """(field, start, end) of every occurrence of a folded word in the text fields, in
        field order and then text order."""
        found = self._text_spans.get(word)
        if found is None:
            found = self._text_spans[word] = self._find_text(word)
        return found

    def _find_text(self, word: str) -> list[tuple[str, int, int]]:
        lowered = self.joined_lower()
        if lowered is None:
            # Other scripts: the word's places among each field's words (list.index runs in
            # C) and their spans, from one tokenising pass per field that phrases share.
            out: list[tuple[str, int, int]] = []
            for name in TEXT_FIELDS:
                spans = self.field_spans(name)
                toks = self.field_tokens(name)
                at = -1
                try:
                    while True:
                        at = toks.index(word, at + 1)
                        out.append((name, *spans[at]))
                except ValueError:
                    pass
            return out
        # One search over the joined text (the newlines between the fields are not
        # alphanumeric, and no word holds one).
        starts = _whole_word_starts(lowered, word)
        if not starts:
            return []
        entry = self.entry
        summary_at = len(entry.title) + 1
        content_at = summary_at + len(entry.summary) + 1
        size = len(word)
        out = []
        for at in starts:
            if at < summary_at:
                out.append(("title", at, at + size))
            elif at < content_at:
                out.append(("summary", at - summary_at, at + size - summary_at))
            else:
                out.append(("content", at - content_at, at + size - content_at))
        return out

    def word_spans(self, name: str, word: str) -> list[tuple[int, int]]:
        """Character spans of every occurrence of a folded word in a field."""
        key = (name, word)
        found = self._word_spans.get(key)
        if found is None:
            if name in TEXT_FIELDS and (self.joined_lower() is not None or self._plain_fields()):
                found = [(start, end) for fld, start, end in self.text_spans(word) if fld == name]
            else:
                found = self._find_word(name, word)
            self._word_spans[key] = found
        return found

    def _find_word(self, name: str, word: str) -> list[tuple[int, int]]:
        lowered = self.lowered(name)
        if lowered is None:
            spans = self.field_spans(name)
            return [spans[p] for p in self.positions(name).get(word, ())]
        size = len(word)
        return [(at, at + size) for at in _whole_word_starts(lowered, word)]

    def span(self, name: str, position: int) -> tuple[int, int]:
        """Character span of the word at ``position`` of a field."""
        if self.lowered(name) is None:
            return self.field_spans(name)[position]
        toks = self.field_tokens(name)
        word = toks[position]
        nth = toks[:position].count(word)
        return self.word_spans(name, word)[nth]

    def positions(self, name: str) -> dict[str, list[int]]:
        found = self._pos.get(name)
        if found is None:
            found = {}
            for i, word in enumerate(self.field_tokens(name)):
                if word in found:
                    found[word].append(i)
                else:
                    found[word] = [i]
            self._pos[name] = found
        return found

    # -- tests

    def has_start(self, prefix: str) -> bool:
        """Whether some word of the item's text starts with ``prefix`` (a folded word)."""
        lowered = self.joined_lower()
        if lowered is not None and prefix:
            # ASCII: the words are the runs of letters and digits of the lowered text, so
            # some word starts with the prefix iff the prefix occurs right after a character
            # that is not a letter or digit (or at the start). str.find runs in C, and this
            # is several times cheaper than sorting the item's words.
            at = lowered.find(prefix)
            while at > 0 and lowered[at - 1].isalnum():
                at = lowered.find(prefix, at + 1)
            return at != -1
        # Otherwise a binary search in the item's sorted words: the first word not below a
        # prefix starts with it if any does.
        found = self._sorted
        if found is None:
            found = self._sorted = sorted(set(self._all))
        at = bisect_left(found, prefix)
        return at < len(found) and found[at].startswith(prefix)

    def has_start_any(self, prefix: str) -> bool:
        """``has_start`` over every field a rule names, not only the text."""
        return self.has_start(prefix) or (
            bool(self._extra) and any(w.startswith(prefix) for w in self._extra)
        )

    @property
    def starts(self) -> set[str]:
        """The rule prefixes that some word of the item (any field) starts with."""
        found = self._prefix_hits
        if found is None:
            words = self._all + self._extra if self._extra else self._all
            found = self._prefix_hits = self._prefixes.of_words(words)
        return found

    def has_prefix(self, prefix: str, field: str | None) -> bool:
        if field is None:
            return self.has_start(prefix)
        if field in TEXT_FIELDS and not self.has_start(prefix):
            return False
        return any(w.startswith(prefix) for w in self.field_tokens(field))

    def phrase(
        self, words: tuple[str, ...], field: str | None, slop: int, prefix: bool, first: bool
    ) -> list[tuple[str, tuple[int, ...]]]:
        """Occurrences of a phrase: (field, word positions), the first only if ``first``."""
        found: list[tuple[str, tuple[int, ...]]] = []
        for name in TEXT_FIELDS if field is None else (field,):
            if slop == 0:
                for start in _starts(words, prefix, self.field_tokens(name)):
                    found.append((name, tuple(range(start, start + len(words)))))
                    if first:
                        return found
            else:
                for hit in _sloppy(self.positions(name), words, slop, prefix):
                    found.append((name, hit))
                    if first:
                        return found
        return found

    def entity(self, entity: CompiledEntity) -> bool:
        """Whether any alias of an entity is in the item and no veto phrase is."""
        found = self._entities.get(entity.id)
        if found is None:
            found = self._entities[entity.id] = any(
                self.has_words(alias) for alias in entity.aliases
            ) and not any(self.has_words(veto) for veto in entity.vetoes)
        return found

    def has_words(self, words: _Words) -> bool:
        """Whether an alias or veto phrase is in the item's text fields."""
        if not words.needed <= self.words:
            return False
        if len(words.words) == 1:
            return not words.prefix or self.has_start(words.words[0])
        if words.prefix and not self.has_start(words.words[-1]):
            return False
        return bool(self.phrase(words.words, None, 0, words.prefix, True))

    def amounts(self) -> list[tuple[float, str, int, int]]:
        if self._amounts is None:
            # One scan over the text fields joined by newlines, then each amount is put
            # back into its field (one that runs across two fields is not an amount).
            texts = [self.entry.field_text(name) for name in TEXT_FIELDS]
            found = []
            offset = 0
            bounds = []
            for name, text in zip(TEXT_FIELDS, texts, strict=True):
                bounds.append((name, offset, offset + len(text)))
                offset += len(text) + 1
            joined = "\n".join(texts)
            for value, start, end in find_amounts(joined):
                for name, low, high in bounds:
                    if low <= start and end <= high:
                        found.append((value, name, start - low, end - low))
                        break
            self._amounts = found
        return self._amounts


def _starts(words: tuple[str, ...], prefix: bool, toks: list[str]) -> list[int]:
    """Start positions of an exact phrase (the last word a prefix if ``prefix``)."""
    n = len(words)
    if n == 1 and prefix:
        return [i for i, tok in enumerate(toks) if tok.startswith(words[0])]
    first = words[0]
    rest = list(words[1:])
    out: list[int] = []
    i = -1
    while True:
        try:
            i = toks.index(first, i + 1)  # list.index runs in C
        except ValueError:
            return out
        if n == 1:
            out.append(i)
        elif prefix:
            window = toks[i + 1 : i + n]
            if (
                len(window) == n - 1
                and window[:-1] == rest[:-1]
                and window[-1].startswith(rest[-1])
            ):
                out.append(i)
        elif toks[i + 1 : i + n] == rest:
            out.append(i)


def _sloppy(
    pos: dict[str, list[int]], words: tuple[str, ...], slop: int, prefix: bool
) -> list[tuple[int, ...]]:
    """Lucene's sloppy phrase: positions p_i with max(p_i - i) - min(p_i - i) <= slop."""
    lists: list[list[int]] = []
    for i, word in enumerate(words):
        if prefix and i == len(words) - 1:
            found = sorted(p for w, ps in pos.items() if w.startswith(word) for p in ps)
        else:
            found = pos.get(word, [])
        if not found:
            return []
        lists.append(found)
    hits: list[tuple[int, ...]] = []
    for anchor in lists[0]:
        chosen = [anchor]
        low = high = anchor
        for i in range(1, len(lists)):
            # the free position whose offset (p - i) is nearest the anchor's
            free = [(abs(p - i - anchor), p) for p in lists[i] if p not in chosen]
            if not free:
                break
            best = min(free)[1]
            chosen.append(best)
            low, high = min(low, best - i), max(high, best - i)
            if high - low > slop:
                break
        else:
            hits.append(tuple(chosen))
    return hits


# --------------------------------------------------------------------------- compiling


def _evaluator(
    node: Node,
    entities: dict[str, CompiledEntity],
    memo: dict[int, frozenset[Key] | None] | None = None,
) -> Eval:
    """A closure that tests one query on an item. Plain words inside AND/OR become one set
    operation (``required <= words``, ``not anyof.isdisjoint(words)``), which runs in C."""
    if isinstance(node, Term):
        word, fld = node.token, node.field
        if node.prefix:
            return lambda item: item.has_prefix(word, fld)
        if fld is None:
            return lambda item: word in item.words
        name = fld
        return lambda item: word in item.any_words and word in item.field_tokens(name)
    if isinstance(node, Phrase):
        words, fld, slop, prefix = node.tokens, node.field, node.slop, node.prefix
        needed = frozenset(words[:-1] if prefix else words)
        return lambda item: (
            needed <= item.any_words and bool(item.phrase(words, fld, slop, prefix, True))
        )
    if isinstance(node, EntityRef):
        entity = entities.get(node.name)
        if entity is None:  # the loader rejects this; a hand-made RuleSet may hold it
            return lambda item: False
        return lambda item: item.entity(entity)
    if isinstance(node, Amount):
        amount = node
        return lambda item: any(amount.contains(a[0]) for a in item.amounts())
    if isinstance(node, Not):
        inner = _evaluator(node.child, entities, memo)
        return lambda item: not inner(item)
    assert isinstance(node, And | Or)
    whole: list[str] = []
    prefixes: list[str] = []
    nots: list[str] = []
    rest: list[Node] = []
    for c in node.children:  # one pass: plain words, plain prefixes, NOT plain word, others
        if type(c) is Term and c.field is None:
            (prefixes if c.prefix else whole).append(c.token)
        elif type(c) is Not and _plain(c.child):
            nots.append(c.child.token)
        else:
            rest.append(c)
    plain, starts, negated = frozenset(whole), frozenset(prefixes), frozenset(nots)
    others = sorted(rest, key=_cost) if len(rest) > 1 else rest
    tests: list[Eval] = []
    if type(node) is And:
        # The child the presearch keyed this rule on is probably true (its word brought the
        # rule here): test the others first, they are the ones likely to fail.
        keyed = _keyed_child(node, entities, memo)
        if keyed is not None and keyed in others:
            others.remove(keyed)
            others.append(keyed)
        if len(plain) == 1:
            (word,) = plain
            tests.append(lambda item: word in item.words)
        elif plain:
            tests.append(lambda item: plain <= item.words)
        if negated:
            tests.append(lambda item: negated.isdisjoint(item.words))
        if starts:
            tests.append(lambda item: all(item.has_start(p) for p in starts))
        tests.extend(_evaluator(c, entities, memo) for c in others)
        return _all(tests)
    if plain and starts:
        tests.append(
            lambda item: not plain.isdisjoint(item.words) or any(item.has_start(p) for p in starts)
        )
    elif plain:
        tests.append(lambda item: not plain.isdisjoint(item.words))
    elif starts:
        tests.append(lambda item: any(item.has_start(p) for p in starts))
    if negated:
        tests.append(lambda item: not negated <= item.words)
    tests.extend(_evaluator(c, entities, memo) for c in others)
    return _any(tests)


def _keyed_child(
    node: And | Or,
    entities: dict[str, CompiledEntity],
    memo: dict[int, frozenset[Key] | None] | None,
) -> Node | None:
    """The child of an AND whose keys the presearch index uses (see rule_keys)."""
    best: tuple[tuple[int, int, int], int] | None = None
    for i, child in enumerate(node.children):
        keys = rule_keys(child, entities, memo)
        if keys is not None and (best is None or _key_cost(keys) < best[0]):
            best = (_key_cost(keys), i)
    return node.children[best[1]] if best is not None else None


def _plain(node: Node) -> TypeGuard[Term]:
    """A whole word in any text field: testable with set operations."""
    return isinstance(node, Term) and not node.prefix and node.field is None


def _cost(node: Node) -> int:
    """Cheap tests first in AND/OR."""
    if isinstance(node, Term):
        return 1 if not node.prefix else 3
    if isinstance(node, Phrase):
        return 4
    if isinstance(node, EntityRef):
        return 5
    if isinstance(node, Amount):
        return 8
    if isinstance(node, Not):
        return 9
    return 6


def _all(tests: list[Eval]) -> Eval:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda item: a(item) and b(item)
    if len(tests) == 3:
        a, b, c = tests
        return lambda item: a(item) and b(item) and c(item)
    return lambda item: all(test(item) for test in tests)


def _any(tests: list[Eval]) -> Eval:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda item: a(item) or b(item)
    if len(tests) == 3:
        a, b, c = tests
        return lambda item: a(item) or b(item) or c(item)
    return lambda item: any(test(item) for test in tests)


#: Not in the memo yet (None is a result: no keys).
_UNKNOWN = object()


def rule_keys(
    node: Node,
    entities: dict[str, CompiledEntity],
    memo: dict[int, frozenset[Key] | None] | None = None,
) -> frozenset[Key] | None:
    """Keys one of which every item matching ``node`` contains; None if there are none."""
    if memo is not None:
        found = memo.get(id(node), _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        result = _rule_keys(node, entities, memo)
        memo[id(node)] = result
        return result
    return _rule_keys(node, entities, None)


def _rule_keys(
    node: Node, entities: dict[str, CompiledEntity], memo: dict[int, frozenset[Key] | None] | None
) -> frozenset[Key] | None:
    if isinstance(node, Term):
        return frozenset({("p" if node.prefix else "w", node.token)})
    if isinstance(node, Phrase):
        return frozenset({_best_key(node.tokens, node.prefix)})
    if isinstance(node, EntityRef):
        entity = entities.get(node.name)
        if entity is None or not entity.aliases:
            return None
        return frozenset(_best_key(a.words, a.prefix) for a in entity.aliases)
    if isinstance(node, Amount):
        return frozenset({("a", "")})
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        keys: set[Key] = set()
        for child in node.children:
            found = rule_keys(child, entities, memo)
            if found is None:
                return None
            keys |= found
        return frozenset(keys)
    options = [k for k in (rule_keys(c, entities, memo) for c in node.children) if k is not None]
    if not options:
        return None
    return min(options, key=_key_cost)


def _required(
    node: Node,
    entities: dict[str, CompiledEntity],
    memo: dict[int, frozenset[Key] | None] | None,
) -> list[frozenset[Key]]:
    """Sets of keys such that every item matching ``node`` holds a key of each set."""
    if isinstance(node, And):
        return [keys for child in node.children for keys in _required(child, entities, memo)]
    if isinstance(node, Phrase):
        # Every word of a phrase is in a matching item (the last one as a prefix if so).
        out = [
            frozenset({("w", word)}) for word in (node.tokens[:-1] if node.prefix else node.tokens)
        ]
        if node.prefix:
            out.append(frozenset({("p", node.tokens[-1])}))
        return out
    keys = rule_keys(node, entities, memo)
    return [keys] if keys is not None else []


def _gate(
    node: Node,
    keys: frozenset[Key],
    entities: dict[str, CompiledEntity],
    memo: dict[int, frozenset[Key] | None] | None,
) -> frozenset[Key] | None:
    """A second set of keys for a rule indexed by ``keys``: a matching item also holds one
    of them (``(a OR b) AND (c OR d*)`` is indexed by a and b, gated by c and d*). Amounts
    are left out: finding them costs more than evaluating the rule."""
    best: frozenset[Key] | None = None
    for found in _required(node, entities, memo):
        if found == keys or any(kind == "a" for kind, _ in found):
            continue
        if best is None or _key_cost(found) < _key_cost(best):
            best = found
    return best


def _best_key(words: tuple[str, ...], prefix: bool) -> Key:
    exact = words[:-1] if prefix else words
    if exact:
        return ("w", max(exact, key=lambda w: (w not in _COMMON, len(w))))
    return ("p", words[-1])


@lru_cache(maxsize=1 << 16)
def _key_cost(keys: frozenset[Key]) -> tuple[int, int, int]:
    """Fewer, rarer keys are better; amounts and prefixes and common words are worst."""
    worst = 0
    for kind, word in keys:
        if kind == "a":
            worst = max(worst, 3)
        elif kind == "p":
            worst = max(worst, 2 if len(word) < 4 else 1)
        elif word in _COMMON or len(word) < 3:
            worst = max(worst, 2)
    shortest = min((len(word) for kind, word in keys if kind != "a"), default=0)
    return (worst, len(keys), -shortest)


@dataclass(slots=True)
class _Compiled:
    index: int
    rule: Rule
    node: Node
    test: Eval
    feeds: frozenset[str]
    #: The spans of a hit may repeat or nest (entities, phrases, a term written twice), so
    #: repeats and inner spans of the same term have to be looked for. Terms and amounts
    #: written once never give such spans: their spans are simply collected.
    may_nest: bool = True
    #: (token, text) of each term, when every term outside NOT is a plain word in any text
    #: field, each written once: the spans are then those of the words present, in query
    #: order, found without walking the tree (see _explain_plain).
    plain: tuple[tuple[str, str], ...] | None = None


class RuleMatcher:
    """The compiled rules. ``match`` is pure: an entry in, hits with spans out."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.rules: dict[str, Rule] = ruleset.by_id()
        self.entities: dict[str, CompiledEntity] = {
            e.id: compile_entity(e) for e in ruleset.entities
        }
        self._compiled: list[_Compiled] = []
        by_word: dict[str, list[int]] = {}
        by_prefix: dict[str, list[int]] = {}
        amount_rules: list[int] = []
        #: Rules with a second set of keys, one of which an item must also hold (see _gate).
        gated: list[int] = []
        gate_words: dict[str, list[int]] = {}
        gate_prefixes: dict[int, list[str]] = {}
        vocab: set[str] = set()
        prefixes: set[str] = set()
        fields: set[str] = set()
        #: rule_keys of every node, computed once (ids stay valid: the nodes live on).
        memo: dict[int, frozenset[Key] | None] = {}
        #: The same query text parses to the same tree: compile it once.
        seen: dict[int, tuple[Eval, bool, tuple[tuple[str, str], ...] | None]] = {}
        entities = self.entities
        for rule in ruleset.rules:
            if not rule.enabled:
                continue
            node = parse_query(rule.query)
            keys = rule_keys(node, entities, memo)
            if keys is None:
                continue  # the loader rejects these; a hand-made RuleSet may still hold one
            found = seen.get(id(node))
            if found is None:
                leaves: list[Node] = []
                _scan(node, vocab, prefixes, fields, leaves)
                # A term's spans are each of another word, an amount's of another amount,
                # and a match names its term's text: only a text written twice, an entity's
                # aliases or a phrase's runs can give one span twice or one inside another.
                texts = [leaf.text for leaf in leaves if type(leaf) is Term or type(leaf) is Amount]
                may_nest = len(texts) != len(leaves) or len(set(texts)) != len(texts)
                plain = (
                    tuple((leaf.token, leaf.text) for leaf in leaves if _plain(leaf))
                    if not may_nest and all(_plain(leaf) for leaf in leaves)
                    else None
                )
                found = seen[id(node)] = (_evaluator(node, entities, memo), may_nest, plain)
            test, may_nest, plain = found
            index = len(self._compiled)
            self._compiled.append(
                _Compiled(index, rule, node, test, frozenset(rule.feeds), may_nest, plain)
            )
            for kind, word in keys:
                if kind == "w":
                    by_word.setdefault(word, []).append(index)
                elif kind == "p":
                    by_prefix.setdefault(word, []).append(index)
                else:
                    amount_rules.append(index)
            gate = _gate(node, keys, entities, memo)
            if gate is not None:
                gated.append(index)
                for kind, word in gate:
                    if kind == "w":
                        gate_words.setdefault(word, []).append(index)
                    else:
                        gate_prefixes.setdefault(index, []).append(word)
        self._by_prefix = {p: tuple(ids) for p, ids in by_prefix.items()}
        self._prefix_keys = frozenset(self._by_prefix)
        self._amount_rules = tuple(amount_rules)
        self._gated = frozenset(gated)
        self._gate_prefix_of = {rule: tuple(p) for rule, p in gate_prefixes.items()}
        self._gate_prefix_rules = frozenset(gate_prefixes)
        for entity in self.entities.values():
            for phrase in (*entity.aliases, *entity.vetoes):
                vocab.update(phrase.words[:-1] if phrase.prefix else phrase.words)
                if phrase.prefix:
                    prefixes.add(phrase.words[-1])
        # One table for all words: an item's words are found in it (a C-level intersection
        # with the item's tokens), and the rules each one keys or gates are then read from
        # the same, recently touched entries. Separate tables for the vocabulary, the keys
        # and the gates meant four look-ups per word in large tables, a good part of the
        # time at 10,000 rules. Frozensets of rule numbers merge into a set without hashing
        # each number again.
        self._vocab: _Vocab = {
            word: (
                frozenset(by_word[word]) if word in by_word else None,
                frozenset(gate_words[word]) if word in gate_words else None,
            )
            for word in vocab.union(by_word, gate_words)
        }
        self._prefixes = _Prefixes(prefixes)
        self._extra_fields = tuple(f for f in FIELDS if f in fields and f not in TEXT_FIELDS)

    def __len__(self) -> int:
        return len(self._compiled)

    def candidates(self, item: _Item) -> list[int]:
        vocab = self._vocab
        found: set[int] = set()
        #: Gated rules that a word of the item lets through.
        passed: set[int] = set()
        for word in item.any_words:
            keyed, gates = vocab[word]
            if keyed is not None:
                found |= keyed
            if gates is not None:
                passed |= gates
        if self._prefix_keys:
            for prefix in item.starts & self._prefix_keys:
                found.update(self._by_prefix[prefix])
        if self._amount_rules and item.amounts():
            found.update(self._amount_rules)
        gated = found & self._gated
        if gated:
            # A gated rule stays a candidate only if the item also holds one of its gate keys.
            failed = gated - passed
            if failed:
                prefixed = failed & self._gate_prefix_rules
                if prefixed:
                    self._pass_prefix_gates(item, prefixed, failed)
                found -= failed
        return sorted(found)

    def _pass_prefix_gates(self, item: _Item, rules: set[int], failed: set[int]) -> None:
        """Take out of ``failed`` the ``rules`` whose gate has a prefix that some word of
        the item starts with."""
        prefixes_of = self._gate_prefix_of
        lowered = None if item._extra else item.joined_lower()
        if lowered is None:
            has_start = item.has_start_any
            for rule in rules:
                for prefix in prefixes_of[rule]:
                    if has_start(prefix):
                        failed.discard(rule)
                        break
            return
        # ASCII text only: has_start's search, inline (a few per item at 10,000 rules).
        find = lowered.find
        for rule in rules:
            for prefix in prefixes_of[rule]:
                at = find(prefix)
                while at > 0 and lowered[at - 1].isalnum():
                    at = find(prefix, at + 1)
                if at != -1:
                    failed.discard(rule)
                    break

    def match(self, entry: Entry) -> list[Hit]:
        """The hits of every enabled rule on ``entry``, each with its matched spans."""
        item = _Item(entry, self._vocab, self._extra_fields, self._prefixes)
        return self._evaluate(entry, item, self.candidates(item))

    def match_exhaustive(self, entry: Entry) -> list[Hit]:
        """``match`` without the presearch index: every rule is evaluated. For checks."""
        item = _Item(entry, self._vocab, self._extra_fields, self._prefixes)
        return self._evaluate(entry, item, range(len(self._compiled)))

    def _evaluate(self, entry: Entry, item: _Item, indexes: Iterable[int]) -> list[Hit]:
        hits: list[Hit] = []
        compiled = self._compiled
        feed = entry.feed_id
        for index in indexes:
            c = compiled[index]
            if c.feeds and feed not in c.feeds:
                continue
            if c.test(item):
                rule = c.rule
                plain = c.plain
                if plain is not None:
                    matches = _explain_plain(plain, item)
                elif c.may_nest:
                    matches = self._explain(c.node, item)
                else:
                    matches = []
                    self._collect(c.node, item, matches)
                hits.append(Hit(rule.id, rule.version, rule.priority, tuple(matches)))
        return hits

    # -- spans, for hits only

    def _explain(self, node: Node, item: _Item) -> list[TermMatch]:
        out: list[TermMatch] = []
        self._collect(node, item, out)
        if len(out) < 2:
            return out
        unique = list(dict.fromkeys(out))  # TermMatch is hashable: drop repeats, keep order
        if len(unique) < 2:
            return unique
        # "Kubanychbek Omuraliev" and "Omuraliev" inside it: keep only the outer span.
        inner: set[TermMatch] = set()
        reach: dict[tuple[str, str], int] = {}
        for m in sorted(unique, key=lambda m: (m.start, -m.end)):
            key = (m.term, m.field)
            if m.end <= reach.get(key, -1):
                inner.add(m)
            else:
                reach[key] = m.end
        return [m for m in unique if m not in inner] if inner else unique

    def _collect(self, node: Node, item: _Item, out: list[TermMatch]) -> None:
        """Spans of the terms of ``node`` that are in the item (none under NOT)."""
        if isinstance(node, Term):
            token = node.token
            if node.prefix:
                if not item.has_prefix(token, node.field):
                    return
            elif token not in (item.words if node.field is None else item.any_words):
                return
            if node.field is None and not node.prefix:
                text = node.text
                for name, start, end in item.text_spans(token):
                    out.append(TermMatch(text, name, start, end))
                return
            for name in TEXT_FIELDS if node.field is None else (node.field,):
                if node.prefix:
                    words = {w for w in item.field_tokens(name) if w.startswith(token)}
                    found = sorted(s for w in words for s in item.word_spans(name, w))
                else:
                    found = item.word_spans(name, token)
                for start, end in found:
                    out.append(TermMatch(node.text, name, start, end))
        elif isinstance(node, And | Or):
            for child in node.children:
                self._collect(child, item, out)
        elif isinstance(node, Phrase):
            needed = node.tokens[:-1] if node.prefix else node.tokens
            if not all(w in item.any_words for w in needed):
                return
            for name, where in item.phrase(node.tokens, node.field, node.slop, node.prefix, False):
                out.extend(_phrase_spans(node.text, name, where, item))
        elif isinstance(node, EntityRef):
            entity = self.entities.get(node.name)
            if entity is None or not item.entity(entity):
                return
            for alias in entity.aliases:
                if len(alias.words) == 1 and not alias.prefix:  # one word: find it directly
                    if alias.words[0] in item.words:
                        for name, start, end in item.text_spans(alias.words[0]):
                            out.append(TermMatch(node.text, name, start, end))
                elif item.has_words(alias):
                    for name, where in item.phrase(alias.words, None, 0, alias.prefix, False):
                        out.extend(_phrase_spans(node.text, name, where, item))
        elif isinstance(node, Amount):
            for value, name, start, end in item.amounts():
                if node.contains(value):
                    out.append(TermMatch(node.text, name, start, end))


def _explain_plain(terms: tuple[tuple[str, str], ...], item: _Item) -> list[TermMatch]:
    """``_explain`` of a rule whose terms are plain words, each written once (most rules):
    what _collect would gather, without walking the tree. Every span is of another word or
    place, so none repeats or nests in another."""
    out: list[TermMatch] = []
    words = item.words
    for token, text in terms:
        if token in words:
            for name, start, end in item.text_spans(token):
                out.append(TermMatch(text, name, start, end))
    return out


def _phrase_spans(term: str, name: str, positions: tuple[int, ...], item: _Item) -> list[TermMatch]:
    """One span per run of neighbouring words (a whole exact phrase is one run)."""
    out: list[TermMatch] = []
    ordered = sorted(positions)
    first = prev = ordered[0]
    for p in [*ordered[1:], None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        start = item.span(name, first)[0]
        end = item.span(name, prev)[1] if prev != first else item.span(name, first)[1]
        out.append(TermMatch(term, name, start, end))
        if p is not None:
            first = prev = p
    return out


def _scan(
    node: Node, vocab: set[str], prefixes: set[str], fields: set[str], leaves: list[Node] | None
) -> None:
    """One walk over a query: the whole words it tests (prefixes are tested on the full word
    list), the prefixes (``diaspor*``, the last word of ``"energy corr*"``), the fields it
    names, and its leaves outside NOT (the ones whose spans explain a hit)."""
    if isinstance(node, Term):
        if node.prefix:
            prefixes.add(node.token)
        else:
            vocab.add(node.token)
        if node.field:
            fields.add(node.field)
    elif isinstance(node, Phrase):
        if node.prefix:
            vocab.update(node.tokens[:-1])
            prefixes.add(node.tokens[-1])
        else:
            vocab.update(node.tokens)
        if node.field:
            fields.add(node.field)
    elif isinstance(node, Not):
        _scan(node.child, vocab, prefixes, fields, None)
        return
    elif isinstance(node, And | Or):
        for child in node.children:
            _scan(child, vocab, prefixes, fields, leaves)
        return
    if leaves is not None:
        leaves.append(node)


@contextmanager
def paused_gc(promote: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Compiling 10,000 rules allocates about a million objects that all stay alive; the
    collector would scan them again and again for nothing (a quarter of the compile time,
    measured). Reference counting still frees everything as usual meanwhile.

    With ``promote``, whatever is alive at the end is moved to the oldest generation in
    one step (freeze, then unfreeze), as a collector that had run would have done in the
    end; otherwise the first young collection after the pause scans all of it once more
    (a tenth of the compile time). Only for work that leaves no cyclic garbage behind, and
    not when the program has frozen objects of its own (unfreezing would release them).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if promote and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


def compile_rules(ruleset: RuleSet) -> RuleMatcher:
    """Compile every enabled rule of ``ruleset`` into one matcher."""
    with paused_gc(promote=True):
        return RuleMatcher(ruleset)
