"""One request at a time per domain, at least a minimum interval apart, across every worker."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitor.db.models import FetchDomain
from monitor.db.session import dialect_insert
from monitor.urls import split_url


def domain_of(url: str) -> str:
    parts = split_url(url)
    return ((parts.hostname if parts else None) or "").lower()


def reserve_slot(session: Session, domain: str, min_interval: float, now: datetime) -> float:
    """Book the domain's next free slot; return the seconds to wait until it.

    The booking is a row lock and an update, so two workers never get the same slot.
    Commit it before waiting.
    """
    session.execute(dialect_insert(session, FetchDomain)
                    .values(domain=domain, next_allowed_at=now).on_conflict_do_nothing())
    row = session.get(FetchDomain, domain, with_for_update=True, populate_existing=True)
    slot = max(now, row.next_allowed_at)
    row.next_allowed_at = slot + timedelta(seconds=min_interval)
    return (slot - now).total_seconds()
