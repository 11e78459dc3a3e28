"""The presearch: for each rule, keys that every item it matches holds.

The idea is the presearcher of Lucene's Monitor. At compile time every rule gets a set of
*keys* such that any item it can match contains at least one of them: a word, a word
prefix, or "has a dollar amount". A word with form keys (an inflected term, a name) is
keyed by itself and by each of its form keys, which an item's words include when some
word of its text has them. ``AND`` needs only one child's keys (the most selective
child's), ``OR`` needs the keys of every child, ``NOT`` gives none. The index maps each key
to the rules that need it. At match time the item's words are looked up in the index, and
only the rules found (the candidates) are evaluated. Cost grows with the item, not with
the number of rules. A rule whose query needs two things (``(a OR b) AND (c OR d*)``, a
phrase, two words) also gets a *gate*: a second key set, one of which the item must hold
too, so most such rules are dropped by set operations before any evaluation.

This module finds the keys and gates of a query; ``RuleMatcher`` builds the index from them
and looks items up in it.
"""

from __future__ import annotations

from functools import lru_cache

from monitor.rules.entities import CompiledEntity
from monitor.rules.query import Amount, And, EntityRef, Node, Not, Or, Phrase, Term

__all__ = ["Key", "KeyMemo", "gate", "keyed_child", "rule_keys"]

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

Key = tuple[str, str]  # ("w", word) | ("p", prefix) | ("a", "")
#: rule_keys of query nodes by id(node), for nodes that stay alive while it is used.
KeyMemo = dict[int, frozenset[Key] | None]


#: Not in the memo yet (None is a result: no keys).
_UNKNOWN = object()


def rule_keys(
    node: Node,
    entities: dict[str, CompiledEntity],
    memo: KeyMemo | None = None,
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
    node: Node, entities: dict[str, CompiledEntity], memo: KeyMemo | None
) -> frozenset[Key] | None:
    if isinstance(node, Term):
        if node.forms:
            return _word_keys(node.token, node.forms)
        return frozenset({("p" if node.prefix else "w", node.token)})
    if isinstance(node, Phrase):
        return _best_keys(node.tokens, node.prefix, node.forms)
    if isinstance(node, EntityRef):
        entity = entities.get(node.name)
        if entity is None or not entity.aliases:
            return None
        return frozenset().union(*(_best_keys(a.words, a.prefix, a.forms) for a in entity.aliases))
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
    memo: KeyMemo | None,
) -> list[frozenset[Key]]:
    """Sets of keys such that every item matching ``node`` holds a key of each set."""
    if isinstance(node, And):
        return [keys for child in node.children for keys in _required(child, entities, memo)]
    if isinstance(node, Phrase):
        # Every word of a phrase is in a matching item (the last one as a prefix if so).
        exact = node.tokens[:-1] if node.prefix else node.tokens
        forms = node.forms
        out = [_word_keys(word, forms[j] if forms else frozenset()) for j, word in enumerate(exact)]
        if node.prefix:
            out.append(frozenset({("p", node.tokens[-1])}))
        return out
    keys = rule_keys(node, entities, memo)
    return [keys] if keys is not None else []


def gate(
    node: Node,
    keys: frozenset[Key],
    entities: dict[str, CompiledEntity],
    memo: KeyMemo | None,
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


def _word_keys(word: str, forms: frozenset[str]) -> frozenset[Key]:
    """The keys of a whole word: itself and its form keys."""
    return frozenset({("w", word), *(("w", form) for form in forms)})


def _best_keys(
    words: tuple[str, ...], prefix: bool, forms: tuple[frozenset[str], ...]
) -> frozenset[Key]:
    """The keys of a phrase's most selective word (every matching item holds one). A last
    prefix wins over whole words that are common or shorter ("To'qayev*" is the words "to"
    and "qayev*": keyed on the prefix, not on "to")."""
    exact = range(len(words) - 1 if prefix else len(words))
    if not exact:
        return frozenset({("p", words[-1])})
    best = max(exact, key=lambda j: (words[j] not in _COMMON, len(words[j])))
    if prefix and (words[best] in _COMMON or len(words[best]) < len(words[-1]) - 1):
        return frozenset({("p", words[-1])})
    return _word_keys(words[best], forms[best] if forms else frozenset())


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


def keyed_child(
    node: And | Or,
    entities: dict[str, CompiledEntity],
    memo: KeyMemo | None,
) -> Node | None:
    """The child of an AND whose keys the presearch index uses (see rule_keys)."""
    best: tuple[tuple[int, int, int], int] | None = None
    for i, child in enumerate(node.children):
        keys = rule_keys(child, entities, memo)
        if keys is not None and (best is None or _key_cost(keys) < best[0]):
            best = (_key_cost(keys), i)
    return node.children[best[1]] if best is not None else None
