"""Alert events: what happened to an alert, kept as its history and, in the same
transaction, as the outbox the notify stage reads."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import Alert, AlertEvent


def record_alert_event(session: Session, alert: Alert, kind: str, now: datetime,
                       label: str | None = None) -> AlertEvent:
    event = AlertEvent(alert_id=alert.id, kind=kind, created_at=now, payload={
        "alert_id": alert.id, "cluster_id": alert.cluster_id, "status": alert.status.value,
        "label": label, "score": alert.score, "reasons": alert.reasons,
        "post_count": alert.post_count, "source_count": alert.source_count,
    })
    session.add(event)
    return event


def count_event_kinds(session: Session, event_ids: list[int]) -> Counter[str]:
    """How many of the events are of each kind (alert.opened, alert.updated...)."""
    return Counter(session.scalars(select(AlertEvent.kind).where(AlertEvent.id.in_(event_ids))))
