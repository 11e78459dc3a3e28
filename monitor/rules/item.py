"""An entry as the rules see it: its words, and the searches the rules run on them.

``Item`` holds the entry's words that some rule tests and computes everything else lazily,
once per item, for every rule that asks: a field's words, their positions and character
spans, the dollar amounts, whether an entity is present. Phrases and ``"a b"~N`` are checked
on word positions within one field. The spans of a word come from one search of the item's
joined text fields (ASCII), or one tokenising pass over them (other scripts), shared by
every rule that hits the item. A word of the text also stands for the form keys it has
(``monitor.rules.inflect``): the ones some rule uses join the item's words, and a phrase
with inflected words is found on the positions whose words match them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence

from monitor.model import TEXT_FIELDS, Entry
from monitor.rules.amounts import find_amounts
from monitor.rules.entities import AliasGates, CompiledEntity, EntityPhrase
from monitor.rules.phrases import runs, sloppy, starts
from monitor.rules.tables import TextWords
from monitor.rules.text import tokens, tokens_with_spans

__all__ = ["Item"]

#: (field, word positions) of one occurrence of a phrase.
Hit = tuple[str, tuple[int, ...]]

#: The text fields are title, summary and content, in this order: the item's joined text
#: (``title\nsummary\ncontent``) can then be searched once for all three.
_JOINED_FIELDS = TEXT_FIELDS == ("title", "summary", "content")


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


class Item:
    """One entry as the engine sees it; everything beyond the word set is computed lazily.

    ``words`` holds only the item's words that some rule mentions (the rules' vocabulary):
    a small set, found by one C-level intersection, and enough to answer every membership
    test a rule asks; it also holds the rules' form keys that some word of the text has.
    Prefix tests search the lowered text (ASCII) or the full word list. Both cover the text
    fields only (title, summary, content); ``any_words`` adds the words of the other
    fields that some rule names (``feed:``, ``author:``, ``domain:``, ``lang:``), for the
    presearch and as a quick test before a field is tokenised. The keys of ``vocab`` are
    the rules' vocabulary; ``extra_fields`` are the other fields.
    """

    __slots__ = (
        "_all",
        "_amounts",
        "_candidates",
        "_distinct",
        "_entities",
        "_entity_ids",
        "_entity_spans",
        "_field_forms",
        "_formed",
        "_forms",
        "_gates",
        "_joined",
        "_joined_lower",
        "_lower",
        "_pos",
        "_prefix_gated",
        "_prefix_hits",
        "_prefixes",
        "_present",
        "_sorted",
        "_spans",
        "_text_spans",
        "_tokens",
        "_word_spans",
        "any_words",
        "entry",
        "extra_words",
        "words",
    )

    def __init__(
        self,
        entry: Entry,
        vocab: Mapping[str, object],
        extra_fields: Sequence[str],
        text_words: TextWords,
        gates: AliasGates,
    ) -> None:
        self.entry = entry
        joined = f"{entry.title}\n{entry.summary}\n{entry.content}"
        #: The words of the text; its distinct folded words when at hand (ASCII text);
        #: its words (as written; folded if ASCII) with rule form keys; the item's text
        #: words that appear in some rule and the rules' form keys some word of the text
        #: has; the rule prefixes its words start with, when known.
        self._all, self._distinct, self._formed, self.words, starts = text_words.read(joined)
        extra: list[str] = []
        for name in extra_fields:
            extra.extend(tokens(entry.field_text(name)))
        #: The words of the other fields a rule names (``feed:``, ``author:``...).
        self.extra_words = extra
        #: ``words`` and the other fields' words that appear in some rule.
        self.any_words = self.words | (vocab.keys() & extra) if extra else self.words
        self._prefixes = text_words.prefixes
        self._forms = text_words.forms
        self._gates = gates
        self._candidates: dict[str, set[int]] | None = None
        self._prefix_gated: set[str] | None = None
        self._field_forms: dict[str, list[frozenset[str]]] = {}
        self._prefix_hits: set[str] | None = None if extra else starts
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
        self._entity_ids: frozenset[str] | None = None
        #: Per entity, its aliases whose words are all in the item (see present_aliases).
        self._present: dict[str, tuple[EntityPhrase, ...]] = {}
        #: Per entity, the (field, start, end) of its aliases in the item (spans.collect).
        self._entity_spans: dict[str, list[tuple[str, int, int]]] = {}

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
        places = _whole_word_starts(lowered, word)
        if not places:
            return []
        entry = self.entry
        summary_at = len(entry.title) + 1
        content_at = summary_at + len(entry.summary) + 1
        size = len(word)
        out = []
        for at in places:
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

    def field_forms(self, name: str) -> list[frozenset[str]]:
        """The rules' form keys of each word of a field, by position."""
        found = self._field_forms.get(name)
        if found is None:
            of_word = self._forms.of_word
            if self.lowered(name) is not None:
                found = [of_word(word) for word in self.field_tokens(name)]
            else:
                text = self.entry.field_text(name)
                found = [of_word(text[start:end]) for start, end in self.field_spans(name)]
            self._field_forms[name] = found
        return found

    def _matching(self, name: str, word: str, forms: frozenset[str]) -> list[int]:
        """Positions of a field whose word is ``word`` or has one of ``forms``."""
        if not forms:
            return self.positions(name).get(word, [])
        if self._distinct is not None:
            # ASCII: the field's words are among the item's, and the ones with rule form
            # keys are known (_formed): their places, not every word's forms.
            pos = self.positions(name)
            places = pos.get(word, [])
            others = [
                w for w, has in self._formed.items() if w != word and not forms.isdisjoint(has)
            ]
            if others:
                places = sorted([*places, *(p for w in others for p in pos.get(w, ()))])
            return places
        toks = self.field_tokens(name)
        found = self.field_forms(name)
        return [i for i, tok in enumerate(toks) if tok == word or not forms.isdisjoint(found[i])]

    def field_has(self, name: str, word: str, forms: frozenset[str]) -> bool:
        """Whether a field holds ``word`` or a word with one of ``forms``."""
        return word in self.field_tokens(name) or any(
            not forms.isdisjoint(found) for found in self.field_forms(name)
        )

    def term_spans(
        self, word: str, forms: frozenset[str], field: str | None = None
    ) -> list[tuple[str, int, int]]:
        """(field, start, end) of every word that is ``word`` or has one of ``forms``, in
        the text fields (or one field), in field order and then text order."""
        if field is None and self.joined_lower() is not None:
            # ASCII: the words are their own originals; find each matching one at once.
            words = [w for w, found in self._formed.items() if not forms.isdisjoint(found)]
            if word not in words:
                words.append(word)
            spans = [span for w in words for span in self.text_spans(w)]
            if len(words) == 1:
                return spans
            order = {name: i for i, name in enumerate(TEXT_FIELDS)}
            return sorted(spans, key=lambda s: (order[s[0]], s[1]))
        return [
            (name, *self.span(name, at))
            for name in (TEXT_FIELDS if field is None else (field,))
            for at in self._matching(name, word, forms)
        ]

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
            bool(self.extra_words) and any(w.startswith(prefix) for w in self.extra_words)
        )

    @property
    def starts(self) -> set[str]:
        """The rule prefixes that some word of the item (any field) starts with."""
        found = self._prefix_hits
        if found is None:
            words = self._distinct if self._distinct is not None else set(self._all)
            if self.extra_words:
                words = words.union(self.extra_words)
            found = self._prefix_hits = self._prefixes.of_words(words)
        return found

    def has_prefix(self, prefix: str, field: str | None) -> bool:
        if field is None:
            return self.has_start(prefix)
        if field in TEXT_FIELDS and not self.has_start(prefix):
            return False
        return any(w.startswith(prefix) for w in self.field_tokens(field))

    def phrase(
        self,
        words: tuple[str, ...],
        field: str | None,
        slop: int,
        prefix: bool,
        first: bool,
        forms: tuple[frozenset[str], ...] = (),
    ) -> list[Hit]:
        """Occurrences of a phrase: (field, word positions), the first only if ``first``.
        ``forms``: the form keys of each word, or () if none has any."""
        found: list[Hit] = []
        for name in TEXT_FIELDS if field is None else (field,):
            if slop == 0 and not forms:
                for start in starts(words, prefix, self.field_tokens(name)):
                    found.append((name, tuple(range(start, start + len(words)))))
                    if first:
                        return found
                continue
            lists = self._places(name, words, prefix, forms)
            if lists is None:
                continue
            if slop == 0:
                hits = [tuple(range(p, p + len(words))) for p in runs(lists)]
            else:
                hits = sloppy(lists, slop)
            for hit in hits:
                found.append((name, hit))
                if first:
                    return found
        return found

    def _places(
        self, name: str, words: tuple[str, ...], prefix: bool, forms: tuple[frozenset[str], ...]
    ) -> list[list[int]] | None:
        """Where each word of a phrase stands in a field; None if one stands nowhere."""
        lists: list[list[int]] = []
        pos = self.positions(name)
        for j, word in enumerate(words):
            if prefix and j == len(words) - 1:
                found = sorted(p for w, ps in pos.items() if w.startswith(word) for p in ps)
            elif forms and forms[j]:
                found = self._matching(name, word, forms[j])
            else:
                found = pos.get(word, [])
            if not found:
                return None
            lists.append(found)
        return lists

    def entity(self, entity: CompiledEntity) -> bool:
        """Whether an alias of an entity is in the item outside every veto phrase (a veto
        that holds no alias takes the entity out of the whole item)."""
        found = self._entities.get(entity.id)
        if found is None:
            found = bool(self.present_aliases(entity))
            if found and entity.vetoes:
                if any(self.has_words(veto) for veto in entity.contexts):
                    found = False
                elif any(self.has_words(veto) for veto in entity.namesakes):
                    found = bool(self.alias_hits(entity))
            self._entities[entity.id] = found
        return found

    def entity_ids(self) -> frozenset[str]:
        """The ids of every entity the item holds (see ``entity``), found at once among the
        ones it may hold (most items of general news hold no alias gate): rules that name
        entities then test set membership."""
        found = self._entity_ids
        if found is None:
            entities, entity = self._gates.entities, self.entity
            found = self._entity_ids = frozenset(
                [e for e in self._gated() if e in entities and entity(entities[e])]
            )
        return found

    def cached_entity_spans(self, entity_id: str) -> list[tuple[str, int, int]] | None:
        return self._entity_spans.get(entity_id)

    def cache_entity_spans(self, entity_id: str, spans: list[tuple[str, int, int]]) -> None:
        self._entity_spans[entity_id] = spans

    def present_aliases(self, entity: CompiledEntity) -> tuple[EntityPhrase, ...]:
        """The entity's aliases whose words are all in the item, found once per item (a
        rule may name an entity many times, and every hit's spans ask again)."""
        present = self._present.get(entity.id)
        if present is None:
            present = self._present[entity.id] = self._find_aliases(entity)
        return present

    def maybe_entities(self, ids: frozenset[str]) -> bool:
        """Whether the item may hold an alias of one of these entities: it holds one of
        their gate words, or a prefix of one of their prefix aliases."""
        return not ids.isdisjoint(self._gated())

    def _gated(self) -> set[str]:
        found = self._prefix_gated
        if found is None:  # the entities one of whose alias gates the item holds, at once
            table = self._gates.prefix_entities
            found = self._prefix_gated = set(self._word_gated())
            if table:
                found.update(*(table[p] for p in table.keys() & self.starts))
        return found

    def _word_gated(self) -> dict[str, set[int]]:
        found = self._candidates
        if found is None:  # the word-gated aliases of every entity, at once
            found = self._candidates = self._gates.by_words(self.words)
        return found

    def _find_aliases(self, entity: CompiledEntity) -> tuple[EntityPhrase, ...]:
        ids = self._word_gated().get(entity.id, set())
        prefixed = self._gates.by_prefix.get(entity.id)
        if prefixed:
            if self._prefix_hits is not None:  # known already: set tests
                starts = self._prefix_hits
                ids = ids | {i for prefix, i in prefixed if prefix in starts}
            else:
                ids = ids | {i for prefix, i in prefixed if self.has_start(prefix)}
        if not ids:
            return ()
        aliases = entity.aliases
        return tuple(aliases[i] for i in sorted(ids) if self.has_words(aliases[i]))

    def alias_hits(self, entity: CompiledEntity) -> list[Hit]:
        """Every occurrence of an alias of an entity that no namesake veto holds."""
        vetoed: dict[str, list[tuple[int, int]]] = {}
        for veto in entity.namesakes:
            if self.has_words(veto):
                for name, where in self.phrase(veto.words, None, 0, veto.prefix, False, veto.forms):
                    vetoed.setdefault(name, []).append((where[0], where[-1]))
        out: list[Hit] = []
        for alias in self.present_aliases(entity):
            for name, where in self.phrase(alias.words, None, 0, alias.prefix, False, alias.forms):
                inside = vetoed.get(name, ())
                if not any(low <= where[0] and where[-1] <= high for low, high in inside):
                    out.append((name, where))
        return out

    def has_words(self, words: EntityPhrase) -> bool:
        """Whether an alias or veto phrase is in the item's text fields."""
        present = self.words
        if not words.needed <= present:
            return False
        if words.options and any(option.isdisjoint(present) for option in words.options):
            return False
        if len(words.words) == 1:
            return not words.prefix or self.has_start(words.words[0])
        if words.prefix and not self.has_start(words.words[-1]):
            return False
        return bool(self.phrase(words.words, None, 0, words.prefix, True, words.forms))

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
