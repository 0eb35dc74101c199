"""Measure the pipeline on the real Telegram posts of ../shared/data/telegram/channels.

    python -m bench.pipeline [--posts 2000] [--rate 20] [--live-seconds 60]
                             [--index-sizes 10000,100000,1000000]

Prints one JSON object (docs/performance.md explains every figure):

- ``encode_posts_per_s``: the configured model alone, on the texts the embed stage encodes,
  in the faster of one process on every core and the embed worker's processes;
- ``end_to_end``: the real topology (bench/topology.py): throughput from stored post to
  clustered post and its ratio to the model's speed; latency from stored to clustered and
  to alert at a steady offered rate; each worker's peak resident memory;
- ``cluster_stage_posts_per_s``: placement with embeddings already stored, in-process;
- ``placement``: the cost of one candidate lookup as the index grows (bench/placement.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.cluster_stage import TASK_POSTS, place_all  # noqa: E402
from bench.host import describe_host  # noqa: E402
from bench.placement import measure_placement  # noqa: E402
from bench.posts import WARM_UP_POSTS, real_posts  # noqa: E402
from bench.together import run_together  # noqa: E402
from bench.topology import measure_topology  # noqa: E402
from config import Settings, load_settings  # noqa: E402
from monitor.db.migrate import upgrade  # noqa: E402
from monitor.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from monitor.embed.encoder import Encoder, embed_process_settings, embed_processes  # noqa: E402
from monitor.embed.stage import claim_pending, new_claim, store_embeddings  # noqa: E402
from monitor.ingest.records import PostRecord  # noqa: E402
from monitor.ingest.store import store_posts  # noqa: E402
from monitor.similarity import MatchRules  # noqa: E402


def measure_in_process(records: list[PostRecord], encoder: Encoder, settings: Settings,
                       database_url: str) -> dict:
    """The model alone on the posts' texts, then the cluster stage over the vectors it made.

    The model alone runs in the layouts it can run in: one process on every core, one
    ``encode`` call over all the texts (as the embedded mode runs it, and sorted by length
    over all of them), and the embed worker's processes each on its share, as `monitor run`
    starts them; the faster of the two is the model's speed."""
    upgrade(database_url)
    sessions = make_session_factory(make_engine(database_url))
    with unit_of_work(sessions) as session:
        ids = store_posts(session, records).new_post_ids
        pending = claim_pending(session, ids, new_claim())
    started = time.perf_counter()
    vectors = encoder.encode(pending.texts)
    encode_seconds = time.perf_counter() - started
    layouts = {"one_process": round(len(pending.texts) / encode_seconds, 1)}
    processes = embed_processes(settings, encoder.device)
    if processes > 1:
        layouts[f"{processes}_processes"] = encode_in_processes(pending.texts, settings, processes)
    with unit_of_work(sessions) as session:
        ready = store_embeddings(session, ids, pending, vectors, encoder.model_id)

    cluster_seconds = place_all(sessions, ready, encoder.model_id, MatchRules.from_settings(settings),
                                TASK_POSTS)
    return {"encode_posts_per_s": max(layouts.values()), "encode_layouts_posts_per_s": layouts,
            "cluster_stage_posts_per_s": round(len(ready) / cluster_seconds, 1)}


def encode_in_processes(texts: list[str], settings: Settings, processes: int) -> float:
    """Posts/s of PROCESSES processes, each with its share of the cores as `monitor run`
    gives it, encoding its share of TEXTS at once: from the first one starting to the last one done."""
    each = settings.model_copy(update=embed_process_settings(settings, processes))
    spans = run_together(_warmed_up_encoder, _encode_share,
                         [(texts[number::processes], each) for number in range(processes)])
    return round(len(texts) / (max(span.ended for span in spans) - min(span.started for span in spans)), 1)


def _warmed_up_encoder(share: tuple[list[str], Settings]) -> tuple[Encoder, list[str]]:
    texts, settings = share
    encoder = Encoder.from_settings(settings)
    encoder.encode(texts[:WARM_UP_POSTS])
    return encoder, texts


def _encode_share(prepared: tuple[Encoder, list[str]]) -> None:
    encoder, texts = prepared
    encoder.encode(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000, help="posts of the throughput run")
    parser.add_argument("--rate", type=float, default=20.0, help="posts/s offered in the latency run")
    parser.add_argument("--live-seconds", type=float, default=60.0, help="length of the latency run")
    parser.add_argument("--index-sizes", default="10000,100000,1000000")
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a database to create the benchmark's own from")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/13",
                        help="a Redis database of its own: it is emptied")
    args = parser.parse_args()

    live_count = round(args.rate * args.live_seconds)
    records = real_posts(WARM_UP_POSTS + args.posts + live_count)
    warm_up, backfill, live = (records[:WARM_UP_POSTS], records[WARM_UP_POSTS : WARM_UP_POSTS + args.posts],
                               records[WARM_UP_POSTS + args.posts :])
    settings = load_settings()
    encoder = Encoder.from_settings(settings)
    figures: dict = {"model": encoder.model_id, "device": encoder.device, "backend": encoder.backend,
                     "host": describe_host(), "posts": len(backfill)}
    with tempfile.TemporaryDirectory() as folder:
        figures |= measure_in_process(backfill, encoder, settings, f"sqlite:///{Path(folder) / 'bench.db'}")
    end_to_end = measure_topology(warm_up, backfill, live, args.rate, args.postgres_admin_url,
                                  args.broker_url)
    end_to_end["vs_encode"] = round(end_to_end["throughput_posts_per_s"] / figures["encode_posts_per_s"], 2)
    figures["end_to_end"] = end_to_end
    figures["placement"] = measure_placement([int(size) for size in args.index_sizes.split(",")],
                                             encoder.dimensions, settings.cluster_neighbours)
    figures["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
