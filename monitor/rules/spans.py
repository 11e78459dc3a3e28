"""The spans of a hit: which terms of a rule matched, and where in the original text.

Only for a rule that hits are the character spans of its matched terms collected
(``TermMatch``), pointing into the original field text. The spans of a word are found once
per item (see ``Item.text_spans``) and shared by every rule that hits it.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.model import TEXT_FIELDS, TermMatch
from monitor.rules.entities import CompiledEntity
from monitor.rules.item import Item
from monitor.rules.query import Amount, And, EntityRef, Node, Not, Or, Phrase, Term

__all__ = ["collect", "explain", "explain_plain", "leaves"]


def explain(
    leaves: Sequence[Node], item: Item, entities: dict[str, CompiledEntity]
) -> list[TermMatch]:
    """The spans of a query's terms in the item, each once, for a query whose spans may
    repeat or nest (an entity's aliases, phrases, a term written twice). ``leaves``: the
    query's leaves outside NOT in query order, each once (see ``leaves``)."""
    out: list[TermMatch] = []
    for leaf in leaves:
        collect(leaf, item, entities, out)
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


def leaves(node: Node) -> tuple[Node, ...]:
    """The leaves of ``node`` outside NOT, in query order, as ``collect`` walks them, but
    each leaf once: a leaf written again (the same entity in several branches) gives the
    same spans again, which ``explain`` would drop as repeats."""
    found: dict[tuple[Node, str], Node] = {}
    _gather(node, found)
    return tuple(found.values())


def _gather(node: Node, found: dict[tuple[Node, str], Node]) -> None:
    if isinstance(node, And | Or):
        for child in node.children:
            _gather(child, found)
    elif not isinstance(node, Not):
        # The text is not part of a node's equality, and every span carries it.
        found.setdefault((node, node.text), node)


def collect(
    node: Node, item: Item, entities: dict[str, CompiledEntity], out: list[TermMatch]
) -> None:
    """Spans of the terms of ``node`` that are in the item (none under NOT)."""
    if isinstance(node, Term):
        token = node.token
        if node.forms:
            either = node.forms | {token}
            if not either.isdisjoint(item.words):
                for name, start, end in item.term_spans(token, node.forms, node.field):
                    out.append(TermMatch(node.text, name, start, end))
            return
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
                places = sorted(s for w in words for s in item.word_spans(name, w))
            else:
                places = item.word_spans(name, token)
            for start, end in places:
                out.append(TermMatch(node.text, name, start, end))
    elif isinstance(node, And | Or):
        for child in node.children:
            collect(child, item, entities, out)
    elif isinstance(node, Phrase):
        forms = node.forms
        for j, word in enumerate(node.tokens[:-1] if node.prefix else node.tokens):
            if word not in item.any_words and (not forms or forms[j].isdisjoint(item.any_words)):
                return
        for name, where in item.phrase(
            node.tokens, node.field, node.slop, node.prefix, False, forms
        ):
            out.extend(_phrase_spans(node.text, name, where, item))
    elif isinstance(node, EntityRef):
        entity = entities.get(node.name)
        if entity is None or node.name not in item.entity_ids():
            return
        spans = item.cached_entity_spans(entity.id)
        if spans is None:  # a rule may name an entity often: its spans are found once
            spans = []
            _entity_spans(entity, item, spans)
            item.cache_entity_spans(entity.id, spans)
        text = node.text
        out.extend(TermMatch(text, name, start, end) for name, start, end in spans)
    elif isinstance(node, Amount):
        for value, name, start, end in item.amounts():
            if node.contains(value):
                out.append(TermMatch(node.text, name, start, end))


def explain_plain(terms: tuple[tuple[str, str], ...], item: Item) -> list[TermMatch]:
    """``explain`` of a rule whose terms are plain words, each written once (most rules):
    what collect would gather, without walking the tree. Every span is of another word or
    place, so none repeats or nests in another."""
    out: list[TermMatch] = []
    words = item.words
    for token, text in terms:
        if token in words:
            for name, start, end in item.text_spans(token):
                out.append(TermMatch(text, name, start, end))
    return out


def _phrase_spans(term: str, name: str, positions: tuple[int, ...], item: Item) -> list[TermMatch]:
    """One span per run of neighbouring words (a whole exact phrase is one run)."""
    return [TermMatch(term, *place) for place in _phrase_places(name, positions, item)]


def _phrase_places(name: str, positions: tuple[int, ...], item: Item) -> list[tuple[str, int, int]]:
    """(field, start, end) of each run of neighbouring words among ``positions``."""
    out: list[tuple[str, int, int]] = []
    ordered = sorted(positions)
    first = prev = ordered[0]
    for p in [*ordered[1:], None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        start = item.span(name, first)[0]
        end = item.span(name, prev)[1] if prev != first else item.span(name, first)[1]
        out.append((name, start, end))
        if p is not None:
            first = prev = p
    return out


def _entity_spans(entity: CompiledEntity, item: Item, out: list[tuple[str, int, int]]) -> None:
    """(field, start, end) of every occurrence of the entity's aliases in the item,
    outside its namesake vetoes."""
    if any(item.has_words(veto) for veto in entity.namesakes):
        for name, where in item.alias_hits(entity):
            out.extend(_phrase_places(name, where, item))
        return
    for alias in item.present_aliases(entity):
        found: list[tuple[str, int, int]] | None = None
        if len(alias.words) == 1:  # one word: find it directly
            word = alias.words[0]
            if alias.prefix:
                found = _prefix_spans(item, word)
            else:
                forms = alias.forms[0] if alias.forms else None
                found = item.term_spans(word, forms) if forms else item.text_spans(word)
        if found is not None:
            out.extend(found)
        else:
            for name, where in item.phrase(alias.words, None, 0, alias.prefix, False, alias.forms):
                out.extend(_phrase_places(name, where, item))


def _prefix_spans(item: Item, prefix: str) -> list[tuple[str, int, int]] | None:
    """(field, start, end) of every word of the text fields that starts with a folded
    prefix, in field and text order, from str.find on the lowered text (ASCII); None
    for other text (then the words' positions answer)."""
    lowered = item.joined_lower()
    if lowered is None or not prefix:
        return None
    entry = item.entry
    summary_at = len(entry.title) + 1
    content_at = summary_at + len(entry.summary) + 1
    out: list[tuple[str, int, int]] = []
    size = len(lowered)
    at = lowered.find(prefix)
    while at != -1:
        if at == 0 or not lowered[at - 1].isalnum():
            end = at + len(prefix)
            while end < size and lowered[end].isalnum():
                end += 1
            if at < summary_at:
                out.append(("title", at, end))
            elif at < content_at:
                out.append(("summary", at - summary_at, end - summary_at))
            else:
                out.append(("content", at - content_at, end - content_at))
        at = lowered.find(prefix, at + 1)
    return out
