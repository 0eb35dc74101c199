"""Where to send people after a form: back to the page they sent it from."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect, request


def local_path(target: str | None) -> str | None:
    """TARGET if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # "http://[": a malformed IPv6 literal
        return None
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return None
    return target


def back(default: str):
    """Redirect to the page the form was on (a same-site Referer), else to DEFAULT."""
    try:
        referrer = urlsplit(request.referrer or "")
    except ValueError:  # a malformed Referer header
        return redirect(default)
    same_site = referrer.netloc == request.host
    path = local_path(referrer.path + (f"?{referrer.query}" if referrer.query else "")) if same_site else None
    return redirect(path or default)
