"""Moderators' decisions on alerts. Each one is recorded with who, when, what and why,
in the review log and the audit trail, and becomes an alert event for subscribers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.alert_events import record_alert_event
from monitor.db.models import (
    LABELS,
    Alert,
    AlertEvent,
    AlertStatus,
    AuditEntry,
    ReviewDecision,
    Role,
    User,
    utcnow,
)
from monitor.messages import Conflict, NotFound, UserError

STATUS_OF = {"confirm": AlertStatus.confirmed, "dismiss": AlertStatus.dismissed}
# The reasons a moderator most often dismisses an alert for, offered first (any other may be written).
DISMISS_REASONS = ("ordinary news, not a claim", "a true claim", "satire or opinion",
                   "already handled in another alert", "off-topic for this newsroom")


class DecisionError(UserError):
    """The decision cannot be taken as asked; the message says why."""


class DecisionChange(Conflict):
    """The alert was already decided otherwise: changing that must be asked for."""


def decide(session: Session, alert_id: int, decision: str, actor: str, *,
           label: str | None = None, note: str = "", allow_change: bool = True) -> AlertEvent:
    """Returns the alert event to notify subscribers of, once committed. Without ALLOW_CHANGE,
    a decision that would overturn an earlier one (another status or label) is refused with
    DecisionChange naming who took that one, when and why."""
    if decision not in STATUS_OF:
        raise DecisionError(f"unknown decision {decision!r}: use one of {', '.join(STATUS_OF)}")
    if decision == "confirm" and label not in LABELS:
        raise DecisionError(f"confirming needs a label, one of {', '.join(LABELS)}")
    if not actor.strip():
        raise DecisionError("a decision needs the name of who takes it")
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")

    if not allow_change and alert.status != AlertStatus.open:
        earlier = latest_decision(session, alert_id)
        if alert.status != STATUS_OF[decision] or (earlier and earlier.label != label):
            raise DecisionChange(f"alert {alert_id} was already {describe(alert.status, earlier)}: "
                                 "confirm that you change the decision")

    now = utcnow()
    previous = alert.status
    alert.status, alert.updated_at = STATUS_OF[decision], now
    alert.dismissed_post_count = alert.post_count if decision == "dismiss" else None
    session.add(ReviewDecision(alert_id=alert_id, decision=decision, label=label, note=note,
                               actor=actor, created_at=now))
    session.add(AuditEntry(actor=actor, action=f"alert.{decision}", object_type="alert",
                           object_id=str(alert_id), created_at=now,
                           details={"label": label, "note": note, "from": previous.value,
                                    "to": alert.status.value}))
    event = record_alert_event(session, alert, f"alert.{alert.status.value}", now, label)
    session.flush()
    return event


def latest_decision(session: Session, alert_id: int) -> ReviewDecision | None:
    return session.scalar(select(ReviewDecision).where(ReviewDecision.alert_id == alert_id)
                          .order_by(ReviewDecision.id.desc()).limit(1))


def describe(status: AlertStatus, decision: ReviewDecision | None) -> str:
    """'confirmed as deepfake by alice on 2026-05-06 08:40 (why)': who decided, when and why."""
    if decision is None:
        return status.value
    label = f" as {decision.label.replace('_', ' ')}" if decision.label else ""
    why = f" ({decision.note})" if decision.note else ""
    return f"{status.value}{label} by {decision.actor} on {decision.created_at:%Y-%m-%d %H:%M}{why}"


def latest_label(session: Session, alert_id: int) -> str | None:
    """The label of the alert's newest review decision."""
    return session.scalar(select(ReviewDecision.label).where(ReviewDecision.alert_id == alert_id)
                          .order_by(ReviewDecision.id.desc()).limit(1))


def moderator(user: User | None, asked: str) -> User:
    """USER if it may be given alerts (an active moderator or admin); NotFound naming ASKED otherwise."""
    if user is None or not user.active or not user.role.allows(Role.moderator):
        raise NotFound(f"no active moderator {asked}")
    return user


def assign(session: Session, alert_id: int, assignee: User | None, actor: str) -> Alert:
    """Give the alert to a moderator (None: unassign), so that two people don't triage it twice."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    previous = alert.assignee.name if alert.assignee else None
    alert.assignee = assignee
    session.add(AuditEntry(actor=actor, action="alert.assign", object_type="alert",
                           object_id=str(alert_id),
                           details={"from": previous, "to": assignee.name if assignee else None}))
    session.flush()
    return alert
