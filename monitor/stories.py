"""Stories: items from any feeds that report the same event become one story.

Pure: entries become ``Signature`` values; a signature and the stories near it in time
become a decision (join this story, or start a new one). The store keeps the signatures,
the story of each item and the keys below; ``Index`` decides.

A signature holds

- a MinHash of the item's content words (title, summary, the start of the content; folded
  the way the rules fold text, so a Cyrillic name meets its Latin spelling), cut into LSH
  bands (minhash.py): two items that share a band are candidates;
- the canonical link and the folded headline: the same link through two feeds, or the
  same headline, is the same story whatever the text says;
- the anchors that tell events apart: names (words written with a capital, reduced to how
  they sound, so Вашингтоне meets Washington), the names in the headline on their own,
  US-dollar amounts and calendar dates.

A candidate joins a story when its text is close (MinHash Jaccard) and nothing conflicts:
amounts or dates that both give and never share, or a name in each headline that the
other item never mentions (another country's trade, a second meeting somewhere else),
keep two items apart however alike their words are. A rewrite in another language shares
few words but both headlines name the same people and places, with the same date or
amount: its anchor keys make it a candidate and the anchors decide.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from monitor.collector import paused_gc
from monitor.gist import Gist, content_words, gist, skeleton
from monitor.minhash import (
    BANDS,
    NUM_PERM,
    HashTable,
    SharedKeys,
    agreement,
    band_keys,
    minhashes_flat,
    stored_band_keys,
    word_hashes_of,
)
from monitor.model import Entry

__all__ = [
    "BANDS",
    "NUM_PERM",
    "WINDOW",
    "Index",
    "Signature",
    "cluster",
    "conflict",
    "content_words",
    "same_story",
    "signatures",
    "similarity",
    "skeleton",
]

#: Items further apart in time than this are never one story.
WINDOW = timedelta(days=3)
#: A story is found through its first members' keys, and compared through the first
#: few of them (a story's copies are alike).
MAX_MEMBERS = 8
MAX_COMPARED = 3
#: Candidates compared with a new item, those sharing the most keys first...
TOP_CANDIDATES = 6
#: ...and at least this many: one band in 40 is what unrelated news shares by chance.
MIN_SHARED = 2
#: A key that more stories than this share says little (boilerplate, a name in every
#: story of the week with the same amount): skipped.
CROWDED = 16
#: A score this high ends the search (the same link, the same headline, a wire copy).
SURE = 1.2
#: Text this close is one story unless an anchor conflicts...
SAME_TEXT = 0.5
#: ...and text this close is one story when the names agree too.
NEAR_TEXT = 0.2
#: A headline of fewer words is too generic to make a story on its own ("Daily briefing").
TITLE_WORDS = 4
#: Fewer content words than this say too little for a MinHash to decide.
MIN_WORDS = 6

#: blake2b hashers with each kind of key's personalisation, copied for each key.
_HASHERS = {
    kind: hashlib.blake2b(digest_size=8, person=kind.encode())
    for kind in ("link", "title", "anchor")
}
#: An anchor's key by its text: the same names and facts recur all week.
_ANCHORS: dict[str, int] = {}
_ANCHORS_SIZE = 50_000


def _key(kind: str, value: str) -> int:
    """A signed 64-bit key of a link, a headline or an anchor."""
    hasher = _HASHERS[kind].copy()
    hasher.update(value.encode("utf-8"))
    return int.from_bytes(hasher.digest(), "big", signed=True)


def _anchor(value: str) -> int:
    found = _ANCHORS.get(value)
    if found is None:
        if len(_ANCHORS) >= _ANCHORS_SIZE:
            _ANCHORS.clear()
        found = _ANCHORS[value] = _key("anchor", value)
    return found


# --------------------------------------------------------------------------- signatures


@dataclass(frozen=True, slots=True)
class Signature:
    """What clustering keeps of one item."""

    #: The MinHash of the content words: NUM_PERM unsigned 32-bit values, little-endian.
    hashes: bytes = b""
    #: How many distinct content words went into it.
    words: int = 0
    #: The canonical link ("" without one) and the folded headline.
    link: str = ""
    title: str = ""
    #: Names (see ``skeleton``) written with a capital inside sentences, and in the headline.
    names: frozenset[str] = frozenset()
    title_names: frozenset[str] = frozenset()
    #: US-dollar amounts (rounded to three digits) and dates (month * 100 + day).
    amounts: frozenset[int] = frozenset()
    dates: frozenset[int] = frozenset()
    #: The LSH band keys (computed with the hashes).
    bands: tuple[int, ...] = field(default=(), compare=False, repr=False)
    _keys: tuple[int, ...] = field(default=(), compare=False, repr=False)
    _link_key: int = field(default=0, compare=False, repr=False)
    #: Every name, and the first five letters of each (see ``mentions``): made when
    #: first asked for (most signatures are never scored against another).
    _all: frozenset[str] | None = field(default=None, init=False, compare=False, repr=False)
    _stems: frozenset[str] = field(default=frozenset(), init=False, compare=False, repr=False)

    @property
    def all_names(self) -> frozenset[str]:
        every = self._all
        if every is None:
            every = self.names | self.title_names
            object.__setattr__(self, "_all", every)
            object.__setattr__(self, "_stems", frozenset(n[:5] for n in every if len(n) >= 4))
        return every

    @property
    def stems(self) -> frozenset[str]:
        if self._all is None:
            self.all_names  # noqa: B018 (made together)
        return self._stems

    def mentions(self, name: str) -> bool:
        """Whether the item names ``name`` in some form (the same first five letters)."""
        every = self._all if self._all is not None else self.all_names
        return name in every or (len(name) >= 4 and name[:5] in self._stems)

    def search_keys(self) -> tuple[int, ...]:
        """The keys under which candidates are found: LSH bands, link, headline, anchors."""
        if not self._keys:
            object.__setattr__(self, "_keys", self._make_keys())
        return self._keys

    def _make_keys(self) -> tuple[int, ...]:
        out = list(self.bands) if self.words >= MIN_WORDS else []
        if self.link:
            link = _key("link", self.link)
            object.__setattr__(self, "_link_key", link)
            out.append(link)
        if self.title.count(" ") + 1 >= TITLE_WORDS:
            out.append(_key("title", self.title))
        if (self.amounts or self.dates) and self.title_names:
            facts = [f"${a}" for a in sorted(self.amounts)] + [f"@{d}" for d in sorted(self.dates)]
            names = sorted(n for n in self.title_names if len(n) > 3)[:3]
            out.extend(_anchor(f"{n}|{f}") for n in names for f in facts[:2])
        return tuple(out)

    def features(self) -> dict[str, Any]:
        """Everything but the hashes, as plain JSON data (the store keeps it)."""
        return {
            "words": self.words,
            "link": self.link,
            "title": self.title,
            "names": sorted(self.names),
            "title_names": sorted(self.title_names),
            "amounts": sorted(self.amounts),
            "dates": sorted(self.dates),
        }

    @classmethod
    def from_stored(cls, hashes: bytes, features: dict[str, Any]) -> Signature:
        """A signature as ``hashes`` and ``features()`` kept it."""
        bands = stored_band_keys(bytes(hashes)) if len(hashes) == 4 * NUM_PERM else ()
        return cls(
            hashes=bytes(hashes),
            words=int(features.get("words", 0)),
            link=str(features.get("link", "")),
            title=str(features.get("title", "")),
            names=frozenset(str(n) for n in features.get("names", ())),
            title_names=frozenset(str(n) for n in features.get("title_names", ())),
            amounts=frozenset(int(a) for a in features.get("amounts", ())),
            dates=frozenset(int(d) for d in features.get("dates", ())),
            bands=bands,
        )


def _text(entry: Entry) -> tuple[str, str]:
    """The headline and the text: the summary and the start of the content."""
    body = entry.summary
    if entry.content and entry.content != entry.summary:
        body = f"{body}\n{entry.content[:4000]}" if body else entry.content[:4000]
    return entry.title, body


def signatures(entries: Sequence[Entry]) -> list[Signature]:
    """The signatures of many entries at once (one numpy pass for all their MinHashes).
    Each item's words are hashed as soon as they are found, into one list for all; the
    signatures are made once the hashes and bands are known."""
    with paused_gc():  # no cycles are made: the collector would rescan the new objects
        return _signatures(entries)


def _signatures(entries: Sequence[Entry]) -> list[Signature]:
    hashes: list[int] = []
    sizes: list[int] = []
    gists: list[tuple[str, Gist]] = []
    for entry in entries:
        words, found = gist(*_text(entry))
        hashes += word_hashes_of(words)
        sizes.append(found.words)
        gists.append((entry.url or "", found))
    values = minhashes_flat(hashes, sizes)
    del hashes
    raw = values.astype("<u4").tobytes()
    width = 4 * NUM_PERM
    # Made once the hashes and bands are known, with positional arguments (a frozen
    # dataclass sets each field in turn: the fewer steps, the better).
    return [
        Signature(
            raw[i * width : (i + 1) * width],
            found.words,
            link,
            found.title,
            found.names,
            found.title_names,
            found.amounts,
            found.dates,
            tuple(bands),
        )
        for i, ((link, found), bands) in enumerate(
            zip(gists, band_keys(values).tolist(), strict=True)
        )
    ]


# --------------------------------------------------------------------------- decisions


def similarity(a: Signature, b: Signature) -> float:
    """The MinHash estimate of the Jaccard similarity of two items' content words."""
    return agreement(a.hashes, b.hashes)


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """The share of the smaller set that the other holds."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def conflict(a: Signature, b: Signature) -> str | None:
    """Why two items report different events, or None: amounts or dates that both give
    and never share, or a headline name on each side that the other does not mention
    (in any form: Türkiye and Turkish, Uzbekistan and Uzbek share their first letters)."""
    if a.amounts and b.amounts and not a.amounts & b.amounts:
        return "amounts differ"
    if a.dates and b.dates and not a.dates & b.dates:
        return "dates differ"
    only_a = [n for n in a.title_names if not b.mentions(n)]
    if not only_a:
        return None
    only_b = [n for n in b.title_names if not a.mentions(n)]
    if only_b:
        return f"headline names differ ({', '.join(sorted(only_a))} / {', '.join(sorted(only_b))})"
    return None


def same_story(a: Signature, b: Signature, text: float | None = None) -> float:
    """How surely two items are one story: 0 when they are not, else a score in (0, 2].
    ``text`` is their similarity when it is known already."""
    if a.link and a.link == b.link:
        return 2.0
    same_title = a.title == b.title and a.title.count(" ") + 1 >= TITLE_WORDS
    if min(a.words, b.words) < MIN_WORDS:
        text = 0.0
    elif text is None:
        text = similarity(a, b)
    # Another language: few words in common, but both headlines name the same two (or
    # more) people or places, and a date or an amount agrees (looked at only when the
    # headline or the text does not decide).
    other_language: bool | None = None
    if not (same_title or text >= NEAR_TEXT):
        other_language = _other_language(a, b)
        if not other_language:
            return 0.0
    if conflict(a, b):
        return 0.0
    if same_title:
        return 1.5
    names = _overlap(a.all_names, b.all_names)
    if text >= SAME_TEXT or (text >= NEAR_TEXT and names >= 0.5):
        return text + names / 2
    if other_language is None:
        other_language = _other_language(a, b)
    return 0.1 + names / 2 if other_language else 0.0


def _other_language(a: Signature, b: Signature) -> bool:
    """Whether an amount or a date agrees and the headlines share two names."""
    return (not a.amounts.isdisjoint(b.amounts) or not a.dates.isdisjoint(b.dates)) and len(
        a.title_names & b.title_names
    ) >= 2


def _bounds(when: datetime, window: timedelta) -> tuple[datetime, datetime]:
    """The moments within ``window`` of ``when`` (compared with, rather than subtracted
    from, each member's time: datetime arithmetic makes an object each time)."""
    try:
        lo = when - window
    except OverflowError:  # a date at the start of the calendar: nothing is earlier
        lo = datetime.min.replace(tzinfo=when.tzinfo)
    try:
        hi = when + window
    except OverflowError:
        hi = datetime.max.replace(tzinfo=when.tzinfo)
    return lo, hi


@dataclass(slots=True)
class _Member:
    sig: Signature
    when: datetime
    #: Its place among the Index's entries (a row of the batch's HashTable).
    at: int


class Index:
    """Stories near in time, in memory: the store fills it with the stories it found by
    key (``add``); ``assign`` puts new items into them, or into new stories, in order."""

    def __init__(self, window: timedelta = WINDOW) -> None:
        self.window = window
        self._members: dict[int, list[_Member]] = {}
        self._last: dict[int, datetime] = {}
        #: The members kept (a story's first MAX_MEMBERS), in the order they came.
        self._entries: list[tuple[int, _Member]] = []

    def __len__(self) -> int:
        return len(self._members)

    def add(self, story: int, sig: Signature, when: datetime) -> bool:
        """Record an item of a story; whether it is kept as a member (found by its keys)."""
        return self._add(story, sig, when) is not None

    def _add(self, story: int, sig: Signature, when: datetime) -> _Member | None:
        members = self._members.get(story)
        if members is None:
            members = self._members[story] = []
            self._last[story] = when
        elif when > self._last[story]:
            self._last[story] = when
        if len(members) >= MAX_MEMBERS:
            return None
        member = _Member(sig, when, len(self._entries))
        members.append(member)
        self._entries.append((story, member))
        return member

    def assign(
        self, items: Sequence[tuple[Signature, datetime]], new_story: Callable[[datetime], int]
    ) -> list[int]:
        """The story of each item, deciding them in order (each is added before the next
        is decided): the one ``_decide`` picks among the candidates, or ``new_story(when)``.

        A candidate is a story with a member that shares keys with the item (MIN_SHARED
        at least, or its link), those sharing the most first; which members share which
        keys is found for the whole batch at once (minhash.SharedKeys), so an item costs
        one count of its earlier members' stories."""
        if not items:
            return []
        with paused_gc():  # no cycles are made: the collector would rescan the members
            return self._assign(items, new_story)

    def _assign(
        self, items: Sequence[tuple[Signature, datetime]], new_story: Callable[[datetime], int]
    ) -> list[int]:
        first = len(self._entries)
        sigs = [member.sig for _, member in self._entries]
        sigs += [sig for sig, _ in items]
        keys = [sig.search_keys() for sig in sigs]
        shared = SharedKeys(keys, first, CROWDED)
        table = HashTable([sig.hashes for sig in sigs])
        story_of: list[int | None] = []
        links: dict[int, list[int]] = {}
        for at, (story, member) in enumerate(self._entries):
            member.at = at  # its row in the table
            story_of.append(story)
            if member.sig.link:
                links.setdefault(member.sig._link_key, []).append(story)
        story_of += [None] * len(items)
        # The keys of items not kept as members: their buckets hold fewer stories than
        # SharedKeys counted, so an item with one of them is counted key by key.
        unkept: set[int] = set()
        out: list[int] = []
        window = self.window
        for n, (sig, when) in enumerate(items, start=first):
            if unkept and not unkept.isdisjoint(keys[n]):
                found: list[int] = []
                for earlier in shared.by_key(n):
                    stories = [s for s in map(story_of.__getitem__, earlier) if s is not None]
                    if len(stories) <= CROWDED:
                        found += stories
                counts = Counter(found)
            else:
                counts = Counter(map(story_of.__getitem__, shared.earlier(n)))  # type: ignore[arg-type]
                counts.pop(None, None)  # type: ignore[call-overload]
            if sig.link:  # the same link through another feed: a candidate on its own
                for story in set(links.get(sig._link_key, ())):
                    counts[story] += MIN_SHARED
            lo, hi = _bounds(when, window)
            chosen = self._decide(n, sig, lo, hi, self._candidates(counts, lo), table)
            story = new_story(when) if chosen is None else chosen
            kept = self._add(story, sig, when)
            if kept is not None:
                kept.at = n
                story_of[n] = story
                if sig.link:
                    links.setdefault(sig._link_key, []).append(story)
            else:
                unkept.update(keys[n])
            out.append(story)
        return out

    def _candidates(self, shared: Counter[int], since: datetime) -> list[int]:
        """The stories sharing MIN_SHARED keys at least, those sharing the most first; at
        most TOP_CANDIDATES of them, each seen since ``since`` (within the window)."""
        # Most stories share one key by chance: those are left out before the sort (a
        # stable one, as most_common's: ties stay in the order they were first found).
        often = [(story, n) for story, n in shared.items() if n >= MIN_SHARED]
        if not often:
            return []
        often.sort(key=itemgetter(1), reverse=True)
        out: list[int] = []
        last = self._last
        for story, _ in often:
            if last[story] >= since:
                out.append(story)
                if len(out) == TOP_CANDIDATES:
                    break
        return out

    def _decide(
        self, n: int, sig: Signature, lo: datetime, hi: datetime, found: list[int], table: HashTable
    ) -> int | None:
        """The story among the candidates that this item belongs to, or None. Its text is
        compared with every candidate member's in one go (members seen between ``lo`` and
        ``hi``); only the members that the text, the link, the headline or the facts bring
        near are scored."""
        if not found:
            return None
        every = self._members
        members = [
            (story, m) for story in found for m in every[story][:MAX_COMPARED] if lo <= m.when <= hi
        ]
        texts = table.agreements(n, [m.at for _, m in members])
        link, title, amounts, dates, names = (
            sig.link,
            sig.title,
            sig.amounts,
            sig.dates,
            sig.title_names,
        )
        best_score = 0.0
        best: int | None = None
        for (story, member), text in zip(members, texts, strict=True):
            other = member.sig
            if best_score >= SURE and story != best:
                break  # candidates come most keys first: a sure match is not beaten
            if (
                text < NEAR_TEXT
                and title != other.title
                and not (link and link == other.link)
                and (
                    len(names & other.title_names) < 2
                    or (amounts.isdisjoint(other.amounts) and dates.isdisjoint(other.dates))
                )
            ):
                continue  # same_story would say 0: neither text, link, headline nor facts
            score = same_story(sig, other, text)
            if score > 0 and (
                best is None or score > best_score or (score == best_score and story < best)
            ):
                best_score, best = score, story
        return best


def cluster(items: Iterable[tuple[Signature, datetime]], window: timedelta = WINDOW) -> list[int]:
    """Stories for items in time order, numbered from 0: what the store does, in memory."""
    index = Index(window)
    return index.assign(list(items), lambda when: len(index))
