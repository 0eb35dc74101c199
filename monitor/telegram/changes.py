"""What happens to a stored message afterwards: edits keep every earlier text as a
revision, and the new one is embedded and placed again; deletions mark the post and keep
its content, as evidence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.db.models import Post, PostRevision, utcnow
from monitor.embed.stage import embed_again
from monitor.ingest.records import PostRecord
from monitor.language import detect_language
from monitor.normalize import clean_text, fingerprint


def apply_edit(session: Session, source_id: int, record: PostRecord) -> int | None:
    """Give a stored post its edited text, keeping the old one as a revision; the post's id,
    or None if it is not stored or its text is unchanged.

    The edited text is embedded and placed again (embed_again): a post edited into a call
    to march joins that wave's cluster, and one edited away from its claim leaves it; the
    revisions show moderators what changed. The caller sends the id to the embed stage
    once committed.
    """
    post = session.scalar(select(Post).where(Post.source_id == source_id,
                                             Post.external_id == record.external_id).with_for_update())
    if post is None:
        return None
    post.views, post.forwards = record.views or post.views, record.forwards or post.forwards
    text = clean_text(record.text)
    if post.text == text:
        return None
    session.add(PostRevision(post_id=post.id, text=post.text, written_at=post.edited_at or post.published_at,
                             replaced_at=utcnow()))
    post.text, post.fingerprint = text, fingerprint(text)
    post.language = record.language or detect_language(text)
    post.edited_at = record.edited_at or utcnow()
    embed_again(session, [post.id])
    return post.id


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
