"""MinHash signatures of many sets at once, and their LSH band keys.

The values are datasketch's MinHash, value for value (the "affine32" scheme: each input
hash goes through MurmurHash3's finalizer, then through NUM_PERM permutations
h -> a*h + b mod 2^32 whose (a, b) datasketch draws from numpy's RandomState(seed));
tests/test_stories.py checks them against datasketch. They are computed for a whole batch
in one numpy pass, about three times faster than datasketch's MinHash.bulk, and without
importing datasketch, which imports scipy (half a second and 60 MB more for the job).
bench/digest.py measures both.

numpy is imported where it is used, so that a process that only polls (and imports the
store) never loads it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BANDS",
    "NUM_PERM",
    "ROWS",
    "HashTable",
    "SharedKeys",
    "agreement",
    "agreements",
    "band_keys",
    "minhashes",
    "minhashes_flat",
    "stored_band_keys",
    "word_hash",
    "word_hashes_of",
]

#: MinHash permutations, and the LSH bands of ROWS values each they are cut into. Two
#: items whose word sets have Jaccard similarity s share a band with probability s^2,
#: so of 30 bands they share 0.075 at s = 0.05 (unrelated news), 1.9 at 0.25 and 3.7 at
#: 0.35 (rewrites of one story measure 0.35 to 0.65). stories.py takes an item as a
#: candidate from two shared keys up: 0.3% of unrelated items, 88% of rewrites at 0.35.
NUM_PERM = 60
ROWS = 2
BANDS = NUM_PERM // ROWS
#: datasketch's default seed: the permutations are the ones its MinHash draws.
SEED = 1


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of datasketch's affine32 permutations h -> a*h + b mod 2^32."""
    import numpy as np

    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer, which datasketch applies to every input hash first."""
    import numpy as np

    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhashes(word_hashes: Sequence[Sequence[int]], chunk: int = 2048) -> np.ndarray:
    """The MinHash values of many sets of 32-bit hashes: an (items, NUM_PERM) uint32 array,
    row for row what ``datasketch.MinHash(num_perm=NUM_PERM).update_batch`` gives (an
    empty set is taken as {0})."""
    return minhashes_flat(
        list(chain.from_iterable(word_hashes)), [len(h) for h in word_hashes], chunk
    )


def minhashes_flat(hashes: Sequence[int], sizes: Sequence[int], chunk: int = 2048) -> np.ndarray:
    """``minhashes`` of sets given one after another: ``hashes`` holds the first set's
    ``sizes[0]`` hashes, then the second's, and so on. Hashes are permuted ``chunk`` at a
    time: a block that stays in the CPU's cache (2048 x 60 values, half a megabyte) is
    three times faster than one big matrix."""
    import numpy as np

    a, b = _permutations()
    counts = np.asarray(sizes, dtype=np.int64)
    flat = np.asarray(hashes, dtype=np.uint32)
    if len(counts) and not counts.all():  # an empty set is {0}
        flat = np.insert(flat, np.cumsum(counts)[counts == 0], np.uint32(0))
        counts = np.maximum(counts, 1)
    flat = _fmix32(flat)
    ends = np.cumsum(counts)
    out = np.empty((len(counts), NUM_PERM), dtype=np.uint32)
    permuted = np.empty((max(chunk, int(counts.max(initial=0))), NUM_PERM), dtype=np.uint32)
    first = 0  # the first item of the chunk
    while first < len(counts):
        begin = int(ends[first - 1]) if first else 0
        # Whole items, as many as fit in a chunk (at least one).
        last = max(first + 1, int(np.searchsorted(ends, begin + chunk, side="right")))
        end = int(ends[last - 1])
        block = permuted[: end - begin]
        np.multiply(flat[begin:end, None], a, out=block)  # wraps modulo 2^32, as intended
        np.add(block, b, out=block)
        offsets = np.concatenate(([0], ends[first : last - 1] - begin))
        out[first:last] = np.minimum.reduceat(block, offsets, axis=0)
        first = last
    return out


def band_keys(values: np.ndarray) -> np.ndarray:
    """Each row's LSH band keys: its BANDS bands of ROWS values mixed into one signed
    63-bit integer each (band number included), the same in every process."""
    import numpy as np

    v = values.reshape(len(values), BANDS, ROWS).astype(np.uint64)
    k = np.arange(BANDS, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    for row, mult in zip(
        range(ROWS), (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9), strict=False
    ):
        k = (k ^ v[:, :, row]) * np.uint64(mult)
    k = k ^ (k >> np.uint64(29))
    return (k >> np.uint64(1)).astype(np.int64)


def agreement(a: bytes, b: bytes) -> float:
    """The share of MinHash values two signatures (little-endian uint32 bytes) agree on:
    the estimate of their sets' Jaccard similarity."""
    import numpy as np

    if not a or len(a) != len(b):
        return 0.0
    same = np.count_nonzero(np.frombuffer(a, dtype="<u4") == np.frombuffer(b, dtype="<u4"))
    return int(same) / (len(a) // 4)


def agreements(one: bytes, many: Sequence[bytes]) -> list[float]:
    """``agreement`` of one signature with many, in one numpy operation."""
    import numpy as np

    if not one or not many:
        return [0.0] * len(many)
    width = len(one)
    rows = [m if len(m) == width else bytes(width) for m in many]
    table = np.frombuffer(b"".join(rows), dtype="<u4").reshape(len(rows), width // 4)
    same = np.count_nonzero(table == np.frombuffer(one, dtype="<u4"), axis=1)
    return [float(n) / (width // 4) for n in same.tolist()]


class HashTable:
    """The MinHash values of many signatures as one matrix: ``agreements`` of one row
    with others takes one gather and one comparison. A row of another width (a stored
    signature cut short, or none) is compared as ``agreement`` compares it."""

    def __init__(self, rows: Sequence[bytes]) -> None:
        import numpy as np

        self._np = np
        self._rows = rows
        width = 4 * NUM_PERM
        #: The rows of another width, and the matrix with zeros in their place.
        self._odd = [n for n, row in enumerate(rows) if len(row) != width]
        if self._odd:
            rows = [row if len(row) == width else bytes(width) for row in rows]
        self._values = np.frombuffer(b"".join(rows), dtype="<u4").reshape(len(rows), NUM_PERM)

    def pair_agreements(self, ones: np.ndarray, others: np.ndarray) -> np.ndarray:
        """``agreement`` of row ``ones[i]`` with row ``others[i]`` for every i, as floats;
        compared a block at a time, so that the rows gathered stay in the CPU's cache."""
        np = self._np
        values = self._values
        out = np.empty(len(ones), dtype=np.float64)
        step = 8192
        for begin in range(0, len(ones), step):
            end = begin + step
            same = values.take(ones[begin:end], 0) == values.take(others[begin:end], 0)
            out[begin:end] = np.count_nonzero(same, axis=1)
        out /= NUM_PERM
        if self._odd:
            odd = np.zeros(len(values), dtype=bool)
            odd[self._odd] = True
            for i in np.flatnonzero(odd[ones] | odd[others]).tolist():
                out[i] = agreement(self._rows[ones[i]], self._rows[others[i]])
        return out

    def agreements(self, one: int, others: Sequence[int]) -> list[float]:
        """``agreements`` of row ``one`` with rows ``others``."""
        if self._odd:
            return agreements(self._rows[one], [self._rows[n] for n in others])
        if not others:
            return []
        values = self._values
        same = self._np.add.reduce(values.take(others, 0) == values[one], 1)
        return (same / NUM_PERM).tolist()


def stored_band_keys(hashes: bytes) -> bytes:
    """The band keys of one row of MinHash values kept as little-endian uint32 bytes, as
    int64 values in the machine's byte order."""
    import numpy as np

    values = np.frombuffer(hashes, dtype="<u4").reshape(1, NUM_PERM)
    return band_keys(values).tobytes()


def word_hashes_of(words: Iterable[bytes]) -> list[int]:
    """``word_hash`` of many words given as UTF-8. Computed, not cached: a cache of every
    word seen cost twice the hash in a process holding a poll's worth of objects."""
    return list(map(zlib.crc32, words))


def word_hash(word: str) -> int:
    """A stable 32-bit hash of a folded word (the same in every process and release)."""
    return zlib.crc32(word.encode("utf-8"))


def _padded(tags: Sequence[Sequence[int]]) -> np.ndarray:
    """Lists of tags as the rows of a matrix, -1 after the last of each (two columns at
    least)."""
    import numpy as np

    sizes = np.fromiter(map(len, tags), dtype=np.int64, count=len(tags))
    out = np.full((len(tags), max(2, int(sizes.max(initial=0)))), -1, dtype=np.int64)
    rows = np.repeat(np.arange(len(tags)), sizes)
    columns = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    out[rows, columns] = np.fromiter(chain.from_iterable(tags), dtype=np.int64, count=len(rows))
    return out


def _bits(tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row of a ``_padded`` matrix as a 64-bit set (tag t is bit t % 64), and
    whether two of its tags are one bit."""
    import numpy as np

    bits = np.left_shift(np.uint64(1), (tags % 64).astype(np.uint64))
    bits[tags < 0] = 0
    row = np.bitwise_or.reduce(bits, axis=1)
    return row, np.bitwise_count(row) < (tags >= 0).sum(axis=1)


def _sharing(tags: np.ndarray, ones: np.ndarray, others: np.ndarray, least: int) -> np.ndarray:
    """Whether row ``ones[i]`` of a ``_padded`` matrix shares ``least`` tags with row
    ``others[i]``: their bits first (pairs of rows with no tags on one bit share as many
    tags as bits at most), then the tags of the pairs the bits leave."""
    import numpy as np

    bits, merged = _bits(tags)
    out = np.bitwise_count(bits[ones] & bits[others]) >= least
    out |= merged[ones] | merged[others]
    maybe = np.flatnonzero(out)
    out[maybe] = _common(tags, ones[maybe], others[maybe]) >= least
    return out


def _common(tags: np.ndarray, ones: np.ndarray, others: np.ndarray) -> np.ndarray:
    """How many tags row ``ones[i]`` of a ``_padded`` matrix shares with row ``others[i]``."""
    import numpy as np

    out = np.empty(len(ones), dtype=np.int64)
    step = 4096
    for begin in range(0, len(ones), step):
        mine = tags[ones[begin : begin + step]][:, :, None]
        theirs = tags[others[begin : begin + step]][:, None, :]
        same = ((mine == theirs) & (mine >= 0)).reshape(len(mine), -1)
        out[begin : begin + step] = np.count_nonzero(same, axis=1)
    return out


def _key_order(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts ``flat`` by value, then by place (a stable argsort), and the
    values in that order. The
    places go into the low bits of the values, and those are sorted by numpy's vectorised
    quicksort, twice as fast; a stable argsort is the fallback for values whose other
    bits are the same (a collision), which that would interleave."""
    import numpy as np

    if len(flat) < 2:
        return np.arange(len(flat), dtype=np.int64), flat
    bits = int(len(flat) - 1).bit_length()
    mask = np.int64((1 << bits) - 1)
    packed = np.sort((flat & ~mask) | np.arange(len(flat), dtype=np.int64))
    order = packed & mask
    keyed = flat[order]
    differ = keyed[1:] != keyed[:-1]
    high = packed & ~mask
    if np.any(differ & (high[1:] == high[:-1])):
        order = np.argsort(flat, kind="stable")
        return order, flat[order]
    return order, keyed


class SharedKeys:
    """Which earlier sets of keys share each key of a set. ``keys`` are sets of keys in
    order; for each set from ``first`` on, its earlier sets are listed key by key (in the
    order of its keys) and, under each key, in their own order, each as often as it holds
    the key: what a dict from key to the sets holding it would give, looked up set by set.
    A key that more than ``crowded`` earlier sets hold is left out (``by_key`` lists them
    all). Found for every set at once by sorting all the (key, set) pairs."""

    def __init__(self, keys: Sequence[Sequence[int]], first: int, crowded: int) -> None:
        import numpy as np

        sizes = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
        flat = np.fromiter(chain.from_iterable(keys), dtype=np.int64, count=int(sizes.sum()))
        self._build(flat, sizes, first, crowded)

    @classmethod
    def of_bytes(cls, keys: Sequence[bytes], first: int, crowded: int) -> SharedKeys:
        """The same, of sets of keys given as int64 values in the machine's byte order
        (numpy reads them as they are: no Python int is made)."""
        import numpy as np

        out = cls.__new__(cls)
        sizes = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)) // 8
        out._build(np.frombuffer(b"".join(keys), dtype=np.int64), sizes, first, crowded)
        return out

    def _build(self, flat: np.ndarray, sizes: np.ndarray, first: int, crowded: int) -> None:
        import numpy as np

        ends = np.cumsum(sizes)
        owner = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        order, keyed = _key_order(flat)  # by key, then set, then the key's place
        owners = owner[order]
        at = np.arange(len(flat), dtype=np.int64)
        new_key = np.ones(len(flat), dtype=bool)
        new_key[1:] = keyed[1:] != keyed[:-1]
        new_owner = new_key.copy()
        new_owner[1:] |= owners[1:] != owners[:-1]
        #: Where each key's run starts in the sorted pairs, and where the run of its set.
        self._group = np.maximum.accumulate(np.where(new_key, at, 0))
        self._mine = np.maximum.accumulate(np.where(new_owner, at, 0))
        self._where = np.empty_like(order)
        self._where[order] = at  # each (key, set) pair's place in the sorted ones
        self._owners = owners
        self._first = first
        self._ends = ends
        # Each later pair's earlier sets, pair after pair: a run of ``counts`` each.
        begin = int(ends[first - 1]) if first else 0
        place = self._where[begin:]
        counts = self._mine[place] - self._group[place]
        counts[counts > crowded] = 0
        ends_of = np.concatenate(([0], np.cumsum(counts)))
        total = int(ends_of[-1])
        # Pair i of a run that starts at ``ends_of[k]`` is sorted pair group[place[k]] + i.
        jump = self._group[place] - ends_of[:-1]
        earlier = owners[np.arange(total, dtype=np.int64) + np.repeat(jump, counts)]
        self._earlier: list[int] = earlier.tolist()
        # Set n's pairs end where its last key's run does.
        self._bounds: list[int] = ends_of[np.concatenate(([begin], ends[first:])) - begin].tolist()
        #: The same pairs as arrays: each later set, and the earlier set it shares a key with.
        self._pairs = (np.repeat(owner[begin:], counts), earlier)

    def earlier(self, n: int) -> list[int]:
        """The earlier sets sharing set ``n``'s keys (n >= first), crowded keys left out."""
        at = n - self._first
        return self._earlier[self._bounds[at] : self._bounds[at + 1]]

    def near(
        self,
        table: HashTable,
        least: float,
        labels: Sequence[Sequence[int]] = (),
        tags: tuple[Sequence[Sequence[int]], Sequence[Sequence[int]]] | None = None,
    ) -> tuple[list[int], list[float], list[int]]:
        """For each set n (n >= first), the earlier sets sharing its keys (crowded keys
        left out, as ``earlier``) that are near it, with their agreement (see
        ``HashTable.pair_agreements``): those whose rows of ``table`` agree on ``least`` of
        their values at least, those with the same label as n in one of ``labels`` (a
        label per set; 0 is none), and those that share two of n's first ``tags`` and one
        of its second (two lists of tags, numbers from 0 up, per set). Found for
        every pair at once, and given as the near sets and their agreements, set n's
        from ``bounds[n - first]`` to ``bounds[n - first + 1]``, in order."""
        import numpy as np

        sets, earlier = self._pairs
        text = table.pair_agreements(sets, earlier)
        near = text >= least
        for label in labels:
            values = np.asarray(label, dtype=np.int64)
            mine = values[sets]
            near |= (mine != 0) & (mine == values[earlier])
        if tags is not None:
            first_tags, second_tags = (_padded(t) for t in tags)
            some = np.flatnonzero(~near & (first_tags[sets, 1] >= 0))  # two tags at least
            some = some[_sharing(first_tags, sets[some], earlier[some], 2)]
            near[some[_sharing(second_tags, sets[some], earlier[some], 1)]] = True
        # Each pair once, by later set and then earlier set.
        at = np.flatnonzero(near)
        pair = sets[at] * len(self._ends) + earlier[at]
        order = np.argsort(pair, kind="stable")
        pair = pair[order]
        first = np.ones(len(pair), dtype=bool)
        first[1:] = pair[1:] != pair[:-1]
        at = at[order[first]]
        bounds = np.searchsorted(sets[at], np.arange(self._first, len(self._ends) + 1))
        return earlier[at].tolist(), text[at].tolist(), bounds.tolist()

    def by_key(self, n: int) -> list[list[int]]:
        """For each key of set ``n`` (n >= first), every earlier set that holds it."""
        begin = int(self._ends[n - 1]) if n else 0
        out = []
        for place in self._where[begin : int(self._ends[n])].tolist():
            out.append(self._owners[self._group[place] : self._mine[place]].tolist())
        return out
