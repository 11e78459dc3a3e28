"""Stories: copies of one event from any feed become one story; other events stay apart.

Pure decisions first (monitor/stories.py, monitor/minhash.py), then the store: stories are
assigned when a delivery takes the hits, and a target that had a story never gets a later
copy of it.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from monitor import gist, stories
from monitor.minhash import (
    NUM_PERM,
    HashTable,
    SharedKeys,
    agreements,
    minhashes,
    minhashes_flat,
    word_hash,
)
from monitor.model import Entry, FeedState, FeedUpdate, Hit, Pending, TermMatch
from monitor.store import Store

from . import newsdesk as nd
from .helpers import FakeClock

EVERYTHING = [*nd.FIRST_POLL, nd.RECEPTION_LATER, nd.RECEPTION_RU]


def label(item: dict[str, object]) -> str:
    if item is nd.RECEPTION_LATER or item is nd.RECEPTION_RU:
        return "reception"
    return next(name for name, items in nd.STORIES.items() if item in items)


def clustered(items: list[dict[str, object]]) -> dict[str, set[int]]:
    """Story label -> the story numbers its items got, clustering in time order."""
    ordered = sorted(items, key=lambda i: i["published"])  # type: ignore[arg-type, return-value]
    sigs = stories.signatures([nd.entry(i) for i in ordered])
    found = stories.cluster((s, i["published"]) for s, i in zip(sigs, ordered, strict=True))  # type: ignore[misc]
    out: dict[str, set[int]] = {}
    for item, story in zip(ordered, found, strict=True):
        out.setdefault(label(item), set()).add(story)
    return out


# --------------------------------------------------------------------------- MinHash


def test_minhash_values_are_datasketchs_value_for_value() -> None:
    datasketch = pytest.importorskip("datasketch")
    sets = [["turkic", "states", "summit", "gabala"], [], ["omuraliev"], ["x"] * 3 + ["y"]]
    hashed = [[word_hash(w) for w in words] for words in sets]
    ours = minhashes(hashed)
    for row, words in zip(ours, hashed, strict=True):
        theirs = datasketch.MinHash(num_perm=NUM_PERM, hashfunc=int)
        theirs.update_batch(words or [0])
        assert list(row) == list(theirs.hashvalues)


def test_minhash_in_chunks_equals_one_pass() -> None:
    sets = [[word_hash(f"w{i}-{j}") for j in range(i % 7 + 1)] for i in range(50)]
    assert (minhashes(sets, chunk=5) == minhashes(sets)).all()


def test_minhashes_of_one_flat_list_equal_those_of_the_sets() -> None:
    sets = [[word_hash(f"w{i}-{j}") for j in range(i % 5)] for i in range(30)]  # some empty
    flat = [h for s in sets for h in s]
    assert (minhashes_flat(flat, [len(s) for s in sets], chunk=7) == minhashes(sets)).all()
    assert minhashes_flat([], []).shape == (0, NUM_PERM)


def test_a_hash_table_agrees_as_agreements_does() -> None:
    rows = [bytes(v.astype("<u4").tobytes()) for v in minhashes([[1, 2, 3], [2, 3, 4], [9]])]
    table = HashTable(rows)
    assert table.agreements(0, [1, 2, 0]) == agreements(rows[0], [rows[1], rows[2], rows[0]])
    assert table.agreements(1, []) == []
    odd = [*rows, b"", b"\x01\x00\x00\x00"]  # a stored signature cut short, or none
    assert HashTable(odd).agreements(0, [1, 3, 4]) == agreements(odd[0], [odd[1], b"", odd[4]])
    assert HashTable(odd).agreements(3, [0]) == [0.0]


def _buckets_by_dict(
    keys: list[list[int]], first: int, crowded: int
) -> tuple[list[list[int]], list[list[list[int]]]]:
    """SharedKeys the slow way: a dict from key to the sets holding it, filled set by set."""
    by_key: dict[int, list[int]] = {}
    earlier: list[list[int]] = []
    every: list[list[list[int]]] = []
    for n, ks in enumerate(keys):
        if n >= first:
            buckets = [list(by_key.get(k, [])) for k in ks]
            every.append(buckets)
            earlier.append([s for b in buckets if len(b) <= crowded for s in b])
        for k in ks:
            by_key.setdefault(k, []).append(n)
    return earlier, every


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shared_keys_are_what_a_dict_of_keys_gives(seed: int) -> None:
    """Key by key in each set's order, earlier sets in theirs, crowded keys left out (here
    a few keys are in many sets, and a set may hold a key twice)."""
    rng = random.Random(seed)
    keys = [
        [
            rng.choice([rng.randrange(8), rng.randrange(400), -(2**62) + rng.randrange(5)])
            for _ in range(rng.randrange(12))
        ]
        for _ in range(300)
    ]
    for first in (0, 1, 120, 300):
        shared = SharedKeys(keys, first, crowded=4)
        earlier, every = _buckets_by_dict(keys, first, crowded=4)
        assert [shared.earlier(n) for n in range(first, len(keys))] == earlier
        assert [shared.by_key(n) for n in range(first, len(keys))] == every


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_near_sets_are_what_comparing_each_pair_gives(seed: int) -> None:
    """SharedKeys.near: of the earlier sets sharing a set's keys, those whose values agree
    on ``least`` at least, or with the same label, or sharing two first tags and a second
    one; each once, in order, with its agreement. Some rows are of another width."""
    rng = random.Random(seed)
    count = 200
    keys = [[rng.randrange(60) for _ in range(rng.randrange(6))] for _ in range(count)]
    sets = [[rng.randrange(12) for _ in range(rng.randrange(1, 8))] for _ in range(count)]
    values = minhashes(sets)
    rows = [bytes(v.astype("<u4").tobytes()) for v in values]
    rows[5], rows[17] = b"", b"\x01\x00\x00\x00"
    labels = [[rng.choice([0, 0, 1, 2]) for _ in range(count)] for _ in range(2)]
    first_tags = [rng.sample(range(70), rng.randrange(4)) for _ in range(count)]
    second_tags = [rng.sample(range(130), rng.randrange(3)) for _ in range(count)]
    for first in (0, 50, count):
        shared = SharedKeys(keys, first, crowded=6)
        close, agree, bounds = shared.near(HashTable(rows), 0.3, labels, (first_tags, second_tags))
        assert len(bounds) == count - first + 1
        for n in range(first, count):
            expected = []
            for m in sorted(set(shared.earlier(n))):
                text = agreements(rows[n], [rows[m]])[0]
                if (
                    text >= 0.3
                    or any(label[n] and label[n] == label[m] for label in labels)
                    or (
                        len(set(first_tags[n]) & set(first_tags[m])) >= 2
                        and set(second_tags[n]) & set(second_tags[m])
                    )
                ):
                    expected.append((m, text))
            begin, end = bounds[n - first], bounds[n - first + 1]
            assert list(zip(close[begin:end], agree[begin:end], strict=True)) == expected


def test_pair_agreements_are_agreements() -> None:
    rows = [bytes(v.astype("<u4").tobytes()) for v in minhashes([[1, 2, 3], [2, 3, 4], [9]])]
    odd = [*rows, b"", b"\x01\x00\x00\x00", b"\x01\x00\x00\x00"]
    ones, others = np.array([0, 1, 0, 3, 4, 0, 2]), np.array([1, 0, 0, 0, 5, 4, 2])
    expected = [agreements(odd[i], [odd[j]])[0] for i, j in zip(ones, others, strict=True)]
    assert HashTable(odd).pair_agreements(ones, others).tolist() == expected
    assert expected[4] == 1.0 and expected[3] == 0.0  # two rows of one odd width compare


@pytest.mark.parametrize("seed", [1, 2])
def test_shared_keys_of_wide_keys_and_of_bytes(seed: int) -> None:
    """Keys spread over 64 bits (as band and link keys are) take the fast sort, keys that
    differ only in their low bits the fallback (the test above); both give what a dict of
    keys gives, and so do the same sets given as bytes."""
    from array import array

    from monitor.minhash import _key_order

    rng = random.Random(seed)
    pool = [rng.randrange(-(2**63), 2**63) for _ in range(500)]
    keys = [[rng.choice(pool) for _ in range(rng.randrange(12))] for _ in range(300)]
    flat = np.array([k for ks in keys for k in ks], dtype=np.int64)
    order, keyed = _key_order(flat)
    assert order.tolist() == np.argsort(flat, kind="stable").tolist()
    assert keyed.tolist() == sorted(flat.tolist())
    clash = np.array([5, 4, 5, 4, 2**40, 4], dtype=np.int64)  # 4 and 5 share their high bits
    assert _key_order(clash)[0].tolist() == np.argsort(clash, kind="stable").tolist()
    for first in (0, 1, 120, 300):
        earlier, every = _buckets_by_dict(keys, first, crowded=4)
        for shared in (
            SharedKeys(keys, first, crowded=4),
            SharedKeys.of_bytes([array("q", ks).tobytes() for ks in keys], first, crowded=4),
        ):
            assert [shared.earlier(n) for n in range(first, len(keys))] == earlier
            assert [shared.by_key(n) for n in range(first, len(keys))] == every


def test_shared_keys_of_no_sets_and_empty_sets() -> None:
    assert SharedKeys([], 0, crowded=4).earlier  # built without error
    shared = SharedKeys([[], [5], [], [5, 5]], 1, crowded=4)
    assert [shared.earlier(n) for n in (1, 2, 3)] == [[], [], [1, 1]]
    assert shared.by_key(3) == [[1], [1]]


# --------------------------------------------------------------------------- decisions


def test_each_event_is_one_story_whatever_the_outlet_wrote() -> None:
    found = clustered(EVERYTHING)
    assert all(len(numbers) == 1 for numbers in found.values()), found
    # ...and no two events share a story.
    every = [next(iter(n)) for n in found.values()]
    assert len(set(every)) == len(every) == 5


def test_a_second_ots_meeting_is_another_story() -> None:
    summit, budapest = stories.signatures([nd.entry(nd.SUMMIT[0]), nd.entry(nd.BUDAPEST[0])])
    assert stories.conflict(summit, budapest) == "dates differ"
    assert stories.same_story(summit, budapest) == 0


def test_another_countrys_trade_is_another_story_even_with_the_same_target() -> None:
    azerbaijan, uzbekistan = stories.signatures([nd.entry(nd.TRADE[0]), nd.entry(nd.UZBEK_TRADE)])
    assert azerbaijan.amounts & uzbekistan.amounts  # both cite the $60 billion target
    assert stories.conflict(azerbaijan, uzbekistan) == (
        "headline names differ (azerbaijan / uzbekistan)"
    )
    assert stories.same_story(azerbaijan, uzbekistan) == 0


def test_another_amount_keeps_rewritten_text_apart() -> None:
    copy = dict(nd.TRADE[0])
    copy["summary"] = str(copy["summary"]).replace("$15 billion", "$25 billion")
    copy["title"] = str(copy["title"]).replace("$15 billion", "$25 billion")
    original, changed = stories.signatures([nd.entry(nd.TRADE[0]), nd.entry(copy)])
    assert stories.similarity(original, changed) > 0.8
    assert stories.same_story(original, changed) > 0  # $60bn and $100bn still agree
    copy["summary"] = "Türkiye and Azerbaijan aim to raise bilateral trade to $25 billion."
    (alone,) = stories.signatures([nd.entry(copy)])
    only_15 = stories.signatures([replace(nd.entry(nd.TRADE[0]), summary="Trade: $15 billion.")])
    assert stories.conflict(alone, only_15[0]) == "amounts differ"


def test_a_russian_rewrite_joins_by_names_date_and_nothing_else() -> None:
    english, russian = stories.signatures([nd.entry(nd.RECEPTION_WIRE), nd.entry(nd.RECEPTION_RU)])
    assert stories.similarity(english, russian) < stories.NEAR_TEXT  # hardly a word in common
    assert {"omuraliev", "vasington"} <= english.title_names & russian.title_names
    assert english.dates == russian.dates == {1215}
    assert stories.same_story(english, russian) > 0
    assert set(english.search_keys()) & set(russian.search_keys())  # a candidate by anchor
    # The same names on another day are another event.
    other_day = dict(nd.RECEPTION_RU, summary=str(nd.RECEPTION_RU["summary"]).replace("15", "3"))
    (later,) = stories.signatures([nd.entry(other_day)])
    assert stories.same_story(english, later) == 0


def test_one_link_through_two_feeds_is_one_story_even_if_the_text_changed() -> None:
    first = nd.entry(nd.RECEPTION_WIRE)
    updated = replace(first, feed_id="wire-world", summary="Updated: the reception ended late.")
    a, b = stories.signatures([first, updated])
    assert stories.same_story(a, b) == 2.0


def test_a_generic_headline_alone_does_not_make_a_story() -> None:
    one = Entry("a", "1", None, "Daily briefing", "Parliament debates the budget in Astana.")
    two = Entry(
        "b", "2", None, "Daily briefing", "Floods close the road between Osh and Jalal-Abad."
    )
    a, b = stories.signatures([one, two])
    assert stories.same_story(a, b) == 0


def test_copies_further_apart_than_the_window_are_two_stories() -> None:
    first = nd.entry(nd.SUMMIT[0])
    sig = stories.signatures([first])[0]
    assert first.published is not None
    found = stories.cluster(
        [(sig, first.published), (sig, first.published + stories.WINDOW + timedelta(hours=1))]
    )
    assert found == [0, 1]


def test_a_stored_signature_finds_what_the_fresh_one_finds() -> None:
    (sig,) = stories.signatures([nd.entry(nd.SUMMIT[1])])
    stored = stories.Signature.from_stored(sig.hashes, sig.features())
    assert stored == sig and stored.search_keys() == sig.search_keys()


def test_a_big_story_keeps_its_first_members_and_every_later_copy_joins() -> None:
    """Only a story's first MAX_MEMBERS copies are found by their keys; the copies after
    them still join it (through the first ones), and the other events stay apart."""
    copies = [
        replace(
            nd.entry(nd.SUMMIT[n % 3]), feed_id=f"feed{n}", id=f"copy{n}", url=f"https://{n}.x/"
        )
        for n in range(3 * stories.MAX_MEMBERS)
    ]
    others = [nd.entry(i) for i in [*nd.TRADE, *nd.BUDAPEST]]
    sigs = stories.signatures([*copies, *others])
    start = copies[0].published
    assert start is not None
    whens = [start + timedelta(minutes=n) for n in range(len(sigs))]
    found = stories.cluster(zip(sigs, whens, strict=True))
    assert len(set(found[: len(copies)])) == 1
    assert found[0] not in found[len(copies) :]
    # A store's index filled with the stories it had decides the same way.
    index = stories.Index()
    for sig, when, story in zip(sigs[:10], whens[:10], found[:10], strict=True):
        index.add(story, sig, when)
    rest = index.assign(list(zip(sigs[10:], whens[10:], strict=True)), lambda when: -1)
    assert rest[: len(copies) - 10] == [found[0]] * (len(copies) - 10)
    assert stories.Index().assign([], lambda when: 0) == []


def test_names_are_capitalised_words_that_do_not_open_a_sentence() -> None:
    text = (
        "Tokayev met Aliyev in Baku. The talks ended; Erdogan said “Ankara” would host "
        '(Japarov agreed). eBay and foo_Bar. "Mirziyoyev left." Then Budapest: Orban.'
    )
    sk = stories.skeleton
    expected = {sk(w) for w in ("aliyev", "baku", "ankara", "japarov", "bar", "budapest")}
    assert gist._names(text) == expected
    # A name that also opens a sentence is a name where it does not.
    assert gist._names("Baku hosts it. Talks in Baku.") == {sk("baku")}
    assert gist._names("") == gist._names("... ") == set()


@functools.lru_cache(maxsize=1)
def _two_scans() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    from monitor.rules.text import category_class

    upper = category_class(("Lu", "Lt"), 0x41, 0xFFFF)
    word = rf"[{upper}][^\W_'’-]*"
    openers = re.escape(" \t\"'“‘«(")
    return (
        re.compile(rf"[{upper}](?<![^\W_].)[^\W_'’-]*"),
        re.compile(rf"[{openers}]*({word})"),
        re.compile(rf"[{re.escape('.!?:;…' + chr(10))}][{openers}]*({word})"),
    )


def _names_by_two_scans(text: str) -> set[str]:
    """gist._names as first written: every capitalised word, less one occurrence of each
    that opens a sentence (after a sentence's end, or at the start)."""
    every, lead, after_end = _two_scans()
    words = every.findall(text)
    first = lead.match(text)
    for found in after_end.findall(text) + ([first.group(1)] if first else []):
        words.remove(found)
    return {part for w in set(words) if len(w) > 1 for part in gist._name_parts(w)}


@pytest.mark.parametrize("seed", range(4))
def test_names_in_one_scan_are_the_names_of_two(seed: int) -> None:
    rng = random.Random(seed)
    pieces = [
        "Baku", "Omuraliev", "OTS", "the", "A", "Вашингтоне", "Ǆemal", "x", "5", "B2b",
        "O'Brien", "Kyrgyz-Turkish", "foo_Bar", "U.S.", " ", " ", "  ", ". ", "! ", "?",
        ":", ";", "…", "\n", "\t", '"', "'", "“", "‘", "«", "(", ")", ",", "-", "_", "’",
    ]  # fmt: skip
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(12)))
        assert gist._names(text) == _names_by_two_scans(text), text
    both = {gist.skeleton("baku"), gist.skeleton("aliyev")}
    assert gist._names("Then Baku met Aliyev. Baku agreed") == both
    assert gist._names("Baku. Baku agreed") == set()  # it opens both sentences


@pytest.mark.parametrize(
    "title",
    [
        "Gabala Hosts 12th OTS Summit of Turkic Leaders",
        "Erdogan in Gabala: Turkic states must act together. Aliyev Agrees",
        'the OTS and NATO\'s eBay foo_Bar U.S. (Baku) "Astana" December 15',
        "",
        "A B C",
        "IN CAPITALS: TOKAYEV MEETS ORBAN",
    ],
)
def test_an_ascii_headline_has_the_names_any_headline_has(title: str) -> None:
    from monitor.rules.text import tokens

    body = gist._names("Erdogan met Tokayev and Orban in Gabala with Aliyev and the OTS.")
    assert gist._ascii_headline(title, body) == (
        " ".join(tokens(title)),
        gist._names(title),
        gist._title_names(title, body),
    )


def test_the_gist_of_empty_or_odd_text() -> None:
    for title, body in [("", ""), (" ", "\n\t"), ("$", "15"), ("日本", "Ⓐ 15 декабря $5bn")]:
        words, found = gist.gist(title, body)
        assert found.words == len(words) and isinstance(found.dates, frozenset)
    assert gist.gist("x", "on 15 December, $60 billion")[1].dates == {1215}
    assert gist.gist("x", "on 15 December, $60 billion")[1].amounts == {60_000_000_000}
    assert gist.gist("x", "$15.5 or 3.15 december")[1].dates == set()


def test_skeleton_meets_latin_and_cyrillic_spellings() -> None:
    from monitor.rules.text import fold

    pairs = [("Вашингтоне", "Washington"), ("Джаббаров", "Jabbarov"), ("Ибрагим", "Ibrahim")]
    for cyrillic, latin in pairs:
        assert stories.skeleton(fold(cyrillic)) == stories.skeleton(fold(latin))
    assert stories.skeleton("baku") != stories.skeleton("budapest")


# --------------------------------------------------------------------------- the store

RULES = {"ots": "normal", "trade": "high"}


def record(store: Store, clock: FakeClock, items: list[dict[str, object]]) -> None:
    """Record items as a poll would, each with a hit of the rule its text names."""
    by_feed: dict[str, list[Entry]] = {}
    for item in items:
        by_feed.setdefault(str(item["feed"]), []).append(nd.entry(item))
    for feed_id, entries in by_feed.items():
        hits = {
            e.id: [
                Hit(
                    "trade" if "trade" in e.title.lower() else "ots",
                    "v1",
                    "high" if "trade" in e.title.lower() else "normal",
                    (TermMatch("OTS", "title", 0, 3),),
                )
            ]
            for e in entries
        }
        feed = FeedState(id=feed_id, url=f"https://{feed_id}.example.com/rss", last_polled=clock())
        store.record(FeedUpdate(feed=feed, entries=tuple(entries), hits=hits))


@pytest.fixture
def newsroom(store: Store) -> Store:
    store.sync_feeds(
        [
            FeedState(id=f, url=f"https://{f}.example.com/rss", title=t)
            for f, t in nd.OUTLETS.items()
        ]
    )
    return store


def test_reserved_hits_carry_their_story(newsroom: Store, clock: FakeClock) -> None:
    record(newsroom, clock, nd.FIRST_POLL)
    batch = newsroom.reserve(Pending("daily:file", None, clock()))
    assert batch is not None and all(h.story_id is not None for h in batch.hits)
    by_story: dict[int | None, set[str]] = {}
    for hit in batch.hits:
        by_story.setdefault(hit.story_id, set()).add(hit.item_id)
    assert len(by_story) == 5
    reception = {str(i["guid"]) for i in nd.RECEPTION}
    assert reception in by_story.values()
    assert newsroom.story_counts() == {"stories": 5, "story_items": len(nd.FIRST_POLL)}


def test_a_later_copy_joins_the_story_a_target_had_and_is_not_sent_again(
    newsroom: Store, clock: FakeClock
) -> None:
    record(newsroom, clock, nd.FIRST_POLL)
    first = newsroom.reserve(Pending("urgent:email", None, clock()))
    assert first is not None
    newsroom.mark_sent(first, clock())
    stories_sent = {h.story_id for h in first.hits}

    clock.advance(hours=1)
    record(newsroom, clock, [nd.RECEPTION_LATER, nd.RECEPTION_RU])
    assert newsroom.reserve(Pending("urgent:email", None, clock())) is None
    assert newsroom.delivery_counts("urgent:email") == {"sent": len(first.hits), "joined": 2}
    # Another target that never had the story gets it whole, copies included.
    other = newsroom.peek(Pending("daily:file", None, clock()))
    assert {h.story_id for h in other} == stories_sent
    later = {str(nd.RECEPTION_LATER["guid"]), str(nd.RECEPTION_RU["guid"])}
    assert later <= {h.item_id for h in other}


def test_a_copy_arriving_while_a_send_failed_joins_the_story_once_it_is_sent(
    newsroom: Store, clock: FakeClock
) -> None:
    """A failed message is retried whole and alone; a copy of its story that arrived in
    the meantime joins the story once the retry went out, and is never sent itself."""
    record(newsroom, clock, [nd.RECEPTION_WIRE])
    batch = newsroom.reserve(Pending("urgent:email", None, clock()))
    assert batch is not None
    newsroom.release(batch, "SMTP down", clock())
    record(newsroom, clock, [nd.RECEPTION[2]])
    clock.advance(minutes=5)
    again = newsroom.reserve(Pending("urgent:email", None, clock()))
    assert again is not None and again.retry
    assert {h.item_id for h in again.hits} == {str(nd.RECEPTION_WIRE["guid"])}
    newsroom.mark_sent(again, clock())
    assert newsroom.reserve(Pending("urgent:email", None, clock())) is None
    assert newsroom.delivery_counts("urgent:email").get("joined") == 1


def test_prune_forgets_old_stories(newsroom: Store, clock: FakeClock) -> None:
    record(newsroom, clock, nd.FIRST_POLL)
    newsroom.peek(Pending("daily:file", None, clock()))
    assert newsroom.story_counts()["stories"] == 5
    newsroom.prune(clock() + timedelta(days=1))
    assert newsroom.story_counts() == {"stories": 0, "story_items": 0}


def test_the_archive_shows_a_clustered_story_once_with_every_copy(
    newsroom: Store, clock: FakeClock
) -> None:
    from monitor.archive import Filters

    record(newsroom, clock, [nd.RECEPTION_WIRE, nd.RECEPTION[2]])
    before = newsroom.stories(Filters(), offset=0, limit=50)
    assert len(before) == 2  # not clustered yet: each item a story of its own
    assert newsroom.reserve(Pending("urgent:email", None, clock())) is not None  # clusters them
    (story,) = newsroom.stories(Filters(), offset=0, limit=50)
    guids = {str(nd.RECEPTION_WIRE["guid"]), str(nd.RECEPTION[2]["guid"])}
    assert {item.guid for item in story.items} == guids
    whole = newsroom.story(story.items[1].id)
    assert whole is not None and len(whole.items) == 2
    assert whole.items[0].id == story.items[1].id  # the item asked for comes first
