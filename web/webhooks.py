"""Webhook subscriptions, their delivery log, test events and redelivery (admins)."""

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from monitor.db.models import Role
from monitor.notify.delivery import list_deliveries, plan_test_delivery, redeliver
from monitor.notify.subscriptions import (
    Filters,
    add_subscription,
    get_subscription,
    list_subscriptions,
    rotate_secret,
    set_enabled,
)
from monitor.ssrf import TargetPolicy
from web.access import requires
from web.database import commit, current_settings, get_session
from web.forms import ButtonForm, WebhookForm, submitted
from workers.dispatch import deliver

bp = Blueprint("webhooks", __name__)
DELIVERY_LOG = 50


@bp.get("/webhooks")
@requires(Role.admin)
def index():
    subscriptions = list_subscriptions(get_session())
    return render_template("webhooks.html", subscriptions=subscriptions, form=WebhookForm())


@bp.post("/webhooks")
@requires(Role.admin)
def add():
    form = WebhookForm()
    if not submitted(form):
        return redirect(url_for("webhooks.index"))
    filters = Filters(form.min_score.data, form.labels.data or None,
                      _words(form.languages.data) or None, _ids(form.source_ids.data) or None)
    subscription = add_subscription(get_session(), form.url.data, form.events.data, filters,
                                    TargetPolicy.from_settings(current_settings()), current_user.name)
    commit()
    # The secret is shown in this response only, never again (nor put in a flash cookie).
    return render_template("webhook_secret.html", subscription=subscription), 201


@bp.get("/webhooks/<int:subscription_id>")
@requires(Role.admin)
def show(subscription_id: int):
    session = get_session()
    subscription = get_subscription(session, subscription_id)
    deliveries = list_deliveries(session, subscription_id, DELIVERY_LOG)
    return render_template("webhook.html", subscription=subscription, deliveries=deliveries,
                           button=ButtonForm())


@bp.post("/webhooks/<int:subscription_id>/<any(enable, disable):change>")
@requires(Role.admin)
def toggle(subscription_id: int, change: str):
    if submitted(ButtonForm()):
        set_enabled(get_session(), subscription_id, change == "enable", current_user.name)
        commit()
    return redirect(url_for("webhooks.show", subscription_id=subscription_id))


@bp.post("/webhooks/<int:subscription_id>/rotate-secret")
@requires(Role.admin)
def rotate(subscription_id: int):
    if not submitted(ButtonForm()):
        return redirect(url_for("webhooks.show", subscription_id=subscription_id))
    subscription = rotate_secret(get_session(), subscription_id, timedelta(hours=24), current_user.name)
    commit()
    return render_template("webhook_secret.html", subscription=subscription, rotated=True), 201


@bp.post("/webhooks/<int:subscription_id>/test")
@requires(Role.admin)
def test(subscription_id: int):
    if submitted(ButtonForm()):
        delivery_id = plan_test_delivery(get_session(), subscription_id)
        commit()
        _report(delivery_id, deliver(current_settings(), [delivery_id])[0])
    return redirect(url_for("webhooks.show", subscription_id=subscription_id))


@bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@requires(Role.admin)
def redeliver_one(delivery_id: int):
    if not submitted(ButtonForm()):
        abort(400)
    session = get_session()
    subscription_id = redeliver(session, delivery_id)
    commit()
    _report(delivery_id, deliver(current_settings(), [delivery_id])[0])
    return redirect(url_for("webhooks.show", subscription_id=subscription_id))


def _report(delivery_id: int, status: str | None) -> None:
    """STATUS is the outcome of an inline attempt; None when the attempt was queued for a worker."""
    if status is None:
        status = "not due" if current_settings().celery_always_eager else "queued for the notify workers"
    meaning = {"pending": "not delivered, will retry (see the log)", "failed": "given up (see the log)"}
    flash(f"delivery {delivery_id}: {meaning.get(status, status)}",
          "error" if status in meaning else "ok")


def _words(text: str | None) -> list[str]:
    return [word.strip() for word in (text or "").split(",") if word.strip()]


def _ids(text: str | None) -> list[int]:
    words = _words(text)
    bad = [word for word in words if not word.isdecimal()]
    if bad:
        abort(400, f"source ids must be numbers: {', '.join(bad)}")
    return [int(word) for word in words]
