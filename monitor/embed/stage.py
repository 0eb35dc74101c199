"""The embed stage: vectors for a batch of stored posts.

Two short transactions around the model rather than one long one: claim the posts and
read their texts, encode with no transaction open, then store the vectors of the posts
still under this claim. The model is the slow part, and on SQLite an open write
transaction blocks every other writer.

The claim (stage ``embedding``, with the claiming task's name and time) is what lets a
task take, besides its own posts, the ones waiting longest: under a backlog of small tasks
(the Telegram listener sends one post at a time) batches then grow with the queue, which
the model encodes faster per post, and two embed workers never encode the same posts. A
task delivered again after its worker died takes its own claim back at once; a claim
older than CLAIM_EXPIRES is any task's to take, and the vectors of the task that lost it
are then not stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import ColumnElement, Integer, LargeBinary, bindparam, column, delete, select, table, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.expressions import is_one_of
from monitor.db.models import Embedding, Post, PostStage, Stage, utcnow
from monitor.db.session import dialect_insert, insert_for, unit_of_work
from monitor.db.statements import built_once, move_posts
from monitor.embed.encoder import Encoder
from monitor.normalize import matching_text, readable_text

# Far above the time to encode a batch on a CPU, and under the sweep's default wait
# (SWEEP_OLDER_THAN_SECONDS, 900 s), so that what the sweep sends again can be taken.
CLAIM_EXPIRES = timedelta(minutes=5)


@dataclass(frozen=True)
class PendingTexts:
    post_ids: list[int]  # posts with words to compare, in the order of ``texts``
    texts: list[str]
    claim: str | None = None  # the name of the task that claimed them
    last_id: int | None = None  # the highest post id looked at, with words or not
    skipped: list[int] = field(default_factory=list)  # posts with no words: the media stage may place them


def new_claim() -> str:
    """A claim's name for a caller that is no Celery task (a task claims under its id)."""
    return uuid.uuid4().hex


def claim_pending(session: Session, post_ids: list[int], claim: str, take_waiting: int = 0,
                  now: datetime | None = None) -> PendingTexts:
    """Claim for the task named CLAIM the posts still to embed among POST_IDS, those it had
    claimed before, and up to TAKE_WAITING others waiting longest; read their texts. Posts
    another task has claimed are left to it (on PostgreSQL, rows it is claiming at this
    moment are skipped, not waited for). Posts with no words to compare (a photo without
    caption) are marked skipped.

    Rows are read and written as plain columns, a statement for all of them (set-based,
    not an ORM object a post): on a GPU a task takes thousands of posts, and the ORM's
    work for each would be most of the stage's own. Post objects already
    in SESSION are not refreshed."""
    now = now or utcnow()
    # Only the stages' rows are locked: the posts' are only read.
    claimable = (select(Post.id, Post.text, Post.fingerprint).join(PostStage)
                 .with_for_update(of=PostStage, skip_locked=True))
    mine = (PostStage.stage == Stage.embedding) & (PostStage.embed_claim == claim)
    abandoned = (PostStage.stage == Stage.embedding) & (PostStage.changed_at < now - CLAIM_EXPIRES)
    rows = list(session.execute(claimable.where(
        (_among(session, post_ids) & ((PostStage.stage == Stage.stored) | abandoned)) | mine)))
    if take_waiting:  # abandoned ones among them come back through the sweep, by id
        taken = [row.id for row in rows]
        rows += session.execute(claimable.where(PostStage.stage == Stage.stored, ~_among(session, taken))
                                .order_by(PostStage.post_id).limit(take_waiting))
    kept, texts, skipped = [], [], []
    for row in sorted(rows, key=lambda row: row.id):
        if (text := text_to_encode(row.text, row.fingerprint)) is None:
            skipped.append(row.id)
        else:
            kept.append(row.id)
            texts.append(text)
    move_posts(session, kept, Stage.embedding, now, claim)
    move_posts(session, skipped, Stage.skipped, now)
    return PendingTexts(kept, texts, claim, skipped=skipped)


def embed_again(session: Session, post_ids: list[int], now: datetime | None = None) -> None:
    """Send posts whose text has changed (an edit at the source) back to this stage: their
    vectors of every model go, being of the old text, and once embedded again the cluster
    stage places them again (monitor/cluster/assign.py). A task encoding the old text at
    this moment loses its claim, so its vectors are not stored."""
    if post_ids:
        session.execute(delete(Embedding).where(Embedding.post_id.in_(post_ids)))
        move_posts(session, post_ids, Stage.stored, now or utcnow())


def text_to_encode(text: str, fingerprint: str | None = None) -> str | None:
    """What the model is given of a post's TEXT: without markup and links; None for a text
    with no words to compare (a photo's empty caption, emoji only), which is not encoded.
    A FINGERPRINT took words to make (monitor/normalize.py): a text with one has them."""
    return readable_text(text) if fingerprint is not None or matching_text(text) else None


def store_embeddings(session: Session, post_ids: list[int], pending: PendingTexts,
                     vectors: np.ndarray, model_id: str) -> list[int]:
    """Store the vectors of the posts still under PENDING's claim; return the ids of the
    posts ready to cluster among them and POST_IDS.

    Idempotent: a redelivered batch finds its posts already embedded and only returns them.
    """
    vector_of = dict(zip(pending.post_ids, vectors, strict=True))
    claimed = session.connection().execute(built_once(session, _claims_ended), {
        "post_ids": pending.post_ids, "claim": pending.claim, "now": utcnow()}).scalars().all()
    write_vectors(session, [(post_id, vector_of[post_id]) for post_id in sorted(claimed)], model_id)
    return embedded_among(session, [*post_ids, *pending.post_ids])


def _claims_ended(dialect: Dialect):
    """The posts among POST_IDS still under the task's CLAIM, moved to stage embedded in the
    statement that finds them; their ids."""
    stages = PostStage.__table__
    still_claimed = (is_one_of(stages.c.post_id, None, dialect, "post_ids")
                     & (stages.c.stage == Stage.embedding) & (stages.c.embed_claim == bindparam("claim")))
    return (update(stages).where(still_claimed).returning(stages.c.post_id)
            .values(stage=Stage.embedded, embed_claim=None,
                    changed_at=bindparam("now", type_=stages.c.changed_at.type)))


def _among(session: Session, post_ids: Iterable[int]) -> ColumnElement[bool]:
    """The post's id is one of POST_IDS: on PostgreSQL one array parameter, however many."""
    return is_one_of(PostStage.post_id, post_ids, session.get_bind().dialect)


def embedded_among(session: Session, post_ids: list[int]) -> list[int]:
    """Those of POST_IDS embedded and not clustered yet, in id order."""
    embedded = select(PostStage.post_id).where(_among(session, set(post_ids)),
                                               PostStage.stage == Stage.embedded)
    return list(session.scalars(embedded.order_by(PostStage.post_id)))


def embed_posts(session: Session, encoder: Encoder, post_ids: list[int]) -> list[int]:
    """Both steps in one session: for callers with no other writer to let through."""
    pending = claim_pending(session, post_ids, new_claim())
    return store_embeddings(session, post_ids, pending, encoder.encode(pending.texts),
                            encoder.model_id)


def posts_without_vectors(session: Session, model_id: str, after: int, limit: int) -> PendingTexts:
    """Embedded or clustered posts (ids above AFTER) with no vector from MODEL_ID: what a
    switch of EMBEDDING_MODEL leaves behind. Vectors of two models are never compared, so
    until these have one, the cluster stage does not see them."""
    has_vector = select(Embedding.post_id).where(Embedding.model == model_id)
    posts = session.scalars(
        select(Post).join(PostStage)
        .where(Post.id > after, PostStage.stage.in_([Stage.embedded, Stage.clustered]),
               Post.id.not_in(has_vector))
        .order_by(Post.id).limit(limit)
    ).all()
    kept = [(post.id, text) for post in posts
            if (text := text_to_encode(post.text, post.fingerprint)) is not None]
    return PendingTexts([post_id for post_id, _ in kept], [text for _, text in kept],
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
            write_vectors(session, list(zip(pending.post_ids, vectors, strict=True)), encoder.model_id)
        done, after = done + len(pending.post_ids), pending.last_id


def write_vectors(session: Session, vectors: list[tuple[int, np.ndarray]], model_id: str) -> None:
    """Store each post's vector from MODEL_ID, replacing one it had: one statement for all
    (an ORM merge read each row first, a round trip a post). On PostgreSQL the vectors go
    in by COPY first, the fastest way in for a GPU task's thousands."""
    if not vectors:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy_vectors(session, vectors, model_id)
        return
    session.execute(_replacing_vectors(dialect_insert(session, Embedding)),
                    [{"post_id": post_id, "model": model_id, "dimensions": int(vector.shape[0]),
                      "vector": vector.tobytes(), "created_at": utcnow()} for post_id, vector in vectors])


def _replacing_vectors(upsert):
    """UPSERT, which replaces the vector a post has from the model already."""
    return upsert.on_conflict_do_update(
        index_elements=[Embedding.post_id, Embedding.model],
        set_={"dimensions": upsert.excluded.dimensions, "vector": upsert.excluded.vector,
              "created_at": upsert.excluded.created_at})


# Where the vectors wait between COPY and the upsert: the connection's own table, emptied
# at each commit. COPY has no ON CONFLICT, and a post may have a vector already (two
# `monitor reembed` runs at once); a VALUES upsert of thousands of vectors was half as fast.
_VECTORS_IN = table("vectors_in", column("post_id", Integer), column("vector", LargeBinary))
_CREATE_VECTORS_IN = ("CREATE TEMPORARY TABLE IF NOT EXISTS vectors_in (post_id integer, vector bytea)"
                      " ON COMMIT DELETE ROWS")


def _vectors_upserted(dialect: Dialect):
    return _replacing_vectors(insert_for(dialect, Embedding).from_select(
        ["post_id", "model", "dimensions", "vector", "created_at"],
        select(_VECTORS_IN.c.post_id, bindparam("model", type_=Embedding.model.type),
               bindparam("dimensions", type_=Embedding.dimensions.type), _VECTORS_IN.c.vector,
               bindparam("now", type_=Embedding.created_at.type))))


def _copy_vectors(session: Session, vectors: list[tuple[int, np.ndarray]], model_id: str) -> None:
    connection = session.connection()
    connection.exec_driver_sql(_CREATE_VECTORS_IN)
    with (connection.connection.driver_connection.cursor() as cursor,
          cursor.copy("COPY vectors_in (post_id, vector) FROM STDIN (FORMAT BINARY)") as copy):
        copy.set_types(["int4", "bytea"])
        for post_id, vector in vectors:
            copy.write_row((post_id, vector.tobytes()))
    connection.execute(built_once(session, _vectors_upserted),
                       {"model": model_id, "dimensions": int(vectors[0][1].shape[0]), "now": utcnow()})
