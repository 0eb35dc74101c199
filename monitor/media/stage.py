"""The media stage: fetch a post's photos and videos, fingerprint them, keep them, and place
the post with the posts that carry the same media.

Placing by media, after the text stages have placed the post (or found no text to place):
- no earlier post carries the media: a post with no words to compare opens a cluster of its
  own (its re-uploads will join it); one with text stays where its text put it;
- earlier posts carry it, first posted less than MEDIA_RECYCLED_AFTER_DAYS before: one wave
  whatever the captions say. The post goes to the first post's cluster: a post with no
  words joins it; a post whose text put it in another cluster moves out of that one (the
  rest of it, everyday news that happened to match the caption, stays where it is), and a
  cluster it leaves empty is merged into the wave's, alert and all. Not where a moderator
  separated the two clusters;
- first posted longer ago, under another claim: recycled media. The post's cluster stays
  its own, linked to the first one, and its alert says so (alerts/rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.cluster.assign import refresh_cluster_stats
from monitor.cluster.merge import audit_merge, merge_into, move_post, separated
from monitor.db.locks import lock_cluster_assignment
from monitor.db.models import (
    Cluster,
    ClusterLink,
    ClusterMembership,
    MediaFile,
    MediaHash,
    Post,
    PostMedia,
    PostStage,
    Source,
    Stage,
    utcnow,
)
from monitor.db.session import dialect_insert
from monitor.db.statements import move_posts
from monitor.media.files import MediaStore
from monitor.media.hashing import Fingerprint, Frame, HashLimits, MediaError, fingerprint
from monitor.media.index import MediaIndex
from monitor.media.matching import MatchRules, compare

ACTOR = "media stage"
SEARCHED_FRAMES = 16


@dataclass(frozen=True)
class MediaRules:
    matching: MatchRules
    recycled_after: timedelta

    @classmethod
    def from_settings(cls, settings) -> MediaRules:
        return cls(MatchRules.from_settings(settings), timedelta(days=settings.media_recycled_after_days))


@dataclass(frozen=True)
class Obtained:
    """What fetching and hashing one of a post's media gave: a fingerprint, or an error."""

    post_media_id: int
    fingerprint: Fingerprint | None = None
    stored_name: str | None = None
    thumbnail_name: str | None = None
    error: str | None = None


def pending_media(session: Session, post_id: int) -> list[tuple[int, str]]:
    """The post's media not fetched yet: (row id, origin)."""
    return [tuple(row) for row in session.execute(
        select(PostMedia.id, PostMedia.origin)
        .where(PostMedia.post_id == post_id, PostMedia.status == "pending").order_by(PostMedia.position))]


def obtain(store: MediaStore, post_media_id: int, origin: str, client: httpx.Client | None,
           limits: HashLimits) -> Obtained:
    """Fetch ORIGIN into the store and fingerprint it (no database: no transaction is open
    while the decoder works). A failure is an Obtained with its error, never an exception."""
    incoming: Path | None = None
    thumbnail = None
    try:
        incoming = store.fetch(origin, client)
        thumbnail = incoming.with_suffix(".jpg")
        found = fingerprint(incoming, limits, thumbnail)
        stored = store.keep(incoming, found.sha256)
        kept_thumbnail = (store.keep(thumbnail, found.sha256, ".jpg")
                          if thumbnail.exists() and thumbnail.stat().st_size else None)
        return Obtained(post_media_id, found, stored, kept_thumbnail)
    except MediaError as error:
        return Obtained(post_media_id, error=str(error))
    finally:
        for leftover in (incoming, thumbnail):
            if leftover is not None:
                leftover.unlink(missing_ok=True)


def record_media(session: Session, obtained: list[Obtained]) -> None:
    """Store what OBTAIN found: each file once by its SHA-256, with its hashes."""
    for result in obtained:
        link = session.get(PostMedia, result.post_media_id)
        if link is None or link.status != "pending":
            continue  # recorded by an earlier delivery of the task
        if result.fingerprint is None:
            link.status, link.error = "failed", result.error
            continue
        link.media_file_id, link.status = _media_file(session, result), "hashed"
    session.flush()


def _media_file(session: Session, result: Obtained) -> int:
    found = result.fingerprint
    session.execute(dialect_insert(session, MediaFile).values(
        sha256=found.sha256, kind=found.kind, size=found.size,
        frames=[vars(frame) for frame in found.frames], stored_name=result.stored_name,
        thumbnail_name=result.thumbnail_name, first_seen_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["sha256"]))
    media = session.scalar(select(MediaFile).where(MediaFile.sha256 == found.sha256))
    if media.stored_name is None and result.stored_name:  # posted again after its file expired
        media.stored_name, media.thumbnail_name, media.removed_at = (result.stored_name,
                                                                     result.thumbnail_name, None)
    media_id = media.id
    hashes = select(func.count()).select_from(MediaHash).where(MediaHash.media_file_id == media_id)
    if not session.scalar(hashes):
        session.add_all(MediaHash(media_file_id=media_id, pdq=frame.pdq, quality=frame.quality,
                                  timestamp=frame.timestamp) for frame in found.match_frames)
    return media_id


def stored_fingerprint(session: Session, media_id: int) -> Fingerprint | None:
    if (media := session.get(MediaFile, media_id)) is None:
        return None
    hashes = session.execute(select(MediaHash.pdq, MediaHash.quality, MediaHash.timestamp)
                             .where(MediaHash.media_file_id == media_id).order_by(MediaHash.id)).all()
    return Fingerprint(media.sha256, media.size, media.kind, tuple(Frame(**frame) for frame in media.frames),
                       tuple(Frame(number, quality, pdq, timestamp)
                             for number, (pdq, quality, timestamp) in enumerate(hashes)))


def posts_with_media(session: Session, post_ids: list[int]) -> list[int]:
    return sorted(session.scalars(select(PostMedia.post_id).where(PostMedia.post_id.in_(post_ids))
                                  .distinct()))


@dataclass(frozen=True)
class FirstPost:
    post_id: int
    published_at: datetime
    source: str
    media_kind: str
    share: float | None


def place_by_media(session: Session, index: MediaIndex, post_ids: list[int], rules: MediaRules) -> list[int]:
    """Place those of POST_IDS whose media are all fetched and hashed and whose text stages
    are done, as the module says; the ids of the clusters that changed. Idempotent: a post
    is placed by its media once."""
    lock_cluster_assignment(session)
    index.sync(session)
    ready = session.execute(
        select(Post.id, Post.published_at).join(PostStage)
        .where(Post.id.in_(post_ids), PostStage.stage.in_([Stage.clustered, Stage.skipped]),
               Post.id.in_(select(PostMedia.post_id).where(PostMedia.status == "hashed",
                                                          PostMedia.placed_at.is_(None))),
               ~Post.id.in_(select(PostMedia.post_id).where(PostMedia.status == "pending")))
        .order_by(Post.published_at, Post.id)).all()
    changed: set[int] = set()
    for post_id, published_at in ready:
        first = _first_post_with_same_media(session, index, post_id, rules)
        first_cluster = _cluster_of(session, first.post_id) if first is not None else None
        cluster = _cluster_of(session, post_id)
        if first_cluster is None:  # no earlier post carries it (or none still in a cluster)
            if cluster is None:
                changed.add(_open(session, post_id, published_at))
        elif cluster is None:
            changed.add(_join(session, post_id, first_cluster, first))
        elif cluster.id != first_cluster.id:
            if published_at - first.published_at <= rules.recycled_after:
                changed |= _move(session, post_id, cluster, first_cluster, first)
            else:
                _link(session, cluster, first_cluster, first)
                changed.add(cluster.id)
        session.execute(update(PostMedia).where(PostMedia.post_id == post_id, PostMedia.status == "hashed")
                        .values(placed_at=utcnow()))
    refresh_cluster_stats(session, changed)
    return sorted(changed)


def _first_post_with_same_media(session: Session, index: MediaIndex, post_id: int,
                                rules: MediaRules) -> FirstPost | None:
    """The earliest placed post (another one) whose media match one of this post's."""
    own = session.scalars(select(PostMedia.media_file_id).where(
        PostMedia.post_id == post_id, PostMedia.status == "hashed")).all()
    same: dict[int, tuple[str, float | None]] = {}  # media id: kind, share matched
    for media_id in set(own):
        found = stored_fingerprint(session, media_id)
        same[media_id] = (found.kind, 1.0)
        distance = rules.matching.distance if found.kind == "image" else rules.matching.video_frame_distance
        near = index.media_near(_searched_frames(found), distance)
        for candidate in near - same.keys():
            if (other := stored_fingerprint(session, candidate)) is None:
                continue
            if (match := compare(found, other, rules.matching)).matched:
                same[candidate] = (found.kind, match.share)
    row = session.execute(
        select(Post.id, Post.published_at, Source.title, Source.key, PostMedia.media_file_id)
        .join(PostMedia, PostMedia.post_id == Post.id).join(Source, Source.id == Post.source_id)
        .where(PostMedia.media_file_id.in_(same), PostMedia.placed_at.is_not(None), Post.id != post_id)
        .order_by(Post.published_at, Post.id).limit(1)).first()
    if row is None:
        return None
    kind, share = same[row.media_file_id]
    return FirstPost(row.id, row.published_at, row.title or row.key, kind, share)


def _searched_frames(found: Fingerprint) -> list[str]:
    """Up to SEARCHED_FRAMES of a video's frames, evenly spread: a candidate needs one frame
    near, and compare() then judges all of them (a search at a video's distance costs about
    0.2 s at a million stored hashes, bench/media.py)."""
    frames = found.match_frames
    step = max(1, len(frames) / SEARCHED_FRAMES)
    return [frames[int(position * step)].pdq for position in range(min(len(frames), SEARCHED_FRAMES))]


def _cluster_of(session: Session, post_id: int) -> Cluster | None:
    # Never a merged cluster: a merge moves the memberships too (merge.merge_into).
    return session.scalar(select(Cluster).join(ClusterMembership).where(ClusterMembership.post_id == post_id))


def _open(session: Session, post_id: int, published_at: datetime) -> int:
    cluster = Cluster(representative_post_id=post_id, post_count=1, source_count=1,
                      first_seen_at=published_at, last_seen_at=published_at)
    session.add(cluster)
    session.flush()
    session.add(ClusterMembership(post_id=post_id, cluster_id=cluster.id, method="media"))
    move_posts(session, [post_id], Stage.clustered, utcnow())
    return cluster.id


def _join(session: Session, post_id: int, cluster: Cluster, first: FirstPost) -> int:
    session.add(ClusterMembership(post_id=post_id, cluster_id=cluster.id, method="media",
                                  similarity=first.share, matched_post_id=first.post_id))
    move_posts(session, [post_id], Stage.clustered, utcnow())
    return cluster.id


def _move(session: Session, post_id: int, cluster: Cluster, wave: Cluster, first: FirstPost) -> set[int]:
    """The post from CLUSTER into WAVE, the cluster of the first post with its media; the
    clusters that changed."""
    if separated(session, cluster.id, wave.id):
        return set()
    if cluster.post_count <= 1:  # nothing stays behind: the cluster (its alert too) joins the wave
        moved, _ = merge_into(session, wave, cluster)
        audit_merge(session, ACTOR, wave.id, cluster.id, moved,
                    f"post {post_id} carries the media first posted by post {first.post_id}")
        session.flush()
        return {wave.id}
    move_post(session, post_id, cluster, wave.id, method="media", similarity=first.share,
              matched_post_id=first.post_id)
    return {cluster.id, wave.id}


def _link(session: Session, cluster: Cluster, first_cluster: Cluster, first: FirstPost) -> None:
    exists = session.scalar(select(ClusterLink.id).where(ClusterLink.cluster_id == cluster.id,
                                                         ClusterLink.linked_cluster_id == first_cluster.id))
    if exists is None:
        session.add(ClusterLink(
            cluster_id=cluster.id, linked_cluster_id=first_cluster.id, kind=f"recycled_{first.media_kind}",
            reason=f"recycled media: first seen {first.published_at:%Y-%m-%d} in {first.source} under "
                   f"another claim (cluster {first_cluster.id})"))
