"""Compile all rules once into a term index; match entries against it.

``compile_rules`` parses every enabled rule, finds its presearch keys and gate (see
``monitor.rules.presearch``, which explains the idea) and compiles its query into one test
(``monitor.rules.evaluate``); the keys and gates go into one index. ``RuleMatcher.match``
builds the entry's ``Item``, looks its words up in the index, evaluates only the candidate
rules found there, and collects the spans of the hits (``monitor.rules.spans``).

Inflection and name keys (``monitor.rules.inflect``) are on by default; ``forms=False``
matches every term and alias as written, as if each were written with ``=``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.collector import paused_gc
from monitor.model import FIELDS, TEXT_FIELDS, Entry, Hit, Rule, RuleSet
from monitor.rules.entities import CompiledEntity, alias_gates, compile_entity
from monitor.rules.evaluate import Eval, evaluator, plain_word
from monitor.rules.item import Item
from monitor.rules.presearch import Key, KeyMemo, gate, rule_keys
from monitor.rules.query import (
    Amount,
    And,
    Node,
    Not,
    Or,
    Phrase,
    Term,
    parse_query,
    without_forms,
)
from monitor.rules.spans import collect, explain, explain_plain
from monitor.rules.spans import leaves as unique_leaves
from monitor.rules.tables import Forms, Prefixes, TextWords

__all__ = ["RuleMatcher", "compile_rules"]

#: Every word some rule tests -> (the rules it is a key of, the gated rules it is a gate key
#: of); None for none. See _Index.vocab.
_Vocab = dict[str, tuple[frozenset[int] | None, frozenset[int] | None]]
#: A query compiled once: its test, and the _Compiled fields may_nest, plain and leaves.
_Query = tuple[Eval, bool, tuple[tuple[str, str], ...] | None, tuple[Node, ...]]


@dataclass(slots=True)
class _Compiled:
    """One enabled rule, compiled: its number, its test and how its hits are explained."""

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
    #: order, found without walking the tree (see explain_plain).
    plain: tuple[tuple[str, str], ...] | None = None
    #: The leaves whose spans explain a hit, each once (see spans.leaves).
    leaves: tuple[Node, ...] = ()


@dataclass(slots=True)
class _Terms:
    """What the rules test, gathered while compiling: the whole words (prefixes are tested
    on the full word list), the prefixes (``diaspor*``, the last word of ``"energy corr*"``),
    the form keys of inflected words and names, and the fields they name."""

    words: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)
    forms: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)

    def scan(self, node: Node, leaves: list[Node] | None) -> None:
        """Add what ``node`` tests, and put its leaves outside NOT (the ones whose spans
        explain a hit) in ``leaves``."""
        if isinstance(node, Term):
            if node.prefix:
                self.prefixes.add(node.token)
            else:
                self.words.add(node.token)
            self.forms.update(node.forms)
            if node.field:
                self.fields.add(node.field)
        elif isinstance(node, Phrase):
            if node.prefix:
                self.words.update(node.tokens[:-1])
                self.prefixes.add(node.tokens[-1])
            else:
                self.words.update(node.tokens)
            self.forms.update(*node.forms)
            if node.field:
                self.fields.add(node.field)
        elif isinstance(node, Not):
            self.scan(node.child, None)
            return
        elif isinstance(node, And | Or):
            for child in node.children:
                self.scan(child, leaves)
            return
        if leaves is not None:
            leaves.append(node)

    def add_entities(self, entities: Iterable[CompiledEntity]) -> None:
        """Add the words, prefixes and form keys of the entities' aliases and vetoes."""
        for entity in entities:
            for phrase in (*entity.aliases, *entity.vetoes):
                self.words.update(phrase.words[:-1] if phrase.prefix else phrase.words)
                self.forms.update(*phrase.forms)
                if phrase.prefix:
                    self.prefixes.add(phrase.words[-1])


@dataclass(slots=True)
class _Index:
    """The presearch index while it is built: the rules (by number) each key brings, and
    the gate keys of the gated rules."""

    by_word: dict[str, list[int]] = field(default_factory=dict)
    by_prefix: dict[str, list[int]] = field(default_factory=dict)
    amount_rules: list[int] = field(default_factory=list)
    #: Rules with a second set of keys, one of which an item must also hold (see gate).
    gated: list[int] = field(default_factory=list)
    gate_words: dict[str, list[int]] = field(default_factory=dict)
    gate_prefixes: dict[int, list[str]] = field(default_factory=dict)

    def add(self, index: int, keys: frozenset[Key], gate_keys: frozenset[Key] | None) -> None:
        """Index rule number ``index`` by its keys and, if it has one, its gate."""
        for kind, word in keys:
            if kind == "w":
                self.by_word.setdefault(word, []).append(index)
            elif kind == "p":
                self.by_prefix.setdefault(word, []).append(index)
            else:
                self.amount_rules.append(index)
        if gate_keys is not None:
            self.gated.append(index)
            for kind, word in gate_keys:
                if kind == "w":
                    self.gate_words.setdefault(word, []).append(index)
                else:
                    self.gate_prefixes.setdefault(index, []).append(word)

    def vocab(self, words: set[str]) -> _Vocab:
        """The table of every word some rule tests (``words``) or is keyed or gated on."""
        # One table for all words: an item's words are found in it (a C-level intersection
        # with the item's tokens), and the rules each one keys or gates are then read from
        # the same, recently touched entries. Separate tables for the vocabulary, the keys
        # and the gates meant four look-ups per word in large tables, a good part of the
        # time at 10,000 rules. Frozensets of rule numbers merge into a set without hashing
        # each number again.
        by_word, gate_words = self.by_word, self.gate_words
        return {
            word: (
                frozenset(by_word[word]) if word in by_word else None,
                frozenset(gate_words[word]) if word in gate_words else None,
            )
            for word in words.union(by_word, gate_words)
        }


def _compile_query(
    node: Node, entities: dict[str, CompiledEntity], memo: KeyMemo, terms: _Terms
) -> _Query:
    """A query's test and how its hits are explained; what it tests is added to ``terms``."""
    leaves: list[Node] = []
    terms.scan(node, leaves)
    # A term's spans are each of another word, an amount's of another amount, and a match
    # names its term's text: only a text written twice, an entity's aliases or a phrase's
    # runs can give one span twice or one inside another.
    texts = [leaf.text for leaf in leaves if type(leaf) is Term or type(leaf) is Amount]
    may_nest = len(texts) != len(leaves) or len(set(texts)) != len(texts)
    plain = (
        tuple((leaf.token, leaf.text) for leaf in leaves if plain_word(leaf))
        if not may_nest and all(plain_word(leaf) for leaf in leaves)
        else None
    )
    return evaluator(node, entities, memo), may_nest, plain, unique_leaves(node)


class RuleMatcher:
    """The compiled rules. ``match`` is pure: an entry in, hits with spans out.
    ``forms=False``: every term and alias matched as written (no inflection, no names)."""

    def __init__(self, ruleset: RuleSet, *, forms: bool = True) -> None:
        self.rules: dict[str, Rule] = ruleset.by_id()
        self.forms = forms
        self.entities: dict[str, CompiledEntity] = {
            e.id: compile_entity(e, forms=forms) for e in ruleset.entities
        }
        self._compiled: list[_Compiled] = []
        index = _Index()
        terms = _Terms()
        self._compile(ruleset.rules, index, terms)
        terms.add_entities(self.entities.values())
        self._by_prefix = {p: tuple(ids) for p, ids in index.by_prefix.items()}
        self._prefix_keys = frozenset(self._by_prefix)
        self._amount_rules = tuple(index.amount_rules)
        self._gated = frozenset(index.gated)
        self._gate_prefix_of = {rule: tuple(p) for rule, p in index.gate_prefixes.items()}
        self._gate_prefix_rules = frozenset(index.gate_prefixes)
        self._gate_prefix_sets = {rule: frozenset(p) for rule, p in index.gate_prefixes.items()}
        self._vocab: _Vocab = index.vocab(terms.words | terms.forms)
        self._prefixes = Prefixes(terms.prefixes)
        self._forms = Forms(terms.forms)
        self._text_words = TextWords(self._vocab.keys(), self._prefixes, self._forms)
        #: The words of the vocabulary that key or gate some rule (most only are tested).
        self._keying = frozenset(w for w, (k, g) in self._vocab.items() if k or g)
        self._gates = alias_gates(self.entities.values())
        self._extra_fields = tuple(f for f in FIELDS if f in terms.fields and f not in TEXT_FIELDS)

    def _compile(self, rules: Iterable[Rule], index: _Index, terms: _Terms) -> None:
        """Compile the enabled ``rules`` into ``self._compiled`` and ``index``."""
        entities = self.entities
        #: rule_keys of every node, computed once (ids stay valid: the nodes live on).
        memo: KeyMemo = {}
        #: The same query text parses to the same tree: compile it once.
        seen: dict[int, _Query] = {}
        #: The trees without form keys, by the parsed tree's id (forms=False).
        seen_plain: dict[int, Node] = {}
        for rule in rules:
            if not rule.enabled:
                continue
            node = parse_query(rule.query)
            if not self.forms:
                as_written = seen_plain.get(id(node))
                if as_written is None:
                    as_written = seen_plain[id(node)] = without_forms(node)
                node = as_written
            keys = rule_keys(node, entities, memo)
            if keys is None:
                continue  # the loader rejects these; a hand-made RuleSet may still hold one
            found = seen.get(id(node))
            if found is None:
                found = seen[id(node)] = _compile_query(node, entities, memo, terms)
            test, may_nest, plain, explained = found
            number = len(self._compiled)
            self._compiled.append(
                _Compiled(
                    number, rule, node, test, frozenset(rule.feeds), may_nest, plain, explained
                )
            )
            index.add(number, keys, gate(node, keys, entities, memo))

    def __len__(self) -> int:
        return len(self._compiled)

    def candidates(self, item: Item) -> list[int]:
        """The numbers of the rules the presearch index lets through for ``item``, sorted."""
        vocab = self._vocab
        found: set[int] = set()
        #: Gated rules that a word of the item lets through.
        passed: set[int] = set()
        for word in self._keying & item.any_words:
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
                if prefixed and self._prefix_keys:  # item.starts is known: a set test a rule
                    starts, sets = item.starts, self._gate_prefix_sets
                    failed.difference_update(
                        [r for r in prefixed if not sets[r].isdisjoint(starts)]
                    )
                elif prefixed:
                    self._pass_prefix_gates(item, prefixed, failed)
                found -= failed
        return sorted(found)

    def _pass_prefix_gates(self, item: Item, rules: set[int], failed: set[int]) -> None:
        """Take out of ``failed`` the ``rules`` whose gate has a prefix that some word of
        the item starts with."""
        prefixes_of = self._gate_prefix_of
        lowered = None if item.extra_words else item.joined_lower()
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

    def item(self, entry: Entry) -> Item:
        """``entry`` as the rules see it: what ``match`` evaluates them on."""
        return Item(entry, self._vocab, self._extra_fields, self._text_words, self._gates)

    def match(self, entry: Entry) -> list[Hit]:
        """The hits of every enabled rule on ``entry``, each with its matched spans."""
        item = Item(  # not self.item(): a call less
            entry, self._vocab, self._extra_fields, self._text_words, self._gates
        )
        return self._evaluate(entry, item, self.candidates(item))

    def match_exhaustive(self, entry: Entry) -> list[Hit]:
        """``match`` without the presearch index: every rule is evaluated. For checks."""
        return self._evaluate(entry, self.item(entry), range(len(self._compiled)))

    def _evaluate(self, entry: Entry, item: Item, indexes: Iterable[int]) -> list[Hit]:
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
                    matches = explain_plain(plain, item)
                elif c.may_nest:
                    matches = explain(c.leaves, item, self.entities)
                else:
                    matches = []
                    collect(c.node, item, self.entities, matches)
                hits.append(Hit(rule.id, rule.version, rule.priority, tuple(matches)))
        return hits


def compile_rules(ruleset: RuleSet, *, forms: bool = True) -> RuleMatcher:
    """Compile every enabled rule of ``ruleset`` into one matcher (``forms``: see
    RuleMatcher)."""
    with paused_gc(promote=True):
        return RuleMatcher(ruleset, forms=forms)
