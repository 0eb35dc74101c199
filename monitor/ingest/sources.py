"""What every source shares, whatever its kind: pausing and resuming it by hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import AuditEntry, Source, utcnow
from monitor.messages import NotFound, UserError

# The orders the lists show sources in: by id (the API, the command line), by kind and title
# (the sources page), by title (the queue's filter).
SOURCE_ORDERS = {"id": (Source.id,), "kind": (Source.kind, Source.title, Source.id),
                 "title": (Source.title, Source.id)}


def list_sources(session: Session, order: str = "id") -> list[Source]:
    return list(session.scalars(select(Source).order_by(*SOURCE_ORDERS[order])))


def get_source(session: Session, source_id: int, kind: str | None = None,
               described: str = "source") -> Source:
    """The source SOURCE_ID (of KIND, if given); NotFound names it as DESCRIBED."""
    source = session.get(Source, source_id)
    if source is None or (kind is not None and source.kind != kind):
        raise NotFound(f"no {described} with id {source_id}")
    return source


def set_paused(session: Session, source_id: int, actor: str, reason: str | None) -> Source:
    """Pause a source by hand (the reason shows on the sources page), or resume it (None)."""
    source = get_source(session, source_id)
    if reason is None:
        resume(source, utcnow())
    elif not reason.strip():
        raise UserError("say why the source is paused")
    else:
        source.paused_reason = f"paused by {actor}: {reason.strip()}"
    session.add(AuditEntry(actor=actor, action="source.resume" if reason is None else "source.pause",
                           object_type="source", object_id=str(source_id), details={"reason": reason}))
    return source


def resume(source: Source, now: datetime) -> None:
    """Fetch it again from now on, its failure count forgotten."""
    source.paused_reason = None
    source.error_count = 0
    source.next_fetch_at = now
