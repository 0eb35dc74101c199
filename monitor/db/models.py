"""The data model. PostgreSQL in production, SQLite in the embedded default.

A post records the pipeline ``stage`` it has reached, so that the database,
not the broker, is the source of truth about what still has to be done.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def storable_time(value: datetime) -> datetime:
    """VALUE as a time the database can store: UTC if it says no timezone (an export's or a
    date picker's wall time: the one reading that does not depend on the machine), its own
    offset kept otherwise. ValueError if it falls outside years 1-9999 once in UTC, as it
    is stored (0001-01-01T00:00+00:01 is in year 0): said where it came in, not a failed
    write later."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of the range of times in UTC "
                         "(years 1 to 9999)") from None
    return value


# A time field of what comes in (imports, feeds, API queries), made storable as it is read.
StorableTime = Annotated[datetime, AfterValidator(storable_time)]


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: attach a timezone")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class Stage(str, enum.Enum):
    stored = "stored"
    embedding = "embedding"  # claimed by an embed task (PostStage.embed_claim) at changed_at
    embedded = "embedded"
    clustered = "clustered"
    # No text to compare (a photo without caption, a service message).
    skipped = "skipped"


class AlertStatus(str, enum.Enum):
    open = "open"
    confirmed = "confirmed"
    dismissed = "dismissed"
    # Its cluster was merged into another one, whose alert carries on.
    merged = "merged"


class Role(str, enum.Enum):
    """What an account may do; each role may do everything the ones before it may."""

    viewer = "viewer"  # read alerts, clusters, sources
    moderator = "moderator"  # review: decide, assign, note, merge, split, promote
    admin = "admin"  # manage users, sources, watchlists and webhooks

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class Label(str, enum.Enum):
    """What a moderator finds a reviewed claim to be; known claims carry one too."""

    deepfake = "deepfake"
    impersonation = "impersonation"
    false_claim = "false_claim"
    misleading = "misleading"
    satire = "satire"
    not_disinformation = "not_disinformation"


LABELS = tuple(label.value for label in Label)  # as stored, in forms, the API and the command line


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings: a new value needs no ALTER TYPE on PostgreSQL.
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_sources_kind_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # telegram, feed, import
    key: Mapped[str] = mapped_column(String(512))  # channel id or @username, feed URL
    title: Mapped[str] = mapped_column(String(512), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # Polling state of sources that are fetched (feeds).
    fetch_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    next_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    # Consecutive failures; reset by a success. Past the limit the source is paused.
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    paused_reason: Mapped[str | None] = mapped_column(Text)

    # Telegram channels: the entity resolved once and kept (resolving a username again
    # and again is what earns day-long FloodWaits), and the highest message id stored.
    telegram_id: Mapped[int | None] = mapped_column(BigInteger)
    access_hash: Mapped[int | None] = mapped_column(BigInteger)
    cursor: Mapped[int | None] = mapped_column(BigInteger)

    posts: Mapped[list[Post]] = relationship(back_populates="source")


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_posts_source_external"),
        UniqueConstraint("canonical_url", name="uq_posts_canonical_url"),
        Index("ix_posts_fingerprint", "fingerprint"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    author: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text)
    # Articles: the URL without tracking parameters, or the page's rel=canonical.
    # Unique, so an article seen through two feeds or two URLs is stored once.
    canonical_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    # Where the text came from: message, article (full text) or feed-summary.
    text_origin: Mapped[str] = mapped_column(String(16), default="message")
    language: Mapped[str | None] = mapped_column(String(8))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    views: Mapped[int | None] = mapped_column(BigInteger)
    forwards: Mapped[int | None] = mapped_column(BigInteger)
    forwarded_from: Mapped[str | None] = mapped_column(String(512))
    forwarded_from_id: Mapped[str | None] = mapped_column(String(255))
    # Where a forward came from: the origin's message id and date (forwarded_from names the origin).
    forwarded_message_id: Mapped[str | None] = mapped_column(String(64))
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    has_media: Mapped[bool] = mapped_column(Boolean, default=False)
    # photo, video, document...; and the platform's id of the file, the same wherever it is reposted.
    media_kind: Mapped[str | None] = mapped_column(String(16))
    media_id: Mapped[str | None] = mapped_column(String(64), index=True)
    replies: Mapped[int | None] = mapped_column(BigInteger)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Deleted at the source: kept, as evidence.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fingerprint: Mapped[str | None] = mapped_column(String(64))

    source: Mapped[Source] = relationship(back_populates="posts")
    membership: Mapped[ClusterMembership | None] = relationship(back_populates="post")
    revisions: Mapped[list[PostRevision]] = relationship(order_by="PostRevision.id")
    media: Mapped[list[PostMedia]] = relationship(order_by="PostMedia.position", viewonly=True)


class PostStage(Base):
    """Where a post is in the pipeline, stored with it (monitor/ingest/store.py).

    A narrow table of its own: a post changes stage three times, and PostgreSQL writes an
    updated row out whole, with an entry in each of its table's indexes. A posts row
    carries the post's text and six indexes: moving a task's posts there would rewrite all
    of it."""

    __tablename__ = "post_stages"
    # The stages take their waiting posts oldest first: stage = X ORDER BY post_id LIMIT n.
    __table_args__ = (Index("ix_post_stages_stage_post_id", "stage", "post_id"),)

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[Stage] = mapped_column(_enum(Stage), default=Stage.stored)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # In stage embedding: the embed task that claimed it (monitor/embed/stage.py).
    embed_claim: Mapped[str | None] = mapped_column(String(64))


class PostRevision(Base):
    """A text a post had before an edit."""

    __tablename__ = "post_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    # When that text was written (the post's date, or its previous edit).
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FetchDomain(Base):
    """Politeness across all workers: when a domain may next be asked for something."""

    __tablename__ = "fetch_domains"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_allowed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Embedding(Base):
    """A post's vector, tagged with the model that made it: vectors of two models never mix."""

    __tablename__ = "embeddings"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    dimensions: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    representative_post_id: Mapped[int | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL")
    )
    post_count: Mapped[int] = mapped_column(Integer, default=0)
    source_count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # Set when a moderator merged this cluster into another; it then has no members.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="SET NULL"))

    representative: Mapped[Post | None] = relationship(foreign_keys=[representative_post_id])
    memberships: Mapped[list[ClusterMembership]] = relationship(back_populates="cluster")
    alert: Mapped[Alert | None] = relationship(back_populates="cluster")


class ClusterMembership(Base):
    """A post's place in a cluster. One per post: the unique key makes placement idempotent."""

    __tablename__ = "cluster_memberships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), unique=True
    )
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(32))  # fingerprint, nearest, new
    similarity: Mapped[float | None] = mapped_column(Float)
    matched_post_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    post: Mapped[Post] = relationship(back_populates="membership")
    cluster: Mapped[Cluster] = relationship(back_populates="memberships")


class PlacementRevision(Base):
    """One row, whose revision database triggers raise (migration 0009) whenever something
    changes what placing posts reads of posts already placed: a membership moved or removed
    (a merge, a split), a cluster's first post or merge, a post's text, fingerprint or
    language (an edit), a post or cluster deleted, by this code or by hand. A cluster worker
    keeps what it read between tasks while the revision stays the same (PlacedMemory in
    monitor/cluster/memory.py).

    SQLite drops a table's triggers with the table: a migration that rebuilds posts,
    clusters or cluster_memberships (batch_alter_table) must create them again
    (tests/test_clustering.py fails if they are missing)."""

    __tablename__ = "placement_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


class Alert(Base):
    """At most one alert per cluster; growth updates it."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[AlertStatus] = mapped_column(_enum(AlertStatus), default=AlertStatus.open)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    # Every rule's points, opens-flag and reason: what `monitor alerts explain` shows.
    breakdown: Mapped[list] = mapped_column(JSON, default=list)
    post_count: Mapped[int] = mapped_column(Integer, default=0)
    source_count: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The cluster's size when a moderator dismissed the alert: it re-opens only well past it.
    dismissed_post_count: Mapped[int | None] = mapped_column(Integer)
    # A call wave's key ("person:ID"): a cluster carrying the same call within the window joins
    # this alert's cluster (monitor/alerts/waves.py).
    wave_key: Mapped[str | None] = mapped_column(String(128), index=True)

    cluster: Mapped[Cluster] = relationship(back_populates="alert")
    assignee: Mapped[User | None] = relationship()
    events: Mapped[list[AlertEvent]] = relationship(
        back_populates="alert", order_by="AlertEvent.id"
    )


class AlertEvent(Base):
    """What happened to an alert (opened, updated, ...): its history and the notify outbox."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # alert.opened, alert.updated
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    alert: Mapped[Alert] = relationship(back_populates="events")


class ReviewDecision(Base):
    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(32))  # confirm, dismiss
    label: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """Who did what, to what, when and why. Written by every state-changing action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookSubscription(Base):
    """A newsroom's endpoint, what it wants to hear about, and its health."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(128))  # whsec_... (Standard Webhooks)
    # During a rotation, the old secret signs too, until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    events: Mapped[list] = mapped_column(JSON, default=list)
    min_score: Mapped[float | None] = mapped_column(Float)
    labels: Mapped[list | None] = mapped_column(JSON)
    languages: Mapped[list | None] = mapped_column(JSON)
    source_ids: Mapped[list | None] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Deliveries given up in a row; past the limit the subscription is disabled.
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """One event for one subscription: the same message id and body on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_subscription_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("alert_events.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    subscription: Mapped[WebhookSubscription] = relationship()
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(order_by="WebhookAttempt.id")


class WebhookAttempt(Base):
    """The delivery log: every request made, with what came back."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    """A person who signs in to the review UI."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # In every session cookie of the user; moving it on ends them all (accounts.users.end_sessions).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(Base):
    """A token for the JSON API. Only its SHA-256 is kept: it is shown once, when made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so that people can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    scope: Mapped[Role] = mapped_column(_enum(Role))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class LoginFailure(Base):
    """A failed sign-in, counted to slow down password guessing from its address."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ClusterNote(Base):
    __tablename__ = "cluster_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClusterSeparation(Base):
    """A moderator's cannot-link: the posts of these two clusters carry different claims, so
    neither an automatic merge nor a post matching both may join them (a split records one)."""

    __tablename__ = "cluster_separations"
    __table_args__ = (UniqueConstraint("cluster_id", "other_cluster_id", name="uq_cluster_separations_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored once per pair, the lower id first.
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    other_cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class KnownClaim(Base):
    """A claim already checked (debunked, or found not to be disinformation)."""

    __tablename__ = "known_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(64))
    # Where the fact-check is published.
    url: Mapped[str | None] = mapped_column(Text)
    # The cluster it was promoted from, if any.
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The claim's embedding (float32, L2-normalised) and the model that made it; the embed
    # worker fills them in, and again after a model switch.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    vector_model: Mapped[str | None] = mapped_column(String(255))
    # Imported from a fact-checker's ClaimReview (monitor/claims/): its key (the SHA-256 of
    # the review's URL and claim, so a second import updates it), the rating as published,
    # the fact-checker, the review's date and language, and the URLs where the claim appeared
    # (a post at one of them repeats it, whatever its wording).
    review_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    rating: Mapped[str | None] = mapped_column(String(255))
    author: Mapped[str | None] = mapped_column(String(255))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    language: Mapped[str | None] = mapped_column(String(16))
    appearances: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)


class WatchlistEntry(Base):
    """A person likely to be impersonated, or a topic or phrase to watch for, with its spellings."""

    __tablename__ = "watchlist_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # person, topic
    name: Mapped[str] = mapped_column(String(255))
    # Other spellings: Cyrillic and Latin, Kazakh and Russian.
    variants: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class MediaFile(Base):
    """A photo or video, once whatever number of posts carry it: by the SHA-256 of its bytes.
    Its hashes are kept for good; the file itself (under MEDIA_DIR, named by its SHA-256)
    for MEDIA_RETENTION_DAYS (monitor/media/)."""

    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # image, video
    size: Mapped[int] = mapped_column(BigInteger)
    # The standard hashes, as ThreatExchange exchanges them: an image's PDQ (one frame), a
    # video's vPDQ frames, each {frame, quality, pdq, timestamp}.
    frames: Mapped[list] = mapped_column(JSON, default=list)
    # Under MEDIA_DIR: the file and its JPEG thumbnail; None once removed (or never kept).
    stored_name: Mapped[str | None] = mapped_column(String(96))
    thumbnail_name: Mapped[str | None] = mapped_column(String(96))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MediaHash(Base):
    """A PDQ hash the media index searches (monitor/media/index.py): an image's, or one of a
    video's matching frames (bar-less, four a second)."""

    __tablename__ = "media_hashes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_file_id: Mapped[int] = mapped_column(ForeignKey("media_files.id", ondelete="CASCADE"), index=True)
    pdq: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)
    timestamp: Mapped[float] = mapped_column(Float, default=0.0)


class PostMedia(Base):
    """One photo or video of a post: where it came from, and what the media stage made of it
    (status pending, hashed or failed, with the reason); placed_at once the post was placed
    with the posts that carry the same media."""

    __tablename__ = "post_media"
    __table_args__ = (UniqueConstraint("post_id", "position", name="uq_post_media_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str | None] = mapped_column(String(16))  # as the source says: photo, video...
    origin: Mapped[str] = mapped_column(Text)  # a local path or an http(s) URL
    media_file_id: Mapped[int | None] = mapped_column(ForeignKey("media_files.id"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    media_file: Mapped[MediaFile | None] = relationship()


class ClusterLink(Base):
    """Two clusters that are not one claim but share something a moderator should see: the
    same media first posted long before under another claim (recycled footage)."""

    __tablename__ = "cluster_links"
    __table_args__ = (UniqueConstraint("cluster_id", "linked_cluster_id", name="uq_cluster_links_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    linked_cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32), default="recycled_media")
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
