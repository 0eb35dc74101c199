"""Parse RSS 0.9x/1.0/2.0 and Atom (feedparser) and JSON Feed into feed entries."""

from __future__ import annotations

import calendar
import codecs
import json
from dataclasses import dataclass
from datetime import datetime, timezone

import charset_normalizer
import feedparser
from pydantic import BaseModel, ConfigDict, ValidationError

from monitor.db.models import StorableTime
from monitor.messages import BrokerMessage, UserError


class FeedError(UserError):
    """The document is not a feed we can read; the message says why."""


@dataclass(frozen=True)
class FeedEntry(BrokerMessage):
    link: str
    title: str = ""
    summary: str = ""
    author: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: list[FeedEntry]
    warning: str | None = None  # read, but something was wrong with the document


def parse_feed(body: bytes, content_type: str | None = None) -> ParsedFeed:
    if (content_type and "json" in content_type) or body.lstrip()[:1] == b"{":
        return _parse_json_feed(body)
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers)
    encoding_note = None
    if isinstance(parsed.get("bozo_exception"), feedparser.CharacterEncodingOverride):
        parsed, encoding_note = _reparse_with_detected_encoding(body, parsed)
    entries = [_entry(item) for item in parsed.entries if item.get("link")]
    problem = parsed.get("bozo_exception")
    if not entries:
        if not parsed.get("version"):
            kind = f" ({content_type})" if content_type else ""
            raise FeedError(f"not a feed{kind}: no RSS, Atom or JSON Feed document found"
                            + (f" ({problem})" if problem else ""))
        if problem:
            raise FeedError(f"malformed feed, no entry could be read: {problem}")
    warning = encoding_note
    if problem and not isinstance(problem, (feedparser.NonXMLContentType,
                                            feedparser.CharacterEncodingOverride)):
        warning = f"feed is not well-formed ({problem}); {len(entries)} entries read"
    skipped = len(parsed.entries) - len(entries)
    if skipped:
        warning = "; ".join(filter(None, [warning, f"{skipped} entries without a link skipped"]))
    return ParsedFeed(parsed.feed.get("title", ""), entries, warning)


def _reparse_with_detected_encoding(body: bytes, parsed):
    """The declared encoding did not decode the bytes, and feedparser fell back to
    windows-1252, which turns Cyrillic into mojibake. Detect the real encoding instead."""
    best = charset_normalizer.from_bytes(body).best()
    if best is None or codecs.lookup(best.encoding).name == codecs.lookup(parsed.encoding).name:
        return parsed, f"declared encoding was wrong; read as {parsed.encoding}"
    reparsed = feedparser.parse(body.decode(best.encoding).encode("utf-8"))
    return reparsed, f"declared encoding was wrong; read as {best.encoding}"


def _entry(item) -> FeedEntry:
    moment = item.get("published_parsed") or item.get("updated_parsed")
    published = (datetime.fromtimestamp(calendar.timegm(moment), timezone.utc) if moment else None)
    return FeedEntry(link=item["link"], title=item.get("title", ""),
                     summary=item.get("summary", ""), author=item.get("author"),
                     published_at=published)


class _JsonFeedItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str | None = None
    external_url: str | None = None
    title: str = ""
    summary: str | None = None
    content_text: str | None = None
    content_html: str | None = None
    date_published: StorableTime | None = None
    authors: list[dict] = []


class _JsonFeed(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str
    title: str = ""
    items: list[dict]


def _parse_json_feed(body: bytes) -> ParsedFeed:
    try:
        document = _JsonFeed.model_validate(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FeedError(f"malformed JSON Feed: {error}") from error
    except ValidationError as error:
        raise FeedError(f"not a JSON Feed: {error.errors()[0]['msg']} at "
                        f"{'.'.join(map(str, error.errors()[0]['loc']))}") from error
    if "jsonfeed.org" not in document.version:
        raise FeedError(f"not a JSON Feed: version {document.version!r}")
    entries, problems = [], []
    for index, raw in enumerate(document.items):
        try:
            item = _JsonFeedItem.model_validate(raw)
        except ValidationError as error:
            problems.append(f"items[{index}]: {error.errors()[0]['msg']}")
            continue
        link = item.url or item.external_url
        if not link:
            problems.append(f"items[{index}]: no url")
            continue
        entries.append(FeedEntry(
            link=link, title=item.title,
            summary=item.summary or item.content_text or item.content_html or "",
            author=(item.authors[0].get("name") if item.authors else None),
            published_at=item.date_published))
    return ParsedFeed(document.title, entries, "; ".join(problems) or None)
