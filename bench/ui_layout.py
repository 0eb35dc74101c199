"""How long each page of the review UI takes to show in Chromium with hostile posts stored.

    python -m bench.ui_layout [--repeat 3]

Builds a store in a temporary SQLite file (the bundled sample wave, the hostile posts of
tests/test_hostile_input.py, a 200,000-character unbroken run, Markdown bombs, a title of
bidi controls), serves the app on 127.0.0.1, signs in as an admin in Debian's Chromium at
1366 × 900 and opens every page. For each page: the server's answer (responseEnd), the
browser's own work (parsing, style and layout: domComplete - responseEnd) and the whole
(loadEventEnd), the median of --repeat loads in milliseconds, and the page's width (no
sideways scroll: at most 1366). The target is under 1,000 ms for the whole. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from bench.host import describe_host
from config import load_settings
from config.secret_key import demo_secret_key

CHROMIUM = "/usr/bin/chromium"
SAMPLE = Path(__file__).resolve().parent.parent / "monitor" / "sample_data" / "demo_posts.jsonl"
TIMING = """() => { const [n] = performance.getEntriesByType('navigation');
  return [n.responseEnd, n.domComplete - n.responseEnd, n.loadEventEnd,
          document.documentElement.scrollWidth]; }"""


def hostile_posts() -> list[dict]:
    from tests.test_hostile_input import NASTY

    texts = [*(post["text"] for post in NASTY), "Ж" * 200_000, "**" * 50_000 + "[x](" * 10_000,
             "https://t.me/" + "a" * 5_000, "\u202eedisni_ytamla@ " * 200]
    return [{"source": f"@hostile_{n}", "source_title": "\u202eedisni_ytamla@" + "W" * 300, "id": n,
             "date": "2025-05-06T08:00:00+00:00", "text": text} for n, text in enumerate(texts)]


def build_store(folder: Path):
    from cli.ingest import import_file
    from monitor.accounts.users import create_user
    from monitor.db.migrate import upgrade
    from monitor.db.models import Role
    from monitor.db.session import make_engine, make_session_factory, unit_of_work

    settings = load_settings(database_url=f"sqlite:///{folder / 'store.db'}", celery_always_eager=True,
                             media_dir=str(folder / "media"), secret_key=demo_secret_key(folder))
    upgrade(settings.database_url)
    import_file(settings, SAMPLE)
    hostile = folder / "hostile.jsonl"
    hostile.write_text("\n".join(json.dumps(post) for post in hostile_posts()))
    import_file(settings, hostile)
    with unit_of_work(make_session_factory(make_engine(settings.database_url))) as session:
        create_user(session, "bench", "bench-password-1", Role.admin, actor="bench")
    return settings


def page_paths(settings) -> list[str]:
    from sqlalchemy import select

    from monitor.db.models import Cluster
    from monitor.db.session import make_engine, make_session_factory, unit_of_work

    with unit_of_work(make_session_factory(make_engine(settings.database_url))) as session:
        clusters = list(session.scalars(select(Cluster.id).order_by(Cluster.post_count.desc())))
    return ["/", "/?status=all", "/search?q=шествие", "/search?q=ЖЖЖ", f"/similar?cluster={clusters[0]}",
            "/sources", "/watchlists", "/known-claims", "/webhooks", "/users", "/audit", "/tokens",
            *(f"/clusters/{cluster_id}" for cluster_id in clusters)]


def measure(base: str, paths: list[str], repeat: int) -> dict:
    figures = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(base + "/login")
        page.fill("input[name=name]", "bench")
        page.fill("input[name=password]", "bench-password-1")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        for path in paths:
            page.goto(base + path)  # once first: the model and caches load for /similar
            loads = []
            for _ in range(repeat):
                page.goto(base + path, wait_until="load")
                loads.append(page.evaluate(TIMING))
            figures[path] = {"server_ms": round(statistics.median(load[0] for load in loads)),
                             "browser_ms": round(statistics.median(load[1] for load in loads)),
                             "total_ms": round(statistics.median(load[2] for load in loads)),
                             "width_px": max(load[3] for load in loads)}
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = build_store(Path(folder))
        from web import create_app

        server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            pages = measure(f"http://127.0.0.1:{server.server_port}", page_paths(settings), options.repeat)
        finally:
            server.shutdown()
    slowest = max(pages, key=lambda path: pages[path]["total_ms"])
    print(json.dumps({"host": describe_host(), "pages": pages, "slowest": slowest,
                      "slowest_total_ms": pages[slowest]["total_ms"],
                      "widest_px": max(page["width_px"] for page in pages.values())}, ensure_ascii=False))


if __name__ == "__main__":
    main()
