"""The JSON API over a real HTTP server: token scopes, reads, review actions, clear
validation errors, and an OpenAPI document that describes every endpoint."""

import httpx
import pytest
from sqlalchemy import select

from cli.ingest import import_file
from monitor.accounts.tokens import issue_token
from monitor.db.models import Alert, AuditEntry, Role, User
from tests.conftest import make_settings
from tests.test_pipeline import SAMPLE
from web import create_app


@pytest.fixture
def api(database, eager_pipeline, accounts, live_server):
    """(base URL, {role: bearer headers}) over the clustered sample."""
    settings = eager_pipeline.conf.monitor_settings
    import_file(settings, SAMPLE)
    headers = {}
    with database.session() as session:
        for role, user_id in accounts.items():
            token = issue_token(session, session.get(User, user_id), "tests", Role(role), "setup")
            headers[role] = {"Authorization": f"Bearer {token.secret}"}
    return live_server(create_app(settings)) + "/api/v1", headers


def test_a_moderator_token_reads_the_queue_and_confirms_an_alert(api, database):
    base, headers = api
    queue = httpx.get(f"{base}/alerts", headers=headers["viewer"]).json()
    assert queue["total"] == 1
    alert = queue["alerts"][0]
    assert "Сапаров" in alert["claim"] and alert["reasons"][0].startswith("8 posts from 7 sources")

    cluster = httpx.get(f"{base}/clusters/{alert['cluster_id']}", headers=headers["viewer"]).json()
    assert len(cluster["posts"]) == 8 and cluster["alert"]["id"] == alert["id"]

    refused = httpx.post(f"{base}/alerts/{alert['id']}/decision", headers=headers["viewer"],
                         json={"decision": "confirm", "label": "deepfake"})
    assert refused.status_code == 403
    decided = httpx.post(f"{base}/alerts/{alert['id']}/decision", headers=headers["moderator"],
                         json={"decision": "confirm", "label": "deepfake", "note": "denied by the akimat"})
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["label"]) == ("confirmed", "deepfake")
    with database.session() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.confirm")).one()
        assert audit.actor == "aigerim"
        assert session.scalar(select(Alert.status)).value == "confirmed"


def test_bad_input_is_refused_with_what_and_where(api):
    base, headers = api
    alert_id = httpx.get(f"{base}/alerts", headers=headers["viewer"]).json()["alerts"][0]["id"]
    bad_label = httpx.post(f"{base}/alerts/{alert_id}/decision", headers=headers["moderator"],
                           json={"decision": "confirm", "label": "fake news"})
    assert bad_label.status_code == 422
    assert any("label" in problem["loc"] for problem in bad_label.json())
    no_label = httpx.post(f"{base}/alerts/{alert_id}/decision", headers=headers["moderator"],
                          json={"decision": "confirm"})
    assert no_label.status_code == 422 and any("label" in problem["loc"] for problem in no_label.json())
    missing = httpx.post(f"{base}/alerts/999999/decision", headers=headers["moderator"],
                         json={"decision": "dismiss"})
    assert missing.status_code == 404 and missing.json() == {"error": "no alert 999999"}
    bad_filter = httpx.get(f"{base}/alerts", params={"status": "everything"}, headers=headers["viewer"])
    assert bad_filter.status_code == 422
    # A time whose offset takes it out of the years a time in UTC can have (found by test_api_fuzz).
    before_year_one = httpx.get(f"{base}/alerts", params={"since": "0001-01-01T00:00:00+00:01"},
                                headers=headers["viewer"])
    assert before_year_one.status_code == 422
    assert [problem["loc"] for problem in before_year_one.json()] == [["since"]]
    assert "out of the range of times in UTC" in before_year_one.json()[0]["msg"]


def test_merge_split_and_search_through_the_api(api):
    base, headers = api
    moderator = headers["moderator"]
    found = httpx.get(f"{base}/posts/search", params={"q": "шеруіне"}, headers=headers["viewer"]).json()
    kk_cluster = found["posts"][0]["cluster_id"]
    assert found["total"] == 4 and {post["cluster_id"] for post in found["posts"]} == {kk_cluster}
    ru_cluster = httpx.get(f"{base}/alerts", headers=moderator).json()["alerts"][0]["cluster_id"]

    merged = httpx.post(f"{base}/clusters/{ru_cluster}/merge", headers=moderator,
                        json={"other_cluster_id": kk_cluster, "reason": "the same video in Kazakh"})
    assert merged.json() == {"cluster_id": ru_cluster}
    assert len(httpx.get(f"{base}/clusters/{ru_cluster}", headers=moderator).json()["posts"]) == 12
    post_id = found["posts"][0]["id"]
    split = httpx.post(f"{base}/posts/{post_id}/split", headers=moderator, json={"reason": "different claim"})
    new_cluster = split.json()["cluster_id"]
    assert [post["id"] for post in httpx.get(f"{base}/clusters/{new_cluster}", headers=moderator)
            .json()["posts"]] == [post_id]


def test_find_similar_ranks_the_wave_first_for_a_paraphrase(api):
    base, headers = api
    answer = httpx.post(f"{base}/similar", headers=headers["viewer"], timeout=60, json={
        "text": "Ерлан Сапаров призвал всех выйти 9 мая на шествие Бессмертного полка"})
    results = answer.json()["results"]
    assert results[0]["same_claim"] and "Сапаров" in results[0]["post"]["text"]
    unknown_url = httpx.post(f"{base}/similar", headers=headers["viewer"],
                             json={"text": "https://example.org/never-stored"})
    assert unknown_url.status_code == 404 and "no stored post has the URL" in unknown_url.json()["error"]


def test_the_openapi_document_describes_every_api_endpoint(api):
    base, _ = api
    document = httpx.get(f"{base}/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["token"] == {"type": "http", "scheme": "bearer"}
    app = create_app(make_settings("sqlite://"))
    documented = {(path, method.upper()) for path, operations in document["paths"].items()
                  for method in operations}
    served = {(rule.rule.replace("<int:", "{").replace(">", "}"), method)
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              and rule.endpoint != "api.openapi" for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
