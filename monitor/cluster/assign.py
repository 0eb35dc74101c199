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

from collections.abc import Iterable
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
    cluster: Cluster | None  # None: open a new cluster
    method: str  # fingerprint, nearest, new
    similarity: float | None = None
    matched_post_id: int | None = None
    same_claim_clusters: tuple[Cluster, ...] = ()  # other clusters the post shows to carry its claim


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


class PlacedPosts:
    """What one assign_posts call knows of placed posts: each one's claim and cluster, read
    from the database once per call (a batch's posts share most of their candidates), and
    the batch's own placements, which reach the database in one flush at the end."""

    def __init__(self, session: Session, index: ClusterIndex):
        self.session, self.index = session, index
        self._claims: dict[int, PostClaim] = {}
        self._cluster_of_post: dict[int, Cluster] = {}
        self._cluster_by_id: dict[int, Cluster] = {}

    def claims(self, post_ids: Iterable[int]) -> list[PostClaim]:
        """The claims of these placed posts (ones the index has no vector for are left out)."""
        post_ids = list(post_ids)
        self._load({post_id for post_id in post_ids if post_id not in self._claims and post_id in self.index})
        return [self._claims[post_id] for post_id in post_ids if post_id in self._claims]

    def _load(self, post_ids: set[int], representatives: bool = True) -> None:
        """Read these posts' claims and clusters, and (REPRESENTATIVES) the claims of those
        clusters' first posts, which place() compares with next."""
        if not post_ids:
            return
        rows = self.session.execute(
            select(Post.id, Post.text, Post.language, ClusterMembership.cluster_id)
            .join(ClusterMembership, ClusterMembership.post_id == Post.id)
            .where(Post.id.in_(post_ids))).all()
        clusters = self.clusters({row.cluster_id for row in rows})
        for row, vector in zip(rows, self.index.vectors([row.id for row in rows]), strict=True):
            self.placed(PostClaim(row.id, vector, self.index.evidence(row.id, row.text), row.language),
                        clusters[row.cluster_id])
        if representatives:
            self._load({cluster.representative_post_id for cluster in clusters.values()
                        if cluster.representative_post_id is not None
                        and cluster.representative_post_id not in self._claims
                        and cluster.representative_post_id in self.index}, representatives=False)

    def clusters(self, cluster_ids: set[int]) -> dict[int, Cluster]:
        """By id; each read once per call."""
        if missing := cluster_ids - self._cluster_by_id.keys():
            self._cluster_by_id |= {cluster.id: cluster for cluster in
                                    self.session.scalars(select(Cluster).where(Cluster.id.in_(missing)))}
        return {cluster_id: self._cluster_by_id[cluster_id] for cluster_id in cluster_ids}

    def placed(self, claim: PostClaim, cluster: Cluster) -> None:
        self._claims[claim.post_id], self._cluster_of_post[claim.post_id] = claim, cluster

    def cluster_of(self, post_id: int) -> Cluster:
        return self.current(self._cluster_of_post[post_id])

    def current(self, cluster: Cluster) -> Cluster:
        """The cluster itself, or the one it was merged into."""
        while cluster.merged_into_id is not None:
            cluster = self.session.get(Cluster, cluster.merged_into_id)
        return cluster

    def representative(self, cluster: Cluster) -> PostClaim | None:
        """The claim of the cluster's first post; None if it has none with this model's vector."""
        found = self.claims([cluster.representative_post_id]) if cluster.representative_post_id else []
        return found[0] if found else None


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
    known = PlacedPosts(session, index)
    reposted = _first_clustered_by_fingerprint(known, {post.fingerprint for post, _ in rows} - {None})
    touched: set[Cluster] = set()
    memberships: list[ClusterMembership] = []
    event_ids: list[int] = []
    arriving = [(post, PostClaim(post.id, vector_from_bytes(blob), index.evidence(post.id, post.text),
                                 post.language)) for post, blob in rows]
    signatures = [shingle_signatures(incoming.evidence) for _, incoming in arriving]
    # The candidates among posts placed before, read at once: placing one post then reads nothing.
    known.claims(set().union(*(index.candidates(incoming.vector, post_signatures, rules.neighbours)
                               for (_, incoming), post_signatures in zip(arriving, signatures, strict=True))))
    with session.no_autoflush:  # the batch is written at the end, in one flush
        for (post, incoming), post_signatures in zip(arriving, signatures, strict=True):
            placement = reposted.get(post.fingerprint) or place(known, incoming, post_signatures, rules)
            if placement.same_claim_clusters:
                placement, merged = _merge_same_claim(session, known, placement, post.id)
                event_ids += merged
            cluster = (known.current(placement.cluster) if placement.cluster is not None else
                       Cluster(representative_post_id=post.id, first_seen_at=post.published_at,
                               last_seen_at=post.published_at))
            membership = ClusterMembership(post_id=post.id, cluster=cluster, method=placement.method,
                                           similarity=placement.similarity,
                                           matched_post_id=placement.matched_post_id)
            session.add(membership)
            memberships.append(membership)
            post.stage, post.stage_changed_at = Stage.clustered, utcnow()
            index.add(post.id, incoming.vector, post_signatures)
            known.placed(incoming, cluster)
            if post.fingerprint:
                reposted.setdefault(post.fingerprint, Placement(cluster, "fingerprint", 1.0, post.id))
            touched.add(cluster)
    session.flush()
    if memberships:
        last = max(memberships, key=lambda membership: membership.id)
        index.placed_up_to(last.id, last.post_id, last.created_at)
    touched_ids = {known.current(cluster).id for cluster in touched}
    refresh_cluster_stats(session, touched_ids)
    return Assigned(sorted(touched_ids), len(rows), event_ids)


def _first_clustered_by_fingerprint(known: PlacedPosts, fingerprints: set[str]) -> dict[str, Placement]:
    """For each fingerprint, the first clustered post with it: an exact repost joins its cluster."""
    if not fingerprints:
        return {}
    found = known.session.execute(
        select(Post.fingerprint, ClusterMembership.cluster_id, Post.id)
        .join(ClusterMembership, ClusterMembership.post_id == Post.id)
        .where(Post.fingerprint.in_(fingerprints))
        .order_by(ClusterMembership.id)).all()
    clusters = known.clusters({cluster_id for _, cluster_id, _ in found})
    first: dict[str, Placement] = {}
    for fingerprint, cluster_id, post_id in found:
        first.setdefault(fingerprint, Placement(clusters[cluster_id], "fingerprint", 1.0, post_id))
    return first


def place(known: PlacedPosts, incoming: PostClaim, signatures: list[MinHash], rules: MatchRules) -> Placement:
    """Where a post that is no exact repost goes: the cluster of its most probable same-claim
    candidate, or a new one (SIGNATURES: its shingle_signatures)."""
    candidates = known.claims(
        known.index.candidates(incoming.vector, signatures, rules.neighbours) - {incoming.post_id})
    if not candidates:
        return Placement(None, "new")
    scores, same_claim = rules.judge_many(
        np.vstack([candidate.vector for candidate in candidates]) @ incoming.vector, incoming.evidence,
        [candidate.evidence for candidate in candidates], incoming.language,
        [candidate.language for candidate in candidates])
    matches: dict[Cluster, Placement] = {}  # the best match in each cluster
    for candidate, score, same in zip(candidates, scores.tolist(), same_claim.tolist(), strict=True):
        cluster = known.cluster_of(candidate.post_id)
        if same and (cluster not in matches or score > matches[cluster].similarity):
            matches[cluster] = Placement(cluster, "nearest", score, candidate.post_id)
    agreeing: list[tuple[Placement, PostClaim | None]] = []
    for match in sorted(matches.values(), key=lambda match: match.similarity, reverse=True):
        # Against chaining: a post joins a cluster only if it also carries the same claim as
        # the cluster's representative (its first post), not just as its nearest member.
        # Otherwise a digest that retells two stories would join them, and posts like it would follow.
        representative = known.representative(match.cluster)
        if (representative is None or representative.post_id == match.matched_post_id
                or _same_claim(rules, incoming, representative)):
            agreeing.append((match, representative))
    if not agreeing:
        return Placement(None, "new")
    (best, best_representative), others = agreeing[0], agreeing[1:]
    return replace(best, same_claim_clusters=tuple(
        match.cluster for match, representative in others
        if best_representative is not None and representative is not None
        and _same_claim(rules, best_representative, representative)))


def _same_claim(rules: MatchRules, first: PostClaim, second: PostClaim) -> bool:
    return rules.judge(float(first.vector @ second.vector), first.evidence, second.evidence,
                       first.language, second.language)[1]


def _merge_same_claim(session: Session, known: PlacedPosts, placement: Placement,
                      post_id: int) -> tuple[Placement, list[int]]:
    """Merge the clusters the post showed to carry one claim into the largest of them, except
    those a moderator separated from it; return where the post goes, and the alert events."""
    session.flush()  # the batch's new clusters get the ids a merge records
    clusters = list(dict.fromkeys(known.current(cluster)
                                  for cluster in (placement.cluster, *placement.same_claim_clusters)))
    target = max(clusters, key=lambda cluster: (cluster.post_count, -cluster.id))
    merged, event_ids = set(), []
    for cluster in clusters:
        if cluster is target or separated(session, target.id, cluster.id):
            continue
        moved, events = merge_into(session, target, cluster)
        merged.add(cluster)
        event_ids += events
        session.add(AuditEntry(actor=AUTO_MERGE_ACTOR, action="cluster.merge", object_type="cluster",
                               object_id=str(target.id), details={
                                   "absorbed_cluster_id": cluster.id, "posts_moved": moved,
                                   "reason": f"post {post_id} carries the claim of both"}))
    session.flush()
    joins = target if known.current(placement.cluster) in merged else placement.cluster
    return replace(placement, cluster=joins, same_claim_clusters=()), event_ids


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

