""""Find similar": the stored posts closest to a pasted text, or to a stored post's URL,
scored the way the cluster stage scores them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from monitor.cluster.index import ClusterIndex
from monitor.db.models import ClusterMembership, Embedding, Post
from monitor.db.vectors import vector_from_bytes
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
                 rules: MatchRules, limit: int = 20) -> list[SimilarPost]:
    """The most similar stored posts, most similar first (none for a text without words).
    The caller holds the index's lock."""
    if not matching_text(text):
        return []
    index.sync(session)
    vector = encoder.encode([readable_text(text)])[0]
    evidence, language = TextEvidence.of(text), detect_language(text)
    candidate_ids = index.candidates(vector, shingle_signatures(evidence), max(limit, rules.neighbours))
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
