"""Entities compiled for matching: each alias and veto phrase as folded words.

An entity (``entity:omuraliev``) matches an item that holds any of its aliases and none of
its vetoes; the item's side of that test is ``Item.entity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.model import Entity
from monitor.rules.text import analyze

__all__ = ["CompiledEntity", "EntityPhrase", "compile_entity"]


@dataclass(frozen=True, slots=True)
class EntityPhrase:
    """An alias or veto phrase as folded words; ``prefix``: the last word is a prefix."""

    words: tuple[str, ...]
    prefix: bool
    text: str
    #: The whole words an item must hold (all but a last prefix): one C-level subset test.
    needed: frozenset[str] = field(compare=False)


@dataclass(frozen=True, slots=True)
class CompiledEntity:
    id: str
    aliases: tuple[EntityPhrase, ...]
    vetoes: tuple[EntityPhrase, ...]


def _compile_phrase(text: str) -> EntityPhrase | None:
    raw = text.strip()
    prefix = raw.endswith("*")
    words = tuple(analyze(raw.rstrip("*")))
    if not words:
        return None
    return EntityPhrase(words, prefix, raw, frozenset(words[:-1] if prefix else words))


def compile_entity(entity: Entity) -> CompiledEntity:
    aliases = [_compile_phrase(a) for a in (entity.name, *entity.aliases)]
    vetoes = [_compile_phrase(v) for v in entity.not_]
    return CompiledEntity(
        entity.id,
        tuple(dict.fromkeys(a for a in aliases if a is not None)),
        tuple(v for v in vetoes if v is not None),
    )
