"""What moderators and newsrooms see of media: the cluster page's thumbnails and playable
video in a real Chromium, the files served only to signed-in users with fixed content
types, each post's media and hashes in the API, and the hashes in webhook payloads."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from cli.ingest import import_file
from monitor.accounts.tokens import issue_token
from monitor.db.models import ClusterMembership, MediaFile, Post, Role, User
from monitor.notify.payload import cluster_media_hashes
from monitor.review.queries import most_carried_media
from tests.conftest import SHARED_DATA, make_settings
from tests.test_web_ui import sign_in
from web import create_app

VIDEOS, IMAGES = SHARED_DATA / "media" / "videos", SHARED_DATA / "media" / "images"


@pytest.fixture
def settings(database):
    """Two posts from two channels open an alert: the clip's wave is in the queue."""
    return make_settings(database.url, alert_min_posts=2, alert_min_sources=2)


@pytest.fixture
def served_media(database, eager_pipeline, accounts, live_server, tmp_path):
    settings = eager_pipeline.conf.monitor_settings
    posts = [
        {"source": "@first", "id": 1, "date": "2025-05-06T08:00:00+00:00",
         "text": "Аким призвал всех выйти на шествие 9 мая",
         "media": [str(VIDEOS / "pattern-hd-no-bar.mp4")]},
        {"source": "@second", "id": 2, "date": "2025-05-06T08:20:00+00:00", "text": "🔥",
         "media": [str(VIDEOS / "pattern-sd-grey-bar.mp4")]},
        {"source": "@third", "id": 3, "date": "2025-05-06T08:30:00+00:00", "text": "",
         "media": [str(IMAGES / "aaa-orig.jpg")]},
        {"source": "@third", "id": 4, "date": "2025-05-06T08:40:00+00:00", "text": "",
         "media": [str(IMAGES / "high-contrast.jpg")]},
    ]
    lines = [json.dumps(post, ensure_ascii=False) + "\n" for post in posts]
    (tmp_path / "posts.jsonl").write_text("".join(lines))
    import_file(settings, tmp_path / "posts.jsonl")
    with database.session() as session:
        cluster_of = dict(session.execute(
            select(Post.external_id, ClusterMembership.cluster_id)
            .join(ClusterMembership, ClusterMembership.post_id == Post.id)).all())
        video = session.scalar(select(MediaFile.sha256).where(MediaFile.kind == "video"))
        viewer = session.scalar(select(User).where(User.role == Role.viewer))
        token = issue_token(session, viewer, "media test", Role.viewer, "setup").secret
    assert cluster_of["1"] == cluster_of["2"] and cluster_of["3"] == cluster_of["4"] != cluster_of["1"]
    return live_server(create_app(settings)), cluster_of, video, token


@pytest.mark.browser
def test_the_cluster_page_shows_thumbnails_and_plays_the_video(served_media, browser):
    base, cluster_of, video, _ = served_media
    page = sign_in(browser, base, "viewer")
    page.goto(f"{base}/clusters/{cluster_of['1']}")
    figure = page.locator(f"figure.media-file[data-sha256='{video}']")
    assert figure.count() == 1  # each variant is a file of its own, with its own figure
    assert page.locator("figure.media-file video").count() == 2
    poster = page.locator("figure.media-file video").first.get_attribute("poster")
    answer = page.request.get(base + poster)
    assert answer.headers["content-type"] == "image/jpeg"
    clip = page.request.get(f"{base}/media/{video}")
    assert clip.status == 200 and clip.headers["content-type"] == "video/mp4"
    assert clip.headers["x-content-type-options"] == "nosniff"
    assert "@first" in figure.inner_text() and "@second" not in figure.inner_text()
    page.goto(f"{base}/clusters/{cluster_of['3']}")
    image = page.locator("figure.media-file img").first
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    original = page.request.get(base + page.locator("figure.media-file a").first.get_attribute("href"))
    assert original.headers["content-type"] == "application/octet-stream"
    assert original.headers["content-disposition"].startswith("attachment")
    page.goto(f"{base}/")  # the queue: the clip's alert shows its video
    row = page.locator(f"tr:has(a[href^='/clusters/{cluster_of['1']}?'])")
    assert row.locator(f".media-preview[data-sha256='{video}'] video").count() == 1
    anonymous = httpx.get(f"{base}/media/{video}", follow_redirects=False)
    assert anonymous.status_code in (302, 401) and anonymous.content[:4] != b"\x00\x00\x00\x20"


def test_the_api_and_webhooks_carry_each_posts_media_and_hashes(served_media, database):
    base, cluster_of, video, token = served_media
    answer = httpx.get(f"{base}/api/v1/clusters/{cluster_of['1']}",
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    media = {post["external_id"]: post["media"] for post in answer.json()["posts"]}
    assert media["1"][0]["sha256"] == video and media["1"][0]["kind"] == "video"
    assert {"frame", "quality", "pdq", "timestamp"} <= media["1"][0]["vpdq"][0].keys()
    assert media["1"][0]["thumbnail_url"] == f"/media/{video}/thumbnail"
    with database.session() as session:
        listed = cluster_media_hashes(session, cluster_of["3"])
        shown = most_carried_media(session, [cluster_of["1"], cluster_of["3"]])  # in the queue's rows
        assert {cluster_id: media.kind for cluster_id, media in shown.items()} == {
            cluster_of["1"]: "video", cluster_of["3"]: "image"}
    assert [item["kind"] for item in listed] == ["image", "image"]
    assert all(len(item["pdq"]) == 64 and item["posts"] == 1 for item in listed)
