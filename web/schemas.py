"""Request and response shapes of the JSON API (pydantic): they validate what comes in
and are the source of the OpenAPI document. The alert queue's query is shared with the UI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from monitor.db.models import LABELS, AlertStatus, StorableTime
from monitor.messages import UserError
from monitor.review.queries import AlertFilters

Label = Literal[LABELS]  # type: ignore[valid-type]
MAX_ID = 2**31 - 1  # ids are 32-bit in the database
MAX_PAGE = 1_000_000
# Free text that must say something (not only spaces), and links that must be http(s).
SOME_TEXT = r"[^\s\x00-\x1f\x7f-\x9f]"
HTTP_URL = r"^https?://[^\s/]+"
StatusFilter = Literal["all", *AlertStatus.__members__]  # type: ignore[valid-type]


class AlertQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: StatusFilter = "open"
    label: Label | None = None
    language: str | None = Field(default=None, max_length=8)
    source: int | None = Field(default=None, ge=1, le=MAX_ID, description="Source id")
    since: StorableTime | None = Field(default=None, description="Updated at or after (ISO 8601)")
    until: StorableTime | None = Field(default=None, description="Updated before (ISO 8601)")
    assignee: Annotated[int, Field(ge=1, le=MAX_ID)] | Literal["none"] | None = Field(
        default=None, description='Assigned to this user id; "none": to nobody')
    page: int = Field(default=1, ge=1, le=MAX_PAGE)

    def filters(self) -> AlertFilters:
        return AlertFilters(status=None if self.status == "all" else AlertStatus(self.status),
                            label=self.label, language=self.language, source_id=self.source,
                            since=self.since, until=self.until,
                            assignee_id=self.assignee if isinstance(self.assignee, int) else None,
                            unassigned=self.assignee == "none")


def parse_query(model: type[BaseModel], args: dict) -> BaseModel:
    """Validate query arguments for the UI; a UserError names each bad one."""
    try:
        return model.model_validate({key: value for key, value in args.items() if value != ""})
    except ValidationError as error:
        raise UserError("; ".join(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
                                  for problem in error.errors())) from None


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AlertOut(Orm):
    id: int
    cluster_id: int
    status: AlertStatus
    label: str | None = None
    score: float
    reasons: list[str]
    breakdown: list[dict] = Field(default_factory=list, description="Every rule: rule, points, opens, reason")
    post_count: int
    source_count: int
    opened_at: datetime
    updated_at: datetime
    assignee: str | None = None
    claim: str = ""


class AlertList(BaseModel):
    alerts: list[AlertOut]
    page: int
    pages: int
    total: int


class RevisionOut(Orm):
    text: str
    written_at: datetime | None
    replaced_at: datetime


class MediaFrameOut(BaseModel):
    frame: int
    quality: int
    pdq: str
    timestamp: float


class MediaOut(BaseModel):
    kind: str | None = Field(description="image or video once hashed; else as the source said")
    status: str = Field(description="pending, hashed or failed")
    error: str | None = None
    sha256: str | None = None
    pdq: str | None = Field(default=None, description="An image's PDQ hash (64 hex digits)")
    quality: int | None = None
    vpdq: list[MediaFrameOut] | None = Field(default=None, description="A video's vPDQ frames")
    url: str | None = Field(default=None, description="The file (signed-in users), while it is kept")
    thumbnail_url: str | None = None


class PostOut(Orm):
    id: int
    source: str
    external_id: str
    url: str | None
    title: str | None
    text: str
    language: str | None
    published_at: datetime | None
    views: int | None
    forwards: int | None
    forwarded_from: str | None
    forwarded_message_id: str | None = None
    forwarded_at: datetime | None = None
    has_media: bool
    media_kind: str | None = None
    media_id: str | None = None
    replies: int | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    revisions: list[RevisionOut] = Field(default_factory=list, description="Earlier texts, oldest first")
    media: list[MediaOut] = Field(default_factory=list, description="Photos and videos, with their hashes")
    cluster_id: int | None = None


class NoteOut(Orm):
    id: int
    author: str
    text: str
    created_at: datetime


class KnownClaimOut(Orm):
    id: int
    text: str
    label: str
    url: str | None
    cluster_id: int | None
    created_by: str
    created_at: datetime


class KnownClaimMatchOut(Orm):
    claim: KnownClaimOut
    score: float
    how: str


class AuditOut(Orm):
    id: int
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict
    created_at: datetime


class ClusterOut(BaseModel):
    id: int
    claim: str
    post_count: int
    source_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    merged_into_id: int | None
    alert: AlertOut | None
    posts: list[PostOut]
    notes: list[NoteOut]
    known_claims: list[KnownClaimMatchOut]
    audit: list[AuditOut]


class PostList(BaseModel):
    posts: list[PostOut]
    page: int
    pages: int
    total: int


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=2, max_length=500)
    page: int = Field(default=1, ge=1, le=MAX_PAGE)


class SimilarIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000, description="A text, or the URL of a stored post")
    limit: int = Field(default=20, ge=1, le=100)


class SimilarOut(BaseModel):
    post: PostOut
    cluster_id: int | None
    score: float = Field(description="Calibrated probability that the two carry the same claim")
    cosine: float
    jaccard: float
    containment: float
    same_claim: bool


class SimilarList(BaseModel):
    results: list[SimilarOut]


class ConfirmIn(BaseModel):
    decision: Literal["confirm"]
    label: Label
    note: str = Field(default="", max_length=4000, description="Why: kept in the audit trail")


class DismissIn(BaseModel):
    decision: Literal["dismiss"]
    note: str = Field(default="", max_length=4000, description="Why: kept in the audit trail")


class DecisionIn(RootModel[Annotated[ConfirmIn | DismissIn, Field(discriminator="decision")]]):
    """Confirm with a label, or dismiss."""


class AssignIn(BaseModel):
    user: str | None = Field(default=None, description="User name; null to unassign")


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000, pattern=SOME_TEXT)


class MergeIn(BaseModel):
    other_cluster_id: int = Field(ge=1, le=MAX_ID, description="The cluster to merge into this one")
    reason: str = Field(min_length=1, max_length=1000, pattern=SOME_TEXT)


class SplitIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, pattern=SOME_TEXT)


class PromoteIn(BaseModel):
    label: Label
    text: str = Field(default="", max_length=4000, description="The claim; default: the cluster's")
    url: str | None = Field(default=None, max_length=2000, pattern=HTTP_URL,
                            description="Link to the fact-check")


class ClusterRef(BaseModel):
    cluster_id: int


class SourceOut(Orm):
    id: int
    kind: str
    key: str
    title: str
    enabled: bool
    fetch_interval_seconds: int | None
    cursor: int | None = Field(default=None, description="Telegram: the highest message id stored")
    last_success_at: datetime | None
    error_count: int
    last_error: str | None
    paused_reason: str | None


class SourceList(BaseModel):
    sources: list[SourceOut]


class FeedIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, pattern=HTTP_URL)
    title: str = Field(default="", max_length=200)
    interval_seconds: int = Field(default=900, ge=60, le=30 * 86_400)


class ChannelIn(BaseModel):
    channel: str = Field(min_length=2, max_length=200, description="@username, t.me link or numeric id")


class WatchlistEntryOut(Orm):
    id: int
    kind: str
    name: str
    variants: list[str]
    note: str
    active: bool


class WatchlistOut(BaseModel):
    entries: list[WatchlistEntryOut]


class WatchlistEntryIn(BaseModel):
    kind: Literal["person", "topic"]
    name: str = Field(min_length=1, max_length=255, pattern=SOME_TEXT)
    variants: list[str] = Field(default_factory=list, max_length=100)
    note: str = Field(default="", max_length=1000)


class KnownClaimList(BaseModel):
    known_claims: list[KnownClaimOut]


class KnownClaimIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000, pattern=SOME_TEXT)
    label: Label
    url: str | None = Field(default=None, max_length=2000, pattern=HTTP_URL)


class WebhookOut(Orm):
    id: int
    url: str
    events: list[str]
    min_score: float | None
    labels: list[str] | None
    languages: list[str] | None
    source_ids: list[int] | None
    enabled: bool
    failure_count: int
    disabled_reason: str | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once, here; keep it in the receiver")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class WebhookIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, pattern=HTTP_URL)
    events: list[str] = Field(default_factory=list, description="Empty: every event type")
    min_score: float | None = None
    labels: list[Label] | None = None
    languages: list[str] | None = None
    source_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None


class AttemptOut(Orm):
    attempt: int
    status_code: int | None
    latency_ms: float | None
    error: str | None
    created_at: datetime


class DeliveryOut(Orm):
    id: int
    subscription_id: int
    message_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptOut]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


class DeliveryRef(BaseModel):
    delivery_id: int
    status: str | None = Field(description="The outcome when sent inline; null when queued")


class ClaimReviewOut(BaseModel):
    """schema.org ClaimReview as JSON-LD (docs/known-claims.md)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    context: str = Field(alias="@context")
    type: Literal["ClaimReview"] = Field(alias="@type")
    url: str
    claimReviewed: str  # noqa: N815 (schema.org's name)
    reviewRating: dict  # noqa: N815
    itemReviewed: dict  # noqa: N815
    author: dict


class ErrorOut(BaseModel):
    error: str
