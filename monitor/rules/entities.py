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

from dataclasses import dataclass, field

from monitor.model import Entity
from monitor.rules.inflect import EMPTY, phrase_forms, text_forms
from monitor.rules.text import tokens_with_spans

__all__ = ["CompiledEntity", "EntityPhrase", "compile_entity", "compile_phrase"]


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
    #: One necessary word per alias (a word it needs, or each word or form key of its
    #: first inflected word): an item holds only the aliases under its words, so an entity
    #: with a hundred aliases tests a few of them (``Item.present_aliases``).
    by_word: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False)
    #: The aliases that need no whole word, under the prefix of their last word.
    by_prefix: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False)


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
    by_word, by_prefix = _gates(aliases)
    return CompiledEntity(entity.id, aliases, vetoes, namesakes, contexts, by_word, by_prefix)


def _gates(
    aliases: tuple[EntityPhrase, ...],
) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Each alias under one test that ``Item.has_words`` makes first: the longest word it
    needs (the rarest, as a rule), else every member of its first set of options, else the
    prefix of its last word."""
    by_word: dict[str, list[int]] = {}
    by_prefix: dict[str, list[int]] = {}
    for index, alias in enumerate(aliases):
        if alias.needed:
            by_word.setdefault(max(sorted(alias.needed), key=len), []).append(index)
        elif alias.options:
            for word in alias.options[0]:
                by_word.setdefault(word, []).append(index)
        else:  # one word, a prefix: nothing else can be needed
            by_prefix.setdefault(alias.words[-1], []).append(index)
    return (
        {w: tuple(ids) for w, ids in by_word.items()},
        {p: tuple(ids) for p, ids in by_prefix.items()},
    )


def _holds_alias(veto: EntityPhrase, aliases: tuple[EntityPhrase, ...]) -> bool:
    """Whether some alias stands among the words of a veto phrase, read as text."""
    body = veto.text[1:] if veto.text.startswith("=") else veto.text
    words, spans = tokens_with_spans(body.rstrip("*"))
    forms = [text_forms(body[start:end]) for start, end in spans]
    return any(alias.matches_at(words, forms, at) for alias in aliases for at in range(len(words)))
