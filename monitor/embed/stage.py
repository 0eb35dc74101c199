"""The embed stage: vectors for a batch of stored posts.

Two short transactions around the model rather than one long one: read the texts,
encode with no transaction open, then store what is still waiting. The model is the
slow part, and on SQLite an open write transaction blocks every other writer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.models import Embedding, Post, Stage, utcnow
from monitor.db.session import unit_of_work
from monitor.embed.encoder import Encoder
from monitor.normalize import matching_text, readable_text


@dataclass(frozen=True)
class PendingTexts:
    post_ids: list[int]  # posts with words to compare, in the order of ``texts``
    texts: list[str]
    last_id: int | None = None  # the highest post id looked at, with words or not


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


def posts_without_vectors(session: Session, model_id: str, after: int, limit: int) -> PendingTexts:
    """Embedded or clustered posts (ids above AFTER) with no vector from MODEL_ID: what a
    switch of EMBEDDING_MODEL leaves behind. Vectors of two models are never compared, so
    until these have one, the cluster stage does not see them."""
    has_vector = select(Embedding.post_id).where(Embedding.model == model_id)
    posts = session.scalars(
        select(Post).where(Post.id > after, Post.stage.in_([Stage.embedded, Stage.clustered]),
                           Post.id.not_in(has_vector))
        .order_by(Post.id).limit(limit)
    ).all()
    kept = [post for post in posts if matching_text(post.text)]
    return PendingTexts([post.id for post in kept], [readable_text(post.text) for post in kept],
                        last_id=posts[-1].id if posts else None)


def reembed(sessions: sessionmaker[Session], encoder: Encoder, batch_size: int = 256) -> int:
    """Give every embedded or clustered post a vector from ENCODER's model, in batches, with
    no transaction open while the model works; returns how many posts got one."""
    done, after = 0, 0
    while True:
        with unit_of_work(sessions) as session:
            pending = posts_without_vectors(session, encoder.model_id, after, batch_size)
        if pending.last_id is None:
            return done
        vectors = encoder.encode(pending.texts)
        with unit_of_work(sessions) as session:
            for post_id, vector in zip(pending.post_ids, vectors, strict=True):
                session.merge(Embedding(post_id=post_id, model=encoder.model_id,
                                        dimensions=int(vector.shape[0]), vector=vector.tobytes()))
        done, after = done + len(pending.post_ids), pending.last_id


def vector_from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)
