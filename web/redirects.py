"""Where to send people after a form: back to the page they sent it from; or, for the page's
own script, which asks for it, a JSON answer."""

from __future__ import annotations

from flask import redirect, request

from monitor.urls import split_url


def local_path(target: str | None) -> str | None:
    """TARGET if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    parts = split_url(target)
    if parts is None or parts.scheme or parts.netloc or not target.startswith("/") \
            or target.startswith("//") or "\\" in target:
        return None
    return target


def back(default: str):
    """Redirect to the page the form was on (a same-site Referer), else to DEFAULT."""
    referrer = split_url(request.referrer or "")
    if referrer is None:  # a malformed Referer header
        return redirect(default)
    same_site = referrer.netloc == request.host
    path = local_path(referrer.path + (f"?{referrer.query}" if referrer.query else "")) if same_site else None
    return redirect(path or default)


def wants_json() -> bool:
    """The request prefers JSON: the queue's keyboard actions ask for it."""
    return request.accept_mimetypes.best == "application/json"
