"""Same-claim evidence: embedding cosine plus character shingles.

The embedding model alone is not enough: the default all-MiniLM-L6-v2 is English-only
and gives unrelated Russian posts cosines of 0.8 and more, so a repost must also share
a good part of its characters with the post it is matched to. Shingles are taken over
the matching text (letters and digits only), so they work for any script.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasketch import MinHash

from monitor.normalize import matching_text

SHINGLE_SIZE = 5
MINHASH_PERMUTATIONS = 64
# Below this many shingles (about eight words) containment proves little: a short
# text is "contained" in many longer ones.
MIN_SHINGLES_FOR_CONTAINMENT = 40


def shingles(text: str, size: int = SHINGLE_SIZE) -> frozenset[str]:
    words = matching_text(text)
    if len(words) <= size:
        return frozenset([words]) if words else frozenset()
    return frozenset(words[i : i + size] for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def containment(a: frozenset[str], b: frozenset[str]) -> float:
    """How much of the shorter text the longer one contains: a headline inside a full post."""
    if len(a) < MIN_SHINGLES_FOR_CONTAINMENT or len(b) < MIN_SHINGLES_FOR_CONTAINMENT:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def minhash(text_shingles: frozenset[str]) -> MinHash:
    signature = MinHash(num_perm=MINHASH_PERMUTATIONS)
    signature.update_batch([shingle.encode("utf-8") for shingle in text_shingles])
    return signature


@dataclass(frozen=True)
class MatchRules:
    """When two posts carry the same claim.

    Thresholds come from settings, calibrated in docs/clustering.md.
    """

    min_cosine: float
    min_jaccard: float
    min_containment: float
    neighbours: int

    @classmethod
    def from_settings(cls, settings) -> "MatchRules":
        return cls(settings.cluster_min_cosine, settings.cluster_min_jaccard,
                   settings.cluster_min_containment, settings.cluster_neighbours)

    def same_claim(self, cosine: float, a: frozenset[str], b: frozenset[str]) -> bool:
        if cosine < self.min_cosine:
            return False
        return jaccard(a, b) >= self.min_jaccard or containment(a, b) >= self.min_containment
