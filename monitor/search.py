"""A rule query -> what the full-text index is asked (a ``Prefilter``), pure.

The archive's search box takes the rule syntax. The index holds the folded words of each
item's title, summary and content (store/search.py), so a term, a prefix and a phrase of
those fields ask it exactly; an entity asks for any of its aliases. What the index cannot
tell is left out, which only widens the answer: NOT (an item without the word is not
known to match), amounts, slop (the words are asked for, not their distance), the fields
the index does not hold (author, feed, domain, lang). The rules then check every item the
index gives, so the page shows exactly what a rule with this query would have caught.

``prefilter`` returns None when nothing can be asked (``amount:>1e9`` alone): every item
is then a candidate.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.archive import AllOf, AnyOf, Prefilter, Words
from monitor.model import TEXT_FIELDS
from monitor.rules.entities import CompiledEntity
from monitor.rules.query import Amount, And, EntityRef, Node, Not, Or, Phrase, Term

__all__ = ["prefilter"]


def prefilter(node: Node, entities: Mapping[str, CompiledEntity]) -> Prefilter | None:
    """What every item that ``node`` matches holds, for the full-text index; None when
    nothing can be said (every item is a candidate)."""
    if isinstance(node, Term):
        fields = _fields(node.field)
        if fields is None:
            return None
        return Words((node.token,), fields, node.prefix, phrase=False)
    if isinstance(node, Phrase):
        fields = _fields(node.field)
        if fields is None:
            return None
        return Words(node.tokens, fields, node.prefix, phrase=node.slop == 0)
    if isinstance(node, EntityRef):
        entity = entities.get(node.name)
        if entity is None or not entity.aliases:
            return None
        return _any(
            tuple(Words(a.words, (), a.prefix, phrase=len(a.words) > 1) for a in entity.aliases)
        )
    if isinstance(node, Amount | Not):
        return None
    if isinstance(node, And):
        parts = tuple(p for p in (prefilter(c, entities) for c in node.children) if p is not None)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else AllOf(parts)
    if isinstance(node, Or):
        found = [prefilter(c, entities) for c in node.children]
        if any(p is None for p in found):
            return None
        return _any(tuple(p for p in found if p is not None))
    return None  # pragma: no cover - every node kind is handled above


def _fields(field: str | None) -> tuple[str, ...] | None:
    """The index columns a term of ``field`` is in; None when the index has not got it."""
    if field is None:
        return ()
    return (field,) if field in TEXT_FIELDS else None


def _any(parts: tuple[Prefilter, ...]) -> Prefilter:
    return parts[0] if len(parts) == 1 else AnyOf(parts)
