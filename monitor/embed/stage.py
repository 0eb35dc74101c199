"""The embed stage: vectors for a batch of stored posts.

Two short transactions around the model rather than one long one: read the texts,
encode with no transaction open, then store what is still waiting. The model is the
slow part, and on SQLite an open write transaction blocks every other writer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import Embedding, Post, Stage, utcnow
from monitor.embed.encoder import Encoder
from monitor.normalize import matching_text, readable_text


@dataclass(frozen=True)
class PendingTexts:
    post_ids: list[int]  # posts with words to compare, in the order of ``texts``
    texts: list[str]


def pending_texts(session: Session, post_ids: list[int]) -> PendingTexts:
    posts = session.scalars(
        select(Post).where(Post.id.in_(post_ids), Post.stage == Stage.stored).order_by(Post.id)
    ).all()
    kept = [post for post in posts if matching_text(post.text)]
    return PendingTexts([post.id for post in kept], [readable_text(post.text) for post in kept])


def store_embeddings(session: Session, post_ids: list[int], pending: PendingTexts,
                     vectors: np.ndarray, model_id: str) -> list[int]:
    """Store the vectors of posts still waiting; return the ids of ``post_ids`` ready to cluster.

    Idempotent: a redelivered batch finds its posts already embedded and only returns them.
    Posts with no words to compare (a photo without caption) are marked skipped.
    """
    vector_of = dict(zip(pending.post_ids, vectors, strict=True))
    now = utcnow()
    for post in session.scalars(
        select(Post).where(Post.id.in_(post_ids), Post.stage == Stage.stored)
    ):
        vector = vector_of.get(post.id)
        if vector is None:
            if not matching_text(post.text):
                post.stage, post.stage_changed_at = Stage.skipped, now
            continue  # its text changed after it was read: the next run embeds it
        session.merge(Embedding(post_id=post.id, model=model_id, dimensions=int(vector.shape[0]),
                                vector=vector.tobytes()))
        post.stage, post.stage_changed_at = Stage.embedded, now
    session.flush()
    return list(session.scalars(
        select(Post.id).where(Post.id.in_(post_ids), Post.stage == Stage.embedded).order_by(Post.id)
    ))


def embed_posts(session: Session, encoder: Encoder, post_ids: list[int]) -> list[int]:
    """Both steps in one session: for callers with no other writer to let through."""
    pending = pending_texts(session, post_ids)
    return store_embeddings(session, post_ids, pending, encoder.encode(pending.texts),
                            encoder.model_id)


def vector_from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)
