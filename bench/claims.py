"""What importing fact-checkers' claims costs: the 14,231 CheckThat! claims (Snopes), as a
Data Commons ClaimReview feed, into a new SQLite database.

    python -m bench.claims [--embed]

Times reading the feed, the first import, a second import of the same feed (which must
change nothing) and, with --embed, embedding the claims with the configured model as the
embed worker does. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench.host import describe_host
from config import load_settings
from monitor.alerts.known_claims import embed_new_claims
from monitor.claims.claimreview import parse_claimreviews
from monitor.claims.imports import import_reviews
from monitor.db.migrate import upgrade
from monitor.db.session import make_engine, make_session_factory, unit_of_work
from monitor.embed.encoder import Encoder
from monitor.evaluation.datasets import checkthat_claimreview_feed

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
VCLAIMS = SHARED_DATA / "claims" / "checkthat22-en" / "vclaims.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embed", action="store_true", help="Embed the claims too (minutes on a CPU).")
    options = parser.parse_args()
    feed = json.dumps(checkthat_claimreview_feed(VCLAIMS)).encode()
    figures: dict = {"host": describe_host(), "feed_mb": round(len(feed) / 1e6, 1)}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{os.path.join(folder, 'claims.db')}"
        upgrade(url)
        sessions = make_session_factory(make_engine(url))
        started = time.perf_counter()
        parsed = parse_claimreviews(feed)
        figures["parse_seconds"] = round(time.perf_counter() - started, 2)
        figures["reviews"], figures["problems"] = len(parsed.claims), len(parsed.problems)
        for run in ("first", "second"):
            started = time.perf_counter()
            with unit_of_work(sessions) as session:
                result = import_reviews(session, parsed.claims, "bench", "checkthat")
            figures[f"{run}_import_seconds"] = round(time.perf_counter() - started, 2)
            figures[f"{run}_import"] = vars(result)
        if options.embed:
            encoder = Encoder.from_settings(load_settings(database_url=url))
            started = time.perf_counter()
            figures["embedded"] = embed_new_claims(sessions, encoder)
            figures["embed_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
