"""What happens to a stored message afterwards: edits keep every earlier text as a
revision; deletions mark the post and keep its content, as evidence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.db.models import Post, PostRevision, utcnow
from monitor.ingest.records import PostRecord
from monitor.normalize import clean_text, fingerprint


def apply_edit(session: Session, source_id: int, record: PostRecord) -> bool:
    """Give a stored post its edited text, keeping the old one. False if not stored or unchanged.

    The post keeps its place in its cluster: an edit is part of the same post's story,
    and the revision shows moderators what changed.
    """
    post = session.scalar(select(Post).where(Post.source_id == source_id,
                                             Post.external_id == record.external_id).with_for_update())
    text = clean_text(record.text)
    if post is None or post.text == text:
        if post is not None:
            post.views, post.forwards = record.views or post.views, record.forwards or post.forwards
        return False
    session.add(PostRevision(post_id=post.id, text=post.text, written_at=post.edited_at or post.published_at,
                             replaced_at=utcnow()))
    post.text, post.fingerprint = text, fingerprint(text)
    post.edited_at = record.edited_at or utcnow()
    post.views, post.forwards = record.views or post.views, record.forwards or post.forwards
    return True


def mark_deleted(session: Session, source_id: int, external_ids: list[str],
                 when: datetime | None = None) -> int:
    """Mark posts deleted at the source; returns how many were newly marked."""
    return session.execute(
        update(Post).where(Post.source_id == source_id, Post.external_id.in_(external_ids),
                           Post.deleted_at.is_(None))
        .values(deleted_at=when or utcnow())).rowcount


def posts_published_since(session: Session, source_id: int, since: datetime) -> list[str]:
    """The external ids of the source's posts published since SINCE and not marked deleted."""
    return list(session.scalars(select(Post.external_id).where(
        Post.source_id == source_id, Post.published_at >= since, Post.deleted_at.is_(None))))
