"""The nearest-neighbour index over clustered posts' vectors (usearch, cosine).

The database is the source of truth: the index is rebuilt from it when a worker
starts and catches up on memberships other processes committed since, using the
membership id as a watermark. It holds one vector per clustered post, keyed by post id.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from usearch.index import Index

from monitor.db.models import ClusterMembership, Embedding
from monitor.embed.stage import vector_from_bytes

SYNC_CHUNK = 10_000


class ClusterIndex:
    def __init__(self, model_id: str):
        self.model_id = model_id
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next sync rebuilds from the database."""
        self._index: Index | None = None  # made at the first vector, which gives the dimensions
        self.watermark = 0

    def __len__(self) -> int:
        return 0 if self._index is None else len(self._index)

    def _add(self, keys, vectors: np.ndarray) -> None:
        if self._index is None:
            self._index = Index(ndim=vectors.shape[-1], metric="cos", dtype="f32")
        self._index.add(keys, vectors)

    def sync(self, session: Session) -> int:
        """Add the memberships committed since the watermark; return how many were added."""
        newest = session.scalar(select(func.max(ClusterMembership.id))) or 0
        if newest < self.watermark:
            # The database went back (restored from a backup, or emptied): start again.
            self.reset()
        added = 0
        while True:
            rows = session.execute(
                select(ClusterMembership.id, ClusterMembership.post_id, Embedding.vector)
                .join(Embedding, Embedding.post_id == ClusterMembership.post_id)
                .where(ClusterMembership.id > self.watermark, Embedding.model == self.model_id)
                .order_by(ClusterMembership.id)
                .limit(SYNC_CHUNK)
            ).all()
            if not rows:
                return added
            keys = np.array([post_id for _, post_id, _ in rows], dtype=np.uint64)
            vectors = np.stack([vector_from_bytes(blob) for _, _, blob in rows])
            self._add(keys, vectors)
            self.watermark = rows[-1][0]
            added += len(rows)

    def add(self, post_id: int, vector: np.ndarray, membership_id: int) -> None:
        self._add(post_id, vector)
        self.watermark = max(self.watermark, membership_id)

    def nearest(self, vector: np.ndarray, count: int) -> list[tuple[int, float]]:
        """(post id, cosine similarity) of the closest posts, best first."""
        if not len(self):
            return []
        matches = self._index.search(vector, min(count, len(self._index)))
        return [(int(key), 1.0 - float(distance))
                for key, distance in zip(matches.keys, matches.distances)]
