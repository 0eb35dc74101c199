"""Find work that stalled between stages.

Redis only carries work; the database knows what is left. A post whose stage has
not moved for a while lost its task (broker restarted, task dropped) and is sent
again; the stages are idempotent, so a task that was merely slow does no harm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import AlertEvent, Post, PostMedia, PostStage, Stage, utcnow


@dataclass
class StalledWork:
    to_embed: list[int] = field(default_factory=list)
    to_cluster: list[int] = field(default_factory=list)
    to_notify: list[int] = field(default_factory=list)
    to_hash_media: list[int] = field(default_factory=list)  # posts with media not fetched yet
    to_place_media: list[int] = field(default_factory=list)  # posts with hashed media not placed

    def __len__(self) -> int:
        return (len(self.to_embed) + len(self.to_cluster) + len(self.to_notify) + len(self.to_hash_media)
                + len(self.to_place_media))


def find_stalled(session: Session, older_than: timedelta, now: datetime | None = None,
                 limit: int = 10_000) -> StalledWork:
    cutoff = (now or utcnow()) - older_than

    def posts_in(*stages: Stage) -> list[int]:
        return list(session.scalars(
            select(PostStage.post_id).where(PostStage.stage.in_(stages), PostStage.changed_at < cutoff)
            .order_by(PostStage.post_id).limit(limit)))

    events = session.scalars(
        select(AlertEvent.id).where(AlertEvent.notified_at.is_(None), AlertEvent.created_at < cutoff)
        .order_by(AlertEvent.id).limit(limit))
    def posts_with_media(status: str) -> list[int]:
        return list(session.scalars(
            select(PostMedia.post_id).join(Post, Post.id == PostMedia.post_id)
            .where(PostMedia.status == status, PostMedia.placed_at.is_(None), Post.fetched_at < cutoff)
            .distinct().order_by(PostMedia.post_id).limit(limit)))

    # A post claimed for embedding that long ago lost its worker (embed.stage.CLAIM_EXPIRES).
    return StalledWork(posts_in(Stage.stored, Stage.embedding), posts_in(Stage.embedded), list(events),
                       posts_with_media("pending"), posts_with_media("hashed"))
