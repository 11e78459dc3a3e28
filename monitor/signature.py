"""Signatures: what clustering keeps of an item, and whether two items are one story.

Pure: entries become ``Signature`` values (in one batch: minhash.py computes every
MinHash at once); two signatures give a score (``same_story``). stories.py decides with
them which story each item joins; the store keeps them.

A signature holds

- a MinHash of the item's content words (title, summary, the start of the content; folded
  the way the rules fold text, so a Cyrillic name meets its Latin spelling), cut into LSH
  bands (minhash.py): two items that share a band are candidates;
- the canonical link and the folded headline: the same link through two feeds, or the
  same headline, is the same story whatever the text says;
- the anchors that tell events apart: names (words written with a capital, reduced to how
  they sound, so Вашингтоне meets Washington), the names in the headline on their own,
  US-dollar amounts and calendar dates.

Two items are one story when their text is close (MinHash Jaccard) and nothing
conflicts: amounts or dates that both give and never share, or a name in each headline
that the other item never mentions (another country's trade, a second meeting somewhere
else), keep two items apart however alike their words are. A rewrite in another language
shares few words but both headlines name the same people and places, with the same date
or amount: its anchor keys make it a candidate and the anchors decide.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.collector import paused_gc
from monitor.gist import Gist, gist
from monitor.minhash import (
    BANDS,
    NUM_PERM,
    agreement,
    band_keys,
    minhashes_flat,
    stored_band_keys,
    word_hash,
    word_hashes_of,
)
from monitor.model import Entry

__all__ = [
    "MIN_WORDS",
    "NEAR_TEXT",
    "SAME_TEXT",
    "TITLE_WORDS",
    "Gists",
    "Signature",
    "assemble",
    "conflict",
    "extra_keys",
    "gists",
    "pair_tags",
    "same_story",
    "signatures",
    "similarity",
    "texts",
]

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


def extra_keys(
    link: str,
    title: str,
    title_names: frozenset[str],
    amounts: frozenset[int],
    dates: frozenset[int],
) -> tuple[bytes, int, int]:
    """The search keys besides the bands: the link's, the headline's (of TITLE_WORDS words
    at least) and the anchors' (a headline name with an amount or a date), as int64 values
    in the machine's byte order; and the link's and the headline's keys (0 without)."""
    out = []
    link_key = title_key = 0
    if link:
        link_key = _key("link", link)
        out.append(link_key)
    if title.count(" ") + 1 >= TITLE_WORDS:
        title_key = _key("title", title)
        out.append(title_key)
    if (amounts or dates) and title_names:
        facts = [f"${a}" for a in sorted(amounts)] + [f"@{d}" for d in sorted(dates)]
        names = sorted(n for n in title_names if len(n) > 3)[:3]
        out.extend(_anchor(f"{n}|{f}") for n in names for f in facts[:2])
    return array("q", out).tobytes(), link_key, title_key


def pair_tags(
    title_names: frozenset[str], amounts: frozenset[int], dates: frozenset[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The headline's names and the facts as 32-bit numbers (stable across processes; two
    names with one number only make a pair look near, which same_story then judges), when
    the item could be another language's copy (see _other_language): two headline names
    and a fact at least, else none."""
    if len(title_names) < 2 or not (amounts or dates):
        return (), ()
    facts = [word_hash(f"${a}") for a in amounts] + [word_hash(f"@{d}") for d in dates]
    return tuple(map(word_hash, title_names)), tuple(facts)


@dataclass(slots=True)
class Signature:
    """What clustering keeps of one item. Not to be changed once made (not frozen: a
    frozen dataclass sets each field through object.__setattr__, which made building a
    batch's signatures take four times as long); the fields after ``bands`` are caches."""

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
    #: The LSH band keys (computed with the hashes), as int64 values in the machine's
    #: byte order (made in this process, never stored: numpy reads them as they are).
    bands: bytes = field(default=b"", compare=False, repr=False)
    #: The keys besides the bands (see ``extra_keys``), as ``bands``, the link's and the
    #: headline's keys (0 without), and ``pair_tags``: made with the signature in a batch,
    #: else when first asked for.
    _extra: bytes | None = field(default=None, compare=False, repr=False)
    _link_key: int = field(default=0, compare=False, repr=False)
    _title_key: int = field(default=0, compare=False, repr=False)
    _tags: tuple[tuple[int, ...], tuple[int, ...]] | None = field(
        default=None, compare=False, repr=False
    )
    _keys: tuple[int, ...] = field(default=(), init=False, compare=False, repr=False)
    #: Every name, and the first five letters of each (see ``mentions``): each made when
    #: first asked for (most signatures are never scored against another).
    _all: frozenset[str] | None = field(default=None, init=False, compare=False, repr=False)
    _stems: frozenset[str] | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def all_names(self) -> frozenset[str]:
        every = self._all
        if every is None:
            names, title_names = self.names, self.title_names
            # The headline's names are mostly the text's too: then no new set is made.
            every = self._all = names if title_names <= names else names | title_names
        return every

    @property
    def stems(self) -> frozenset[str]:
        stems = self._stems
        if stems is None:
            stems = self._stems = frozenset(n[:5] for n in self.all_names if len(n) >= 4)
        return stems

    def mentions(self, name: str) -> bool:
        """Whether the item names ``name`` in some form (the same first five letters)."""
        return name in self.all_names or (len(name) >= 4 and name[:5] in self.stems)

    def search_keys(self) -> tuple[int, ...]:
        """The keys under which candidates are found: LSH bands, link, headline, anchors."""
        if not self._keys:
            keys = array("q", self.key_bytes())
            self._keys = tuple(keys)
        return self._keys

    def key_bytes(self) -> bytes:
        """``search_keys`` as int64 values in the machine's byte order."""
        extra = self._extra
        if extra is None:
            extra, self._link_key, self._title_key = extra_keys(
                self.link, self.title, self.title_names, self.amounts, self.dates
            )
            self._extra = extra
        return self.bands + extra if self.words >= MIN_WORDS else extra

    def tags(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``pair_tags`` of this item."""
        tags = self._tags
        if tags is None:
            tags = self._tags = pair_tags(self.title_names, self.amounts, self.dates)
        return tags

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
        bands = stored_band_keys(bytes(hashes)) if len(hashes) == 4 * NUM_PERM else b""
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
    sigpool.py cuts a big batch into ``gists`` of chunks, some made in a helper process."""
    with paused_gc(promote=True):  # no cycles are made: the collector would rescan them
        return assemble([entry.url or "" for entry in entries], [gists(texts(entries))])


def texts(entries: Sequence[Entry]) -> list[tuple[str, str, str]]:
    """Each entry's headline, text and link ("" for none), as ``gists`` takes them."""
    return [(*_text(entry), entry.url or "") for entry in entries]


#: What ``gists`` makes of some texts: their MinHash values (NUM_PERM little-endian
#: uint32 each), their band keys (BANDS int64 each, in the machine's byte order), their
#: gists, and for each its other keys with its link's and headline's (``extra_keys``)
#: and its ``pair_tags``. Plain values: a helper process sends them as they are.
Gists = tuple[
    bytes, bytes, list[Gist], list[tuple[bytes, int, int, tuple[int, ...], tuple[int, ...]]]
]


def gists(items: Sequence[tuple[str, str, str]]) -> Gists:
    """The gists of headlines and texts (with their links), their MinHash values and
    their keys. Each text's words are hashed as soon as they are found, into one array
    for all."""
    hashes = array("I")  # numpy takes it as it is, not number by number
    sizes: list[int] = []
    found: list[Gist] = []
    extras: list[tuple[bytes, int, int, tuple[int, ...], tuple[int, ...]]] = []
    for title, body, link in items:
        words, one = gist(title, body)
        hashes.extend(word_hashes_of(words))
        sizes.append(one.words)
        found.append(one)
        title_names, amounts, dates = one.title_names, one.amounts, one.dates
        extras.append(
            (
                *extra_keys(link, one.title, title_names, amounts, dates),
                *pair_tags(title_names, amounts, dates),
            )
        )
    values = minhashes_flat(hashes, sizes)
    return values.astype("<u4").tobytes(), band_keys(values).tobytes(), found, extras


def assemble(links: Sequence[str], parts: Sequence[Gists]) -> list[Signature]:
    """Signatures of items with these links (one each, "" for none) from the ``gists`` of
    their texts, in order."""
    width, step = 4 * NUM_PERM, 8 * BANDS
    out: list[Signature] = []
    links_of = iter(links)
    for raw, keys, found, extras in parts:
        out += [
            Signature(
                raw[i * width : (i + 1) * width],
                one.words,
                link,
                one.title,
                one.names,
                one.title_names,
                one.amounts,
                one.dates,
                keys[i * step : (i + 1) * step],
                extra,
                link_key,
                title_key,
                (names, facts),
            )
            # Gists first: the link after a part's last gist stays for the next part.
            for i, (one, (extra, link_key, title_key, names, facts), link) in enumerate(
                zip(found, extras, links_of, strict=False)
            )
        ]
    if len(out) != len(links):
        raise ValueError(f"{len(links)} links for {len(out)} gists")
    return out


# --------------------------------------------------------------------------- pairs


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
    if a.amounts and b.amounts and a.amounts.isdisjoint(b.amounts):
        return "amounts differ"
    if a.dates and b.dates and a.dates.isdisjoint(b.dates):
        return "dates differ"
    only_a = _unmentioned(a.title_names, b)
    if not only_a:
        return None
    only_b = _unmentioned(b.title_names, a)
    if only_b:
        return f"headline names differ ({', '.join(sorted(only_a))} / {', '.join(sorted(only_b))})"
    return None


def _unmentioned(names: frozenset[str], other: Signature) -> list[str]:
    """The names that ``other`` does not mention (see ``Signature.mentions``)."""
    rest = names - other.all_names
    if not rest:
        return []
    stems = other.stems
    return [n for n in rest if len(n) < 4 or n[:5] not in stems]


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
