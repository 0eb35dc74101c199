"""Candidate generation over clustered posts: an ANN index of their vectors (usearch,
cosine) and an LSH index of their character-shingle MinHashes (shingle_lsh.py).

Either can find a repost the other misses: the English-only default model ranks
unrelated Russian posts above a true repost, and an edited repost may share few
shingles but keep its meaning. The database is the source of truth: the indexes are
built from it when a worker starts without a snapshot (snapshot.py), and catch up on
memberships other processes committed since, using the membership id as a watermark.
Keys are post ids.

The shingle index covers the most recent posts only (LSH_WINDOW): its memory grows with
every band of every post (about 4.4 KB a real Telegram post, a long one being also indexed
by its opening words), and a wave of reposts is recent by nature;
an old claim coming back is still found by its embedding, and by the known claims.

The index also keeps the vectors (usearch stores them) and, for the posts compared most
recently, their text evidence: a post's candidates are compared with it in full, and
without these every comparison would read a vector and recompute shingles. It holds
what placing posts read of the placed ones too (memory.PlacedMemory), and forgets it with
the rest.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import bindparam, func, select, union
from sqlalchemy.orm import Session
from usearch.index import BatchMatches, Index

from monitor.cluster.memory import PlacedMemory
from monitor.cluster.shingle_lsh import ShingleLSH
from monitor.db.models import Alert, AlertStatus, Cluster, ClusterMembership, Embedding, Post
from monitor.db.vectors import vectors_from_bytes
from monitor.similarity import MINHASH_PERMUTATIONS, TextEvidence, shingle_signatures

# A snapshot's files (snapshot.py)
VECTORS_FILE, SHINGLES_FILE, EVIDENCE_FILE = "vectors.usearch", "shingles.npz", "evidence.npz"
SYNC_CHUNK = 5_000
EVICTED_AT_ONCE = 5_000  # posts taken out of the window at a time: one query of their ids
# Evidence kept for this many posts (about 8 KB each for a Telegram post); older
# candidates have theirs computed again when they come up.
EVIDENCE_CACHE_SIZE = 20_000
# LSH recall threshold: lower than the Jaccard rule, so that candidates found only
# through containment (a headline inside a long post) still come up.
LSH_THRESHOLD = 0.2
LSH_WINDOW = 200_000
# HNSW build effort below usearch's default (128), which is slower to add a post; with it,
# and the vectors in half precision (cosines change by about 1e-3), the quality figures of
# docs/quality.md hold.
ANN_EXPANSION_ADD = 64
# A batch a cluster task places (a few hundred posts at most) is added on the task's thread:
# the graph then comes out the same in every run, and the other core stays the embed
# worker's. Rebuilding from the database (SYNC_CHUNK rows at a time) takes every core.
THREADED_ADD = 1_000


def _since_watermark(*columns):
    """COLUMNS of the memberships after the parameter WATERMARK, with their posts' vectors of MODEL."""
    return (select(*columns).select_from(ClusterMembership)
            .join(Post, Post.id == ClusterMembership.post_id)
            .join(Embedding, Embedding.post_id == Post.id)
            .where(ClusterMembership.id > bindparam("watermark"), Embedding.model == bindparam("model")))


# Built once: every cluster task syncs (monitor/db/statements.py says why).
_PLACED_SINCE = (_since_watermark(ClusterMembership.id, ClusterMembership.created_at, Post.id, Post.text,
                                  Post.fingerprint, Embedding.vector)
                 .order_by(ClusterMembership.id).limit(bindparam("chunk")))
_COUNT_SINCE = _since_watermark(func.count())
_WATERMARK_STAMP = (select(ClusterMembership.post_id, ClusterMembership.created_at)
                    .where(ClusterMembership.id == bindparam("watermark")))
# Of the posts "ids", placed before "cutoff", those the index keeps: the representative of a
# claim that spread (a cluster of several posts), every post of a cluster with an open
# alert, and those placed again since (an edit), which leave by their new placement.
_AGED = bindparam("ids", expanding=True)
_STILL_NEEDED = union(
    select(Cluster.representative_post_id).where(Cluster.representative_post_id.in_(_AGED),
                                                 Cluster.post_count > 1),
    select(ClusterMembership.post_id).join(Alert, Alert.cluster_id == ClusterMembership.cluster_id)
    .where(Alert.status == AlertStatus.open, ClusterMembership.post_id.in_(_AGED)),
    select(ClusterMembership.post_id).where(ClusterMembership.post_id.in_(_AGED),
                                            ClusterMembership.created_at >= bindparam("cutoff")))


class ClusterIndex:
    def __init__(self, model_id: str, lsh_window: int = LSH_WINDOW, days: float | None = None):
        self.model_id = model_id
        self.lsh_window = lsh_window
        # Posts placed more than DAYS before the newest one leave the index (see evict).
        self.days = days or None
        self.window_seconds = days * 86_400 if days else None
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next sync rebuilds from the database."""
        self._vectors: Index | None = None  # made at the first vector, which gives the dimensions
        self._lsh = ShingleLSH(LSH_THRESHOLD, MINHASH_PERMUTATIONS, self.lsh_window)
        # By post: (its fingerprint, or its text's hash if it has none; its evidence).
        self._evidence: OrderedDict[int, tuple[str | int, TextEvidence]] = OrderedDict()
        self.watermark = 0
        self._watermark_stamp: tuple | None = None  # (post id, placed at) of that membership
        # What placing posts read of the placed ones, kept for the next task (memory.PlacedMemory).
        self.placed_memory: PlacedMemory | None = None
        # Indexed posts that may leave it, oldest placed first: (placed at, as a timestamp; post).
        self._aging: deque[tuple[float, int]] = deque()
        self._unstamped: list[int] = []  # added since the last placed_up_to

    def __len__(self) -> int:
        return 0 if self._vectors is None else len(self._vectors)

    def sync(self, session: Session) -> int:
        """Add the memberships committed since the watermark; return how many were added."""
        if self.watermark and self._watermark_stamp != session.execute(
                _WATERMARK_STAMP, {"watermark": self.watermark}).first():
            # Not the database this index was built on (emptied, restored from a backup):
            # its ids may now name other posts. Start again.
            self.reset()
        pending, added = None, 0  # memberships to add: counted only if they fill more than a chunk
        while True:
            since = {"watermark": self.watermark, "model": self.model_id, "chunk": SYNC_CHUNK}
            rows = session.execute(_PLACED_SINCE, since).all()
            if not rows:
                return added
            if pending is None:
                pending = len(rows) if len(rows) < SYNC_CHUNK else session.scalar(_COUNT_SINCE, since)
            signatures = [shingle_signatures(self.evidence(post_id, text, fingerprint))
                          # older ones would leave the shingle window at once
                          if position >= pending - self.lsh_window else []
                          for position, (_, _, post_id, text, fingerprint, _) in enumerate(rows, start=added)]
            membership_id, placed_at, post_id, *_ = rows[-1]
            self.add_batch([post_id for _, _, post_id, *_ in rows],
                           vectors_from_bytes([blob for *_, blob in rows]), signatures)
            self.placed_up_to(membership_id, post_id, placed_at)
            added += len(rows)
            self.evict(session)

    def write_files(self, folder: Path) -> dict:
        """Write what the index holds into FOLDER (snapshot.py makes it a snapshot); what the
        manifest must say to read them back."""
        if self._vectors is not None:
            self._vectors.save(str(folder / VECTORS_FILE))
        post_ids, counts, keys = self._lsh.to_arrays()
        aging = np.array(self._aging, dtype=np.float64).reshape(-1, 2)
        np.savez(folder / SHINGLES_FILE, post_ids=post_ids, counts=counts, keys=keys,
                 aging_stamps=aging[:, 0], aging_post_ids=aging[:, 1].astype(np.int64))
        # Least recently used first, as held. The evidence of a text too short for a
        # fingerprint is kept under the text's hash, which another process computes otherwise.
        cached = [(post_id, key, evidence) for post_id, (key, evidence) in self._evidence.items()
                  if isinstance(key, str)]
        np.savez(folder / EVIDENCE_FILE,
                 post_ids=np.array([post_id for post_id, _, _ in cached], dtype=np.int64),
                 fingerprints=np.array([key for _, key, _ in cached], dtype=str),
                 **TextEvidence.to_arrays([evidence for _, _, evidence in cached]))
        stamp = self._watermark_stamp
        return {"model_id": self.model_id, "lsh_window": self.lsh_window, "days": self.days,
                "posts": len(self),
                "watermark": self.watermark,
                "watermark_stamp": None if stamp is None else [stamp[0], stamp[1].isoformat()]}

    def read_files(self, folder: Path, manifest: dict) -> None:
        """Hold what write_files wrote into FOLDER, described by MANIFEST; ValueError (or the
        reader's own error) when the files are not what it says."""
        self.reset()
        if manifest["posts"]:
            self._vectors = Index.restore(str(folder / VECTORS_FILE))
            if self._vectors is None or len(self._vectors) != manifest["posts"]:
                raise ValueError(f"the vectors file holds {len(self._vectors or [])} posts, "
                                 f"the manifest says {manifest['posts']}")
            self._vectors.expansion_add = ANN_EXPANSION_ADD  # not kept in the file
        with np.load(folder / SHINGLES_FILE, allow_pickle=False) as shingles:
            self._lsh.insert_arrays(shingles["post_ids"], shingles["counts"], shingles["keys"])
            self._aging.extend(zip(shingles["aging_stamps"].tolist(), shingles["aging_post_ids"].tolist(),
                                   strict=True))
        if (folder / EVIDENCE_FILE).exists():  # without it, the cache starts empty
            with np.load(folder / EVIDENCE_FILE, allow_pickle=False) as cached:
                evidences = TextEvidence.from_arrays(cached)
                self._evidence.update(zip(cached["post_ids"].tolist(),
                                          zip(cached["fingerprints"].tolist(), evidences, strict=True),
                                          strict=True))
        stamp = manifest["watermark_stamp"]
        self.watermark = manifest["watermark"]
        self._watermark_stamp = None if stamp is None else (stamp[0], datetime.fromisoformat(stamp[1]))

    def evidence(self, post_id: int, text: str, fingerprint: str | None) -> TextEvidence:
        """The evidence of the post's TEXT (whose fingerprint is FINGERPRINT), from the cache
        unless the text has been edited since."""
        key = fingerprint or hash(text)
        if (cached := self._cached_evidence(post_id, key)) is not None:
            return cached
        evidence = TextEvidence.of(text)
        self._evidence[post_id] = (key, evidence)
        self._evidence.move_to_end(post_id)  # an edited post's entry is replaced where it was
        if len(self._evidence) > EVIDENCE_CACHE_SIZE:
            self._evidence.popitem(last=False)
        return evidence

    def cached_evidence(self, post_id: int, fingerprint: str | None) -> TextEvidence | None:
        """The post's evidence if the cache has it for the text with this FINGERPRINT; None
        otherwise, and for a text too short to have one (its text tells, see evidence()).

        The evidence is computed from the text's matching words, which the fingerprint
        hashes: a candidate's fingerprint, read instead of its text (a cluster task reads
        about a thousand candidates), is enough to know its evidence unchanged."""
        return None if fingerprint is None else self._cached_evidence(post_id, fingerprint)

    def _cached_evidence(self, post_id: int, key: str | int) -> TextEvidence | None:
        cached = self._evidence.get(post_id)
        if cached is None or cached[0] != key:
            return None
        self._evidence.move_to_end(post_id)  # the least recently used go first
        return cached[1]

    def vectors(self, post_ids: list[int]) -> np.ndarray:
        """The indexed vectors of POST_IDS, one row each, in that order."""
        if not post_ids:
            return np.zeros((0, self._vectors.ndim if self._vectors else 0), dtype=np.float32)
        # Read as stored (half precision) and widened by NumPy: usearch widens a vector at a
        # time (for a task's thousand candidates, 1.6 ms against 0.3 for reading them as stored).
        found = self._vectors.get(np.asarray(post_ids, dtype=np.uint64), dtype=np.float16)
        return np.array(found, dtype=np.float32)

    def __contains__(self, post_id: int) -> bool:
        return self._vectors is not None and post_id in self._vectors

    def add_batch(self, post_ids: list[int], vectors: np.ndarray, signatures: list[list[np.ndarray]]) -> None:
        """Index placed posts in the order of their memberships: their vectors, one row each,
        and their shingle_signatures (none: not in the shingle index); placed_up_to records
        their memberships once they are written."""
        self.add_vectors(post_ids, vectors)
        for post_id, post_signatures in zip(post_ids, signatures, strict=True):
            self._lsh.insert(post_id, post_signatures)

    def add_vectors(self, post_ids: list[int], vectors: np.ndarray) -> None:
        """Index the vectors (one row each) of placed posts whose shingles are indexed already."""
        if self._vectors is None:
            self._vectors = Index(ndim=vectors.shape[-1], metric="cos", dtype="f16",
                                  expansion_add=ANN_EXPANSION_ADD)
        replaced = [post_id for post_id in post_ids if post_id in self._vectors]
        if replaced:  # placed again after a moderator's split
            self._vectors.remove(np.asarray(replaced, dtype=np.uint64))
        self._vectors.add(np.asarray(post_ids, dtype=np.uint64), vectors,
                          threads=1 if len(post_ids) < THREADED_ADD else 0)
        self._unstamped += post_ids

    def placed_up_to(self, membership_id: int, post_id: int, placed_at: datetime) -> None:
        """Every membership up to MEMBERSHIP_ID (of POST_ID, made at PLACED_AT) is indexed."""
        if membership_id > self.watermark:
            self.watermark, self._watermark_stamp = membership_id, (post_id, placed_at)
        if self.window_seconds is not None:
            stamp = placed_at.timestamp()
            self._aging.extend((stamp, placed) for placed in self._unstamped)
        self._unstamped = []

    def evict(self, session: Session, most: int = EVICTED_AT_ONCE) -> int:
        """With a window of days: take out of the index the posts placed more than that before
        the newest, up to MOST of them, except those a cluster still needs found: the
        representative of a cluster of several posts (so that an old claim that spread grows
        its cluster when it comes back) and the posts of a cluster with an open alert. They
        stay in the database. Returns how many left."""
        if self.window_seconds is None or not self._aging:
            return 0
        cutoff = self._aging[-1][0] - self.window_seconds
        aged = []
        while self._aging and self._aging[0][0] < cutoff and len(aged) < most:
            aged.append(self._aging.popleft()[1])
        if not aged:
            return 0
        kept = set(session.scalars(_STILL_NEEDED, {
            "ids": aged, "cutoff": datetime.fromtimestamp(cutoff, tz=timezone.utc)}))
        leaving = [post_id for post_id in aged if post_id not in kept and post_id in self._vectors]
        self.forget(leaving)
        return len(leaving)

    def window_start(self) -> datetime | None:
        """When the posts placed before it have left the index (evict), as of its newest
        placement; None without a window of days."""
        if self.window_seconds is None or not self._aging:
            return None
        return datetime.fromtimestamp(self._aging[-1][0] - self.window_seconds, tz=timezone.utc)

    def forget(self, post_ids: list[int]) -> None:
        """Take these posts out of the index: aged out of its window, or edited and about to
        be placed again by their new text (which adds them back)."""
        if indexed := [post_id for post_id in post_ids if post_id in self]:
            self._vectors.remove(np.asarray(indexed, dtype=np.uint64))
        for post_id in post_ids:
            self._lsh.remove(post_id)
            self._evidence.pop(post_id, None)

    def candidates(self, vector: np.ndarray, signatures: list[np.ndarray], neighbours: int) -> set[int]:
        """Post ids worth comparing with: nearest by embedding, and similar by shingles
        (SIGNATURES: the post's shingle_signatures)."""
        nearest, _ = self._nearest(vector.reshape(1, -1), neighbours)
        return set(nearest[0].tolist()) | self._lsh.query(signatures)

    def candidates_in_order(self, post_ids: list[int], vectors: np.ndarray | None,
                            signatures: list[list[np.ndarray]], neighbours: int) -> list[set[int]]:
        """For each of a batch of posts about to be placed in this order (VECTORS: one row
        each; SIGNATURES: their shingle_signatures), what candidates() would give if the posts
        before it were indexed: its NEIGHBOURS nearest among the indexed posts and those
        posts together, and those similar by shingles.

        Each post's shingles are indexed once it is looked up, so the posts after it find it
        (one LSH insert a post: a batch index of their own cost as much again). Their vectors
        are not: the batch is searched for at once, and add_vectors adds them once placed.
        The caller resets the index if the batch is not placed after all."""
        if not post_ids:
            return []
        nearest, nearest_cosines = self._nearest(vectors, neighbours)
        # Cosines as the index computes them, of its half-precision vectors: a post's neighbours
        # are then ranked alike whether found in the index or in the batch.
        stored = vectors.astype(np.float16).astype(np.float64)
        stored /= np.maximum(np.linalg.norm(stored, axis=1, keepdims=True), np.finfo(np.float64).tiny)
        within_batch = stored @ stored.T
        found = []
        for position, (post_id, post_signatures) in enumerate(zip(post_ids, signatures, strict=True)):
            ids = np.concatenate([nearest[position], np.asarray(post_ids[:position], dtype=np.int64)])
            cosines = np.concatenate([nearest_cosines[position], within_batch[position, :position]])
            candidates = set(ids[np.argsort(-cosines, kind="stable")[:neighbours]].tolist())
            candidates |= self._lsh.query(post_signatures)
            self._lsh.insert(post_id, post_signatures)
            found.append(candidates - {post_id})
        return found

    def _nearest(self, vectors: np.ndarray, neighbours: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """For each row of VECTORS, the ids of its nearest indexed posts and their cosines."""
        if not len(self):
            return [np.zeros(0, dtype=np.int64)] * len(vectors), [np.zeros(0)] * len(vectors)
        matches = self._vectors.search(vectors, min(neighbours, len(self)), threads=1)
        # One query gives Matches; several, BatchMatches, whose rows are Matches.
        rows = ([matches[row] for row in range(len(vectors))] if isinstance(matches, BatchMatches)
                else [matches])
        return ([row.keys.astype(np.int64) for row in rows],
                [1.0 - row.distances.astype(np.float64) for row in rows])
