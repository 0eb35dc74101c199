"""Telegram channels as sources: added by @username, t.me link or numeric id; the entity
(id and access hash) is resolved once and kept in the database."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import AuditEntry, Source, utcnow
from monitor.messages import UserError
from monitor.telegram.messages import channel_key

USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
LINK = re.compile(r"(?:https?://)?(?:t\.me|telegram\.me)/(?:s/)?(?P<name>[A-Za-z0-9_]+)/?(?:[0-9]+)?/?$")
# Ids in ASCII digits only: str.isdigit takes superscripts, which int() refuses, and \d
# other scripts' digits, which would give one channel two keys.
PRIVATE_LINK = re.compile(r"(?:https?://)?t\.me/c/(?P<id>[0-9]+)(?:/[0-9]+)?/?$")
MARKED_ID = re.compile(r"-100[0-9]+")
BARE_ID = re.compile(r"[0-9]+")


def parse_channel(reference: str) -> str:
    """The source key for a channel reference: '@username' (lower case) or a marked id '-100…'."""
    text = reference.strip()
    if match := PRIVATE_LINK.fullmatch(text):
        return channel_key(int(match["id"]))
    if match := LINK.fullmatch(text):
        text = "@" + match["name"]
    if MARKED_ID.fullmatch(text):
        return text
    if BARE_ID.fullmatch(text):
        return channel_key(int(text))
    if text.startswith("@") and USERNAME.fullmatch(text[1:]):
        return text.lower()
    raise UserError(f"{reference!r} is not a channel: use @username, a t.me link or the numeric id")


def add_channel(session: Session, reference: str, actor: str) -> Source:
    key = parse_channel(reference)
    source = session.scalar(select(Source).where(Source.kind == "telegram", Source.key == key))
    if source is None:
        source = Source(kind="telegram", key=key, title=key, created_at=utcnow(), next_fetch_at=utcnow())
        session.add(source)
        session.flush()
        session.add(AuditEntry(actor=actor, action="source.add", object_type="source",
                               object_id=str(source.id), details={"channel": key}))
    return source


def remember_entity(source: Source, telegram_id: int, access_hash: int | None, title: str | None) -> None:
    """Keep what resolving the channel gave, so that it is never resolved again."""
    source.telegram_id, source.access_hash = telegram_id, access_hash
    if title:
        source.title = title


def watched_channels(session: Session, telegram_id: int | None = None) -> list[Source]:
    """The enabled, unpaused channels (only the one with TELEGRAM_ID, if given)."""
    query = select(Source).where(Source.kind == "telegram", Source.enabled.is_(True),
                                 Source.paused_reason.is_(None))
    if telegram_id is not None:
        query = query.where(Source.telegram_id == telegram_id)
    return list(session.scalars(query.order_by(Source.id)))


def listener_health(session: Session, catch_up_seconds: float, now: datetime | None = None) -> dict:
    """Whether the listener is alive, from what it records on the channels: it is when some
    watched channel was fetched (caught up, or failed trying) within three catch-up
    intervals; with no channel to watch there is nothing to show. Also the channels not
    fetched for that long, and those waiting for their turn."""
    now, limit = now or utcnow(), timedelta(seconds=3 * catch_up_seconds)
    channels = watched_channels(session)
    fetched = [source.last_fetched_at for source in channels if source.last_fetched_at is not None]
    newest = max(fetched, default=None)
    alive = not channels or (newest is not None and now - newest <= limit)
    return {"status": "ok" if alive else "stalled", "channels": len(channels),
            "last_fetched_at": newest.isoformat() if newest else None,
            "stale_channels": [source.key for source in channels
                               if source.last_fetched_at is None or now - source.last_fetched_at > limit],
            "due": sum(source.next_fetch_at is None or source.next_fetch_at <= now for source in channels)}
