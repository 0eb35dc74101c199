"""Fetching over HTTP with the limits a crawler of other people's sites must keep:
timeouts, a size cap, a redirect limit, a clear User-Agent, conditional requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

from monitor.ssrf import ForbiddenTarget, GuardedTransport, TargetPolicy, check_target


@dataclass(frozen=True)
class HttpPolicy:
    connect_timeout: float
    read_timeout: float
    max_bytes: int
    max_redirects: int
    user_agent: str

    @classmethod
    def from_settings(cls, settings) -> "HttpPolicy":
        return cls(settings.http_connect_timeout, settings.http_read_timeout,
                   settings.http_max_bytes, settings.http_max_redirects, settings.http_user_agent)


class FetchError(Exception):
    """A fetch that gave nothing usable. ``status``: the HTTP status, when the server answered;
    ``retry_after``: what the server asked us to wait."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


@dataclass(frozen=True)
class Fetched:
    status: int  # 200, or 304 when the conditional request found nothing new
    url: str  # after redirects
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def make_client(policy: HttpPolicy, targets: TargetPolicy) -> httpx.Client:
    """A client that refuses, on the first request and on every redirect hop, any URL
    that resolves into the monitor's own network (SSRF guard)."""
    return httpx.Client(
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        follow_redirects=True,
        max_redirects=policy.max_redirects,
        headers={"User-Agent": policy.user_agent},
        event_hooks={"request": [lambda request: check_target(str(request.url), targets)]},
        transport=GuardedTransport(targets),
    )


def fetch(client: httpx.Client, url: str, policy: HttpPolicy, *, etag: str | None = None,
          last_modified: str | None = None) -> Fetched:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(304, str(response.url), headers=dict(response.headers))
            if response.status_code == 429 or response.status_code >= 500:
                raise FetchError(f"HTTP {response.status_code} from {response.url}",
                                 status=response.status_code,
                                 retry_after=retry_after_seconds(response.headers.get("Retry-After")))
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} from {response.url}",
                                 status=response.status_code)
            declared = response.headers.get("Content-Length", "")
            if declared.isdecimal() and int(declared) > policy.max_bytes:
                raise FetchError(f"response of {declared} bytes is over the {policy.max_bytes}-byte cap")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > policy.max_bytes:
                    raise FetchError(f"response is over the {policy.max_bytes}-byte cap")
            return Fetched(response.status_code, str(response.url), bytes(body), dict(response.headers))
    except ForbiddenTarget as error:
        raise FetchError(f"refused: {error}") from error
    except httpx.TimeoutException as error:
        raise FetchError(f"timed out fetching {url} ({type(error).__name__})") from error
    except httpx.TooManyRedirects as error:
        raise FetchError(f"more than {policy.max_redirects} redirects from {url}") from error
    except httpx.RemoteProtocolError as error:
        raise FetchError(f"response from {url} was cut short or malformed: {error}") from error
    except httpx.HTTPError as error:
        raise FetchError(f"could not fetch {url}: {error}") from error


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdecimal():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
