"""robots.txt: what a site asks crawlers not to fetch, read with Protego (Scrapy's parser)
and honoured with the product's user agent, for feeds and article pages alike.

Each site's file is fetched once and kept for a day in the worker process. As RFC 9309
says, a missing file (4xx) allows everything, and one that cannot be read (5xx, a
network failure) allows nothing until it can: the fetch fails as any other and is tried
again later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from protego import Protego

from monitor.news.http import FetchError, HttpPolicy, fetch
from monitor.urls import split_url

KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class RobotsVerdict:
    allowed: bool
    reason: str = ""  # why not, for the source's state and the logs


class RobotsRules:
    """Every site's robots.txt as this process last read it."""

    def __init__(self, client: httpx.Client, policy: HttpPolicy,
                 clock: Callable[[], float] = time.monotonic):
        self.client, self.policy, self.clock = client, policy, clock
        self._sites: dict[str, tuple[float, Protego | None]] = {}

    def check(self, url: str) -> RobotsVerdict:
        """Whether the site lets this crawler fetch URL; FetchError when its robots.txt cannot
        be read now (the caller treats it as any failed fetch: later, not never)."""
        parts = split_url(url)
        if parts is None or not parts.hostname:
            return RobotsVerdict(True)  # the fetch itself will say what is wrong with the URL
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        kept = self._sites.get(origin)
        if kept is None or self.clock() - kept[0] > KEEP_SECONDS:
            kept = self._sites[origin] = (self.clock(), self._read(origin))
        rules = kept[1]
        if rules is None or rules.can_fetch(url, self.policy.user_agent):
            return RobotsVerdict(True)
        return RobotsVerdict(False, f"{origin}/robots.txt disallows {url} for this crawler")

    def _read(self, origin: str) -> Protego | None:
        try:
            response = fetch(self.client, f"{origin}/robots.txt", self.policy)
        except FetchError as error:
            if error.status is not None and 400 <= error.status < 500 and error.status != 429:
                return None  # no robots.txt: everything is allowed
            raise FetchError(f"{origin}/robots.txt cannot be read, so nothing is fetched from the "
                             f"site: {error}", status=error.status, retry_after=error.retry_after) from error
        return Protego.parse(response.body.decode("utf-8", errors="replace"))
