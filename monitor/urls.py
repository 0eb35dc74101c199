"""URLs from outside (posts, feeds, forms, headers) taken apart without failing."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit


def split_url(url: str) -> SplitResult | None:
    """The URL's parts, or None when it cannot be taken apart ("http://[": urlsplit raises
    on a malformed IPv6 literal, and reading .port raises on a port out of range)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port now rather than in the caller
    except ValueError:
        return None
    return parts
