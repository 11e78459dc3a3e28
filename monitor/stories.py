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
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.gist import Gist, content_words, gist, skeleton
from monitor.minhash import (
    BANDS,
    NUM_PERM,
    agreement,
    agreements,
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
    #: Every name, and the first five letters of each (see ``mentions``).
    all_names: frozenset[str] = field(init=False, compare=False, repr=False)
    stems: frozenset[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        every = self.names | self.title_names
        object.__setattr__(self, "all_names", every)
        object.__setattr__(self, "stems", frozenset(n[:5] for n in every if len(n) >= 4))

    def mentions(self, name: str) -> bool:
        """Whether the item names ``name`` in some form (the same first five letters)."""
        return name in self.all_names or (len(name) >= 4 and name[:5] in self.stems)

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
    Each item's words are hashed as soon as they are found, into one list for all."""
    hashes: list[int] = []
    sizes: list[int] = []
    gists: list[Gist] = []
    for entry in entries:
        words, found = gist(*_text(entry))
        hashes += word_hashes_of(words)
        sizes.append(len(words))
        gists.append(found)
    values = minhashes_flat(hashes, sizes)
    del hashes
    bands = band_keys(values).tolist()
    raw = values.astype("<u4").tobytes()
    width = 4 * NUM_PERM
    return [
        Signature(
            hashes=raw[i * width : (i + 1) * width],
            words=g.words,
            link=entry.url or "",
            title=g.title,
            names=g.names,
            title_names=g.title_names,
            amounts=g.amounts,
            dates=g.dates,
            bands=tuple(b),
        )
        for i, (entry, g, b) in enumerate(zip(entries, gists, bands, strict=True))
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
    only_a = sorted(n for n in a.title_names if not b.mentions(n))
    only_b = sorted(n for n in b.title_names if not a.mentions(n))
    if only_a and only_b:
        return f"headline names differ ({', '.join(only_a)} / {', '.join(only_b)})"
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
    # more) people or places, and a date or an amount agrees.
    other_language = bool(
        (a.amounts & b.amounts or a.dates & b.dates) and len(a.title_names & b.title_names) >= 2
    )
    if not (same_title or text >= NEAR_TEXT or other_language) or conflict(a, b):
        return 0.0
    if same_title:
        return 1.5
    names = _overlap(a.all_names, b.all_names)
    if text >= SAME_TEXT or (text >= NEAR_TEXT and names >= 0.5):
        return text + names / 2
    return 0.1 + names / 2 if other_language else 0.0


@dataclass
class _Member:
    sig: Signature
    when: datetime


class Index:
    """Stories near in time, in memory: the store fills it with the candidates it found
    by key; ``find`` decides a new item, ``add`` records the decision."""

    def __init__(self, window: timedelta = WINDOW) -> None:
        self.window = window
        self._by_key: defaultdict[int, list[int]] = defaultdict(list)
        self._members: dict[int, list[_Member]] = {}
        self._last: dict[int, datetime] = {}

    def __len__(self) -> int:
        return len(self._members)

    def add(self, story: int, sig: Signature, when: datetime) -> None:
        members = self._members.setdefault(story, [])
        self._last[story] = max(self._last.get(story, when), when)
        if len(members) >= MAX_MEMBERS:
            return
        members.append(_Member(sig, when))
        by_key = self._by_key
        for key in sig.search_keys():
            by_key[key].append(story)

    def candidates(self, sig: Signature, when: datetime) -> list[int]:
        """Stories with a member that shares keys with ``sig`` (MIN_SHARED at least, or
        its link), those sharing the most first; at most TOP_CANDIDATES of them, each seen
        within the window."""
        shared: Counter[int] = Counter()
        for key in sig.search_keys():
            bucket = self._by_key.get(key)
            if bucket and len(bucket) <= CROWDED:
                shared.update(bucket)
        if sig.link:  # the same link through another feed: a candidate on its own
            for story in set(self._by_key.get(_key("link", sig.link), ())):
                shared[story] += MIN_SHARED
        out: list[int] = []
        for story, count in shared.most_common():
            if count < MIN_SHARED:
                break
            if when - self._last[story] <= self.window:
                out.append(story)
                if len(out) == TOP_CANDIDATES:
                    break
        return out

    def find(self, sig: Signature, when: datetime) -> int | None:
        """The story this item belongs to, or None for a new one. Its text is compared
        with every candidate member's in one go."""
        members = [
            (story, m)
            for story in self.candidates(sig, when)
            for m in self._members[story][:MAX_COMPARED]
            if abs(m.when - when) <= self.window
        ]
        texts = agreements(sig.hashes, [m.sig.hashes for _, m in members])
        best: tuple[float, int] | None = None
        for (story, m), text in zip(members, texts, strict=True):
            if best is not None and best[0] >= SURE and story != best[1]:
                break  # candidates come most keys first: a sure match is not beaten
            score = same_story(sig, m.sig, text)
            if score > 0 and (best is None or (score, -story) > (best[0], -best[1])):
                best = (score, story)
        return best[1] if best else None


def cluster(items: Iterable[tuple[Signature, datetime]], window: timedelta = WINDOW) -> list[int]:
    """Stories for items in time order, numbered from 0: what the store does, in memory."""
    index = Index(window)
    out: list[int] = []
    for sig, when in items:
        story = index.find(sig, when)
        if story is None:
            story = len(index)
        index.add(story, sig, when)
        out.append(story)
    return out
