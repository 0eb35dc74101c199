"""Banded LSH over the MinHash signatures of posts' shingles: the posts whose signature
agrees with a query's on every value of at least one band.

The bands and their rows are datasketch's choice for the threshold (``MinHashLSH``'s b
and r), and a post is found exactly when datasketch's ``MinHashLSH`` would find it (a test
compares the two on real posts). That class turns each band of each signature into bytes
(a byte-swapped copy) in a Python loop, for every insert and every query. Here a band of
two 32-bit values is one 64-bit integer, read from the signature by a view; and a bucket
that holds one post, as most do, holds it as a bare id rather than a set (about 200 bytes less a band).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from datasketch import MinHashLSH

_BAND_ROWS = 2  # two uint32 MinHash values: one uint64 key


class ShingleLSH:
    """The signatures of the WINDOW posts inserted last (each post: one or more signatures,
    uint32 MinHash values, as similarity.shingle_signatures gives them)."""

    def __init__(self, threshold: float, permutations: int, window: int):
        chosen = MinHashLSH(threshold=threshold, num_perm=permutations)
        if chosen.r != _BAND_ROWS:
            raise ValueError(f"datasketch chose bands of {chosen.r} values for threshold {threshold} and "
                             f"{permutations} permutations; this index keys bands of {_BAND_ROWS}")
        self.bands, self.window = chosen.b, window
        self._buckets: list[dict[int, int | set[int]]] = [{} for _ in range(self.bands)]
        self._keys: OrderedDict[int, np.ndarray] = OrderedDict()  # post: its band keys, a row a signature

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, post_id: int) -> bool:
        return post_id in self._keys

    def _band_keys(self, signatures: list[np.ndarray]) -> np.ndarray:
        # As uint32 whatever they came as (a MinHash datasketch computes holds uint64): the
        # view pairs them up.
        return np.vstack(signatures).astype(np.uint32, copy=False).view(np.uint64)[:, : self.bands]

    def insert(self, post_id: int, signatures: list[np.ndarray]) -> None:
        """Index the post by SIGNATURES (none: leave it out), in place of what it was indexed by;
        the oldest post leaves once there are more than the window."""
        self.remove(post_id)
        if not signatures:
            return
        self._keys[post_id] = keys = self._band_keys(signatures)
        for signature_keys in keys.tolist():
            for buckets, key in zip(self._buckets, signature_keys, strict=True):
                bucket = buckets.get(key)
                if bucket is None:
                    buckets[key] = post_id
                elif isinstance(bucket, set):
                    bucket.add(post_id)
                elif bucket != post_id:  # a post's two signatures may share a band
                    buckets[key] = {bucket, post_id}
        if len(self._keys) > self.window:
            self.remove(next(iter(self._keys)))

    def remove(self, post_id: int) -> None:
        keys = self._keys.pop(post_id, None)
        if keys is None:
            return
        for signature_keys in keys.tolist():
            for buckets, key in zip(self._buckets, signature_keys, strict=True):
                bucket = buckets.get(key)
                if isinstance(bucket, set):
                    bucket.discard(post_id)
                    if len(bucket) == 1:
                        buckets[key] = bucket.pop()
                elif bucket == post_id:
                    del buckets[key]

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Everything the index holds as three arrays, oldest post first: the post ids, how
        many signatures each has, and their band keys (a row a signature)."""
        post_ids = np.fromiter(self._keys, dtype=np.int64, count=len(self._keys))
        counts = np.fromiter((len(keys) for keys in self._keys.values()), dtype=np.int64,
                             count=len(self._keys))
        keys = (np.vstack(list(self._keys.values())) if self._keys
                else np.zeros((0, self.bands), dtype=np.uint64))
        return post_ids, counts, keys

    def insert_arrays(self, post_ids: np.ndarray, counts: np.ndarray, keys: np.ndarray) -> None:
        """Insert what to_arrays gave, in its order (into an empty index: the same index again)."""
        if keys.shape[1:] != (self.bands,) or counts.sum() != len(keys) or len(post_ids) != len(counts):
            raise ValueError("shingle arrays of another shape than this index's")
        for post_id, post_keys in zip(post_ids.tolist(), np.split(keys, np.cumsum(counts)[:-1]), strict=True):
            self.insert(post_id, [post_keys.view(np.uint32)])

    def query(self, signatures: list[np.ndarray]) -> set[int]:
        """The posts that share a band with any of SIGNATURES."""
        found: set[int] = set()
        for signature_keys in self._band_keys(signatures).tolist() if signatures else []:
            for buckets, key in zip(self._buckets, signature_keys, strict=True):
                bucket = buckets.get(key)
                if bucket is None:
                    continue
                if isinstance(bucket, set):
                    found |= bucket
                else:
                    found.add(bucket)
        return found
