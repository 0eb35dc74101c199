"""Triage as a moderator does it: fifty alerts cleared from the queue with the keyboard, no
page reloaded; several dismissed or assigned at once; an alert given to another moderator;
every dismissal with its reason, every change of a decision asked for, and the next alert
of the same queue after a decision taken on a cluster page."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from monitor.db.models import (
    Alert,
    AlertStatus,
    Cluster,
    ClusterMembership,
    Post,
    ReviewDecision,
    Source,
    User,
    utcnow,
)
from monitor.review.decisions import DISMISS_REASONS
from tests.conftest import ACCOUNTS
from tests.test_web_access import signed_in
from tests.test_web_ui import screenshot, sign_in
from web import create_app

QUEUE = 50


def seed_alerts(database, count: int) -> list[int]:
    """COUNT open alerts, one single-post cluster each, scored from the highest down; their ids
    in queue order."""
    now = utcnow()
    with database.session() as session:
        alerts = []
        for n in range(count):
            source = Source(kind="telegram", key=f"@channel_{n}", title=f"Channel {n}")
            post = Post(source=source, external_id=str(n), published_at=now - timedelta(minutes=n),
                        text=f"Claim {n}: **the akim** calls everyone out on 9 May [video](https://t.me/c/{n})")
            session.add_all([source, post])
            session.flush()
            cluster = Cluster(representative_post_id=post.id, post_count=1, source_count=1,
                              first_seen_at=post.published_at, last_seen_at=post.published_at)
            session.add(cluster)
            session.flush()
            session.add(ClusterMembership(post_id=post.id, cluster_id=cluster.id, method="new"))
            alert = Alert(cluster_id=cluster.id, score=1000.0 - n, reasons=[f"reason {n}"], post_count=1,
                          source_count=1)
            session.add(alert)
            session.flush()
            alerts.append(alert.id)
        return alerts


@pytest.fixture
def queue(database, eager_pipeline, accounts, live_server):
    alert_ids = seed_alerts(database, QUEUE)
    return live_server(create_app(eager_pipeline.conf.monitor_settings)), alert_ids


@pytest.fixture
def app(database, eager_pipeline, accounts):
    app = create_app(eager_pipeline.conf.monitor_settings)
    app.config.update(WTF_CSRF_ENABLED=False)
    return app


def decisions(database) -> dict[int, tuple[AlertStatus, str | None, str, str]]:
    with database.session() as session:
        rows = session.execute(select(Alert.id, Alert.status, ReviewDecision.label, ReviewDecision.note,
                                      ReviewDecision.actor)
                               .join(ReviewDecision, ReviewDecision.alert_id == Alert.id)
                               .order_by(ReviewDecision.id)).all()
    return {alert_id: (status, label, note, actor) for alert_id, status, label, note, actor in rows}


@pytest.mark.browser
def test_fifty_alerts_are_triaged_with_the_keyboard_alone_without_a_page_reload(queue, browser, database):
    base, alert_ids = queue
    page = sign_in(browser, base, "moderator")
    expect(page.locator("table.alerts tbody tr")).to_have_count(QUEUE)
    page.evaluate("window.sameDocument = true")  # gone if the page were loaded again
    keystrokes = 0
    for n in range(QUEUE):
        # Even alerts are confirmed as deepfakes (label 1), odd ones dismissed (reason 1).
        for key in ("c", "1") if n % 2 == 0 else ("d", "1"):
            page.keyboard.press(key)
            keystrokes += 1
    expect(page.locator("table.alerts tbody tr.decided")).to_have_count(QUEUE)
    assert keystrokes < 150
    assert page.evaluate("window.sameDocument") is True
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    recorded = decisions(database)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ReviewDecision)) == QUEUE  # each once
    assert sorted(recorded) == sorted(alert_ids)
    for n, alert_id in enumerate(alert_ids):
        expected = ((AlertStatus.confirmed, "deepfake", "") if n % 2 == 0
                    else (AlertStatus.dismissed, None, DISMISS_REASONS[0]))
        assert recorded[alert_id] == (*expected, ACCOUNTS["moderator"])
    first = page.locator("table.alerts tbody tr").first
    expect(first.locator(".decided")).to_contain_text(f"confirmed as deepfake by {ACCOUNTS['moderator']}")


@pytest.mark.browser
def test_changing_a_decision_from_the_keyboard_asks_first(queue, browser, database):
    base, alert_ids = queue
    page = sign_in(browser, base, "moderator")
    page.keyboard.press("c")
    page.keyboard.press("2")  # impersonation
    expect(page.locator("table.alerts tbody tr.decided")).to_have_count(1)
    asked = []

    def refuse(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.keyboard.press("k")
    page.keyboard.press("d")
    page.keyboard.press("3")
    expect(page.locator("#triage-said")).to_contain_text("was already confirmed as impersonation")
    assert asked and "confirm that you change the decision" in asked[0]
    assert decisions(database)[alert_ids[0]][:2] == (AlertStatus.confirmed, "impersonation")

    page.remove_listener("dialog", refuse)
    page.on("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("k")
    page.keyboard.press("d")
    page.keyboard.press("3")
    expect(page.locator("table.alerts tbody tr").first.locator(".status")).to_have_text("dismissed")
    assert decisions(database)[alert_ids[0]] == (AlertStatus.dismissed, None, DISMISS_REASONS[2],
                                                 ACCOUNTS["moderator"])


@pytest.mark.browser
def test_the_keys_are_listed_on_the_page_and_typing_in_a_field_is_not_triage(queue, browser, database):
    base, _ = queue
    page = sign_in(browser, base, "moderator")
    page.keyboard.press("c")
    page.keyboard.press("1")
    page.keyboard.press("?")
    expect(page.locator("#triage-menu")).to_contain_text("dismiss, then the reason's number")
    screenshot(page, "keyboard-triage")
    page.keyboard.press("Escape")
    expect(page.locator("#triage-menu")).to_be_hidden()
    page.fill("input[name=language]", "")
    page.locator("input[name=language]").press_sequentially("cd1")
    expect(page.locator("input[name=language]")).to_have_value("cd1")
    assert len(decisions(database)) == 1  # the one taken with the keys, none typed into the field


def test_dismissing_needs_a_reason_and_says_so(app, database):
    alert_id = seed_alerts(database, 1)[0]
    client = signed_in(app, "moderator")
    answer = client.post(f"/alerts/{alert_id}/decision", data={"decision": "dismiss"},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 400 and "say why it is dismissed" in answer.json["error"]
    assert decisions(database) == {}
    answer = client.post(f"/alerts/{alert_id}/decision",
                         data={"decision": "dismiss", "reason": DISMISS_REASONS[1],
                               "note": "the ministry said so"},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert answer.json["decided"].startswith(f"dismissed by {ACCOUNTS['moderator']} on ")
    assert decisions(database)[alert_id][2] == f"{DISMISS_REASONS[1]}; the ministry said so"


def test_a_decision_taken_on_a_cluster_page_goes_on_to_the_next_alert_of_the_same_queue(app, database):
    alert_ids = seed_alerts(database, 3)
    client = signed_in(app, "moderator")
    queue = urlencode({"status": "open", "language": ""})
    with database.session() as session:
        cluster_of = dict(session.execute(select(Alert.id, Alert.cluster_id)).all())
    page = client.get(f"/clusters/{cluster_of[alert_ids[0]]}?queue={queue}")
    assert "go on to the next alert" in page.text
    answer = client.post(f"/alerts/{alert_ids[0]}/decision",
                         data={"decision": "confirm", "label": "deepfake", "queue": queue})
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(f"/clusters/{cluster_of[alert_ids[1]]}?queue=")
    dismissal = {"decision": "dismiss", "reason": DISMISS_REASONS[0], "queue": queue}
    client.post(f"/alerts/{alert_ids[1]}/decision", data=dismissal)
    last = client.post(f"/alerts/{alert_ids[2]}/decision", data=dismissal)
    assert last.headers["Location"].startswith("/?status=open")  # the queue, emptied


def test_changing_a_decision_from_a_form_needs_the_box_ticked(app, database):
    alert_id = seed_alerts(database, 1)[0]
    client = signed_in(app, "moderator")
    client.post(f"/alerts/{alert_id}/decision", data={"decision": "confirm", "label": "satire"})
    refused = client.post(f"/alerts/{alert_id}/decision", data={"decision": "confirm", "label": "deepfake"},
                          follow_redirects=True)
    assert "was already confirmed as satire by" in refused.text
    assert decisions(database)[alert_id][1] == "satire"
    client.post(f"/alerts/{alert_id}/decision",
                data={"decision": "confirm", "label": "deepfake", "change": "y"})
    assert decisions(database)[alert_id][1] == "deepfake"


def test_ticked_alerts_are_dismissed_or_given_to_another_moderator_at_once(app, database, accounts):
    alert_ids = seed_alerts(database, 6)
    client = signed_in(app, "moderator")
    client.post("/alerts/bulk", data={"action": "assign", "assignee": str(accounts["admin"]),
                                      "alert_id": [str(alert_id) for alert_id in alert_ids[:3]]})
    answer = client.post("/alerts/bulk", data={"action": "dismiss", "reason": DISMISS_REASONS[4],
                                               "alert_id": [str(alert_id) for alert_id in alert_ids[3:5]]},
                         follow_redirects=True)
    assert "2 alerts dismissed" in answer.text
    with database.session() as session:
        assigned = dict(session.execute(select(Alert.id, User.name)
                                        .join(User, User.id == Alert.assignee_id)).all())
    assert assigned == {alert_id: ACCOUNTS["admin"] for alert_id in alert_ids[:3]}
    assert {alert_id: status for alert_id, (status, *_) in decisions(database).items()} == \
        {alert_ids[3]: AlertStatus.dismissed, alert_ids[4]: AlertStatus.dismissed}

    def shown(page: str) -> set[int]:
        return {alert_id for alert_id in alert_ids if f'data-alert-id="{alert_id}"' in page}

    assert shown(client.get("/?assignee=none&status=all").text) == set(alert_ids[3:])
    assert shown(client.get(f"/?assignee={accounts['admin']}").text) == set(alert_ids[:3])


def test_an_alert_is_given_only_to_an_active_moderator(app, database, accounts):
    alert_id = seed_alerts(database, 1)[0]
    client = signed_in(app, "moderator")
    refused = client.post(f"/alerts/{alert_id}/assign", data={"assignee": str(accounts["viewer"])},
                          headers={"Accept": "application/json"})
    assert refused.status_code == 404 and "no active moderator" in refused.json["error"]
    given = client.post(f"/alerts/{alert_id}/assign", data={"assignee": str(accounts["admin"])},
                        headers={"Accept": "application/json"})
    assert given.json["assignee"] == ACCOUNTS["admin"]
