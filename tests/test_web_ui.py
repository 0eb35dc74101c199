"""The read-only review UI in a real headless Chromium, against a real HTTP server on 127.0.0.1."""

import json
import threading

import httpx
import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from cli.main import import_file
from tests.test_pipeline import SAMPLE
from web import create_app

CHROMIUM = "/usr/bin/chromium"
HOSTILE = ('<script>window.__pwned = true</script><img src=x onerror="window.__pwned=true"> '
           "\u202eВидео: Сапаров призвал всех жителей выйти 9 мая на шествие Бессмертного полка")


@pytest.fixture
def served_ui(database, eager_pipeline, tmp_path):
    """The sample wave plus hostile reposts of it, served by the app on an ephemeral port."""
    settings = eager_pipeline.conf.monitor_settings
    import_file(settings, SAMPLE)
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text("\n".join(json.dumps({
        "source": f"@troll_{n}", "id": n, "text": HOSTILE, "url": "javascript:alert(1)",
        "date": "2025-05-06T08:40:00+00:00"}) for n in range(2)))
    import_file(settings, hostile)
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.mark.browser
def test_moderator_goes_from_the_alert_list_to_the_cluster_and_sees_every_post(served_ui, browser):
    page = browser.new_page()
    page.goto(served_ui + "/")
    rows = page.locator("table.alerts tbody tr")
    assert rows.count() == 1
    assert "from 9 sources" in rows.first.locator(".reasons").inner_text()

    rows.first.locator("a").first.click()
    page.wait_for_url("**/clusters/*")
    assert page.locator("h1").inner_text().startswith("Cluster ")
    posts = page.locator("table.posts tbody tr")
    assert posts.count() == 10
    assert "@troll_0" in page.locator("table.posts").inner_text()


@pytest.mark.browser
def test_hostile_post_text_is_shown_as_text_and_never_runs(served_ui, browser):
    page = browser.new_page()
    page.goto(served_ui + "/")
    page.locator("table.alerts a").first.click()
    page.wait_for_url("**/clusters/*")
    assert "<script>window.__pwned = true</script>" in page.locator("table.posts").inner_text()
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("table.posts a[href^='javascript:']").count() == 0


def test_unknown_filter_and_unknown_cluster_get_clear_errors(served_ui):
    bad_filter = httpx.get(served_ui + "/?status=everything")
    assert bad_filter.status_code == 400 and "unknown status" in bad_filter.text
    missing = httpx.get(served_ui + "/clusters/999999")
    assert missing.status_code == 404 and "no cluster 999999" in missing.text
    assert httpx.get(served_ui + "/healthz").json() == {"status": "ok"}
