""""Find similar" over posts that have left the cluster index: what scanning their stored
vectors costs (monitor/review/similar.py, nearest_placed_before_window).

    python -m bench.similar_scan [--posts 200000] [--postgres-admin-url URL]

Stores --posts posts with random unit vectors of the default model's 384 dimensions,
placed 40 days ago, in a new SQLite database (the embedded mode's) or, with
--postgres-admin-url, a new PostgreSQL database (production's); an index with the default
window of 30 days then holds none of them. Times the scan of all of them for the nearest
to a probe, three times, and prints one JSON object: the median seconds and posts a second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from bench.cluster_stage import template_database
from bench.host import describe_host
from monitor.cluster.index import ClusterIndex
from monitor.db.models import Cluster, ClusterMembership, Embedding, Post, Source, utcnow
from monitor.db.session import make_engine, make_session_factory, unit_of_work
from monitor.review.similar import nearest_placed_before_window

DIMENSIONS, MODEL, DAYS = 384, "bench-model", 30
CHUNK = 20_000


def store_aged_posts(sessions, posts: int) -> None:
    """POSTS posts, each with a vector and a membership made 40 days ago, in one cluster."""
    rng = np.random.default_rng(5)
    placed_at = utcnow() - timedelta(days=DAYS + 10)
    with unit_of_work(sessions) as session:
        source = Source(kind="telegram", key="@bench")
        cluster = Cluster(post_count=posts, source_count=1)
        session.add_all([source, cluster])
        session.flush()
        source_id, cluster_id = source.id, cluster.id
    for start in range(1, posts + 1, CHUNK):
        ids = range(start, min(start + CHUNK, posts + 1))
        vectors = rng.standard_normal((len(ids), DIMENSIONS), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with unit_of_work(sessions) as session:
            session.execute(insert(Post), [{"id": post_id, "source_id": source_id,
                                            "external_id": str(post_id), "text": f"post {post_id}",
                                            "published_at": placed_at} for post_id in ids])
            session.execute(insert(Embedding), [{"post_id": post_id, "model": MODEL, "dimensions": DIMENSIONS,
                                                 "vector": vector.tobytes()}
                                                for post_id, vector in zip(ids, vectors, strict=True)])
            session.execute(insert(ClusterMembership), [{"post_id": post_id, "cluster_id": cluster_id,
                                                         "method": "new", "created_at": placed_at}
                                                        for post_id in ids])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--postgres-admin-url", metavar="URL",
                        help="run on PostgreSQL: a database to create the benchmark's own from")
    options = parser.parse_args()
    rng = np.random.default_rng(6)
    with tempfile.TemporaryDirectory() as folder, \
            template_database(options.postgres_admin_url, Path(folder))[0] as url:
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        store_aged_posts(sessions, options.posts)
        # An index of the default window, whose newest post was placed now.
        index = ClusterIndex(MODEL, days=DAYS)
        index.add_batch([options.posts + 1], rng.standard_normal((1, DIMENSIONS), dtype=np.float32), [[]])
        index.placed_up_to(options.posts + 1, options.posts + 1, utcnow())
        probe = rng.standard_normal(DIMENSIONS, dtype=np.float32)
        probe /= np.linalg.norm(probe)
        timings = []
        for _ in range(3):
            with unit_of_work(sessions) as session:
                started = time.perf_counter()
                found = nearest_placed_before_window(session, index, probe, 20, options.posts)
                timings.append(time.perf_counter() - started)
        engine.dispose()
    seconds = statistics.median(timings)
    print(json.dumps({"host": describe_host(), "database": url.split(":")[0], "posts": options.posts,
                      "found": len(found), "scan_s": round(seconds, 2),
                      "posts_per_s": round(options.posts / seconds)}))


if __name__ == "__main__":
    main()
