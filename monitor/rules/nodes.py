"""The query tree: the nodes a parsed query is made of, and the error a bad query raises.
Built by query.py, read by the presearch, evaluation, spans and search."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field

from monitor.rules.inflect import EMPTY

__all__ = ["Amount", "And", "EntityRef", "Node", "Not", "Or", "Phrase", "QueryError", "Term"]


@dataclass(frozen=True, slots=True)
class Term:
    """One word, or a word prefix (``diaspor*``), optionally in one field."""

    token: str
    field: str | None = None
    prefix: bool = False
    text: str = _field(default="", compare=False)
    pos: int = _field(default=0, compare=False)
    #: The word's form keys: it also matches a word of the text that has one of them.
    forms: frozenset[str] = EMPTY


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words in order (slop 0), or all within ``slop`` moves of each other."""

    tokens: tuple[str, ...]
    field: str | None = None
    slop: int = 0
    #: The last word is a prefix (an alias or term like ``al-Far*``).
    prefix: bool = False
    text: str = _field(default="", compare=False)
    pos: int = _field(default=0, compare=False)
    #: The form keys of each word; () when no word has any.
    forms: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True, slots=True)
class EntityRef:
    """Any alias of an entity (``entity:omuraliev``)."""

    name: str
    text: str = _field(default="", compare=False)
    pos: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Amount:
    """A money amount in the text, in US dollars, within [low, high]."""

    low: float | None = None
    high: float | None = None
    include_low: bool = True
    include_high: bool = True
    text: str = _field(default="", compare=False)
    pos: int = _field(default=0, compare=False)

    def contains(self, value: float) -> bool:
        if self.low is not None and (
            value < self.low or (value == self.low and not self.include_low)
        ):
            return False
        return not (
            self.high is not None
            and (value > self.high or (value == self.high and not self.include_high))
        )


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]
    pos: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    pos: int = _field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    pos: int = _field(default=0, compare=False)


Node = Term | Phrase | EntityRef | Amount | And | Or | Not


class QueryError(ValueError):
    """A query is wrong. ``problems`` holds (position in the query, message) pairs."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"at {pos}: {msg}" for pos, msg in problems))
