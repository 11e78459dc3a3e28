"""Entities compiled for matching: each alias and veto phrase as folded words and forms.

An entity (``entity:omuraliev``) matches an item that holds one of its aliases outside
every veto phrase; the item's side of that test is ``Item.entity``. Alias and veto words
have the form keys of their language and, when written with a capital letter, a name key
(``monitor.rules.inflect``); a phrase written with a leading ``=`` is matched exactly.

A veto is one of two kinds. A *namesake* holds an alias ("Emine Erdoğan" holds Erdoğan):
it takes away only the alias occurrences inside it, so "President Erdoğan and his wife
Emine Erdoğan" still names the president. A *context* holds no alias ("Office of Thrift
Supervision" for the OTS): it says what the alias means in that item, and takes the
entity out of the whole item.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, field

from monitor.model import Entity
from monitor.rules.inflect import EMPTY, phrase_forms, text_forms
from monitor.rules.text import tokens_with_spans

__all__ = [
    "AliasGates",
    "CompiledEntity",
    "EntityPhrase",
    "alias_gates",
    "compile_entity",
    "compile_phrase",
]


@dataclass(frozen=True, slots=True)
class EntityPhrase:
    """An alias or veto phrase as folded words; ``prefix``: the last word is a prefix;
    ``forms``: the form keys of each word (empty for a word matched as written)."""

    words: tuple[str, ...]
    prefix: bool
    text: str
    forms: tuple[frozenset[str], ...] = field(default=(), compare=False)
    #: The whole words an item must hold (all but a last prefix, and but the words with
    #: forms): one C-level subset test.
    needed: frozenset[str] = field(default=frozenset(), compare=False)
    #: For each word with forms, the word and its forms: an item holds one of each.
    options: tuple[frozenset[str], ...] = field(default=(), compare=False)

    def matches_at(self, words: list[str], forms: list[frozenset[str]], at: int) -> bool:
        """Whether the phrase stands at position ``at`` of folded words with their forms."""
        n = len(self.words)
        if at + n > len(words):
            return False
        for j, word in enumerate(self.words):
            found = words[at + j]
            if self.prefix and j == n - 1:
                if not found.startswith(word):
                    return False
            elif found != word and (not self.forms or self.forms[j].isdisjoint(forms[at + j])):
                return False
        return True


@dataclass(frozen=True, slots=True)
class CompiledEntity:
    id: str
    aliases: tuple[EntityPhrase, ...]
    vetoes: tuple[EntityPhrase, ...]
    #: The vetoes that hold an alias: they take away only what is inside them.
    namesakes: tuple[EntityPhrase, ...] = ()
    #: The vetoes that hold none: they take the entity out of the whole item.
    contexts: tuple[EntityPhrase, ...] = ()


def compile_phrase(text: str, *, forms: bool = True) -> EntityPhrase | None:
    """An alias or veto: ``=`` first for the exact form, ``*`` last for a prefix.
    ``forms=False``: as written, whatever the phrase says (the matcher's switch)."""
    raw = text.strip()
    exact = raw.startswith("=")
    body = raw[1:] if exact else raw
    prefix = body.rstrip().endswith("*")
    inflect = forms and not exact
    words, keys = phrase_forms(body.rstrip().rstrip("*"), inflect=inflect, names=inflect)
    forms_of = _forms(keys, prefix)
    if not words:
        return None
    exact_words = [
        w
        for j, w in enumerate(words)
        if not (prefix and j == len(words) - 1) and not _has(forms_of, j)
    ]
    options = tuple(
        frozenset({words[j], *forms_of[j]}) for j in range(len(words)) if _has(forms_of, j)
    )
    return EntityPhrase(words, prefix, raw, forms_of, frozenset(exact_words), options)


def _forms(keys: tuple[frozenset[str], ...], prefix: bool) -> tuple[frozenset[str], ...]:
    """The form keys of a phrase's words; a last prefix has none; () if no word has any."""
    if prefix and keys:
        keys = (*keys[:-1], EMPTY)
    return keys if any(keys) else ()


def _has(forms: tuple[frozenset[str], ...], j: int) -> bool:
    return bool(forms) and bool(forms[j])


def compile_entity(entity: Entity, *, forms: bool = True) -> CompiledEntity:
    """``forms=False``: every alias and veto as written (the matcher's switch)."""
    found = [compile_phrase(a, forms=forms) for a in (entity.name, *entity.aliases)]
    aliases = tuple(dict.fromkeys(a for a in found if a is not None))
    vetoes = tuple(
        v for v in (compile_phrase(v, forms=forms) for v in entity.not_) if v is not None
    )
    namesakes = tuple(v for v in vetoes if _holds_alias(v, aliases))
    contexts = tuple(v for v in vetoes if v not in namesakes)
    return CompiledEntity(entity.id, aliases, vetoes, namesakes, contexts)


#: An alias of an entity: the entity's id and the alias's place among its aliases.
AliasRef = tuple[str, int]


@dataclass(frozen=True, slots=True)
class AliasGates:
    """Every alias of every entity under one thing an item must hold to hold it: a whole
    word, or a prefix. An item looks its words up once (``by_words``) and then tests in
    full only the aliases found, not the hundreds of all the entities; an entity's prefix
    aliases are tested one by one when the entity is (most entities have few)."""

    by_word: dict[str, tuple[AliasRef, ...]]
    #: Per entity, its aliases that need no whole word, under the prefix of their last word.
    by_prefix: dict[str, tuple[tuple[str, int], ...]]
    #: Per prefix, the entities that have an alias gated on it.
    prefix_entities: dict[str, frozenset[str]] = field(default_factory=dict)
    #: The entities themselves, by id.
    entities: dict[str, CompiledEntity] = field(default_factory=dict)
    #: The word-gated aliases that need more words than their gate.
    wider: dict[AliasRef, EntityPhrase] = field(default_factory=dict)

    def by_words(self, words: Set[str]) -> dict[str, set[int]]:
        """The aliases, by entity id, whose gate word is among an item's words (with
        their form keys) and that need no word the item lacks: "Turkic Council" is gated
        on "council", and an item with "council" but not "Turkic" has none of its words'
        aliases (most general news, where "council" is common)."""
        out: dict[str, set[int]] = {}
        table, wider = self.by_word, self.wider
        for key in table.keys() & words:
            for ref in table[key]:
                alias = wider.get(ref)
                if alias is not None and not (
                    alias.needed <= words
                    and not any(option.isdisjoint(words) for option in alias.options)
                ):
                    continue
                entity_id, index = ref
                found = out.get(entity_id)
                if found is None:
                    out[entity_id] = {index}
                else:
                    found.add(index)
        return out


def alias_gates(entities: Iterable[CompiledEntity]) -> AliasGates:
    """Each alias under the longest of the things it needs (the rarest, as a rule; "of"
    is never the gate of "Organization of Turkic States"): a whole word, each word or form
    key of an inflected word, or the prefix of its last word."""
    by_word: dict[str, list[AliasRef]] = {}
    by_prefix: dict[str, list[tuple[str, int]]] = {}
    table: dict[str, CompiledEntity] = {}
    wider: dict[AliasRef, EntityPhrase] = {}
    for entity in entities:
        table[entity.id] = entity
        for index, alias in enumerate(entity.aliases):
            # (length of the word, is a prefix, the keys): one key of the set must be there
            choices: list[tuple[int, bool, frozenset[str]]] = [
                (len(w), False, frozenset({w})) for w in alias.needed
            ]
            heads = [j for j in range(len(alias.words)) if alias.forms and alias.forms[j]]
            choices += [
                (len(alias.words[j]), False, option)
                for j, option in zip(heads, alias.options, strict=True)
            ]
            if alias.prefix:
                choices.append((len(alias.words[-1]), True, frozenset({alias.words[-1]})))
            _, is_prefix, keys = max(choices, key=lambda o: (o[0], not o[1], sorted(o[2])))
            for key in keys:
                if is_prefix:
                    by_prefix.setdefault(entity.id, []).append((key, index))
                else:
                    by_word.setdefault(key, []).append((entity.id, index))
            if not is_prefix and len(alias.needed) + len(alias.options) > 1:
                wider[entity.id, index] = alias
    prefix_entities: dict[str, set[str]] = {}
    for entity_id, refs in by_prefix.items():
        for prefix, _ in refs:
            prefix_entities.setdefault(prefix, set()).add(entity_id)
    return AliasGates(
        {w: tuple(refs) for w, refs in by_word.items()},
        {e: tuple(refs) for e, refs in by_prefix.items()},
        {p: frozenset(ids) for p, ids in prefix_entities.items()},
        table,
        wider,
    )


def _holds_alias(veto: EntityPhrase, aliases: tuple[EntityPhrase, ...]) -> bool:
    """Whether some alias stands among the words of a veto phrase, read as text."""
    body = veto.text[1:] if veto.text.startswith("=") else veto.text
    words, spans = tokens_with_spans(body.rstrip("*"))
    forms = [text_forms(body[start:end]) for start, end in spans]
    return any(alias.matches_at(words, forms, at) for alias in aliases for at in range(len(words)))
