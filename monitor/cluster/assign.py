"""Place embedded posts in clusters of near-duplicate claims.

For each post, in publication order:
1. the same fingerprint as a clustered post (an exact repost after normalization): join its cluster;
2. otherwise the candidates from the ANN and LSH indexes that carry the same claim
   by ``MatchRules`` (the calibrated same-claim probability over embedding cosine,
   shingles, stems and numbers): join the cluster of the most probable one whose
   representative the post matches too;
3. otherwise open a new cluster.

When a post carries the claim of two clusters, and their representatives carry the same
claim as each other, the two were one claim all along: the smaller is merged into the
larger (merge.py), unless a moderator has separated them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from datasketch import MinHash
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from monitor.cluster.index import ClusterIndex
from monitor.cluster.merge import merge_into, separated
from monitor.db.locks import lock_cluster_assignment
from monitor.db.models import AuditEntry, Cluster, ClusterMembership, Embedding, Post, Stage, utcnow
from monitor.embed.stage import vector_from_bytes
from monitor.similarity import MatchRules, TextEvidence, shingle_signatures


@dataclass(frozen=True)
class Placement:
    cluster_id: int | None  # None: open a new cluster
    method: str  # fingerprint, nearest, new
    similarity: float | None = None
    matched_post_id: int | None = None
    same_claim_clusters: tuple[int, ...] = ()  # other clusters the post shows to carry its claim


@dataclass(frozen=True)
class Assigned:
    cluster_ids: list[int]  # the clusters that changed
    posts: int  # posts placed by this call
    event_ids: list[int]  # alert events of automatic merges (an absorbed cluster's alert closed)


class PostClaim(NamedTuple):
    """What a post brings to a same-claim judgement."""

    post_id: int
    vector: np.ndarray
    evidence: TextEvidence
    language: str | None


AUTO_MERGE_ACTOR = "cluster stage"
# Other waiting posts a cluster task takes (see assign_posts): a few seconds of work at most.
WAITING_TAKEN = 256


def assign_posts(session: Session, index: ClusterIndex, post_ids: list[int],
                 rules: MatchRules, take_waiting: int = 0) -> Assigned:
    """Cluster the embedded posts among ``post_ids``, and up to TAKE_WAITING other embedded
    posts waiting for this stage, oldest first: under a backlog of one-post tasks (the
    Telegram listener sends one post at a time) batches then grow with the queue, and the
    tasks sent for the posts taken find nothing left to do.

    Idempotent: posts already clustered are left as they are. The caller commits, and
    calls ``index.reset()`` if the transaction fails, since the index has the batch's vectors.
    """
    lock_cluster_assignment(session)
    index.sync(session)
    embedded = (select(Post, Embedding.vector)
                .join(Embedding, (Embedding.post_id == Post.id) & (Embedding.model == index.model_id))
                .where(Post.stage == Stage.embedded))
    rows = session.execute(embedded.where(Post.id.in_(post_ids))).all()
    if take_waiting:
        rows += session.execute(
            embedded.where(Post.id.not_in(post_ids)).order_by(Post.id).limit(take_waiting)).all()
    rows.sort(key=lambda row: (row[0].published_at, row[0].id))
    reposted = _first_clustered_by_fingerprint(session, {post.fingerprint for post, _ in rows} - {None})
    touched: set[int] = set()
    event_ids: list[int] = []
    for post, blob in rows:
        vector = vector_from_bytes(blob)
        evidence = index.evidence(post.id, post.text)
        signatures = shingle_signatures(evidence)
        placement = reposted.get(post.fingerprint) or place(session, index, post, vector, evidence,
                                                            signatures, rules)
        if placement.same_claim_clusters:
            placement, merged = _merge_same_claim(session, placement, post.id)
            event_ids += merged
            reposted = {fingerprint: replace(found, cluster_id=_surviving(session, found.cluster_id))
                        for fingerprint, found in reposted.items()}
        membership = ClusterMembership(
            post_id=post.id, method=placement.method, similarity=placement.similarity,
            matched_post_id=placement.matched_post_id,
        )
        if placement.cluster_id is None:
            membership.cluster = Cluster(representative_post_id=post.id, first_seen_at=post.published_at,
                                         last_seen_at=post.published_at)
        else:
            membership.cluster_id = placement.cluster_id
        session.add(membership)
        post.stage, post.stage_changed_at = Stage.clustered, utcnow()
        session.flush()
        cluster_id = membership.cluster_id
        index.add(post.id, vector, evidence, membership.id, membership.created_at, signatures)
        if post.fingerprint:
            reposted.setdefault(post.fingerprint, Placement(cluster_id, "fingerprint", 1.0, post.id))
        touched.add(cluster_id)
    touched = {_surviving(session, cluster_id) for cluster_id in touched}
    refresh_cluster_stats(session, touched)
    return Assigned(sorted(touched), len(rows), event_ids)


def _first_clustered_by_fingerprint(session: Session, fingerprints: set[str]) -> dict[str, Placement]:
    """For each fingerprint, the first clustered post with it: an exact repost joins its cluster."""
    first: dict[str, Placement] = {}
    if fingerprints:
        for fingerprint, cluster_id, post_id in session.execute(
            select(Post.fingerprint, ClusterMembership.cluster_id, Post.id)
            .join(ClusterMembership, ClusterMembership.post_id == Post.id)
            .where(Post.fingerprint.in_(fingerprints))
            .order_by(ClusterMembership.id)
        ):
            first.setdefault(fingerprint, Placement(cluster_id, "fingerprint", 1.0, post_id))
    return first


def place(session: Session, index: ClusterIndex, post: Post, vector: np.ndarray, evidence: TextEvidence,
          signatures: list[MinHash], rules: MatchRules) -> Placement:
    """Where a post that is no exact repost goes: the cluster of its most probable same-claim
    candidate, or a new one."""
    candidate_ids = index.candidates(vector, signatures, rules.neighbours) - {post.id}
    if not candidate_ids:
        return Placement(None, "new")
    matches: dict[int, Placement] = {}  # the best match in each cluster
    rows = session.execute(
        select(Post.id, Post.text, Post.language, ClusterMembership.cluster_id)
        .join(ClusterMembership, ClusterMembership.post_id == Post.id)
        .where(Post.id.in_(candidate_ids))
    ).all()
    cosines = index.vectors([row.id for row in rows]) @ vector
    for (candidate_id, text, language, cluster_id), cosine in zip(rows, cosines.tolist(), strict=True):
        score, same_claim = rules.judge(cosine, evidence, index.evidence(candidate_id, text),
                                        post.language, language)
        if not same_claim:
            continue
        if cluster_id not in matches or score > matches[cluster_id].similarity:
            matches[cluster_id] = Placement(cluster_id, "nearest", score, candidate_id)
    incoming = PostClaim(post.id, vector, evidence, post.language)
    agreeing: list[tuple[Placement, PostClaim | None]] = []
    for match in sorted(matches.values(), key=lambda match: match.similarity, reverse=True):
        # Against chaining: a post joins a cluster only if it also carries the same claim as
        # the cluster's representative (its first post), not just as its nearest member.
        # Otherwise a digest that retells two stories would join them, and posts like it would follow.
        representative = _representative(session, index, match.cluster_id)
        if (representative is None or representative.post_id == match.matched_post_id
                or _same_claim(rules, incoming, representative)):
            agreeing.append((match, representative))
    if not agreeing:
        return Placement(None, "new")
    (best, best_representative), others = agreeing[0], agreeing[1:]
    return replace(best, same_claim_clusters=tuple(
        match.cluster_id for match, representative in others
        if best_representative is not None and representative is not None
        and _same_claim(rules, best_representative, representative)))


def _same_claim(rules: MatchRules, first: PostClaim, second: PostClaim) -> bool:
    return rules.judge(float(first.vector @ second.vector), first.evidence, second.evidence,
                       first.language, second.language)[1]


def _representative(session: Session, index: ClusterIndex, cluster_id: int) -> PostClaim | None:
    found = session.execute(
        select(Post.id, Post.text, Post.language, Embedding.vector)
        .join(Cluster, Cluster.representative_post_id == Post.id)
        .join(Embedding, (Embedding.post_id == Post.id) & (Embedding.model == index.model_id))
        .where(Cluster.id == cluster_id)
    ).first()
    if found is None:
        return None
    return PostClaim(found.id, vector_from_bytes(found.vector), index.evidence(found.id, found.text),
                     found.language)


def _merge_same_claim(session: Session, placement: Placement, post_id: int) -> tuple[Placement, list[int]]:
    """Merge the clusters the post showed to carry one claim into the largest of them, except
    those a moderator separated from it; return where the post goes, and the alert events."""
    clusters = list(session.scalars(select(Cluster).where(
        Cluster.id.in_([placement.cluster_id, *placement.same_claim_clusters]))))
    target = max(clusters, key=lambda cluster: (cluster.post_count, -cluster.id))
    merged, event_ids = set(), []
    for cluster in clusters:
        if cluster is target or separated(session, target.id, cluster.id):
            continue
        moved, events = merge_into(session, target, cluster)
        merged.add(cluster.id)
        event_ids += events
        session.add(AuditEntry(actor=AUTO_MERGE_ACTOR, action="cluster.merge", object_type="cluster",
                               object_id=str(target.id), details={
                                   "absorbed_cluster_id": cluster.id, "posts_moved": moved,
                                   "reason": f"post {post_id} carries the claim of both"}))
    session.flush()
    joins = target.id if placement.cluster_id in merged else placement.cluster_id
    return replace(placement, cluster_id=joins, same_claim_clusters=()), event_ids


def _surviving(session: Session, cluster_id: int) -> int:
    """The cluster itself, or the one it was merged into."""
    return session.get(Cluster, cluster_id).merged_into_id or cluster_id


def refresh_cluster_stats(session: Session, cluster_ids: set[int]) -> None:
    if not cluster_ids:
        return
    stats = session.execute(
        select(
            ClusterMembership.cluster_id,
            func.count(Post.id),
            func.count(distinct(Post.source_id)),
            func.min(Post.published_at),
            func.max(Post.published_at),
        )
        .join(Post, Post.id == ClusterMembership.post_id)
        .where(ClusterMembership.cluster_id.in_(cluster_ids))
        .group_by(ClusterMembership.cluster_id)
    ).all()
    now = utcnow()
    clusters = {cluster.id: cluster
                for cluster in session.scalars(select(Cluster).where(Cluster.id.in_(cluster_ids)))}
    for cluster_id, posts, sources, first_seen, last_seen in stats:
        cluster = clusters[cluster_id]
        cluster.post_count, cluster.source_count = posts, sources
        cluster.first_seen_at, cluster.last_seen_at = first_seen, last_seen
        cluster.updated_at = now

