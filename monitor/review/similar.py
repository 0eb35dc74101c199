""""Find similar": the stored posts closest to a pasted text, or to a stored post's URL,
scored the way the cluster stage scores them.

Candidates come from the cluster index, and, where the index keeps a window of days,
from an exact scan of the stored vectors of the posts placed before it: those have left
the index but are still found, by meaning only (not by shingles) and more slowly, a
chunk of vectors at a time, up to SIMILAR_SCAN_POSTS of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from monitor.cluster.index import ClusterIndex
from monitor.db.models import ClusterMembership, Embedding, Post
from monitor.db.vectors import vector_from_bytes, vectors_from_bytes
from monitor.embed.encoder import Encoder
from monitor.language import detect_language
from monitor.messages import NotFound
from monitor.normalize import matching_text, readable_text
from monitor.similarity import (
    MatchRules,
    TextEvidence,
    containment,
    jaccard,
    shingle_signatures,
)


@dataclass(frozen=True)
class SimilarPost:
    post: Post
    cluster_id: int | None
    cosine: float
    score: float  # the calibrated same-claim probability
    jaccard: float
    containment: float
    same_claim: bool  # the cluster stage would put them together


def query_text(session: Session, text_or_url: str) -> str:
    """The text to compare: the pasted text, or the text of the stored post at that URL.

    A URL is looked up among stored posts only; the web process fetches nothing on a
    user's behalf (no request forgery through the search box).
    """
    query = text_or_url.strip()
    if query.lower().startswith(("http://", "https://")) and " " not in query:
        post = session.scalar(select(Post).where(or_(Post.url == query, Post.canonical_url == query))
                              .limit(1))
        if post is None:
            raise NotFound(f"no stored post has the URL {query}: paste the post's text instead")
        query = post.text
    return query


def find_similar(session: Session, index: ClusterIndex, encoder: Encoder, text: str,
                 rules: MatchRules, limit: int = 20, scan_posts: int = 0) -> list[SimilarPost]:
    """The most similar stored posts, most similar first (none for a text without words),
    among those of the index and up to SCAN_POSTS placed before its window (the most recently
    placed first). The caller holds the index's lock."""
    if not matching_text(text):
        return []
    index.sync(session)
    vector = encoder.encode([readable_text(text)])[0]
    evidence, language = TextEvidence.of(text), detect_language(text)
    wanted = max(limit, rules.neighbours)
    candidate_ids = (index.candidates(vector, shingle_signatures(evidence), wanted)
                     | nearest_placed_before_window(session, index, vector, wanted, scan_posts))
    if not candidate_ids:
        return []
    found = []
    for post, blob, cluster_id in session.execute(
        select(Post, Embedding.vector, ClusterMembership.cluster_id)
        .options(joinedload(Post.source))
        .join(Embedding, (Embedding.post_id == Post.id) & (Embedding.model == index.model_id))
        .outerjoin(ClusterMembership, ClusterMembership.post_id == Post.id)
        .where(Post.id.in_(candidate_ids))
    ):
        cosine = float(np.dot(vector, vector_from_bytes(blob)))
        other = TextEvidence.of(post.text)
        score, same_claim = rules.judge(cosine, evidence, other, language, post.language)
        found.append(SimilarPost(post, cluster_id, cosine, score, jaccard(evidence.char5, other.char5),
                                 containment(evidence.char5, other.char5), same_claim))
    found.sort(key=lambda hit: (hit.same_claim, hit.score), reverse=True)
    return found[:limit]


# Vectors read at a time when scanning the posts placed before the index's window (1.5 KB each).
SCAN_CHUNK = 20_000


def nearest_placed_before_window(session: Session, index: ClusterIndex, vector: np.ndarray,
                                 count: int, scanned: int) -> set[int]:
    """The COUNT posts nearest to VECTOR among the SCANNED placed most recently before the
    index's window of days (none without one), by their stored vectors of the index's model."""
    start = index.window_start()
    if start is None or not scanned:
        return set()
    nearest_ids, nearest_cosines = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    rows = session.execute(
        select(Embedding.post_id, Embedding.vector)
        .join(ClusterMembership, ClusterMembership.post_id == Embedding.post_id)
        .where(Embedding.model == index.model_id, ClusterMembership.created_at < start)
        .order_by(ClusterMembership.id.desc()).limit(scanned)
        .execution_options(yield_per=SCAN_CHUNK))
    for chunk in rows.partitions():
        ids = np.concatenate([nearest_ids, np.fromiter((post_id for post_id, _ in chunk), dtype=np.int64)])
        cosines = np.concatenate([nearest_cosines, vectors_from_bytes([blob for _, blob in chunk]) @ vector])
        kept = np.argsort(-cosines, kind="stable")[:count]
        nearest_ids, nearest_cosines = ids[kept], cosines[kept]
    return set(nearest_ids.tolist())
