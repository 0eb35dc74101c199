"""Article pages: the main text without navigation, banners and "related posts"
(trafilatura), and the URL the article is known by (courlan)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import courlan
import lxml.html
import trafilatura

# Fewer words than this is a menu or a caption, not an article.
MIN_ARTICLE_WORDS = 5


@dataclass(frozen=True)
class Article:
    title: str
    text: str
    author: str | None
    canonical_url: str | None  # the page's rel=canonical or og:url, when it has one
    published_at: datetime | None  # the page's own date (a day: midnight UTC)
    media: tuple[str, ...] = ()  # its lead image (og:image) and a direct video file (og:video)


def canonical_url(url: str) -> str:
    """Lower-cased host, no fragment or default port, tracking parameters (utm_*, fbclid,
    gclid, ...) removed: two links to one article become one string."""
    try:
        return courlan.normalize_url(url, strict=True)
    except ValueError:
        return url


def extract_article(html: bytes | str, url: str) -> Article | None:
    """None when the page has no main text to speak of."""
    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if document is None or len((document.text or "").split()) < MIN_ARTICLE_WORDS:
        return None
    published = None
    if document.date:
        try:
            published = datetime.fromisoformat(document.date).replace(tzinfo=timezone.utc)
        except ValueError:
            published = None
    return Article(title=document.title or "", text=document.text.strip(),
                   author=document.author, canonical_url=document.url, published_at=published,
                   media=lead_media(html, url))


def lead_media(html: bytes | str, url: str) -> tuple[str, ...]:
    """The page's Open Graph image, and its og:video when that is a video file (a video/*
    og:video:type, or a .mp4, .webm or .mov path), not a player page: absolute http(s) URLs."""
    try:
        page = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return ()
    meta = {}
    for element in page.iter("meta"):
        key = (element.get("property") or element.get("name") or "").strip().lower()
        if key.startswith("og:") and key not in meta and element.get("content"):
            meta[key] = element.get("content").strip()
    image = meta.get("og:image:secure_url") or meta.get("og:image")
    found = [urljoin(url, image)] if image else []
    video = meta.get("og:video:secure_url") or meta.get("og:video:url") or meta.get("og:video")
    if video and (meta.get("og:video:type", "").lower().startswith("video/")
                  or urlsplit(video).path.lower().endswith((".mp4", ".webm", ".mov"))):
        found.append(urljoin(url, video))
    return tuple(link for link in found if link.startswith(("http://", "https://")))


def html_to_text(fragment: str) -> str:
    """Plain text of a feed summary, which is often HTML."""
    if "<" not in fragment:
        return fragment.strip()
    try:
        return lxml.html.fromstring(fragment).text_content().strip()
    except (lxml.etree.ParserError, ValueError):
        return fragment.strip()
