"""Fact-checkers' ClaimReview in and out: a real-shaped fact-check page, a Data Commons feed
and the 14,231 CheckThat! claims imported (again: nothing changes); a repost of a reviewed
claim alerts with the fact-check's link; a confirmed alert exports as ClaimReview."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cli.ingest import import_file
from monitor.accounts.tokens import issue_token
from monitor.alerts.known_claims import embed_new_claims
from monitor.claims.claimreview import label_for, parse_claimreviews
from monitor.claims.imports import import_reviews
from monitor.db.models import Alert, AlertEvent, KnownClaim, Role, User
from monitor.evaluation.datasets import checkthat_claimreview_feed
from monitor.notify.payload import alert_body
from monitor.review.clusters import promote_to_known_claim
from monitor.review.decisions import decide
from tests.conftest import SHARED_DATA, make_settings, monitor_command
from tests.test_pipeline import SAMPLE
from web import create_app

PAGE = Path(__file__).parent / "data" / "claims" / "factcheck-page.html"
FACT_CHECK = "https://factcheck.kz/claim-checking/fejk-akim-almaty-ne-prizyval-vyhodit-na-shestvie/"


@pytest.fixture
def settings(database):
    """Feeds served on 127.0.0.1 by the tests' news site: let the SSRF guard allow it."""
    return make_settings(database.url, fetch_allowed_addresses="127.0.0.1", domain_min_interval_seconds=0)


def test_a_fact_check_pages_claimreview_is_read_and_its_bad_parts_reported():
    parsed = parse_claimreviews(PAGE.read_bytes())
    [claim] = parsed.claims
    assert claim.text.startswith("Аким Алматы Ерлан Сапаров призвал жителей выйти 9 мая")
    assert (claim.label, claim.rating, claim.author, claim.url, claim.language) == (
        "false_claim", "Фейк", "Factcheck.kz", FACT_CHECK, "ru")
    assert claim.appearances == ("https://t.me/almaty_inside/1001",)
    assert claim.published_at.date().isoformat() == "2025-05-07"
    assert [str(problem) for problem in parsed.problems] == [
        "ld+json block 3: not JSON: Expecting property name enclosed in double quotes",
        "ld+json block 2: @graph[2]: no claimReviewed text"]


@pytest.mark.parametrize("rating, value, label", [
    ("False", None, "false_claim"), ("Pants on Fire!", None, "false_claim"),
    ("Mostly False", None, "misleading"),
    ("Неправда", None, "false_claim"), ("Не соответствует действительности", None, "false_claim"),
    ("Манипуляция", None, "misleading"), ("Жалған", None, "false_claim"), ("Дипфейк", None, "deepfake"),
    ("Сатира", None, "satire"), ("Правда", None, "not_disinformation"), ("Not true", None, "false_claim"),
    (None, 1, "false_claim"), (None, 3, "misleading"), (None, 5, "not_disinformation"),
    ("Unproven", None, None),
])
def test_ratings_map_to_the_products_labels(rating, value, label):
    assert label_for(rating, value) == label


def test_the_checkthat_claims_import_once_and_a_second_import_changes_nothing(database):
    feed = parse_claimreviews(json.dumps(checkthat_claimreview_feed(
        SHARED_DATA / "claims" / "checkthat22-en" / "vclaims.jsonl")))
    assert len(feed.claims) == 14_231 and feed.problems == []
    with database.session() as session:
        first = import_reviews(session, feed.claims, "test", "checkthat")
    with database.session() as session:
        again = import_reviews(session, feed.claims, "test", "checkthat")
        assert session.scalar(select(func.count()).select_from(KnownClaim)) == first.added
    assert first.added == len({claim.key for claim in feed.claims}) and first.updated == 0
    assert (again.added, again.updated, again.unchanged) == (0, 0, first.added)


def test_a_changed_rating_updates_the_claim_and_a_changed_text_is_embedded_again(database, encoder):
    [claim] = parse_claimreviews(PAGE.read_bytes()).claims
    with database.session() as session:
        import_reviews(session, [claim], "test", "page")
    embed_new_claims(database.sessions, encoder)
    with database.session() as session:
        result = import_reviews(session, [replace(claim, rating="Ложь")], "test", "page")
        stored = session.scalar(select(KnownClaim))
        assert (result.updated, stored.rating, stored.vector is not None) == (1, "Ложь", True)


def test_a_repost_of_a_reviewed_claim_alerts_with_the_fact_checks_link(database, eager_pipeline, encoder,
                                                                        tmp_path):
    settings = eager_pipeline.conf.monitor_settings
    done = monitor_command("claims", "import", str(PAGE), "--actor", "editor",
                           env={"DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key})
    assert done.returncode == 1  # the page's two bad blocks are reported; its review imported
    assert "1 reviews read, 2 rejected; 1 claims added" in done.stdout and "ld+json block 3" in done.stderr
    embed_new_claims(database.sessions, encoder)
    # A post at the URL the fact-check names matches whatever it says; the wave matches by meaning.
    (tmp_path / "first.jsonl").write_text(json.dumps({
        "source": "@almaty_inside", "id": 1001, "text": "Смотрите до конца! 🔥", "url": "https://t.me/almaty_inside/1001",
        "date": "2025-05-06T06:55:00+00:00"}) + "\n")
    import_file(settings, tmp_path / "first.jsonl")
    import_file(settings, SAMPLE)
    with database.session() as session:
        alerts = session.scalars(select(Alert)).all()
        repeating = [alert for alert in alerts if any(FACT_CHECK in reason for reason in alert.reasons)]
        assert repeating, [alert.reasons for alert in alerts]
        reason = next(reason for reason in repeating[0].reasons if FACT_CHECK in reason)
        assert reason.startswith("repeats known claim") and "fact-checked by Factcheck.kz" in reason
        assert "\u201cФейк\u201d (false claim), 2025-05-07" in reason
        linked = [alert for alert in alerts if any("is at a URL the fact-check names" in reason
                                                   for reason in alert.reasons)]
        assert linked
        event = session.scalar(select(AlertEvent).where(AlertEvent.alert_id == repeating[0].id).limit(1))
        payload = json.loads(alert_body(session, event, "https://monitor.example.org"))
    [review] = payload["data"]["claim_reviews"]
    assert review["@type"] == "ClaimReview" and review["url"] == FACT_CHECK
    assert review["reviewRating"]["alternateName"] == "Фейк" and review["author"]["name"] == "Factcheck.kz"


def test_a_confirmed_alert_with_a_fact_check_link_exports_as_claimreview(database, eager_pipeline, accounts):
    settings = eager_pipeline.conf.monitor_settings
    import_file(settings, SAMPLE)
    with database.session() as session:
        alert = session.scalar(select(Alert).order_by(Alert.score.desc()).limit(1))
        viewer = session.scalar(select(User).where(User.role == Role.viewer))
        token = issue_token(session, viewer, "claimreview", Role.viewer, "setup").secret
        alert_id, cluster_id = alert.id, alert.cluster_id
    client = create_app(settings).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    refused = client.get(f"/api/v1/alerts/{alert_id}/claimreview", headers=headers)
    assert refused.status_code == 409 and "only a confirmed alert" in refused.get_json()["error"]
    with database.session() as session:
        decide(session, alert_id, "confirm", "moderator", label="deepfake", note="voice does not match")
    assert "no fact-check link" in client.get(f"/api/v1/alerts/{alert_id}/claimreview",
                                              headers=headers).get_json()["error"]
    with database.session() as session:
        promote_to_known_claim(session, cluster_id, "deepfake", "moderator", url=FACT_CHECK)
    answer = client.get(f"/api/v1/alerts/{alert_id}/claimreview", headers=headers)
    assert answer.status_code == 200 and answer.mimetype == "application/ld+json"
    review = answer.get_json(force=True)
    assert (review["@type"], review["url"], review["author"]["name"]) == ("ClaimReview", FACT_CHECK,
                                                                          settings.claimreview_publisher)
    assert review["reviewRating"]["alternateName"] == "deepfake" and "Сапаров" in review["claimReviewed"]
    assert parse_claimreviews(json.dumps(review)).claims[0].label == "deepfake"  # readable by ourselves


def test_a_claimreview_feed_is_polled_like_a_news_feed(database, eager_pipeline):
    """Conditional GET: a second poll of an unchanged feed reads nothing; a changed review
    updates its claim."""
    from monitor.news.sources import add_feed
    from tests.news_site import serve_news_site
    from workers.tasks import fetch_feed_task

    server, site = serve_news_site()
    site.claim_feed = PAGE.read_text()
    try:
        with database.session() as session:
            source_id = add_feed(session, site.url("/claims.json"), 900, "editor", kind="claims").id
        first = fetch_feed_task(source_id)
        assert first["status"] == "fetched" and first["reviews"] == 1
        assert "2 reviews rejected" in first["warning"]
        assert fetch_feed_task(source_id)["status"] == "not-modified"
        site.claim_feed = site.claim_feed.replace('"alternateName": "Фейк"', '"alternateName": "Ложь"', 1)
        assert fetch_feed_task(source_id)["status"] == "fetched"
    finally:
        server.shutdown()
    with database.session() as session:
        [claim] = session.scalars(select(KnownClaim)).all()
        assert (claim.rating, claim.label, claim.url) == ("Ложь", "false_claim", FACT_CHECK)
