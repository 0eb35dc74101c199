"""Candidate generation over clustered posts: an ANN index of their vectors (usearch,
cosine) and an LSH index of their character-shingle MinHashes (datasketch).

Either can find a repost the other misses: the English-only default model ranks
unrelated Russian posts above a true repost, and an edited repost may share few
shingles but keep its meaning. The database is the source of truth: the indexes are
rebuilt from it when a worker starts, and catch up on memberships other processes
committed since, using the membership id as a watermark. Keys are post ids.

The index also keeps the vectors (usearch stores them) and, for the posts placed most
recently, their text evidence: a post's candidates are compared with it in full, and
without these every comparison would read a vector and recompute shingles.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

import numpy as np
from datasketch import MinHash, MinHashLSH
from sqlalchemy import select
from sqlalchemy.orm import Session
from usearch.index import Index

from monitor.db.models import ClusterMembership, Embedding, Post
from monitor.embed.stage import vector_from_bytes
from monitor.similarity import MINHASH_PERMUTATIONS, TextEvidence, minhash

SYNC_CHUNK = 5_000
# Evidence kept for this many posts (about 8 KB each for a Telegram post); older
# candidates have theirs computed again when they come up.
EVIDENCE_CACHE_SIZE = 20_000
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
        self._evidence: OrderedDict[int, tuple[int, TextEvidence]] = OrderedDict()  # by post: text's hash
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
                self.add(post_id, vector_from_bytes(blob), self.evidence(post_id, text), membership_id,
                         placed_at)
            added += len(rows)

    def evidence(self, post_id: int, text: str) -> TextEvidence:
        """The evidence of the post's TEXT, from the cache unless the text has been edited since."""
        cached = self._evidence.get(post_id)
        if cached is not None and cached[0] == hash(text):
            self._evidence.move_to_end(post_id)
            return cached[1]
        evidence = TextEvidence.of(text)
        self._evidence[post_id] = (hash(text), evidence)
        self._evidence.move_to_end(post_id)
        if len(self._evidence) > EVIDENCE_CACHE_SIZE:
            self._evidence.popitem(last=False)
        return evidence

    def vectors(self, post_ids: list[int]) -> np.ndarray:
        """The indexed vectors of POST_IDS, one row each, in that order."""
        if not post_ids:
            return np.zeros((0, self._vectors.ndim if self._vectors else 0), dtype=np.float32)
        return np.vstack(self._vectors.get(np.asarray(post_ids, dtype=np.uint64)))

    def add(self, post_id: int, vector: np.ndarray, evidence: TextEvidence, membership_id: int,
            placed_at: datetime, signature: MinHash | None = None) -> None:
        """Index a placed post; SIGNATURE is the MinHash of its shingles, if already computed."""
        if self._vectors is None:
            self._vectors = Index(ndim=vector.shape[-1], metric="cos", dtype="f32")
        if post_id in self._vectors:  # placed again after a moderator's split: replace
            self._vectors.remove(post_id)
        self._vectors.add(post_id, vector)
        if post_id in self._lsh:
            self._lsh.remove(post_id)
        signature = signature or minhash(evidence.char5)
        if signature is not None:
            self._lsh.insert(post_id, signature, check_duplication=False)
        if membership_id > self.watermark:
            self.watermark, self._watermark_stamp = membership_id, (post_id, placed_at)

    def candidates(self, vector: np.ndarray, signature: MinHash | None, neighbours: int) -> set[int]:
        """Post ids worth comparing with: nearest by embedding, and similar by shingles
        (SIGNATURE: the MinHash of the post's shingles; None for a text without any)."""
        found: set[int] = set()
        if len(self):
            matches = self._vectors.search(vector, min(neighbours, len(self)))
            found.update(int(key) for key in matches.keys)
        if signature is not None:
            found.update(self._lsh.query(signature))
        return found
