"""Phrases on word positions: exact runs of words and Lucene's sloppy phrase.

A phrase is found within one field's folded words. An exact phrase is a run of its words
in order; ``"a b"~N`` lets the words move N positions in all (a reversed pair costs two).
Where a phrase has words with form keys, each word is first turned into the positions of
the field that match it, and the phrase is found on those lists.
"""

from __future__ import annotations

__all__ = ["runs", "sloppy", "starts"]


def starts(words: tuple[str, ...], prefix: bool, toks: list[str]) -> list[int]:
    """Start positions of an exact phrase (the last word a prefix if ``prefix``)."""
    n = len(words)
    if n == 1 and prefix:
        return [i for i, tok in enumerate(toks) if tok.startswith(words[0])]
    first = words[0]
    rest = list(words[1:])
    out: list[int] = []
    i = -1
    while True:
        try:
            i = toks.index(first, i + 1)  # list.index runs in C
        except ValueError:
            return out
        if n == 1:
            out.append(i)
        elif prefix:
            window = toks[i + 1 : i + n]
            if (
                len(window) == n - 1
                and window[:-1] == rest[:-1]
                and window[-1].startswith(rest[-1])
            ):
                out.append(i)
        elif toks[i + 1 : i + n] == rest:
            out.append(i)


def runs(lists: list[list[int]]) -> list[int]:
    """Start positions p such that word j of the phrase stands at p + j, given where each
    word stands."""
    later = [set(found) for found in lists[1:]]
    return [p for p in lists[0] if all(p + j in found for j, found in enumerate(later, 1))]


def sloppy(lists: list[list[int]], slop: int) -> list[tuple[int, ...]]:
    """Lucene's sloppy phrase: positions p_i with max(p_i - i) - min(p_i - i) <= slop,
    given where each word stands."""
    hits: list[tuple[int, ...]] = []
    for anchor in lists[0]:
        chosen = [anchor]
        low = high = anchor
        for i in range(1, len(lists)):
            # the free position whose offset (p - i) is nearest the anchor's
            free = [(abs(p - i - anchor), p) for p in lists[i] if p not in chosen]
            if not free:
                break
            best = min(free)[1]
            chosen.append(best)
            low, high = min(low, best - i), max(high, best - i)
            if high - low > slop:
                break
        else:
            hits.append(tuple(chosen))
    return hits
