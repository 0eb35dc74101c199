"""The review UI in a real headless Chromium, against the app served on 127.0.0.1:
sign in, triage, decide, and see it in the audit trail; hostile posts run nothing."""

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cli.ingest import import_file
from tests.conftest import ACCOUNTS, PASSWORD, make_settings
from tests.test_pipeline import SAMPLE
from tests.webhook_receiver import Receiver
from web import create_app

HOSTILE = ('<script>window.__pwned = true</script><img src=x onerror="window.__pwned=true"> '
           "\u202eВидео: Сапаров призвал всех жителей выйти 9 мая на шествие Бессмертного полка")
# Set to a folder (docs/screenshots) to save pictures of the main pages while the tests run.
SCREENSHOTS = os.environ.get("MONITOR_SCREENSHOTS")


@pytest.fixture
def settings(database):
    """The receiver of the webhook test listens on 127.0.0.1: let the SSRF guard allow it."""
    return make_settings(database.url, webhook_allowed_addresses="127.0.0.1")


@pytest.fixture
def served_ui(database, eager_pipeline, accounts, live_server, tmp_path):
    """The sample wave plus hostile reposts of it, served by the app on an ephemeral port."""
    settings = eager_pipeline.conf.monitor_settings
    import_file(settings, SAMPLE)
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text("\n".join(json.dumps({
        "source": f"@troll_{n}", "id": n, "text": HOSTILE, "url": "javascript:alert(1)",
        "date": "2025-05-06T08:40:00+00:00"}) for n in range(2)))
    import_file(settings, hostile)
    return live_server(create_app(settings))


def sign_in(browser, base: str, role: str):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(base + "/")
    page.wait_for_url("**/login**")
    page.fill("input[name=name]", ACCOUNTS[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return page


def screenshot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.mark.browser
def test_moderator_signs_in_triages_confirms_with_a_label_and_finds_it_in_the_audit_trail(served_ui, browser):
    page = sign_in(browser, served_ui, "moderator")
    rows = page.locator("table.alerts tbody tr")
    expect(rows).to_have_count(1)
    assert "from 9 sources" in rows.first.locator(".reasons").inner_text()
    screenshot(page, "alert-queue")

    page.select_option("select[name=status]", "all")
    page.fill("input[name=language]", "ru")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.alerts tbody tr")).to_have_count(1)

    page.locator("table.alerts tbody tr").first.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator("table.alerts tbody tr").first).to_contain_text(ACCOUNTS["moderator"])

    page.locator("table.alerts tbody tr a").first.click()
    page.wait_for_url("**/clusters/*")
    expect(page.locator("table.posts tbody tr")).to_have_count(10)
    expect(page.locator("svg.timeline rect")).not_to_have_count(0)
    screenshot(page, "cluster")

    page.select_option("form.decision select[name=decision]", "confirm")
    page.select_option("form.decision select[name=label]", "deepfake")
    page.fill("form.decision textarea[name=note]", "The akim's office denied the video")
    page.click("form.decision button[type=submit]")
    # Come from the queue, the moderator goes on to its next alert; here no other is in it.
    flashes = page.locator(".flash-ok")
    expect(flashes.first).to_contain_text(f"confirmed as deepfake by {ACCOUNTS['moderator']}")
    expect(flashes.last).to_have_text("no more alerts in this queue")
    assert "status=all" in page.url and "language=ru" in page.url  # the queue's own filters
    page.locator("table.alerts tbody tr a.open").first.click()
    expect(page.locator(".alert-box .status")).to_have_text("confirmed")
    expect(page.locator(".alert-box .label")).to_have_text("deepfake")
    audit = page.locator("table.audit tbody tr")
    expect(audit).to_have_count(2)
    expect(audit.nth(0)).to_contain_text("alert.assign")
    expect(audit.nth(1)).to_contain_text("alert.confirm")
    expect(audit.nth(1)).to_contain_text(ACCOUNTS["moderator"])
    expect(audit.nth(1)).to_contain_text("The akim's office denied the video")


@pytest.mark.browser
def test_hostile_post_text_is_shown_as_text_and_never_runs(served_ui, browser):
    page = sign_in(browser, served_ui, "viewer")
    page.locator("table.alerts tbody tr a").first.click()
    page.wait_for_url("**/clusters/*")
    assert "<script>window.__pwned = true</script>" in page.locator("table.posts").inner_text()
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("table.posts a[href^='javascript:']").count() == 0
    assert page.locator("table.posts img").count() == 0
    for link in page.locator("a[target=_blank]").all():
        assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    page.goto(served_ui + "/search?q=pwned")
    expect(page.locator("table.posts tbody tr")).to_have_count(2)
    assert page.evaluate("window.__pwned === undefined")


@pytest.mark.browser
def test_a_viewer_reads_but_is_offered_no_actions(served_ui, browser):
    page = sign_in(browser, served_ui, "viewer")
    expect(page.get_by_role("button", name="Assign", exact=True)).to_have_count(0)
    expect(page.locator("input[type=checkbox][name=alert_id]")).to_have_count(0)
    assert page.locator("script").count() == 0
    page.locator("table.alerts tbody tr a").first.click()
    page.wait_for_url("**/clusters/*")
    expect(page.locator("form.decision")).to_have_count(0)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)


@pytest.mark.browser
def test_admin_pages_for_sources_watchlists_users_and_webhooks(served_ui, browser):
    page = sign_in(browser, served_ui, "admin")
    page.get_by_role("link", name="Watchlists").click()
    page.select_option("select[name=kind]", "person")
    page.fill("input[name=name]", "Ерлан Сапаров")
    page.fill("textarea[name=variants]", "Erlan Saparov\nСапаров Ерлан")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("table.watchlist tbody")).to_contain_text("Erlan Saparov")
    screenshot(page, "watchlists")

    page.get_by_role("link", name="Users").click()
    page.fill("input[name=name]", "news desk")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".flash-error")).to_contain_text("use 1 to 64 letters")
    page.fill("input[name=name]", "newsdesk")
    page.fill("input[name=password]", PASSWORD)
    page.select_option("form.stacked select[name=role]", "viewer")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("table.users tbody")).to_contain_text("newsdesk")

    page.get_by_role("link", name="Sources").click()
    expect(page.locator("table.sources tbody")).to_contain_text("@troll_0")
    page.fill("input[name=channel]", "https://t.me/Almaty_Inside")
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator("table.sources tbody")).to_contain_text("@almaty_inside")
    screenshot(page, "sources")

    page.goto(served_ui + "/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto(served_ui + "/users")
    page.wait_for_url("**/login**")


@pytest.mark.browser
def test_admin_subscribes_a_newsroom_sends_a_test_event_and_reads_the_delivery_log(served_ui, browser):
    receiver = Receiver(script=[500]).start()
    try:
        page = sign_in(browser, served_ui, "admin")
        page.get_by_role("link", name="Webhooks").click()
        page.fill("input[name=url]", receiver.url)
        page.select_option("select[name=events]", ["alert.opened", "alert.confirmed"])
        page.get_by_role("button", name="Add subscription").click()
        secret = page.locator("code.token").inner_text()
        assert secret.startswith("whsec_")
        receiver.secrets.append(secret)

        page.get_by_role("link", name="Go to the subscription").click()
        assert secret not in page.content()
        page.get_by_role("button", name="Send test event").click()
        expect(page.locator(".flash-error")).to_contain_text("will retry")  # the receiver answered 500
        page.get_by_role("button", name="Redeliver").click()
        expect(page.locator(".flash-ok")).to_contain_text("delivered")
        log = page.locator("table.deliveries tbody tr").first
        expect(log).to_contain_text("webhook.test")
        expect(log.locator("ol.attempts li")).to_have_count(2)
        expect(log.locator("ol.attempts li").nth(0)).to_contain_text("500")
        expect(log.locator("ol.attempts li").nth(1)).to_contain_text("200")
        screenshot(page, "webhook-delivery-log")
        assert [item.verified_with for item in receiver.received] == [[secret]]
    finally:
        receiver.stop()


@pytest.mark.browser
def test_a_moderator_splits_a_post_out_from_the_cluster_page(served_ui, browser):
    page = sign_in(browser, served_ui, "moderator")
    page.locator("table.alerts tbody tr a").first.click()
    page.wait_for_url("**/clusters/*")
    forms = page.locator("form.split")
    before = forms.count()
    assert before > 2
    assert page.locator("form.split [id]").count() == 0  # no id repeated on every row
    forms.last.locator("input[name=reason]").fill("a different claim")
    forms.last.get_by_role("button", name="Split out").click()
    expect(page.locator(".flash")).to_contain_text("split out into cluster")
    expect(page.locator("form.split")).to_have_count(before - 1)


@pytest.mark.browser
def test_a_huge_post_neither_widens_nor_lengthens_its_cluster_page(served_ui, browser, database, tmp_path):
    from sqlalchemy import select

    from monitor.db.models import ClusterMembership, Post
    from workers.tasks import store_posts_task

    huge = {"unbroken": "Ж" * 200_000, "prose": "длинный пост без конца " * 9_000}
    store_posts_task([{"source_kind": "telegram", "source_key": "@flood", "external_id": name, "text": text}
                      for name, text in huge.items()])
    page = sign_in(browser, served_ui, "viewer")
    for name in huge:
        with database.session() as session:
            cluster_id = session.scalar(select(ClusterMembership.cluster_id).join(Post)
                                        .where(Post.external_id == name))
        page.goto(f"{served_ui}/clusters/{cluster_id}")
        size = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        assert size[0] <= 1366 and size[1] < 10_000, (name, size)
        expect(page.locator("details.rest summary")).to_contain_text("more characters")


@pytest.mark.browser
def test_no_page_scrolls_sideways_at_1366_px_with_hostile_posts_stored(served_ui, browser, database):
    from sqlalchemy import select

    from monitor.db.models import Cluster, ClusterMembership, Post, Source
    from tests.test_hostile_input import NASTY
    from workers.tasks import store_posts_task

    hostile = [*(post["text"] for post in NASTY), "Ж" * 200_000, "**" * 50_000 + "[x](" * 10_000,
               "https://t.me/" + "a" * 5_000, "\u202eedisni_ytamla@ " * 200]
    store_posts_task([{"source_kind": "telegram", "source_key": f"@hostile_{n}", "external_id": str(n),
                       "source_title": "\u202eedisni_ytamla@" + "W" * 300, "text": text}
                      for n, text in enumerate(hostile)])
    with database.session() as session:
        clusters = sorted(set(session.scalars(
            select(ClusterMembership.cluster_id).join(Post).join(Post.source)
            .where(Source.key.like("@hostile\\_%", escape="\\")))))
        biggest = session.scalar(select(Cluster.id).order_by(Cluster.post_count.desc()).limit(1))
    page = sign_in(browser, served_ui, "admin")
    pages = ["/", "/?status=all", "/search?q=шествие", "/search?q=ЖЖЖ", f"/similar?cluster={biggest}",
             "/sources", "/watchlists", "/known-claims", "/webhooks", "/users", "/audit", "/tokens",
             *(f"/clusters/{cluster_id}" for cluster_id in clusters)]
    for path in pages:
        answer = page.goto(served_ui + path)
        assert answer.status == 200, path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, (path, width)
