"""Candidate generation over clustered posts: an ANN index of their vectors (usearch,
cosine) and an LSH index of their character-shingle MinHashes (datasketch).

Either can find a repost the other misses: the English-only default model ranks
unrelated Russian posts above a true repost, and an edited repost may share few
shingles but keep its meaning. The database is the source of truth: the indexes are
rebuilt from it when a worker starts, and catch up on memberships other processes
committed since, using the membership id as a watermark. Keys are post ids.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from datasketch import MinHashLSH
from sqlalchemy import select
from sqlalchemy.orm import Session
from usearch.index import Index

from monitor.db.models import ClusterMembership, Embedding, Post
from monitor.embed.stage import vector_from_bytes
from monitor.similarity import MINHASH_PERMUTATIONS, minhash, shingles

SYNC_CHUNK = 5_000
# LSH recall threshold: lower than the Jaccard rule, so that candidates found only
# through containment (a headline inside a long post) still come up.
LSH_THRESHOLD = 0.2


class ClusterIndex:
    def __init__(self, model_id: str):
        self.model_id = model_id
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next sync rebuilds from the database."""
        self._vectors: Index | None = None  # made at the first vector, which gives the dimensions
        self._lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=MINHASH_PERMUTATIONS)
        self.watermark = 0
        self._watermark_stamp: tuple | None = None  # (post id, placed at) of that membership

    def __len__(self) -> int:
        return 0 if self._vectors is None else len(self._vectors)

    def sync(self, session: Session) -> int:
        """Add the memberships committed since the watermark; return how many were added."""
        if self.watermark and self._watermark_stamp != session.execute(
                select(ClusterMembership.post_id, ClusterMembership.created_at)
                .where(ClusterMembership.id == self.watermark)).first():
            # Not the database this index was built on (emptied, restored from a backup):
            # its ids may now name other posts. Start again.
            self.reset()
        added = 0
        while True:
            rows = session.execute(
                select(ClusterMembership.id, ClusterMembership.created_at, Post.id, Post.text,
                       Embedding.vector)
                .join(Post, Post.id == ClusterMembership.post_id)
                .join(Embedding, Embedding.post_id == Post.id)
                .where(ClusterMembership.id > self.watermark, Embedding.model == self.model_id)
                .order_by(ClusterMembership.id)
                .limit(SYNC_CHUNK)
            ).all()
            if not rows:
                return added
            for membership_id, placed_at, post_id, text, blob in rows:
                self.add(post_id, vector_from_bytes(blob), shingles(text), membership_id, placed_at)
            added += len(rows)

    def add(self, post_id: int, vector: np.ndarray, text_shingles: frozenset[str],
            membership_id: int, placed_at: datetime) -> None:
        if self._vectors is None:
            self._vectors = Index(ndim=vector.shape[-1], metric="cos", dtype="f32")
        if post_id in self._vectors:  # placed again after a moderator's split: replace
            self._vectors.remove(post_id)
        self._vectors.add(post_id, vector)
        if post_id in self._lsh:
            self._lsh.remove(post_id)
        if text_shingles:
            self._lsh.insert(post_id, minhash(text_shingles), check_duplication=False)
        if membership_id > self.watermark:
            self.watermark, self._watermark_stamp = membership_id, (post_id, placed_at)

    def candidates(self, vector: np.ndarray, text_shingles: frozenset[str],
                   neighbours: int) -> set[int]:
        """Post ids worth comparing with: nearest by embedding, and similar by shingles."""
        found: set[int] = set()
        if len(self):
            matches = self._vectors.search(vector, min(neighbours, len(self)))
            found.update(int(key) for key in matches.keys)
        if text_shingles:
            found.update(self._lsh.query(minhash(text_shingles)))
        return found
