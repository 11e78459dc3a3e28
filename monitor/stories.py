"""Stories: items from any feeds that report the same event become one story.

Pure: a batch of signatures (signature.py) and the stories near them in time become
decisions (join this story, or start a new one); ``Index`` decides. The store keeps the
signatures, the story of each item and the keys a later copy finds it by.

A candidate is a story whose first members share keys with the item (LSH bands, the
link, the headline, anchors). It is judged by those of its first members that the text,
the link, the headline or the facts bring near: which ones those are is found for a
whole batch at once (minhash.SharedKeys.near), so most items are decided without
comparing anything one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter

from monitor.collector import paused_gc
from monitor.gist import content_words, skeleton
from monitor.minhash import BANDS, NUM_PERM, HashTable, SharedKeys
from monitor.signature import (
    MIN_WORDS,
    NEAR_TEXT,
    SAME_TEXT,
    TITLE_WORDS,
    Signature,
    conflict,
    same_story,
    signatures,
    similarity,
)

__all__ = [
    "BANDS",
    "MIN_WORDS",
    "NEAR_TEXT",
    "NUM_PERM",
    "SAME_TEXT",
    "TITLE_WORDS",
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
#: A story is found through its first members' keys, and compared through those of the
#: first few of them that share keys with the item (a story's copies are alike).
MAX_MEMBERS = 8
MAX_COMPARED = 3
#: Candidates compared with a new item, those sharing the most keys first...
TOP_CANDIDATES = 6
#: ...and at least this many: one band in 40 is what unrelated news shares by chance.
MIN_SHARED = 2
#: A key that more earlier items than this hold says little (boilerplate, a name in every
#: story of the week with the same amount, words common in the week's news): skipped. A
#: little above MAX_MEMBERS, so that one story's members never crowd a key on their own.
#: (It was 16: on bench/digest.py's 10,000 items, 10 gave 0.9945/0.9954 pair precision
#: and recall instead of 0.9922/0.9952, and 30% fewer pairs to count.)
CROWDED = 10
#: A score this high ends the search (the same link, the same headline, a wire copy).
SURE = 1.2


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
        is decided): the one ``_choose`` picks among the candidates, or ``new_story(when)``.

        A candidate is a story with members that share keys with the item (MIN_SHARED
        at least, or its link), those sharing the most first. Which members share which
        keys, and which of those could be the same story (same_story says more than 0
        only of a member whose text is NEAR_TEXT alike, or with the same link or
        headline, or another language's copy), is found for the whole batch at once
        (minhash.SharedKeys). An item with no such member starts a story at once; one
        with some costs one count of its earlier members' stories and a same_story for
        each. An item whose link an earlier one had, or with keys of an item not kept
        as a member, is decided the slow way (``_decide``)."""
        if not items:
            return []
        with paused_gc(promote=True):  # no cycles: the collector would rescan the members
            return self._assign(items, new_story)

    def _assign(
        self, items: Sequence[tuple[Signature, datetime]], new_story: Callable[[datetime], int]
    ) -> list[int]:
        first = len(self._entries)
        sigs = [member.sig for _, member in self._entries]
        sigs += [sig for sig, _ in items]
        shared = SharedKeys.of_bytes([sig.key_bytes() for sig in sigs], first, CROWDED)
        table = HashTable([sig.hashes for sig in sigs])
        # Each item's near earlier sets, found for the whole batch: the only members
        # same_story can join it to (see _choose).
        close, agree, bounds = shared.near(table, NEAR_TEXT, _labels(sigs), _tags(sigs))
        story_of: list[int | None] = []
        when_of: list[datetime] = []
        links: dict[int, list[int]] = {}
        for at, (story, member) in enumerate(self._entries):
            member.at = at  # its row in the table
            story_of.append(story)
            when_of.append(member.when)
            if member.sig.link:
                links.setdefault(member.sig._link_key, []).append(story)
        story_of += [None] * len(items)
        when_of += [when for _, when in items]
        #: Whether a row is one of its story's first MAX_COMPARED members.
        compared = [False] * len(sigs)
        for members in self._members.values():
            for member in members[:MAX_COMPARED]:
                compared[member.at] = True
        # The keys of items not kept as members: their buckets hold fewer stories than
        # SharedKeys counted, so an item with one of them is counted key by key.
        unkept: set[int] = set()
        out: list[int] = []
        window = self.window
        for n, (sig, when) in enumerate(items, start=first):
            begin, end = bounds[n - first], bounds[n - first + 1]
            by_key = bool(unkept) and not unkept.isdisjoint(sig.search_keys())
            link = sig.link and sig._link_key in links
            chosen: int | None = None
            if begin != end and not (by_key or link):
                lo, hi = _bounds(when, window)
                # The near members a candidate can be judged by: only then are the
                # candidates looked for.
                near = [
                    (m, text)
                    for m, text in zip(close[begin:end], agree[begin:end], strict=True)
                    if compared[m] and lo <= when_of[m] <= hi
                ]
                if near:
                    counts = _stories_sharing(shared, n, story_of)
                    chosen = _choose(sig, self._candidates(counts, lo), near, story_of, sigs)
            elif by_key or link:
                lo, hi = _bounds(when, window)
                if by_key:
                    found: list[int] = []
                    for earlier in shared.by_key(n):
                        stories = [s for s in map(story_of.__getitem__, earlier) if s is not None]
                        if len(stories) <= CROWDED:
                            found += stories
                    counts = Counter(found)
                else:
                    counts = _stories_sharing(shared, n, story_of)
                if link:  # the same link through another feed: a candidate on its own
                    for story in set(links[sig._link_key]):
                        counts[story] += MIN_SHARED
                chosen = self._decide(n, sig, lo, hi, self._candidates(counts, lo), table)
            story = new_story(when) if chosen is None else chosen
            kept = self._add(story, sig, when)
            if kept is not None:
                kept.at = n
                story_of[n] = story
                compared[n] = len(self._members[story]) <= MAX_COMPARED
                if sig.link:
                    links.setdefault(sig._link_key, []).append(story)
            else:
                unkept.update(sig.search_keys())
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


def _stories_sharing(shared: SharedKeys, n: int, story_of: list[int | None]) -> Counter[int]:
    """How many keys item ``n`` shares with each story (through its members)."""
    counts: Counter[int] = Counter(map(story_of.__getitem__, shared.earlier(n)))  # type: ignore[arg-type]
    counts.pop(None, None)  # type: ignore[call-overload]
    return counts


def _choose(
    sig: Signature,
    found: list[int],
    near: list[tuple[int, float]],
    story_of: list[int | None],
    sigs: list[Signature],
) -> int | None:
    """The story among the candidates that this item belongs to, or None, judged by the
    ``near`` members (those SharedKeys.near found, each with its text's agreement, in the
    order they came): no other member can make same_story say more than 0. Candidates
    are taken most keys first."""
    if not found:
        return None
    rank = {story: r for r, story in enumerate(found)}
    picks = []
    for m, text in near:
        r = rank.get(story_of[m])  # type: ignore[arg-type]
        if r is not None:
            picks.append((r, m, text))
    picks.sort()
    best_score = 0.0
    best: int | None = None
    for r, m, text in picks:
        story = found[r]
        if best_score >= SURE and story != best:
            break  # candidates come most keys first: a sure match is not beaten
        score = same_story(sig, sigs[m], text)
        if score > 0 and (
            best is None or score > best_score or (score == best_score and story < best)
        ):
            best_score, best = score, story
    return best


def _labels(sigs: Sequence[Signature]) -> tuple[list[int], list[int]]:
    """Each signature's headline (of TITLE_WORDS words at least) and link as a number, the
    same for the same text (0: none; their search keys, made with ``key_bytes``, which
    _assign asks for first): same_story takes either as the same story."""
    return [s._title_key for s in sigs], [s._link_key for s in sigs]


def _tags(sigs: Sequence[Signature]) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Each signature's headline names and facts as numbers (signature.pair_tags)."""
    names: list[tuple[int, ...]] = []
    facts: list[tuple[int, ...]] = []
    for s in sigs:
        one, other = s.tags()
        names.append(one)
        facts.append(other)
    return names, facts


def cluster(items: Iterable[tuple[Signature, datetime]], window: timedelta = WINDOW) -> list[int]:
    """Stories for items in time order, numbered from 0: what the store does, in memory."""
    index = Index(window)
    return index.assign(list(items), lambda when: len(index))
