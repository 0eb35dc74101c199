"""Moderator decisions leave a review record, an audit entry and an alert event."""

import pytest
from sqlalchemy import select

from cli.ingest import import_file
from monitor.db.models import Alert, AlertStatus, AuditEntry, ReviewDecision
from monitor.review.decisions import DecisionError, decide
from tests.conftest import monitor_command
from tests.test_pipeline import SAMPLE


@pytest.fixture
def alert_id(database, eager_pipeline) -> int:
    import_file(eager_pipeline.conf.monitor_settings, SAMPLE)
    with database.session() as session:
        return session.scalar(select(Alert.id))


def test_confirming_an_alert_records_who_what_and_why(database, alert_id):
    with database.session() as session:
        decide(session, alert_id, "confirm", "aigerim", label="deepfake",
               note="The akim's office denied the video")
    with database.session() as session:
        alert = session.get(Alert, alert_id)
        assert alert.status is AlertStatus.confirmed
        assert [event.kind for event in alert.events][-1] == "alert.confirmed"
        record = session.scalars(select(ReviewDecision)).one()
        assert (record.actor, record.label, record.note) == (
            "aigerim", "deepfake", "The akim's office denied the video")
        audit = session.scalars(select(AuditEntry)).one()
        assert (audit.actor, audit.action, audit.object_id) == ("aigerim", "alert.confirm", str(alert_id))
        assert audit.details == {"label": "deepfake", "note": "The akim's office denied the video",
                                 "from": "open", "to": "confirmed"}


@pytest.mark.parametrize("decision, label, message", [
    ("confirm", None, "confirming needs a label"),
    ("escalate", None, "unknown decision 'escalate'"),
])
def test_a_decision_that_cannot_be_taken_changes_nothing(database, alert_id, decision, label, message):
    with pytest.raises(DecisionError, match=message):
        with database.session() as session:
            decide(session, alert_id, decision, "aigerim", label=label)
    with database.session() as session:
        assert session.get(Alert, alert_id).status is AlertStatus.open
        assert session.scalars(select(AuditEntry)).all() == []


def test_dismissing_from_the_command_line(database, alert_id):
    env = {"DATABASE_URL": database.url}
    result = monitor_command("alerts", "decide", str(alert_id), "dismiss", "--actor", "daniyar",
                             "--note", "satire account", env=env)
    assert result.returncode == 0, result.stderr
    missing = monitor_command("alerts", "decide", "999", "dismiss", "--actor", "daniyar", env=env)
    assert missing.returncode == 1 and "no alert 999" in missing.stderr
    with database.session() as session:
        assert session.get(Alert, alert_id).status is AlertStatus.dismissed
