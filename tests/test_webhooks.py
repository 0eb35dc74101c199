"""Alert webhooks to a real receiver on 127.0.0.1 that checks signatures with the
`standardwebhooks` package: signed, retried, logged, deduplicable, SSRF-guarded."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from cli.ingest import import_file
from monitor.db.models import Alert, AuditEntry, WebhookDelivery, WebhookSubscription, utcnow
from monitor.notify.delivery import plan_test_delivery
from monitor.notify.subscriptions import Filters, add_subscription, rotate_secret
from monitor.review.decisions import decide
from monitor.ssrf import ForbiddenTarget, TargetPolicy
from tests.conftest import make_settings, monitor_command
from tests.test_pipeline import SAMPLE
from tests.webhook_receiver import Receiver
from workers.tasks import deliver_webhook_task, notify_task, retry_due_webhooks_task

PUBLIC_URL = "https://monitor.example.org"
LOOPBACK = TargetPolicy.from_settings(make_settings("sqlite://", webhook_allowed_addresses="127.0.0.1"))


@pytest.fixture
def settings(database):
    return make_settings(database.url, webhook_allowed_addresses="127.0.0.1", public_base_url=PUBLIC_URL,
                         webhook_timeout_seconds=1.0, webhook_backoff_seconds=0,
                         webhook_disable_after_failures=2)


@pytest.fixture
def pipeline(eager_pipeline, settings):
    return settings


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def subscribe(database, receiver, events=(), **filters) -> WebhookSubscription:
    with database.session() as session:
        subscription = add_subscription(session, receiver.url, list(events), Filters(**filters),
                                        LOOPBACK, actor="editor")
    receiver.secrets.append(subscription.secret)
    return subscription


def deliveries(database) -> list[WebhookDelivery]:
    with database.session() as session:
        return session.scalars(select(WebhookDelivery).options(selectinload(WebhookDelivery.attempt_log))
                               .order_by(WebhookDelivery.id)).all()


def test_an_opened_alert_reaches_the_newsroom_signed_with_the_documented_payload(
        database, pipeline, receiver):
    subscribe(database, receiver)
    import_file(pipeline, SAMPLE)

    assert len(receiver.received) == 1
    message = receiver.received[0]
    assert message.verified_with == receiver.secrets
    assert message.message_id.startswith("msg_")
    body = message.body
    assert body["type"] == "alert.opened"
    data = body["data"]
    assert data["schema"] == "monitor.alert.v1"
    assert data["alert"]["reasons"][0].startswith("8 posts from 7 sources")
    assert data["cluster"]["url"] == f"{PUBLIC_URL}/clusters/{data['cluster']['id']}"
    assert "Сапаров" in data["cluster"]["claim"]
    assert len(data["sample_posts"]) == 5 and all(post["text"] for post in data["sample_posts"])
    delivery, = deliveries(database)
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert delivery.attempt_log[0].status_code == 200 and delivery.attempt_log[0].latency_ms > 0


@pytest.mark.parametrize("failure", [500, "timeout"])
def test_a_failed_attempt_is_retried_with_the_same_webhook_id(database, pipeline, receiver, failure):
    subscribe(database, receiver)
    receiver.script = [failure]
    import_file(pipeline, SAMPLE)
    assert deliveries(database)[0].status == "pending"

    assert retry_due_webhooks_task() == 1
    delivery, = deliveries(database)
    assert delivery.status == "delivered"
    assert [attempt.status_code for attempt in delivery.attempt_log] == (
        [500, 200] if failure == 500 else [None, 200])
    assert {item.message_id for item in receiver.received} == {delivery.message_id}
    # A receiver that answered too late got the event twice: the webhook-id tells it so.
    assert receiver.duplicates() == (0 if failure == 500 else 1)


# "²" passes str.isdigit and float() refuses it: such a header crashed the delivery once.
@pytest.mark.parametrize("retry_after, waits_its_seconds", [("120", True), ("²", False)])
def test_429_waits_at_least_what_retry_after_says_and_a_header_that_is_no_number_leaves_it_to_the_backoff(
        database, pipeline, receiver, retry_after, waits_its_seconds):
    subscribe(database, receiver)
    receiver.script = [f"429:{retry_after}"]
    before = utcnow()
    import_file(pipeline, SAMPLE)
    delivery, = deliveries(database)
    assert delivery.status == "pending"
    assert delivery.next_attempt_at > before
    assert (delivery.next_attempt_at >= before + timedelta(seconds=120)) == waits_its_seconds
    if waits_its_seconds:
        assert retry_due_webhooks_task() == 0  # not due yet


def test_other_client_errors_are_not_retried_and_repeated_failures_disable_the_subscription(
        database, pipeline, receiver):
    subscription = subscribe(database, receiver)
    receiver.script = [404, 410]
    for _ in range(2):
        with database.session() as session:
            delivery_id = plan_test_delivery(session, subscription.id)
        assert deliver_webhook_task(delivery_id) == "failed"
    assert retry_due_webhooks_task() == 0
    with database.session() as session:
        disabled = session.get(WebhookSubscription, subscription.id)
        assert not disabled.enabled
        assert disabled.disabled_reason == ("disabled after 2 deliveries failed in a row; "
                                            "last: HTTP 410")


def test_a_receiver_down_for_a_while_gets_every_event_exactly_once_when_back(
        database, pipeline, receiver, tmp_path):
    subscribe(database, receiver)
    receiver.stop()
    import_file(pipeline, SAMPLE)
    with database.session() as session:
        alert_id = session.scalar(select(Alert.id))
        event = decide(session, alert_id, "confirm", "editor", label="deepfake")
    notify_task(event_ids=[event.id])
    for _ in range(3):  # the receiver is still down: more failed attempts
        retry_due_webhooks_task()
    assert {d.status for d in deliveries(database)} == {"pending"}

    receiver.start()  # back on the same port
    retry_due_webhooks_task()
    retry_due_webhooks_task()  # nothing left to send twice
    kinds = sorted(item.body["type"] for item in receiver.unique().values())
    assert kinds == ["alert.confirmed", "alert.opened"]
    assert receiver.duplicates() == 0
    assert {d.status for d in deliveries(database)} == {"delivered"}
    assert receiver.unique()[deliveries(database)[1].message_id].body["data"]["alert"]["label"] == "deepfake"


def test_filters_choose_which_alerts_a_newsroom_receives(database, pipeline):
    wanted, unwanted = Receiver().start(), Receiver().start()
    try:
        subscribe(database, wanted, languages=["ru"], min_score=5)
        subscribe(database, unwanted, languages=["kk"])
        subscribe(database, unwanted, min_score=1000)
        subscribe(database, unwanted, labels=["satire"])
        import_file(pipeline, SAMPLE)
        assert len(wanted.received) == 1 and unwanted.received == []
    finally:
        wanted.stop()
        unwanted.stop()


def test_during_secret_rotation_both_secrets_sign(database, pipeline, receiver):
    subscription = subscribe(database, receiver)
    old_secret = subscription.secret
    with database.session() as session:
        new_secret = rotate_secret(session, subscription.id, timedelta(hours=1), "editor").secret
        delivery_id = plan_test_delivery(session, subscription.id)
    receiver.secrets = [old_secret, new_secret]
    deliver_webhook_task(delivery_id)
    message, = receiver.received
    assert message.verified_with == [old_secret, new_secret]
    assert len(message.signature.split()) == 2


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:9/hook", "internal address"),
    ("http://169.254.169.254/latest/meta-data", "internal address"),
    ("http://10.1.2.3/hook", "internal address"),
    ("http://[::1]/hook", "internal address"),
    ("ftp://example.org/hook", "only http and https"),
])
def test_webhooks_to_internal_addresses_or_other_schemes_are_refused(database, url, reason):
    with pytest.raises(ForbiddenTarget, match=reason):
        with database.session() as session:
            add_subscription(session, url, [], Filters(), TargetPolicy(), actor="editor")


def test_a_redirect_to_an_internal_address_is_not_followed(database, pipeline):
    redirecting = Receiver(redirect_to="http://169.254.169.254/latest/meta-data").start()
    try:
        subscription = subscribe(database, redirecting)
        with database.session() as session:
            delivery_id = plan_test_delivery(session, subscription.id)
        assert deliver_webhook_task(delivery_id) == "failed"
    finally:
        redirecting.stop()
    delivery, = deliveries(database)
    assert delivery.last_error.startswith("refused") and "169.254.169.254" in delivery.last_error


def test_webhooks_from_the_command_line_show_the_secret_once(database, receiver):
    env = {"DATABASE_URL": database.url, "WEBHOOK_ALLOWED_ADDRESSES": "127.0.0.1"}
    added = monitor_command("webhooks", "add", receiver.url, "--event", "alert.opened",
                            "--actor", "editor", env=env)
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split("secret (shown once, keep it in the receiver): ")[1].strip()
    assert secret.startswith("whsec_")
    receiver.secrets.append(secret)
    listed = monitor_command("webhooks", "list", env=env)
    assert receiver.url in listed.stdout and secret not in listed.stdout
    tested = monitor_command("webhooks", "test", "1", env=env)
    assert tested.returncode == 0 and "delivery 1: delivered" in tested.stdout
    assert receiver.received[0].body["type"] == "webhook.test"
    assert receiver.received[0].verified_with == [secret]
    log = monitor_command("webhooks", "deliveries", env=env)
    assert "#1" in log.stdout and "status=200" in log.stdout
    disabled = monitor_command("webhooks", "disable", "1", "--actor", "editor", env=env)
    assert disabled.stdout.strip() == "subscription 1 disabled"
    assert "DISABLED: by hand" in monitor_command("webhooks", "list", env=env).stdout
    monitor_command("webhooks", "enable", "1", "--actor", "editor", env=env)
    assert "[enabled]" in monitor_command("webhooks", "list", env=env).stdout
    refused = monitor_command("webhooks", "add", "http://127.0.0.1:9/x", "--actor", "editor",
                              env={"DATABASE_URL": database.url})
    assert refused.returncode == 1 and "internal address" in refused.stderr
    with database.session() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.add")).one()
        assert audit.actor == "editor" and secret not in json.dumps(audit.details)


def test_the_default_retries_outlast_a_receiver_down_for_an_hour():
    from config import load_settings
    from monitor.notify.delivery import RetryRules

    rules = RetryRules.from_settings(load_settings())
    # The shortest the schedule can be (each wait at the low end of its jitter) before giving up.
    shortest = sum(min(rules.max_backoff_seconds, rules.backoff_seconds * 2 ** (attempt - 1)) / 2
                   for attempt in range(1, rules.max_attempts))
    assert shortest > 3600
