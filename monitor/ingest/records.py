"""The shape every source is parsed into before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.messages import BrokerMessage


@dataclass(frozen=True)
class PostRecord(BrokerMessage):
    source_kind: str
    source_key: str
    external_id: str
    text: str
    source_title: str = ""
    author: str | None = None
    url: str | None = None
    language: str | None = None
    published_at: datetime | None = None
    views: int | None = None
    forwards: int | None = None
    forwarded_from: str | None = None
    forwarded_from_id: str | None = None
    forwarded_message_id: str | None = None
    forwarded_at: datetime | None = None
    has_media: bool = False
    media_kind: str | None = None
    media_id: str | None = None
    replies: int | None = None
    edited_at: datetime | None = None
    title: str | None = None
    canonical_url: str | None = None
    text_origin: str = "message"  # message, article, feed-summary
    # The post's photos and videos: local paths or http(s) URLs, fetched and hashed by the
    # media stage (monitor/media/).
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportProblem:
    """One rejected item: where it was and what was wrong with it."""

    location: str  # "line 12", "messages[40]"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class ParseResult:
    records: list[PostRecord] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    skipped: int = 0  # items that are not posts (service messages), not errors
    media_absent: int = 0  # media files the posts name that are not there (kept: the posts)
