"""Feed sources: adding them, when they are due, and their health.

A source that fails is retried later and later (exponential backoff, or what the
server asked for with Retry-After); after too many failures in a row it is paused
with the reason, for a person to look at, instead of being retried forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import AuditEntry, Source, utcnow
from monitor.ingest.sources import get_source
from monitor.messages import NotFound, UserError
from monitor.news.articles import canonical_url


@dataclass(frozen=True)
class HealthRules:
    max_failures: int
    max_backoff_seconds: int

    @classmethod
    def from_settings(cls, settings) -> "HealthRules":
        return cls(settings.feed_max_failures, settings.feed_max_backoff_seconds)


class SourceError(UserError):
    pass


# Polled feeds: of news (RSS, Atom, JSON Feed), and of fact-checkers' ClaimReview (monitor/claims/).
POLLED_KINDS = ("feed", "claims")


def add_feed(session: Session, url: str, interval_seconds: int, actor: str, title: str = "",
             kind: str = "feed") -> Source:
    if not url.startswith(("http://", "https://")):
        raise SourceError(f"a feed URL must start with http:// or https://, got {url!r}")
    key = canonical_url(url)
    source = session.scalar(select(Source).where(Source.kind == kind, Source.key == key))
    if source is None:
        source = Source(kind=kind, key=key, title=title or key, created_at=utcnow())
        session.add(source)
    source.fetch_interval_seconds = interval_seconds
    source.next_fetch_at = source.next_fetch_at or utcnow()
    session.flush()
    session.add(AuditEntry(actor=actor, action="source.add", object_type="source", object_id=str(source.id),
                           details={"url": key, "interval_seconds": interval_seconds, "kind": kind}))
    return source


def get_feed(session: Session, source_id: int) -> Source:
    source = get_source(session, source_id, described="feed source")
    if source.kind not in POLLED_KINDS:
        raise NotFound(f"no feed source with id {source_id}")
    return source


def claim_due_feeds(session: Session, now: datetime) -> list[int]:
    """The feeds whose time has come, each pushed one interval on so that the next
    beat does not queue it again while its fetch is still waiting in the queue."""
    due = session.scalars(
        select(Source).where(Source.kind.in_(POLLED_KINDS), Source.enabled.is_(True),
                             Source.paused_reason.is_(None), Source.next_fetch_at <= now)
        .order_by(Source.next_fetch_at).with_for_update(skip_locked=True)).all()
    for source in due:
        source.next_fetch_at = now + timedelta(seconds=source.fetch_interval_seconds or 900)
    return [source.id for source in due]


def record_success(source: Source, now: datetime, *, etag: str | None, last_modified: str | None,
                   warning: str | None) -> None:
    source.last_fetched_at = source.last_success_at = now
    source.error_count = 0
    source.last_error = warning
    source.etag, source.last_modified = etag or source.etag, last_modified or source.last_modified
    source.next_fetch_at = now + timedelta(seconds=source.fetch_interval_seconds or 900)


def record_robots_refusal(source: Source, now: datetime, reason: str) -> None:
    """Paused until a person resumes it: the site asked crawlers to keep off this feed."""
    source.last_fetched_at = now
    source.last_error = source.paused_reason = f"paused by robots.txt: {reason}"


def record_failure(source: Source, now: datetime, error: str, rules: HealthRules, *,
                   retry_after: float | None = None) -> None:
    source.last_fetched_at = now
    source.error_count += 1
    source.last_error = error
    interval = source.fetch_interval_seconds or 900
    backoff = min(interval * 2 ** (source.error_count - 1), rules.max_backoff_seconds)
    source.next_fetch_at = now + timedelta(seconds=max(backoff, retry_after or 0))
    if source.error_count >= rules.max_failures:
        source.paused_reason = f"paused after {source.error_count} failures in a row; last: {error}"
