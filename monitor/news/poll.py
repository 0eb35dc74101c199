"""Polling one feed and fetching its new articles, in steps that keep HTTP out of
database transactions: book a slot and read the source's state (short transaction),
fetch over HTTP (no transaction), record the outcome (short transaction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.claims.claimreview import ClaimReviewError, ParsedReviews, parse_claimreviews
from monitor.claims.imports import import_reviews
from monitor.db.models import Post
from monitor.ingest.records import PostRecord
from monitor.news.articles import canonical_url, extract_article, html_to_text
from monitor.news.feeds import FeedEntry, FeedError, parse_feed
from monitor.news.http import FetchError, HttpPolicy, fetch
from monitor.news.politeness import domain_of, reserve_slot
from monitor.news.robots import RobotsRules
from monitor.news.sources import HealthRules, get_feed, record_failure, record_robots_refusal, record_success


@dataclass(frozen=True)
class FeedRequest:
    source_id: int
    url: str
    etag: str | None
    last_modified: str | None
    wait_seconds: float  # politeness: wait this long before fetching
    kind: str = "feed"  # feed (news), or claims (a ClaimReview feed)


@dataclass
class FeedOutcome:
    status: str  # fetched, not-modified, failed, or refused by the site's robots.txt
    entries: list[FeedEntry] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    warning: str | None = None
    error: str | None = None
    retry_after: float | None = None
    reviews: ParsedReviews | None = None  # of a ClaimReview feed


def begin_feed_fetch(session: Session, source_id: int, min_interval: float, now: datetime) -> FeedRequest:
    source = get_feed(session, source_id)
    wait = reserve_slot(session, domain_of(source.key), min_interval, now)
    return FeedRequest(source.id, source.key, source.etag, source.last_modified, wait, source.kind)


def fetch_feed(client: httpx.Client, request: FeedRequest, policy: HttpPolicy,
               robots: RobotsRules) -> FeedOutcome:
    try:
        verdict = robots.check(request.url)
        if not verdict.allowed:
            return FeedOutcome("refused-by-robots", error=verdict.reason)
        response = fetch(client, request.url, policy, etag=request.etag,
                         last_modified=request.last_modified)
        if response.status == 304:
            return FeedOutcome("not-modified")
        if request.kind == "claims":
            reviews = parse_claimreviews(response.body)
            return FeedOutcome("fetched", reviews=reviews, etag=response.headers.get("etag"),
                               last_modified=response.headers.get("last-modified"),
                               warning=f"{len(reviews.problems):,} reviews rejected, the first: "
                                       f"{reviews.problems[0]}" if reviews.problems else None)
        feed = parse_feed(response.body, response.headers.get("content-type"))
    except FetchError as error:
        return FeedOutcome("failed", error=str(error), retry_after=error.retry_after)
    except (FeedError, ClaimReviewError) as error:
        return FeedOutcome("failed", error=str(error))
    return FeedOutcome("fetched", feed.entries, response.headers.get("etag"),
                       response.headers.get("last-modified"), warning=feed.warning)


def finish_feed_fetch(session: Session, source_id: int, outcome: FeedOutcome, rules: HealthRules,
                      now: datetime) -> list[FeedEntry]:
    """Record the outcome on the source; return the entries whose article is not stored yet."""
    source = get_feed(session, source_id)
    if outcome.status == "failed":
        record_failure(source, now, outcome.error, rules, retry_after=outcome.retry_after)
        return []
    if outcome.status == "refused-by-robots":
        record_robots_refusal(source, now, outcome.error)
        return []
    record_success(source, now, etag=outcome.etag, last_modified=outcome.last_modified,
                   warning=outcome.warning)
    if outcome.reviews is not None:  # fact-checkers' reviews: known claims, no articles to fetch
        import_reviews(session, outcome.reviews.claims, f"feed {source.id}", source.key)
        return []
    by_url = {canonical_url(entry.link): entry for entry in outcome.entries}
    stored = set(session.scalars(select(Post.canonical_url).where(Post.canonical_url.in_(by_url))))
    return [entry for url, entry in by_url.items() if url not in stored]


def article_slot(session: Session, entry: FeedEntry, min_interval: float, now: datetime) -> float | None:
    """Book a slot to fetch the entry's page; None when the article is already stored."""
    known = session.scalar(select(Post.id).where(Post.canonical_url == canonical_url(entry.link)))
    if known is not None:
        return None
    return reserve_slot(session, domain_of(entry.link), min_interval, now)


def fetch_article(client: httpx.Client, source_key: str, entry: FeedEntry,
                  policy: HttpPolicy, robots: RobotsRules) -> PostRecord:
    """The entry as a post: the page's full text, or the feed's summary when the page
    cannot be fetched, its site's robots.txt disallows it, or it has no main text
    (``text_origin`` says which)."""
    summary = html_to_text(entry.summary)
    try:
        if not (verdict := robots.check(entry.link)).allowed:
            raise FetchError(verdict.reason)
        page = fetch(client, entry.link, policy)
        article = extract_article(page.body, page.url)
        final_url = page.url
    except FetchError:
        article, final_url = None, entry.link
    url = canonical_url((article and article.canonical_url) or final_url)
    if article is not None:
        title, text, origin = article.title or entry.title, article.text, "article"
    else:
        title, origin = entry.title, "feed-summary"
        text = "\n\n".join(part for part in (entry.title, summary) if part)
    return PostRecord(
        source_kind="feed", source_key=source_key, external_id=url, text=text, title=title,
        author=(article and article.author) or entry.author, url=url, canonical_url=url,
        published_at=entry.published_at or (article and article.published_at), text_origin=origin,
        media=article.media if article is not None else (),
    )
