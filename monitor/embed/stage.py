"""The embed stage: vectors for a batch of stored posts."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import Embedding, Post, Stage, utcnow
from monitor.embed.encoder import Encoder
from monitor.normalize import matching_text, readable_text


def embed_posts(session: Session, encoder: Encoder, post_ids: list[int]) -> list[int]:
    """Embed the posts among ``post_ids`` still waiting for it; return the ids ready to cluster.

    Idempotent: a redelivered batch finds its posts already embedded and only returns them.
    Posts with no words to compare (a photo without caption) are marked skipped.
    """
    posts = session.scalars(
        select(Post).where(Post.id.in_(post_ids), Post.stage == Stage.stored).order_by(Post.id)
    ).all()
    now = utcnow()
    to_embed = []
    for post in posts:
        if matching_text(post.text):
            to_embed.append(post)
        else:
            post.stage, post.stage_changed_at = Stage.skipped, now
    vectors = encoder.encode([readable_text(post.text) for post in to_embed])
    for post, vector in zip(to_embed, vectors, strict=True):
        session.merge(Embedding(post_id=post.id, model=encoder.model_id,
                                dimensions=encoder.dimensions, vector=vector.tobytes()))
        post.stage, post.stage_changed_at = Stage.embedded, now
    session.flush()
    return list(session.scalars(
        select(Post.id).where(Post.id.in_(post_ids), Post.stage == Stage.embedded).order_by(Post.id)
    ))


def vector_from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)
