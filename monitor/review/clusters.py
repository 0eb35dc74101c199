"""Moderators' actions on clusters: notes, merging two clusters, splitting a post out,
promoting a cluster to a known claim. Each is written to the audit trail with who,
what and why; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.known_claims import add_known_claim
from monitor.alerts.rules import AlertPolicy, evaluate_alerts
from monitor.cluster.assign import refresh_cluster_stats
from monitor.cluster.merge import merge_into, move_post, separate
from monitor.db.locks import lock_cluster_assignment
from monitor.db.models import (
    AuditEntry,
    Cluster,
    ClusterMembership,
    ClusterNote,
    KnownClaim,
    Post,
)
from monitor.messages import Conflict, NotFound, UserError
from monitor.normalize import readable_text


class ClusterActionError(Conflict):
    """The action cannot be taken on the clusters as they are; the message says why."""


@dataclass(frozen=True)
class Outcome:
    cluster_id: int  # the cluster the moderator ends up looking at
    event_ids: list[int]  # alert events to notify subscribers of, once committed


def add_note(session: Session, cluster_id: int, text: str, actor: str) -> ClusterNote:
    _cluster(session, cluster_id)
    if not text.strip():
        raise ClusterActionError("the note is empty")
    note = ClusterNote(cluster_id=cluster_id, author=actor, text=text.strip())
    session.add(note)
    session.flush()
    _audit(session, actor, "cluster.note", cluster_id, {"note_id": note.id, "text": note.text})
    return note


def merge_clusters(session: Session, target_id: int, absorbed_id: int, actor: str,
                   reason: str, policy: AlertPolicy) -> Outcome:
    """Move every post of cluster ABSORBED_ID into TARGET_ID (see ``merge_into``)."""
    target, absorbed = _cluster(session, target_id), _cluster(session, absorbed_id)
    _require_reason(reason)
    if target_id == absorbed_id:
        raise ClusterActionError("a cluster cannot be merged into itself")
    lock_cluster_assignment(session)  # no post is placed into either while they move
    for cluster in (target, absorbed):
        if cluster.merged_into_id is not None:
            raise ClusterActionError(
                f"cluster {cluster.id} was merged into cluster {cluster.merged_into_id} already")
    moved, event_ids = merge_into(session, target, absorbed)
    refresh_cluster_stats(session, {target_id})
    _audit(session, actor, "cluster.merge", target_id,
           {"absorbed_cluster_id": absorbed_id, "posts_moved": moved, "reason": reason})
    session.flush()
    session.expire_all()
    return Outcome(target_id, event_ids + evaluate_alerts(session, [target_id], policy))


def split_post(session: Session, post_id: int, actor: str, reason: str, policy: AlertPolicy) -> Outcome:
    """Take a post out of its cluster into a cluster of its own (the outcome's cluster)."""
    _require_reason(reason)
    lock_cluster_assignment(session)
    membership = session.scalar(select(ClusterMembership).where(ClusterMembership.post_id == post_id))
    if membership is None:
        raise NotFound(f"post {post_id} is in no cluster")
    old = _cluster(session, membership.cluster_id)
    if old.post_count <= 1:
        raise ClusterActionError(f"post {post_id} is the only post of cluster {old.id}")
    post = session.get(Post, post_id)
    new = Cluster(representative_post_id=post_id, first_seen_at=post.published_at,
                  last_seen_at=post.published_at)
    session.add(new)
    session.flush()
    move_post(session, post_id, old, new.id, method="split")
    refresh_cluster_stats(session, {old.id, new.id})
    separate(session, old.id, new.id, actor)  # a cannot-link: never joined again automatically
    _audit(session, actor, "cluster.split", old.id,
           {"post_id": post_id, "new_cluster_id": new.id, "reason": reason})
    return Outcome(new.id, evaluate_alerts(session, [old.id], policy))


def promote_to_known_claim(session: Session, cluster_id: int, label: str, actor: str, *,
                           text: str = "", url: str | None = None) -> KnownClaim:
    """Record the cluster's claim as checked, so that it is recognised when it resurfaces."""
    cluster = _cluster(session, cluster_id)
    representative = readable_text(cluster.representative.text) if cluster.representative else ""
    return add_known_claim(session, text.strip() or representative, label, actor, url=url,
                           cluster_id=cluster_id)


def _cluster(session: Session, cluster_id: int) -> Cluster:
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        raise NotFound(f"no cluster {cluster_id}")
    return cluster


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise UserError("say why: the reason is kept in the audit trail")


def _audit(session: Session, actor: str, action: str, cluster_id: int, details: dict) -> None:
    session.add(AuditEntry(actor=actor, action=action, object_type="cluster",
                           object_id=str(cluster_id), details=details))
