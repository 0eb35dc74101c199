"""schema.org ClaimReview, the markup fact-checkers publish their verdicts in (read by
Google's Fact Check Explorer, the Duke Reporters' Lab, Meedan Check): read from JSON-LD, from
a page's ld+json blocks or from a Data Commons feed, and written for a confirmed alert.

A review's rating is mapped to the product's labels (debunked ones open alerts when a claim
resurfaces); the rating as published is kept beside it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

import lxml.html

from monitor.db.models import storable_time
from monitor.ingest.records import ImportProblem
from monitor.normalize import readable_text

# Ratings as fact-checkers publish them (alternateName), lower-cased, in English, Russian and
# Kazakh; matched as whole words, the first list that matches wins.
RATING_LABELS = (
    ("deepfake", ("deepfake", "deep fake", "дипфейк", "дипфэйк", "deepfake видео")),
    ("impersonation", ("impersonation", "fake account", "imposter", "выдача себя", "фейковый аккаунт")),
    ("satire", ("satire", "parody", "сатира", "пародия", "сатиралық")),
    ("misleading", ("misleading", "mostly false", "partly false", "half true", "half-true", "mixture",
                    "missing context", "out of context", "manipulat", "exaggerat", "miscaptioned",
                    "вводит в заблуждение", "манипуляц", "полуправда", "частично", "преувеличен",
                    "вырвано из контекста", "жартылай", "адастырады")),
    ("false_claim", ("false", "fake", "pants on fire", "incorrect", "fabricated", "scam", "hoax", "not true",
                     "untrue", "не правда", "неверно", "не верно",
                     "ложь", "фейк", "неправда", "не соответствует", "фальшивка", "недостоверно",
                     "жалған", "өтірік", "шындыққа сәйкес емес")),
    ("not_disinformation", ("true", "correct", "accurate", "правда", "верно", "достоверно", "шын", "рас")),
)


# One pattern a label: a rating's words, each at the start of a word.
_RATING_PATTERNS = [(label, re.compile("|".join(rf"(?<!\w){re.escape(word)}" for word in words)))
                    for label, words in RATING_LABELS]


class ClaimReviewError(ValueError):
    """The input holds no JSON-LD at all (a bad item is an ImportProblem instead)."""


@dataclass(frozen=True)
class ReviewedClaim:
    text: str
    label: str
    rating: str | None
    url: str | None
    author: str | None
    published_at: datetime | None
    language: str | None
    appearances: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The same review imported again has the same key: its URL and its claim."""
        claim = " ".join(readable_text(self.text).lower().split())
        return hashlib.sha256(f"{self.url or ''}\n{claim}".encode()).hexdigest()


@dataclass
class ParsedReviews:
    claims: list[ReviewedClaim] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


def label_for(rating: str | None, value=None, best=None, worst=None) -> str | None:
    """The product's label for a published rating: by its name, else by its value on the
    review's scale (the lower third false, the middle misleading, the upper third accurate)."""
    name = (rating or "").lower()
    for label, pattern in _RATING_PATTERNS:
        if pattern.search(name):
            return label
    try:
        value, best, worst = float(value), float(best if best is not None else 5), float(
            worst if worst is not None else 1)
    except (TypeError, ValueError):
        return None
    if best == worst:
        return None
    position = (value - worst) / (best - worst)
    return "false_claim" if position < 1 / 3 else "misleading" if position < 2 / 3 else "not_disinformation"


def parse_claimreviews(data: bytes | str) -> ParsedReviews:
    """Every ClaimReview in DATA: JSON-LD (one object, a list, an @graph), a Data Commons feed
    (dataFeedElement items) or an HTML page's <script type="application/ld+json"> blocks.
    A review that cannot be read is a problem at its place; the rest are kept."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    parsed = ParsedReviews()
    try:
        documents = [("", json.loads(text))]
    except json.JSONDecodeError as error:
        if "<" not in text:
            raise ClaimReviewError(f"neither JSON nor HTML: {error.msg} at line {error.lineno}, "
                                   f"column {error.colno}") from None
        documents = list(_ld_json_blocks(text, parsed))
        if not documents and not parsed.problems:
            raise ClaimReviewError('an HTML page with no <script type="application/ld+json"> block') from None
    for where, document in documents:
        for location, item in _reviews(document, ""):
            try:
                parsed.claims.append(_reviewed_claim(item))
            except (ValueError, TypeError, AttributeError) as error:
                place = ": ".join(part for part in (where, location) if part) or "the review"
                parsed.problems.append(ImportProblem(place, str(error)))
    return parsed


def _ld_json_blocks(html: str, parsed: ParsedReviews):
    page = lxml.html.fromstring(html)
    for number, script in enumerate(page.xpath('//script[@type="application/ld+json"]'), start=1):
        try:
            yield f"ld+json block {number}", json.loads(script.text or "")
        except json.JSONDecodeError as error:
            parsed.problems.append(ImportProblem(f"ld+json block {number}", f"not JSON: {error.msg}"))


def _reviews(node, location: str):
    """(where, object) for each ClaimReview under NODE."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _reviews(item, f"{location}[{index}]")
        return
    if not isinstance(node, dict):
        return
    types = node.get("@type")
    if "ClaimReview" in (types if isinstance(types, list) else [types]):
        yield location, node
        return
    for key in ("@graph", "dataFeedElement", "item", "mainEntity"):
        if key in node:
            yield from _reviews(node[key], f"{location}{'.' if location else ''}{key}")


def _reviewed_claim(item: dict) -> ReviewedClaim:
    text = item.get("claimReviewed")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("no claimReviewed text")
    rating = item.get("reviewRating") or {}
    if isinstance(rating, list):
        rating = rating[0] if rating else {}
    name = rating.get("alternateName") or rating.get("name")
    label = label_for(name, rating.get("ratingValue"), rating.get("bestRating"), rating.get("worstRating"))
    if label is None:
        raise ValueError(f"a rating that says nothing the product can use: {name or rating!r}")
    url = _url(item.get("url"))
    reviewed = item.get("itemReviewed") or {}
    return ReviewedClaim(
        text=text.strip(), label=label, rating=str(name)[:255] if name else None, url=url,
        author=_name(item.get("author")), published_at=_date(item.get("datePublished")),
        language=_language(item.get("inLanguage") or reviewed.get("inLanguage")),
        appearances=tuple(dict.fromkeys(
            link for key in ("appearance", "firstAppearance")
            for link in map(_url, _as_list(reviewed.get(key))) if link)))


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _url(value) -> str | None:
    if isinstance(value, dict):
        value = value.get("url") or value.get("@id")
    link = value.strip() if isinstance(value, str) else ""
    return link if link.startswith(("http://", "https://")) else None


def _name(value) -> str | None:
    value = value[0] if isinstance(value, list) and value else value
    name = value.get("name") if isinstance(value, dict) else value
    return str(name).strip()[:255] if name else None


# Dates as some fact-checkers write them instead of schema.org's ISO 8601.
_DATE_FORMATS = ("%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y", "%d.%m.%Y")


def _date(value) -> datetime | None:
    if not value:
        return None
    try:
        return storable_time(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        pass
    for form in _DATE_FORMATS:
        try:
            return storable_time(datetime.strptime(str(value).strip(), form))
        except ValueError:
            continue
    raise ValueError(f"datePublished is not a date: {value!r} (schema.org asks for ISO 8601)")


def _language(value) -> str | None:
    value = value.get("name") if isinstance(value, dict) else value
    return str(value).strip().lower()[:16] if value else None


def claimreview_jsonld(*, claim: str, label: str, rating: str | None, url: str, author: str,
                       published_at: datetime | None, language: str | None,
                       appearances: list[tuple[str, datetime | None]]) -> dict:
    """A ClaimReview object (schema.org JSON-LD) for a reviewed claim; APPEARANCES: the posts
    that carried it (URL, date), the first one first."""
    rating_name = rating or label.replace("_", " ")
    value = {"false_claim": 1, "deepfake": 1, "impersonation": 1, "misleading": 2, "satire": 3,
             "not_disinformation": 5}.get(label, 3)
    reviewed: dict = {"@type": "Claim"}
    if appearances:
        first_url, first_date = appearances[0]
        reviewed["firstAppearance"] = {"@type": "CreativeWork", "url": first_url}
        reviewed["appearance"] = [{"@type": "CreativeWork", "url": link} for link, _ in appearances]
        if first_date:
            reviewed["datePublished"] = first_date.isoformat()
    document = {"@context": "https://schema.org", "@type": "ClaimReview", "url": url,
                "claimReviewed": claim, "author": {"@type": "Organization", "name": author},
                "reviewRating": {"@type": "Rating", "ratingValue": value, "bestRating": 5, "worstRating": 1,
                                 "alternateName": rating_name},
                "itemReviewed": reviewed}
    if published_at:
        document["datePublished"] = published_at.date().isoformat()
    if language:
        document["inLanguage"] = language
    return document
