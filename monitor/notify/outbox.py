"""The alert-event outbox.

Alert events are written in the same transaction as the alert itself, so none is
lost if the broker is; the notify stage takes them from here. Webhook delivery
to newsrooms (issue 8) plugs in at ``dispatch_events``; until then an event is
logged and marked dispatched.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import AlertEvent, utcnow

log = logging.getLogger(__name__)


def dispatch_events(session: Session, event_ids: list[int]) -> list[AlertEvent]:
    """Dispatch the events not dispatched yet; a redelivered task dispatches nothing twice."""
    events = session.scalars(
        select(AlertEvent)
        .where(AlertEvent.id.in_(event_ids), AlertEvent.notified_at.is_(None))
        .order_by(AlertEvent.id)
        .with_for_update(skip_locked=True)
    ).all()
    now = utcnow()
    for event in events:
        log.info("alert event %s", json.dumps({"event_id": event.id, "kind": event.kind,
                                                **event.payload}, ensure_ascii=False))
        event.notified_at = now
    return list(events)
