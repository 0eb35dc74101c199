"""News ingestion against a real HTTP server on 127.0.0.1 serving the real CNN feed."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from monitor.db.models import MediaFile, Post, PostMedia, PostStage, Source, Stage, utcnow
from monitor.news.feeds import parse_feed
from monitor.news.http import FetchError, HttpPolicy, fetch, make_client
from monitor.news.politeness import reserve_slot
from monitor.news.sources import add_feed
from monitor.ssrf import TargetPolicy
from tests.conftest import SHARED_DATA, make_settings, monitor_command
from tests.news_site import FEED_ETAG, serve_news_site
from workers.celery_app import app
from workers.tasks import fetch_feed_task, poll_due_feeds_task

CNN_ENTRIES = 69


@pytest.fixture(scope="module")
def news_site():
    server, site = serve_news_site()
    yield site
    server.shutdown()


@pytest.fixture
def settings(database):
    """Short HTTP limits, so slow and oversized responses fail fast."""
    return make_settings(database.url, fetch_allowed_addresses="127.0.0.1", http_read_timeout=1.0,
                         http_max_bytes=1_000_000,
                         domain_min_interval_seconds=0, feed_max_failures=3)


@pytest.fixture
def pipeline(eager_pipeline, settings):
    return settings


def feed(database, url: str, interval: int = 900) -> int:
    with database.session() as session:
        return add_feed(session, url, interval, "test").id


def source(database, source_id: int) -> Source:
    with database.session() as session:
        return session.get(Source, source_id)


def posts(database) -> list[Post]:
    with database.session() as session:
        return list(session.scalars(select(Post).order_by(Post.id)))


def test_real_feed_brings_every_article_with_its_full_text_once(database, pipeline, news_site):
    source_id = feed(database, news_site.url("/cnn.rss"))
    result = fetch_feed_task(source_id)
    assert result == {"status": "fetched", "new_entries": CNN_ENTRIES, "error": None, "warning": None}

    stored = posts(database)
    assert len(stored) == CNN_ENTRIES
    with database.session() as session:
        assert set(session.scalars(select(PostStage.stage))) == {Stage.clustered}
    full = [post for post in stored if post.text_origin == "article"]
    summary_only = [post for post in stored if post.text_origin == "feed-summary"]
    assert len(full) == 53 and len(summary_only) == 16  # 16 entries whose page has no main text
    article = full[0]
    assert "Officials familiar with the matter" in article.text
    for boilerplate in ("We use cookies", "Related posts", "All Rights Reserved", "Business"):
        assert boilerplate not in article.text
    assert article.canonical_url.startswith(news_site.base + "/cnn/")
    assert article.language == "en" and article.title


def test_an_unchanged_feed_is_asked_conditionally_and_adds_nothing(database, pipeline, news_site):
    source_id = feed(database, news_site.url("/cnn.rss"))
    fetch_feed_task(source_id)
    assert source(database, source_id).etag == FEED_ETAG

    again = fetch_feed_task(source_id)
    assert again["status"] == "not-modified"
    assert news_site.requests[-1][1].get("If-None-Match") == FEED_ETAG
    assert len(posts(database)) == CNN_ENTRIES


def test_the_same_article_through_a_second_feed_with_tracking_links_is_stored_once(
        database, pipeline, news_site):
    fetch_feed_task(feed(database, news_site.url("/cnn.rss")))
    other = fetch_feed_task(feed(database, news_site.url("/tracking.rss")))
    assert other["status"] == "fetched" and other["new_entries"] == 0
    assert len(posts(database)) == CNN_ENTRIES


@pytest.mark.parametrize("path, error", [
    ("/limited.rss", "HTTP 429"),
    ("/down.rss", "HTTP 503"),
    ("/slow.rss", "timed out"),
    ("/huge.rss", "over the 1000000-byte cap"),
    ("/garbage.rss", "malformed feed, no entry could be read"),
    ("/index.html", "not a feed (text/html)"),
    ("/nowhere.rss", "HTTP 404"),
    ("/cut.rss", "cut short"),
    ("/moved.rss", "refused: http://169.254.169.254/latest/meta-data/: 169.254.169.254 resolves to "
                   "169.254.169.254, an internal address"),
])
def test_a_failing_feed_gets_a_clear_error_and_a_later_retry(database, pipeline, news_site, path, error):
    source_id = feed(database, news_site.url(path))
    before = utcnow()
    result = fetch_feed_task(source_id)
    assert result["status"] == "failed" and error in result["error"]
    failed = source(database, source_id)
    assert failed.error_count == 1 and error in failed.last_error
    assert failed.next_fetch_at >= before + timedelta(seconds=900)
    assert failed.paused_reason is None


def test_retry_after_is_honoured_when_longer_than_the_backoff(database, pipeline, news_site):
    source_id = feed(database, news_site.url("/limited.rss"), interval=60)
    before = utcnow()
    fetch_feed_task(source_id)
    assert source(database, source_id).next_fetch_at >= before + timedelta(seconds=120)


def test_a_feed_that_keeps_failing_is_paused_with_the_reason_and_not_polled(
        database, pipeline, news_site):
    source_id = feed(database, news_site.url("/down.rss"))
    for _ in range(3):
        fetch_feed_task(source_id)
    paused = source(database, source_id)
    assert paused.paused_reason.startswith("paused after 3 failures in a row; last: HTTP 503")
    with database.session() as session:
        session.get(Source, source_id).next_fetch_at = utcnow() - timedelta(hours=1)
    hits = news_site.hits("/down.rss")
    assert poll_due_feeds_task() == 0
    assert news_site.hits("/down.rss") == hits


def test_a_truncated_feed_keeps_the_entries_before_the_break_and_says_so(
        database, pipeline, news_site):
    source_id = feed(database, news_site.url("/truncated.rss"))
    result = fetch_feed_task(source_id)
    assert result["status"] == "fetched" and 0 < result["new_entries"] < CNN_ENTRIES
    assert "not well-formed" in result["warning"]
    assert len(posts(database)) == result["new_entries"]
    assert "not well-formed" in source(database, source_id).last_error


def test_a_windows_1251_feed_and_a_json_feed_read_cyrillic_right_and_meet_in_one_article(
        database, pipeline, news_site):
    rss = fetch_feed_task(feed(database, news_site.url("/cp1251.rss")))
    assert rss["status"] == "fetched" and rss["new_entries"] == 1
    json_feed = fetch_feed_task(feed(database, news_site.url("/feed.json")))
    assert json_feed["status"] == "fetched" and json_feed["new_entries"] == 0
    assert "items[1]: no url" in json_feed["warning"]
    stored, = posts(database)
    assert stored.title == "Аким Алматы: видео с призывом — фейк"
    assert "дипфейком" in stored.text and stored.language == "ru"


def test_a_feed_declaring_the_wrong_encoding_is_read_in_the_right_one(database, pipeline, news_site):
    source_id = feed(database, news_site.url("/mislabelled.rss"))
    result = fetch_feed_task(source_id)
    assert result["status"] == "fetched" and result["new_entries"] == 1
    assert result["warning"] == "declared encoding was wrong; read as cp1251"
    assert source(database, source_id).last_error == result["warning"]
    entry, = parse_feed(httpx.get(news_site.url("/mislabelled.rss")).content).entries
    assert entry.title == "Аким Алматы: видео — фейк"


def test_an_article_reached_through_another_url_is_stored_under_its_rel_canonical(
        database, pipeline, news_site):
    assert fetch_feed_task(feed(database, news_site.url("/amp.rss")))["new_entries"] == 1
    stored, = posts(database)
    assert stored.canonical_url == news_site.url("/kz/akim-deepfake")
    # A second feed linking the canonical URL finds the article already there.
    assert fetch_feed_task(feed(database, news_site.url("/cp1251.rss")))["new_entries"] == 0
    assert len(posts(database)) == 1


def test_requests_to_one_domain_are_spaced_across_workers(database):
    now = utcnow()
    with database.session() as first_worker:
        assert reserve_slot(first_worker, "news.example.kz", 2.0, now) == 0
    with database.session() as second_worker:
        assert reserve_slot(second_worker, "news.example.kz", 2.0, now) == 2.0
    with database.session() as third_worker:
        assert reserve_slot(third_worker, "news.example.kz", 2.0, now + timedelta(seconds=1)) == 3.0
    with database.session() as other_domain:
        assert reserve_slot(other_domain, "factcheck.example.kz", 2.0, now) == 0


def test_beat_polls_only_the_feeds_that_are_due(database, pipeline, news_site):
    due = feed(database, news_site.url("/cnn.rss"))
    later = feed(database, news_site.url("/cp1251.rss"))
    with database.session() as session:
        session.get(Source, later).next_fetch_at = utcnow() + timedelta(hours=1)
    assert poll_due_feeds_task() == 1
    assert source(database, due).last_success_at is not None
    assert source(database, later).last_fetched_at is None
    assert poll_due_feeds_task() == 0  # fetched: not due again before its interval
    assert "poll-due-feeds" in app.conf.beat_schedule


def test_feeds_are_added_listed_and_fetched_from_the_command_line(news_site, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "CELERY_ALWAYS_EAGER": "true",
           "DOMAIN_MIN_INTERVAL_SECONDS": "0", "FETCH_ALLOWED_ADDRESSES": "127.0.0.1"}
    added = monitor_command("sources", "add-feed", news_site.url("/cp1251.rss?utm_source=x"), env=env)
    assert added.returncode == 0, added.stderr
    assert f"feed source 1: {news_site.url('/cp1251.rss')} every 900 s" in added.stdout
    fetched = monitor_command("sources", "fetch", "1", env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert "source 1: fetched, 1 new article\n" in fetched.stdout
    refused = monitor_command("sources", "add-feed", "ftp://example.org/feed", env=env)
    assert refused.returncode == 1 and "must start with http:// or https://" in refused.stderr
    missing = monitor_command("sources", "fetch", "42", env=env)
    assert missing.returncode == 1 and "no feed source with id 42" in missing.stderr
    listed = monitor_command("sources", "list", "--json", env=env)
    assert '"error_count": 0' in listed.stdout


def test_an_entry_without_a_date_takes_the_article_pages_date(database, pipeline, news_site):
    fetch_feed_task(feed(database, news_site.url("/amp.rss")))
    stored, = posts(database)
    assert stored.published_at.isoformat() == "2025-05-06T00:00:00+00:00"


def test_a_feed_on_an_internal_address_is_refused_unless_allowed(database, news_site, eager_pipeline):
    """SSRF: an admin's feed URL must not make the workers read the monitor's own network."""
    from workers.celery_app import configure

    configure(eager_pipeline, make_settings(database.url, domain_min_interval_seconds=0))  # no allowlist
    source_id = feed(database, news_site.url("/cnn.rss"))
    hits_before = news_site.hits("/cnn.rss")
    result = fetch_feed_task(source_id)
    assert result["status"] == "failed"
    assert "resolves to 127.0.0.1, an internal address; add it to FETCH_ALLOWED_ADDRESSES" in result["error"]
    assert news_site.hits("/cnn.rss") == hits_before and posts(database) == []


def test_a_name_that_points_inside_by_the_time_of_connecting_is_refused(news_site, monkeypatch):
    """DNS rebinding: the first answer is public and passes the check before the request;
    the next one, which the connection would use, is the monitor's own host."""
    resolve = socket.getaddrinfo
    answers = iter(["93.184.215.14"])

    def rebinding_dns(host, port, *args, **kwargs):  # a stand-in for a hostile name server
        if host == "news.rebinding.test":
            return resolve(next(answers, "127.0.0.1"), port, *args, **kwargs)
        return resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    settings = make_settings("sqlite://")  # nothing internal allowed
    client = make_client(HttpPolicy.from_settings(settings), TargetPolicy.for_fetching(settings))
    hits = news_site.hits("/cnn.rss")
    with pytest.raises(FetchError, match="news.rebinding.test resolves to 127.0.0.1, an internal address"):
        fetch(client, news_site.url("/cnn.rss").replace("127.0.0.1", "news.rebinding.test"),
              HttpPolicy.from_settings(settings))
    assert news_site.hits("/cnn.rss") == hits


ROBOTS_TXT = """User-agent: monitor
Disallow: /cnn/
Disallow: /cp1251.rss

User-agent: *
Disallow:
"""


@pytest.fixture
def robots_txt(news_site):
    news_site.robots_txt = ROBOTS_TXT
    yield
    news_site.robots_txt = None


def test_article_pages_a_sites_robots_txt_disallows_are_not_fetched(
        database, eager_pipeline, news_site, robots_txt):
    from workers.celery_app import configure

    # A user agent of its own, so that no robots.txt another test's workers read is reused.
    configure(eager_pipeline, make_settings(database.url, fetch_allowed_addresses="127.0.0.1",
                                            domain_min_interval_seconds=0,
                                            http_user_agent="monitor/0.1 (robots test)"))
    pages_before = sum(news_site.hits(path) for path, _ in news_site.requests if path.startswith("/cnn/"))
    result = fetch_feed_task(feed(database, news_site.url("/cnn.rss")))
    assert result["status"] == "fetched" and result["new_entries"] == CNN_ENTRIES
    stored = posts(database)
    assert len(stored) == CNN_ENTRIES and {post.text_origin for post in stored} == {"feed-summary"}
    pages_after = sum(news_site.hits(path) for path, _ in news_site.requests if path.startswith("/cnn/"))
    assert pages_after == pages_before
    assert news_site.hits("/robots.txt") >= 1


def test_a_feed_its_sites_robots_txt_disallows_is_paused_and_listed_so(news_site, tmp_path, robots_txt):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "CELERY_ALWAYS_EAGER": "true",
           "DOMAIN_MIN_INTERVAL_SECONDS": "0", "FETCH_ALLOWED_ADDRESSES": "127.0.0.1"}
    assert monitor_command("sources", "add-feed", news_site.url("/cp1251.rss"), env=env).returncode == 0
    hits = news_site.hits("/cp1251.rss")
    fetched = monitor_command("sources", "fetch", "1", env=env)
    assert fetched.returncode == 1 and "/robots.txt disallows" in fetched.stderr
    assert news_site.hits("/cp1251.rss") == hits
    listed = monitor_command("sources", "list", env=env)
    assert "PAUSED: paused by robots.txt" in listed.stdout and "/cp1251.rss" in listed.stdout


def test_an_articles_lead_image_and_video_file_go_to_the_media_stage(database, pipeline, news_site):
    media = SHARED_DATA / "media"
    news_site.files = {"photo.jpg": media / "images" / "aaa-orig.jpg",
                       "clip.mp4": media / "videos" / "pattern-sd-grey-bar.mp4"}
    fetch_feed_task(feed(database, news_site.url("/media.rss")))
    with database.session() as session:
        found = session.execute(select(PostMedia.origin, PostMedia.status, MediaFile.kind)
                                .join(MediaFile, MediaFile.id == PostMedia.media_file_id)
                                .order_by(PostMedia.position)).all()
    assert found == [(news_site.url("/files/photo.jpg"), "hashed", "image"),
                     (news_site.url("/files/clip.mp4"), "hashed", "video")]
