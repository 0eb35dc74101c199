"""A real HTTP server on 127.0.0.1 that plays a news site: the real CNN feed from
../shared/data with its links pointed here, article pages with boilerplate around
the text, and the ways real sites fail (304, 429, slow, oversized, broken XML)."""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import feedparser

from tests.conftest import SHARED_DATA

CNN_FEED = SHARED_DATA / "feeds" / "real-cnn.rss"
CNN_ORIGIN = "https://www.cnn.com/"
FEED_ETAG = '"cnn-v1"'
FEED_LAST_MODIFIED = "Wed, 27 Jul 2022 04:00:00 GMT"

PAGE = """<!doctype html><html lang="en"><head><title>{title} | CNN Politics</title>
<link rel="canonical" href="{canonical}"><meta name="author" content="CNN staff">
<meta property="article:published_time" content="2025-05-06T09:30:00+05:00">
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. <button>Accept all</button></div>
<nav><a href="/">Home</a> <a href="/politics">Politics</a> <a href="/world">World</a>
<a href="/business">Business</a></nav>
<article><h1>{title}</h1>{paragraphs}</article>
<aside class="related"><h3>Related posts</h3><ul><li><a href="/x">Five things to know today</a></li>
<li><a href="/y">Weather: heat wave expected this weekend</a></li></ul></aside>
<footer>© 2022 Cable News Network. All Rights Reserved. Terms of Use | Privacy Policy</footer>
</body></html>"""


# An article with a lead image and a video file in its Open Graph tags.
VIDEO_PAGE = """<!doctype html><html lang="ru"><head><title>Видео с места событий</title>
<meta property="og:image" content="{image}"><meta property="og:video" content="{video}">
<meta property="og:video:type" content="video/mp4"></head><body><article><h1>Видео с места событий</h1>
<p>Очевидцы прислали в редакцию видео, снятое утром на центральной площади города.</p>
<p>Редакция проверяет подлинность записи и обратилась за комментарием в акимат.</p></article></body></html>"""

CUT_SHORT = object()  # promises a full body, sends part of it and hangs up
NAVIGATION_ONLY = b"<html><body><nav><a href='/'>Home</a></nav></body></html>"
HOME_PAGE = b"<html><head><title>Home</title></head><body><p>Welcome</p></body></html>"


@dataclass
class NewsSite:
    base: str = ""
    requests: list[tuple[str, dict]] = field(default_factory=list)
    articles: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (title, summary)
    robots_txt: str | None = None  # served at /robots.txt when set; else 404, as most sites
    files: dict[str, Path] = field(default_factory=dict)  # served at /files/NAME
    claim_feed: str = ""  # served at /claims.json with an ETag of its content

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> int:
        return sum(1 for requested, _ in self.requests if requested == path)

    def cnn_feed(self) -> bytes:
        return CNN_FEED.read_bytes().replace(CNN_ORIGIN.encode(), f"{self.base}/cnn/".encode())


def _routes(site: NewsSite):
    def cnn_feed(handler):
        if handler.headers.get("If-None-Match") == FEED_ETAG:
            return 304, {}, b""
        return 200, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": FEED_ETAG,
                     "Last-Modified": FEED_LAST_MODIFIED}, site.cnn_feed()

    def tracking_feed(_handler):
        # The same articles, linked with tracking parameters: a second outlet's feed.
        body = site.cnn_feed().replace(b".html</link>", b".html?utm_source=rss&amp;fbclid=abc</link>")
        return 200, {"Content-Type": "application/rss+xml"}, body

    def amp_feed(_handler):
        body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>AMP</title><item>'
                f"<title>Аким Алматы: видео — фейк</title><link>{site.base}/amp/kz/akim-deepfake</link>"
                "</item></channel></rss>")
        return 200, {"Content-Type": "application/rss+xml"}, body.encode()

    def article(handler):
        path = urlsplit(handler.path).path
        canonical = path.removeprefix("/amp")  # an AMP copy names the article page as canonical
        path = canonical
        if path not in site.articles:
            return 404, {"Content-Type": "text/html"}, b"<html><body>Not found</body></html>"
        title, summary = site.articles[path]
        if not summary:  # a page that is all navigation: nothing to extract
            return 200, {"Content-Type": "text/html"}, NAVIGATION_ONLY
        paragraphs = "".join(f"<p>{escape(summary)} {escape(extra)}</p>" for extra in (
            "Officials familiar with the matter described the developments on condition of anonymity.",
            "The story is developing and will be updated as more details become available."))
        page = PAGE.format(title=escape(title), canonical=site.base + canonical, paragraphs=paragraphs)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()

    def rate_limited(_handler):
        return 429, {"Retry-After": "120", "Content-Type": "text/plain"}, b"slow down"

    def server_error(_handler):
        return 503, {"Content-Type": "text/plain"}, b"maintenance"

    def slow(_handler):
        time.sleep(3)
        return 200, {"Content-Type": "application/rss+xml"}, site.cnn_feed()

    def huge(handler):
        return 200, {"Content-Type": "application/rss+xml"}, None  # streamed without a length

    def cut_short(_handler):
        return 200, {"Content-Type": "application/rss+xml"}, CUT_SHORT

    def truncated(_handler):
        return 200, {"Content-Type": "application/rss+xml"}, site.cnn_feed()[:60_000]

    def garbage(_handler):
        return 200, {"Content-Type": "application/rss+xml"}, b"<rss><channel><item><title>x</ti"

    def html_page(_handler):
        return 200, {"Content-Type": "text/html"}, HOME_PAGE

    def cyrillic_1251(_handler):
        body = ('<?xml version="1.0" encoding="windows-1251"?><rss version="2.0"><channel>'
                "<title>Новости Алматы</title><item><title>Аким Алматы: видео — фейк</title>"
                f"<link>{site.base}/kz/akim-deepfake</link><description>Видео с призывом выйти на шествие "
                "оказалось дипфейком, сообщили в акимате.</description></item></channel></rss>")
        return 200, {"Content-Type": "application/rss+xml"}, body.encode("windows-1251")

    def mislabelled_1251(handler):
        body = cyrillic_1251(handler)[2].replace(b'encoding="windows-1251"', b'encoding="utf-8"')
        return 200, {"Content-Type": "application/rss+xml"}, body

    def json_feed(_handler):
        body = {"version": "https://jsonfeed.org/version/1.1", "title": "Factcheck KZ", "items": [
            {"id": "1", "url": f"{site.base}/kz/akim-deepfake", "title": "Видео акима — дипфейк",
             "content_text": "Видео с призывом выйти на шествие 9 мая оказалось дипфейком.",
             "date_published": "2025-05-06T09:30:00+05:00"},
            {"id": "2", "title": "An item without a URL"}]}
        return 200, {"Content-Type": "application/feed+json"}, json.dumps(body).encode()

    def robots(handler):
        if site.robots_txt is None:
            return article(handler)
        return 200, {"Content-Type": "text/plain"}, site.robots_txt.encode()

    def media_feed(_handler):
        body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Video news</title><item>'
                f"<title>Видео с места событий</title><link>{site.base}/kz/video-article</link>"
                "</item></channel></rss>")
        return 200, {"Content-Type": "application/rss+xml"}, body.encode()

    def video_article(_handler):
        page = VIDEO_PAGE.format(image="/files/photo.jpg", video=f"{site.base}/files/clip.mp4")
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()

    def media_file(handler):
        name = urlsplit(handler.path).path.removeprefix("/files/")
        if name not in site.files:
            return 404, {"Content-Type": "text/plain"}, b"no such file"
        return 200, {"Content-Type": "application/octet-stream"}, site.files[name].read_bytes()

    def claim_feed(handler):
        tag = f'"{zlib.crc32(site.claim_feed.encode()):x}"'
        if handler.headers.get("If-None-Match") == tag:
            return 304, {"ETag": tag}, b""
        return 200, {"Content-Type": "text/html; charset=utf-8", "ETag": tag}, site.claim_feed.encode()

    def to_metadata(_handler):  # a feed that redirects into the cloud metadata service
        return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""

    return {"/moved.rss": to_metadata, "/cnn.rss": cnn_feed, "/tracking.rss": tracking_feed,
            "/limited.rss": rate_limited,
            "/down.rss": server_error, "/slow.rss": slow, "/huge.rss": huge,
            "/truncated.rss": truncated, "/garbage.rss": garbage, "/index.html": html_page,
            "/cp1251.rss": cyrillic_1251, "/mislabelled.rss": mislabelled_1251,
            "/cut.rss": cut_short, "/feed.json": json_feed, "/amp.rss": amp_feed,
            "/robots.txt": robots, "/media.rss": media_feed, "/claims.json": claim_feed,
            "/kz/video-article": video_article,
            **{f"/files/{name}": media_file for name in ("photo.jpg", "clip.mp4")}}, article


def serve_news_site():
    site = NewsSite()
    routes, article = _routes(site)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            site.requests.append((self.path, dict(self.headers)))
            path = urlsplit(self.path).path
            status, headers, body = (routes.get(path) or article)(self)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is CUT_SHORT:
                feed = site.cnn_feed()
                self.send_header("Content-Length", str(len(feed)))
                self.end_headers()
                self.wfile.write(feed[: len(feed) // 2])
                self.close_connection = True
                return
            if body is None:  # stream 2 MB with no Content-Length; the connection's end ends it
                self.end_headers()
                for _ in range(64):
                    self.wfile.write(b"<!-- padding -->" * 2048)
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_port}"
    for entry in feedparser.parse(site.cnn_feed()).entries:
        site.articles[urlsplit(entry.link).path] = (entry.title, entry.get("summary", ""))
    site.articles["/kz/akim-deepfake"] = ("Аким Алматы: видео с призывом — фейк",
                                          "Видео, на котором аким якобы призывает выйти на шествие, "
                                          "является дипфейком, сообщили в акимате Алматы.")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, site
