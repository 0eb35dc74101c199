"""The loops over a text's characters and hashed shingles that placing a post runs for every
post and every candidate, compiled with numba.

In NumPy each of them was a dozen array operations over a few hundred elements, whose calls
cost more than their arithmetic, and they run for every candidate. Compiled, each is one
pass over its data. The hashes are NumPy's and datasketch's, bit for bit: the calibration,
the LSH index and the placements do not depend on which ran.

Compiled functions are cached on disk (numba's ``cache=True``: beside this file, or in the
user's cache directory where this one is read-only, or under NUMBA_CACHE_DIR), so a
process compiles them once, not at every start.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# A multiplicative hash over the code points, then splitmix64's finalizer.
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
# Hashes keep 61 bits: the bits above tag the kind of shingle (see text_shingles).
_TAG_SHIFT = 61
_HASH_BITS = np.uint64((1 << _TAG_SHIFT) - 1)
_LOW_32 = np.uint64(0xFFFFFFFF)
_SPACE = np.uint64(ord(" "))
_EMPTY_SLOT = -1  # hashes are never negative


@njit(cache=True, inline="always")
def _finalized(state):
    """Splitmix64's finalizer of a uint64 state, cut to _HASH_BITS: a hash the same in every
    process (Python's own string hash is salted per process) whose low 32 bits, which
    MinHash takes, are as good as the rest."""
    state ^= state >> np.uint64(30)
    state *= _MIX_1
    state ^= state >> np.uint64(27)
    state *= _MIX_2
    state ^= state >> np.uint64(31)
    return np.int64(state & _HASH_BITS)


@njit(cache=True, inline="always")
def _window_hash(codes, start, size):
    """The hash of SIZE code points from START; those past the end count as NUL."""
    state = np.uint64(0)
    for position in range(start, start + size):
        code = np.uint64(codes[position]) if position < len(codes) else np.uint64(0)
        state = (state ^ code) * _MULTIPLIER
    return state


@njit(cache=True)
def _window_hashes(codes, size):
    """The hash of every window of SIZE code points of CODES, in order; a text shorter than
    SIZE is one window, padded with NUL; no text, no windows."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    hashes = np.empty(max(len(codes), size) - size + 1, dtype=np.int64)
    for start in range(len(hashes)):
        hashes[start] = _finalized(_window_hash(codes, start, size))
    return hashes


@njit(cache=True, inline="always")
def _slot(table, value):
    """Where VALUE is in TABLE (open addressing, linear probing), or the empty slot where it
    would go. Values are random hashes already: their low bits choose the slot."""
    mask = len(table) - 1
    slot = value & mask
    while table[slot] != _EMPTY_SLOT and table[slot] != value:
        slot = (slot + 1) & mask
    return slot


@njit(cache=True)
def _hash_set(count):
    """An empty table for COUNT values: at most half full, so probes stay short. (Its size
    depends on COUNT alone: values chosen to collide cost time, never memory.)"""
    return np.full(1 << (int(np.ceil(np.log2(max(count, 1)))) + 1), _EMPTY_SLOT, dtype=np.int64)


@njit(cache=True)
def _distinct(hashes):
    """HASHES without repeats, in the order they first come: a hash set, which for a post's
    5-character windows takes about 2 µs where numba's sort took 15."""
    table, kept, found = _hash_set(len(hashes)), np.empty(len(hashes), dtype=np.int64), 0
    for value in hashes:
        slot = _slot(table, value)
        if table[slot] == _EMPTY_SLOT:
            table[slot] = kept[found] = value
            found += 1
    return kept[:found]


@njit(cache=True)
def _stem_hashes(codes, stem_length, shortest_word):
    """The hash of the first STEM_LENGTH code points (NUL-padded) of each word of CODES
    (words separated by one space) of at least SHORTEST_WORD."""
    hashes = np.empty(len(codes) // 2 + 1, dtype=np.int64)
    found, start = 0, 0
    for end in range(len(codes) + 1):
        if end < len(codes) and np.uint64(codes[end]) != _SPACE:
            continue
        if end - start >= shortest_word:
            hashes[found] = _finalized(_window_hash(codes[start : min(end, start + stem_length)], 0,
                                                    stem_length))
            found += 1
        start = end + 1
    return hashes[:found]


@njit(cache=True)
def text_shingles(codes, sizes, stem_length, shortest_stemmed, opening_windows):
    """A text's hashed shingles (CODES: the code points of its words, one space between
    them): the distinct hashes of its windows of each of SIZES characters, then of its word
    stems (the first STEM_LENGTH characters of words of at least SHORTEST_STEMMED), each
    kind tagged with its position in the bits above _HASH_BITS, in one array, kind after
    kind; how many of each kind; and the distinct hashes of its first OPENING_WINDOWS
    windows of the last size."""
    kinds, windows = [], np.zeros(0, dtype=np.int64)
    for size in sizes:
        windows = _window_hashes(codes, size)
        kinds.append(_distinct(windows))
    kinds.append(_distinct(_stem_hashes(codes, stem_length, shortest_stemmed)))
    counts = np.array([len(kind) for kind in kinds], dtype=np.int64)
    tagged = np.empty(counts.sum(), dtype=np.int64)
    start = 0
    for tag, kind in enumerate(kinds):
        tagged[start : start + len(kind)] = kind | (np.int64(tag) << _TAG_SHIFT)
        start += len(kind)
    return tagged, counts, _distinct(windows[:opening_windows])


@njit(cache=True)
def shared_shingles(text_shingles, text_ends, other_shingles, other_kind_ends, pair_texts, pair_others):
    """How many shingles of each kind each pair's two texts share.

    TEXT_SHINGLES: the first texts' shingles, one after the other, text i ending at
    TEXT_ENDS[i]; OTHER_SHINGLES: the second texts', kind by kind, kind k of text j ending
    at OTHER_KIND_ENDS[j, k]; pair p is of first text PAIR_TEXTS[p] (in ascending order)
    and second text PAIR_OTHERS[p]. Each first text goes into a hash set once, and its
    pairs' shingles are looked up in it."""
    pairs, kinds = len(pair_texts), other_kind_ends.shape[1]
    shared = np.zeros((pairs, kinds))
    ends = other_kind_ends.ravel()
    pair = 0
    for text in range(len(text_ends)):
        if pair == pairs or pair_texts[pair] != text:
            continue
        mine = text_shingles[text_ends[text - 1] if text else 0 : text_ends[text]]
        table = _hash_set(len(mine))
        # A bit for each value of a shingle's low 16 bits: most of a candidate's shingles are
        # not the text's, and one bit, in a table that stays in the processor's nearest cache,
        # rules them out without a probe.
        seen = np.zeros(1024, dtype=np.uint64)
        for shingle in mine:
            table[_slot(table, shingle)] = shingle
            seen[(shingle >> 6) & 1023] |= np.uint64(1) << np.uint64(shingle & 63)
        while pair < pairs and pair_texts[pair] == text:
            for kind in range(kinds):
                segment = pair_others[pair] * kinds + kind
                found = 0
                for shingle in other_shingles[ends[segment - 1] if segment else 0 : ends[segment]]:
                    if (seen[(shingle >> 6) & 1023] >> np.uint64(shingle & 63)) & np.uint64(1):
                        found += table[_slot(table, shingle)] == shingle
                shared[pair, kind] = found
            pair += 1
    return shared


@njit(cache=True)
def affine32_minimums(shingles, multipliers, increments):
    """MinHash values of hashed SHINGLES by datasketch's affine32 scheme: each shingle's low
    32 bits mixed by MurmurHash3's 32-bit finalizer, then for each permutation the least
    multiplier * value + increment, in 32-bit arithmetic."""
    minimums = np.full(len(multipliers), _LOW_32, dtype=np.uint64)
    for shingle in shingles:
        value = np.uint64(shingle) & _LOW_32
        value = ((value ^ (value >> np.uint64(16))) * np.uint64(0x85EBCA6B)) & _LOW_32
        value = ((value ^ (value >> np.uint64(13))) * np.uint64(0xC2B2AE35)) & _LOW_32
        value ^= value >> np.uint64(16)
        for permutation in range(len(multipliers)):
            permuted = (np.uint64(multipliers[permutation]) * value
                        + np.uint64(increments[permutation])) & _LOW_32
            minimums[permutation] = min(minimums[permutation], permuted)
    return minimums.astype(np.uint32)
