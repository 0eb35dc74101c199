"""Measure the pipeline on the real Telegram posts of ../shared/data/telegram/channels.

    python -m bench.pipeline [--posts 2000] [--database-url URL] [--index-sizes 10000,100000]

Prints one JSON object. What it measures (a first cut of issue 11; the run through
Redis and Celery workers, latencies under steady load and worker memory are not in yet):

- ``encode_posts_per_s``: the configured model alone on the posts' texts;
- ``embed_stage_posts_per_s`` and ``cluster_stage_posts_per_s``: the monitor's stages
  in-process on a fresh database (the cluster stage with embeddings already stored);
- ``placement_ms``: p50/p95 of finding one post's candidates (ANN + LSH) as the index
  grows, on synthetic unit vectors and shingles.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from config import load_settings  # noqa: E402
from monitor.cluster.assign import assign_posts  # noqa: E402
from monitor.cluster.index import ClusterIndex  # noqa: E402
from monitor.db.migrate import upgrade  # noqa: E402
from monitor.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from monitor.embed.encoder import Encoder  # noqa: E402
from monitor.embed.stage import embed_posts  # noqa: E402
from monitor.ingest.records import PostRecord  # noqa: E402
from monitor.ingest.store import store_posts  # noqa: E402
from monitor.normalize import readable_text  # noqa: E402
from monitor.similarity import MatchRules, shingles  # noqa: E402

CHANNELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "telegram" / "channels"
BATCH = 64


def real_posts(count: int) -> list[PostRecord]:
    posts = []
    for path in sorted(CHANNELS.glob("*_messages.json")):
        posts += json.loads(path.read_text())
    posts.sort(key=lambda post: post["date"], reverse=True)
    return [PostRecord(source_kind="telegram", source_key=str(post["sender_id"]),
                       source_title=post["channel"], external_id=str(post["message_id"]),
                       text=post["text"], published_at=datetime.fromisoformat(post["date"]))
            for post in posts[:count]]


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


def measure_stages(records: list[PostRecord], database_url: str, encoder: Encoder) -> dict:
    upgrade(database_url)
    sessions = make_session_factory(make_engine(database_url))
    with unit_of_work(sessions) as session:
        ids = store_posts(session, records).new_post_ids

    _, encode_seconds = timed(encoder.encode, [readable_text(r.text) for r in records])

    started = time.perf_counter()
    ready = []
    for start in range(0, len(ids), BATCH):
        with unit_of_work(sessions) as session:
            ready += embed_posts(session, encoder, ids[start : start + BATCH])
    embed_seconds = time.perf_counter() - started

    settings = load_settings(database_url=database_url)
    index, rules = ClusterIndex(encoder.model_id), MatchRules.from_settings(settings)
    started = time.perf_counter()
    for start in range(0, len(ready), BATCH):
        with unit_of_work(sessions) as session:
            assign_posts(session, index, ready[start : start + BATCH], rules)
    cluster_seconds = time.perf_counter() - started
    return {
        "posts": len(records),
        "encode_posts_per_s": round(len(records) / encode_seconds, 1),
        "embed_stage_posts_per_s": round(len(ids) / embed_seconds, 1),
        "embed_stage_vs_encode": round((len(ids) / embed_seconds) / (len(records) / encode_seconds), 2),
        "cluster_stage_posts_per_s": round(len(ready) / cluster_seconds, 1),
    }


def measure_placement(sizes: list[int], dimensions: int, probes: int = 200) -> dict:
    """Candidate lookup cost for one post as the index grows (synthetic data)."""
    rng = np.random.default_rng(0)
    words = [f"w{n}" for n in range(5000)]
    results = {}
    index = ClusterIndex("synthetic")
    added = 0
    placed_at = datetime.now(timezone.utc)
    for size in sorted(sizes):
        while added < size:
            chunk = min(10_000, size - added)
            vectors = rng.standard_normal((chunk, dimensions)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            for offset in range(chunk):
                text = " ".join(random.choices(words, k=30))
                index.add(added + offset + 1, vectors[offset], shingles(text), added + offset + 1,
                          placed_at)
            added += chunk
        timings = []
        for _ in range(probes):
            vector = rng.standard_normal(dimensions).astype(np.float32)
            vector /= np.linalg.norm(vector)
            probe = shingles(" ".join(random.choices(words, k=30)))
            started = time.perf_counter()
            index.candidates(vector, probe, 20)
            timings.append((time.perf_counter() - started) * 1000)
        quantiles = statistics.quantiles(timings, n=20)
        results[str(size)] = {"p50_ms": round(statistics.median(timings), 3),
                              "p95_ms": round(quantiles[18], 3)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--database-url", default=None,
                        help="default: a fresh SQLite file in a temporary folder")
    parser.add_argument("--index-sizes", default="10000,100000")
    args = parser.parse_args()

    settings = load_settings()
    encoder = Encoder.from_settings(settings)
    with tempfile.TemporaryDirectory() as folder:
        database_url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        figures = {"model": encoder.model_id, "database": database_url.split(":")[0],
                   **measure_stages(real_posts(args.posts), database_url, encoder)}
    figures["placement"] = measure_placement([int(size) for size in args.index_sizes.split(",")],
                                             encoder.dimensions)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
