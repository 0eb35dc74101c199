"""Lexical similarity over character shingles.

The embedding model alone is not enough: the default all-MiniLM-L6-v2 is English-only
and gives unrelated Russian posts cosines of 0.8 and more, so a repost must also share
a good part of its characters with the post it is matched to.
"""

from __future__ import annotations

from monitor.normalize import matching_text

SHINGLE_SIZE = 5


def shingles(text: str, size: int = SHINGLE_SIZE) -> frozenset[str]:
    words = matching_text(text)
    if len(words) <= size:
        return frozenset([words]) if words else frozenset()
    return frozenset(words[i : i + size] for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
