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
from datetime import datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy import bindparam, delete, distinct, func, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from monitor.cluster.index import EVIDENCE_CACHE_SIZE, ClusterIndex
from monitor.cluster.memory import PlacedCluster, PlacedMemory, PostClaim
from monitor.cluster.merge import audit_merge, merge_into, renew_representatives, separated
from monitor.db.expressions import is_one_of
from monitor.db.locks import lock_cluster_assignment
from monitor.db.models import (
    Cluster,
    ClusterMembership,
    Embedding,
    PlacementRevision,
    Post,
    PostStage,
    Stage,
    utcnow,
)
from monitor.db.statements import RowsInsert, built_once
from monitor.db.vectors import vector_from_bytes
from monitor.similarity import MatchRules, Pairs, shingle_signatures


@dataclass(frozen=True)
class Placement:
    cluster: PlacedCluster | None  # None: open a new cluster
    method: str  # fingerprint, nearest, new
    similarity: float | None = None
    matched_post_id: int | None = None
    same_claim_clusters: tuple[PlacedCluster, ...] = ()  # other clusters the post shows to carry its claim


@dataclass(frozen=True)
class Assigned:
    cluster_ids: list[int]  # the clusters that changed
    posts: int  # posts placed by this call
    event_ids: list[int]  # alert events of automatic merges (an absorbed cluster's alert closed)


class SameClaim(NamedTuple):
    """A candidate that carries the claim of the post being placed."""

    candidate: PostClaim
    probability: float


AUTO_MERGE_ACTOR = "cluster stage"
# Other waiting posts a cluster task takes (see assign_posts): a few seconds of work at most.
WAITING_TAKEN = 256
# Posts a PlacedMemory holds before it is started again, as many as the index keeps the
# evidence of: the evidence it refers to is then mostly that cache's own (recent posts),
# and what it adds is about 2 KB a post (a vector and a few objects).
PLACED_MEMORY_POSTS = EVIDENCE_CACHE_SIZE


class PlacementStatements:
    """The statements a cluster task runs, with the lists of ids, the model and the number
    of waiting posts taken as parameters: built once for each kind of database
    (monitor/db/statements.py)."""

    def __init__(self, dialect: Dialect):
        self.revision = select(PlacementRevision.revision).where(PlacementRevision.id == 1)

        def one_of(column, name: str):
            return is_one_of(column, None, dialect, name)

        # placed_in: the cluster of a post placed before and embedded again since (an edit)
        embedded = (select(Post.id, Post.text, Post.language, Post.fingerprint, Post.published_at,
                           Embedding.vector, ClusterMembership.cluster_id.label("placed_in"))
                    .join(Embedding, (Embedding.post_id == Post.id) & (Embedding.model == bindparam("model")))
                    .join(PostStage).outerjoin(ClusterMembership, ClusterMembership.post_id == Post.id)
                    .where(PostStage.stage == Stage.embedded))
        self.embedded = embedded.where(one_of(PostStage.post_id, "post_ids"))  # of POST_IDS
        # the TAKEN oldest of the others
        self.waiting = (embedded.where(~one_of(PostStage.post_id, "post_ids"))
                        .order_by(PostStage.post_id).limit(bindparam("taken")))
        self.clustered_by_fingerprint = (
            select(Post.fingerprint, ClusterMembership.cluster_id, Post.id)
            .join(ClusterMembership, ClusterMembership.post_id == Post.id)
            .where(one_of(Post.fingerprint, "fingerprints")).order_by(ClusterMembership.id))
        self.placed = (select(Post.id, Post.fingerprint, Post.language,
                              Cluster.id, Cluster.representative_post_id, Cluster.merged_into_id)
                       .join(ClusterMembership, ClusterMembership.post_id == Post.id)
                       .join(Cluster, Cluster.id == ClusterMembership.cluster_id)
                       .where(one_of(Post.id, "post_ids")))
        self.texts = select(Post.id, Post.text, Post.fingerprint).where(one_of(Post.id, "post_ids"))
        self.clusters = (select(Cluster.id, Cluster.representative_post_id, Cluster.merged_into_id)
                         .where(one_of(Cluster.id, "cluster_ids")))
        self.open_clusters = RowsInsert(Cluster.__table__, dialect, lambda insert: insert.returning(
            Cluster.id, Cluster.representative_post_id))
        self.join_clusters = RowsInsert(ClusterMembership.__table__, dialect, lambda insert: insert.returning(
            ClusterMembership.id, ClusterMembership.post_id, ClusterMembership.created_at))
        # Of the tables, not the mapped classes: a statement of mapped columns takes the ORM's
        # bulk UPDATE path (py-spy: 2.9 % of a SQLite task against 1.9 % without it).
        clusters, memberships, posts = Cluster.__table__, ClusterMembership.__table__, Post.__table__
        figures = (select(memberships.c.cluster_id, func.count(posts.c.id).label("posts"),
                          func.count(distinct(posts.c.source_id)).label("sources"),
                          func.min(posts.c.published_at).label("first_seen"),
                          func.max(posts.c.published_at).label("last_seen"))
                   .join(posts, posts.c.id == memberships.c.post_id)
                   .where(one_of(memberships.c.cluster_id, "cluster_ids"))
                   .group_by(memberships.c.cluster_id).subquery())
        # One statement, counted and written by the database (UPDATE ... FROM): a SELECT of
        # the figures and an UPDATE of each cluster by its key were two round trips.
        refreshed = {"post_count": figures.c.posts, "source_count": figures.c.sources,
                     "first_seen_at": figures.c.first_seen, "last_seen_at": figures.c.last_seen,
                     "updated_at": bindparam("now", type_=clusters.c.updated_at.type)}
        self.refresh_figures = update(clusters).where(clusters.c.id == figures.c.cluster_id).values(refreshed)
        self.refreshed_columns = list(refreshed)  # what a cluster loaded in the session has out of date
        # Only posts still embedded: one edited since it was read here went back to the embed
        # stage (monitor/embed/stage.py, embed_again), and is placed again by its new text.
        stages = PostStage.__table__
        self.clustered = (update(stages)
                          .where(one_of(stages.c.post_id, "post_ids"), stages.c.stage == Stage.embedded)
                          .values(stage=Stage.clustered,
                                  changed_at=bindparam("now", type_=stages.c.changed_at.type)))


class PlacedPosts:
    """What one assign_posts call knows of placed posts: each one's claim and cluster, read
    from the database once (MEMORY: what earlier calls read and placed, if still true), and
    the batch's own placements, written at the end (and before a merge) by write()."""

    def __init__(self, session: Session, index: ClusterIndex, memory: PlacedMemory):
        self.session, self.index = session, index
        # Its reads and writes run as Core statements on the session's connection: rows of
        # plain columns then skip the ORM's loading and bulk-insert layers.
        self.connection = session.connection()
        self.statements = built_once(session, PlacementStatements)
        self._claims, self._cluster_of_post = memory.claims, memory.cluster_of_post
        self._cluster_by_id = memory.cluster_by_id
        self.opened: list[PlacedCluster] = []  # by this call, written or not
        self._joined: list[tuple[int, PlacedCluster, Placement]] = []  # not written yet
        self.last_written: tuple[int, int, datetime] | None = None  # membership: id, post id, made at

    def claims(self, post_ids: Iterable[int]) -> list[PostClaim]:
        """The claims of these placed posts (ones the index has no vector for are left out)."""
        post_ids = list(post_ids)
        self._load({post_id for post_id in post_ids if post_id not in self._claims and post_id in self.index})
        return self.read_claims(post_ids)

    def read_claims(self, post_ids: Iterable[int]) -> list[PostClaim]:
        """The claims of those of these posts whose claims claims() has read already."""
        return [self._claims[post_id] for post_id in post_ids if post_id in self._claims]

    def _load(self, post_ids: set[int], representatives: bool = True) -> None:
        """Read these posts' claims and clusters, and (REPRESENTATIVES) the claims of those
        clusters' first posts, which place() compares with next."""
        if not post_ids:
            return
        rows = self.connection.execute(self.statements.placed, {"post_ids": list(post_ids)}).all()
        for *_, cluster_id, representative_post_id, merged_into_id in rows:  # read with them: one query less
            self._cluster_by_id.setdefault(cluster_id, PlacedCluster(cluster_id, representative_post_id,
                                                                     merged_into_id))
        evidence = {post_id: self.index.cached_evidence(post_id, fingerprint)
                    for post_id, fingerprint, *_ in rows}
        if not_cached := [post_id for post_id, found in evidence.items() if found is None]:
            for post_id, text, fingerprint in self.connection.execute(self.statements.texts,
                                                                      {"post_ids": not_cached}):
                evidence[post_id] = self.index.evidence(post_id, text, fingerprint)
        clusters = self.clusters({cluster_id for _, _, _, cluster_id, _, _ in rows})
        vectors = self.index.vectors([post_id for post_id, *_ in rows])
        for (post_id, _, language, cluster_id, _, _), vector in zip(rows, vectors, strict=True):
            self.placed(PostClaim(post_id, vector, evidence[post_id], language), clusters[cluster_id])
        if representatives:
            self._load({cluster.representative_post_id for cluster in clusters.values()
                        if cluster.representative_post_id is not None
                        and cluster.representative_post_id not in self._claims
                        and cluster.representative_post_id in self.index}, representatives=False)

    def clusters(self, cluster_ids: set[int]) -> dict[int, PlacedCluster]:
        """By id; each read once per call."""
        if missing := cluster_ids - self._cluster_by_id.keys():
            self._cluster_by_id |= {row.id: PlacedCluster(*row) for row in self.connection.execute(
                self.statements.clusters, {"cluster_ids": list(missing)})}
        return {cluster_id: self._cluster_by_id[cluster_id] for cluster_id in cluster_ids}

    def open(self, post_id: int, published_at: datetime | None) -> PlacedCluster:
        """A new cluster, first seen with this post."""
        cluster = PlacedCluster(None, post_id, first_seen_at=published_at)
        self.opened.append(cluster)
        return cluster

    def join(self, post_id: int, cluster: PlacedCluster, placement: Placement) -> None:
        """Place the post in CLUSTER (written with the batch)."""
        self._joined.append((post_id, cluster, placement))

    def write(self) -> None:
        """Write the clusters opened (with the figures of their first post, placed in the same
        write) and the posts placed since the last write, each kind in one statement instead
        of an ORM object a row, which the unit of work would flush one by one."""
        # Rows come back in no set order: asking for the parameters' order makes SQLAlchemy
        # insert one row a statement on SQLite, whose RETURNING promises no order.
        if opened := {cluster.representative_post_id: cluster
                      for cluster in self.opened if cluster.id is None}:
            for cluster_id, first_post_id in self.statements.open_clusters(self.connection, [
                    {"representative_post_id": cluster.representative_post_id, "post_count": 1,
                     "source_count": 1, "first_seen_at": cluster.first_seen_at,
                     "last_seen_at": cluster.first_seen_at}
                    for cluster in opened.values()]):
                opened[first_post_id].id = cluster_id  # each opened by a post of its own
                self._cluster_by_id[cluster_id] = opened[first_post_id]
        if not self._joined:
            return
        written = self.statements.join_clusters(self.connection, [
            {"post_id": post_id, "cluster_id": self.current(cluster).id, "method": placement.method,
             "similarity": placement.similarity, "matched_post_id": placement.matched_post_id}
            for post_id, cluster, placement in self._joined]).all()
        self.connection.execute(self.statements.clustered, {
            "post_ids": [post_id for post_id, _, _ in self._joined], "now": utcnow()})
        self._joined, self.last_written = [], tuple(max(written))  # the newest: the index's watermark

    def arriving(self, claims: list[PostClaim]) -> None:
        """The claims of the batch's own posts, candidates of the posts placed after them."""
        self._claims |= {claim.post_id: claim for claim in claims}

    def placed(self, claim: PostClaim, cluster: PlacedCluster) -> None:
        self._claims[claim.post_id], self._cluster_of_post[claim.post_id] = claim, cluster

    def cluster_of(self, post_id: int) -> PlacedCluster:
        return self.current(self._cluster_of_post[post_id])

    def current(self, cluster: PlacedCluster) -> PlacedCluster:
        """The cluster itself, or the one it was merged into."""
        while cluster.merged_into_id is not None:
            cluster = self.clusters({cluster.merged_into_id})[cluster.merged_into_id]
        return cluster

    def representative(self, cluster: PlacedCluster) -> PostClaim | None:
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
    statements, connection = built_once(session, PlacementStatements), session.connection()
    asked = {"post_ids": list(post_ids), "model": index.model_id}
    rows = connection.execute(statements.embedded, asked).all()
    if take_waiting:
        rows += connection.execute(statements.waiting, asked | {"taken": take_waiting}).all()
    rows.sort(key=lambda post: (post.published_at, post.id))
    placed_in = {post.id: post.placed_in for post in rows if post.placed_in is not None}
    left, emptied = _take_out_edited(session, index, placed_in) if placed_in else ([], set())
    known = PlacedPosts(session, index, placed_memory(session, index))
    reposted = _first_clustered_by_fingerprint(known, {post.fingerprint for post in rows} - {None})
    grown: set[PlacedCluster] = set()  # posts joined them, or merges moved posts into them
    went_to: dict[int, tuple[int, PlacedCluster]] = {}  # a cluster edited posts left: the first, and where
    event_ids: list[int] = []
    arriving = [(post, PostClaim(post.id, vector_from_bytes(post.vector),
                                 index.evidence(post.id, post.text, post.fingerprint), post.language))
                for post in rows]
    vectors = np.vstack([incoming.vector for _, incoming in arriving]) if arriving else None
    signatures = [shingle_signatures(incoming.evidence) for _, incoming in arriving]
    candidates = index.candidates_in_order([post.id for post, _ in arriving], vectors, signatures,
                                           rules.neighbours)
    # The candidates among posts placed before, read at once: placing one post then reads nothing.
    known.claims(set().union(*candidates))
    known.arriving([incoming for _, incoming in arriving])
    # A post whose fingerprint a post placed before it has joins that post's cluster; every
    # other post is judged against its candidates, all of them at once.
    fingerprints = set(reposted)
    compared = []
    for (post, incoming), post_candidates in zip(arriving, candidates, strict=True):
        if post.fingerprint not in fingerprints:
            compared.append((incoming, post_candidates))
        if post.fingerprint:
            fingerprints.add(post.fingerprint)
    judgements = dict(zip([incoming.post_id for incoming, _ in compared],
                          judge_batch(known, compared, rules), strict=True))
    for post, incoming in arriving:
        placement = (place(known, incoming, judgements[post.id], rules) if post.id in judgements
                     else reposted[post.fingerprint])
        if placement.same_claim_clusters:
            # The posts of those merged move to the largest, which the post may not join (a
            # moderator kept it apart from the post's nearest cluster).
            grown.update(placement.same_claim_clusters)
            placement, merged = _merge_same_claim(session, known, placement, post.id)
            event_ids += merged
        if placement.cluster is None and placed_in.get(post.id) in emptied:
            # Alone in its cluster before the edit, and still a claim of its own: it stays there.
            emptied.discard(placed_in[post.id])
            cluster = known.clusters({placed_in[post.id]})[placed_in[post.id]]
            cluster.representative_post_id = post.id
            grown.add(cluster)
        elif placement.cluster is None:
            cluster = known.open(post.id, post.published_at)
        else:
            cluster = known.current(placement.cluster)
            grown.add(cluster)
        if post.id in placed_in:
            went_to.setdefault(placed_in[post.id], (post.id, cluster))
        known.join(post.id, cluster, placement)
        known.placed(incoming, cluster)
        if post.fingerprint:
            reposted.setdefault(post.fingerprint, Placement(cluster, "fingerprint", 1.0, post.id))
    if arriving:
        index.add_vectors([post.id for post, _ in arriving], vectors)
    known.write()
    if known.last_written is not None:
        index.placed_up_to(*known.last_written)
        index.evict(session)  # what these posts pushed out of the window of days
    if left:
        event_ids += _settle_left_clusters(session, known, left, went_to)
    # A cluster opened here that no other post joined was written with its first post's
    # figures (PlacedPosts.write): most clusters, each a statement's row less.
    refresh_cluster_stats(session, {known.current(cluster).id for cluster in grown} | {
        cluster.id for cluster in left if cluster.post_count})
    touched_ids = {known.current(cluster).id for cluster in (*grown, *known.opened)} | {
        cluster.id for cluster in left if cluster.merged_into_id is None}
    return Assigned(sorted(touched_ids), len(rows), event_ids)


def _take_out_edited(session: Session, index: ClusterIndex,
                     placed_in: dict[int, int]) -> tuple[list[Cluster], set[int]]:
    """Take the posts of PLACED_IN (a post: its cluster), placed before and edited since, out
    of their clusters and the index, to be placed again by their new text; return the
    clusters they leave, and the ids of those left empty. What earlier tasks kept of them
    is forgotten with the index's PlacedMemory."""
    index.forget(list(placed_in))
    index.placed_memory = None
    session.execute(delete(ClusterMembership).where(ClusterMembership.post_id.in_(list(placed_in))))
    left = [session.get(Cluster, cluster_id) for cluster_id in sorted(set(placed_in.values()))]
    return left, {cluster.id for cluster in renew_representatives(session, left)}


def _settle_left_clusters(session: Session, known: PlacedPosts, left: list[Cluster],
                          went_to: dict[int, tuple[int, PlacedCluster]]) -> list[int]:
    """After edited posts are placed again: the clusters they left take their first post as
    representative (it may have come back); one they left empty is merged into the cluster
    its post went to, so that links and its alert follow the post, unless a moderator
    separated the two. Returns the alert events of the merges."""
    event_ids = []
    for cluster in renew_representatives(session, left):
        post_id, went = went_to[cluster.id]
        target = known.current(went)
        if separated(session, target.id, cluster.id):
            continue
        _, events = merge_into(session, session.get(Cluster, target.id), cluster)
        known.clusters({cluster.id})[cluster.id].merged_into_id = target.id
        event_ids += events
        audit_merge(session, AUTO_MERGE_ACTOR, target.id, cluster.id, 0,
                    f"its only post, {post_id}, was edited into this claim")
    session.flush()
    return event_ids


def placed_memory(session: Session, index: ClusterIndex) -> PlacedMemory:
    """The index's memory of placed posts if the database has not changed it since; a new
    one otherwise, and when it has grown to PLACED_MEMORY_POSTS."""
    revision = session.execute(built_once(session, PlacementStatements).revision).scalar()
    memory = index.placed_memory
    if memory is None or memory.revision != revision or len(memory.claims) > PLACED_MEMORY_POSTS:
        index.placed_memory = memory = PlacedMemory(revision)
    return memory


def _first_clustered_by_fingerprint(known: PlacedPosts, fingerprints: set[str]) -> dict[str, Placement]:
    """For each fingerprint, the first clustered post with it: an exact repost joins its cluster."""
    if not fingerprints:
        return {}
    found = known.connection.execute(known.statements.clustered_by_fingerprint,
                                     {"fingerprints": list(fingerprints)}).all()
    clusters = known.clusters({cluster_id for _, cluster_id, _ in found})
    first: dict[str, Placement] = {}
    for fingerprint, cluster_id, post_id in found:
        first.setdefault(fingerprint, Placement(clusters[cluster_id], "fingerprint", 1.0, post_id))
    return first


def judge_batch(known: PlacedPosts, compared: list[tuple[PostClaim, set[int]]],
                rules: MatchRules) -> list[list[SameClaim]]:
    """Each post of COMPARED judged against its candidates (their post ids, whose claims
    KNOWN has read), all at once: for each post, the candidates that carry its claim (a few
    of the dozens judged)."""
    their_claims = [known.read_claims(candidate_ids) for _, candidate_ids in compared]
    found: list[list[SameClaim]] = [[] for _ in compared]
    if not any(their_claims):
        return found
    # Each candidate once: the batch's posts share most of their candidates.
    distinct = {claim.post_id: claim for claims in their_claims for claim in claims}
    row_of = {post_id: row for row, post_id in enumerate(distinct)}
    candidates = list(distinct.values())
    judged_each = [len(claims) for claims in their_claims]
    posts = [incoming for incoming, _ in compared]
    pairs = Pairs([post.evidence for post in posts], [claim.evidence for claim in candidates],
                  np.repeat(np.arange(len(posts), dtype=np.int64), judged_each),
                  np.array([row_of[claim.post_id] for claims in their_claims for claim in claims],
                           dtype=np.int64))
    stacked = np.vstack([claim.vector for claim in candidates])
    ends = np.cumsum(judged_each)
    cosines = np.concatenate([stacked[pairs.second[end - judged : end]] @ post.vector
                              for post, judged, end in zip(posts, judged_each, ends, strict=True)])
    probabilities, same_claim = rules.judge_pairs(cosines, pairs, [post.language for post in posts],
                                                  [claim.language for claim in candidates])
    for pair in np.flatnonzero(same_claim).tolist():
        found[pairs.first[pair]].append(SameClaim(candidates[pairs.second[pair]], float(probabilities[pair])))
    return found


def place(known: PlacedPosts, incoming: PostClaim, matching: list[SameClaim], rules: MatchRules) -> Placement:
    """Where a post that is no exact repost goes: the cluster of its most probable same-claim
    candidate (MATCHING: its same-claim candidates, from judge_batch), or a new one."""
    matches: dict[PlacedCluster, Placement] = {}  # the best match in each cluster
    for candidate, score in matching:
        cluster = known.cluster_of(candidate.post_id)
        if cluster not in matches or score > matches[cluster].similarity:
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
    known.write()  # the batch's posts so far move with their clusters
    clusters = list(dict.fromkeys(known.current(cluster)
                                  for cluster in (placement.cluster, *placement.same_claim_clusters)))
    rows = {cluster: session.get(Cluster, cluster.id) for cluster in clusters}
    target = max(clusters, key=lambda cluster: (rows[cluster].post_count, -cluster.id))
    merged, event_ids = set(), []
    for cluster in clusters:
        if cluster is target or separated(session, target.id, cluster.id):
            continue
        moved, events = merge_into(session, rows[target], rows[cluster])
        cluster.merged_into_id, cluster.representative_post_id = target.id, None
        merged.add(cluster)
        event_ids += events
        audit_merge(session, AUTO_MERGE_ACTOR, target.id, cluster.id, moved,
                    f"post {post_id} carries the claim of both")
    session.flush()
    joins = target if known.current(placement.cluster) in merged else placement.cluster
    return replace(placement, cluster=joins, same_claim_clusters=()), event_ids


def refresh_cluster_stats(session: Session, cluster_ids: set[int]) -> None:
    """Count the posts and sources of each of CLUSTER_IDS again, with their first and last
    dates; those of the clusters loaded in SESSION are read again when next used."""
    if not cluster_ids:
        return
    statements = built_once(session, PlacementStatements)
    session.execute(statements.refresh_figures, {"cluster_ids": list(cluster_ids), "now": utcnow()})
    for cluster_id in cluster_ids:
        if (loaded := session.identity_map.get(identity_key(Cluster, cluster_id))) is not None:
            session.expire(loaded, statements.refreshed_columns)
