"""Query tree -> evaluation closure: one function per rule that tests an ``Item``.

Evaluation works on the item's folded words and, only when a rule needs them, on a field's
word positions (phrases, ``"a b"~N``), entities and amounts; ``Item`` computes those once
per item for all the rules that ask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeGuard

from monitor.rules.entities import CompiledEntity
from monitor.rules.item import Item
from monitor.rules.presearch import KeyMemo, keyed_child, rule_keys
from monitor.rules.query import Amount, And, EntityRef, Node, Not, Or, Phrase, Term

__all__ = ["Eval", "evaluator", "plain_word"]

Eval = Callable[[Item], bool]


def evaluator(
    node: Node,
    entities: dict[str, CompiledEntity],
    memo: KeyMemo | None = None,
) -> Eval:
    """A closure that tests one query on an item. Plain words inside AND/OR become one set
    operation (``required <= words``, ``not anyof.isdisjoint(words)``), which runs in C."""
    if isinstance(node, Term):
        word, fld = node.token, node.field
        if node.prefix:
            return lambda item: item.has_prefix(word, fld)
        if node.forms:
            return _inflected(word, fld, node.forms)
        if fld is None:
            return lambda item: word in item.words
        name = fld
        return lambda item: word in item.any_words and word in item.field_tokens(name)
    if isinstance(node, Phrase):
        words, fld, slop, prefix = node.tokens, node.field, node.slop, node.prefix
        forms = node.forms
        whole = words[:-1] if prefix else words
        inflected = [j for j in range(len(whole)) if forms and forms[j]]
        needed = frozenset(w for j, w in enumerate(whole) if j not in inflected)
        options = tuple(frozenset({whole[j], *forms[j]}) for j in inflected)
        if not options:
            return lambda item: (
                needed <= item.any_words and bool(item.phrase(words, fld, slop, prefix, True))
            )
        return lambda item: (
            needed <= item.any_words
            and not any(option.isdisjoint(item.any_words) for option in options)
            and bool(item.phrase(words, fld, slop, prefix, True, forms))
        )
    if isinstance(node, EntityRef):
        name = node.name
        if name not in entities:  # the loader rejects this; a hand-made RuleSet may hold it
            return lambda item: False
        return lambda item: name in item.entity_ids()
    if isinstance(node, Amount):
        amount = node
        return lambda item: any(amount.contains(a[0]) for a in item.amounts())
    if isinstance(node, Not):
        inner = evaluator(node.child, entities, memo)
        return lambda item: not inner(item)
    assert isinstance(node, And | Or)
    refs = _entity_refs(node)
    if refs is not None:
        return _entities_only(node, refs.intersection(entities))
    return _junction(node, entities, memo)


def _entity_refs(node: Node) -> frozenset[str] | None:
    """The entities a query names, if it tests nothing but entities; else None."""
    if isinstance(node, EntityRef):
        return frozenset({node.name})
    if isinstance(node, Not):
        return _entity_refs(node.child)
    if isinstance(node, And | Or):
        found: set[str] = set()
        for child in node.children:
            refs = _entity_refs(child)
            if refs is None:
                return None
            found |= refs
        return frozenset(found)
    return None


#: An entity-only test forgets its answers past this many sets of entities.
_MEMO_SIZE = 4096


def _entities_only(node: Node, refs: frozenset[str]) -> Eval:
    """A query of entities only (``(entity:a OR entity:b) AND entity:c``): its answer
    depends only on which of its entities the item holds (``Item.entity_ids``), so it is
    worked out once per such set and then looked up; most items hold none of them."""
    memo: dict[frozenset[str], bool] = {}

    def test(item: Item) -> bool:
        held = refs & item.entity_ids()
        found = memo.get(held)
        if found is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            found = memo[held] = _holds(node, held)
        return found

    return test


def _holds(node: Node, held: frozenset[str]) -> bool:
    """Whether an entity-only query holds when the item holds exactly the ``held``
    entities (of the ones it names)."""
    if isinstance(node, EntityRef):
        return node.name in held
    if isinstance(node, Not):
        return not _holds(node.child, held)
    if isinstance(node, And):
        return all(_holds(child, held) for child in node.children)
    assert isinstance(node, Or)
    return any(_holds(child, held) for child in node.children)


def _junction(node: And | Or, entities: dict[str, CompiledEntity], memo: KeyMemo | None) -> Eval:
    """The closure of an AND or OR: its plain words, plain prefixes and NOT plain words
    tested together first, then its other children: cheapest first, but in an AND the
    one the presearch keyed the rule on last."""
    whole: list[str] = []
    prefixes: list[str] = []
    nots: list[str] = []
    rest: list[Node] = []
    for c in node.children:  # one pass: plain words, plain prefixes, NOT plain word, others
        if type(c) is Term and c.field is None:
            (prefixes if c.prefix else whole).append(c.token)
        elif type(c) is Not and plain_word(c.child):
            nots.append(c.child.token)
        else:
            rest.append(c)
    plain, starts, negated = frozenset(whole), frozenset(prefixes), frozenset(nots)
    others = sorted(rest, key=_cost) if len(rest) > 1 else rest
    tests: list[Eval] = []
    if type(node) is And:
        # The child the presearch keyed this rule on is probably true (its word brought the
        # rule here): test the others first, they are the ones likely to fail.
        keyed = keyed_child(node, entities, memo)
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
        tests.extend(evaluator(c, entities, memo) for c in others)
        return _joined(tests, every=True)
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
    refs = [entities[c.name] for c in others if type(c) is EntityRef and c.name in entities]
    if len(refs) > 1:  # one set test for them all, among the others by cost
        ids = frozenset(e.id for e in refs)
        others = [c for c in others if not (type(c) is EntityRef and c.name in ids)]
        cheaper = [c for c in others if _cost(c) < _ENTITY_COST]
        tests.extend(_any_of(cheaper, entities, memo))
        tests.append(lambda item: not ids.isdisjoint(item.entity_ids()))
        others = others[len(cheaper) :]
    tests.extend(_any_of(others, entities, memo))
    return _joined(tests, every=False)


def _any_of(
    nodes: list[Node], entities: dict[str, CompiledEntity], memo: KeyMemo | None
) -> list[Eval]:
    """The tests of an OR's children, in order, with its phrases tested together first:
    an item that holds none of the words one of which each phrase needs (its presearch
    keys, see presearch.rule_keys) holds none of them, found by one set test."""
    phrases: list[Node] = []
    words: set[str] = set()
    for node in nodes:
        keys = rule_keys(node, entities, memo) if type(node) is Phrase else None
        if keys is not None and all(kind == "w" for kind, _ in keys):
            phrases.append(node)
            words.update(word for _, word in keys)
    if len(phrases) < 2:
        return [evaluator(c, entities, memo) for c in nodes]
    needed = frozenset(words)
    inner = _joined([evaluator(c, entities, memo) for c in phrases], every=False)
    tests: list[Eval] = []
    for node in nodes:
        if node is phrases[0]:
            tests.append(lambda item: not needed.isdisjoint(item.any_words) and inner(item))
        elif not any(node is p for p in phrases):
            tests.append(evaluator(node, entities, memo))
    return tests


def _inflected(word: str, fld: str | None, forms: frozenset[str]) -> Eval:
    """A word with form keys: itself or a word of the text with one of its forms."""
    either = frozenset({word, *forms})
    if fld is None:
        return lambda item: not either.isdisjoint(item.words)
    name = fld
    return lambda item: not either.isdisjoint(item.words) and item.field_has(name, word, forms)


def plain_word(node: Node) -> TypeGuard[Term]:
    """A whole word as written, in any text field: testable with set operations."""
    return isinstance(node, Term) and not node.prefix and node.field is None and not node.forms


_ENTITY_COST = 5


def _cost(node: Node) -> int:
    """Cheap tests first in AND/OR."""
    if isinstance(node, Term):
        return 3 if node.prefix else 2 if node.forms else 1
    if isinstance(node, Phrase):
        return 4
    if isinstance(node, EntityRef):
        return _ENTITY_COST
    if isinstance(node, Amount):
        return 8
    if isinstance(node, Not):
        return 9
    return 6


def _joined(tests: list[Eval], *, every: bool) -> Eval:
    """One test of them all: every test passes (``every``), or any one does. Two and three
    tests, the usual counts, are joined without a loop."""
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        if every:
            return lambda item: a(item) and b(item)
        return lambda item: a(item) or b(item)
    if len(tests) == 3:
        a, b, c = tests
        if every:
            return lambda item: a(item) and b(item) and c(item)
        return lambda item: a(item) or b(item) or c(item)
    if every:
        return lambda item: all(test(item) for test in tests)
    return lambda item: any(test(item) for test in tests)
