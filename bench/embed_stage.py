"""The embed stage's own work, without the model: claiming posts and storing their vectors.

    python -m bench.embed_stage [--posts 4096] [--task 4096] [--processes 1] [--rounds 3]
                                [--postgres-admin-url URL]

What bounds the embed stage once the model is fast (on a GPU, thousands of posts/s): each
task claims up to ``--task`` waiting posts (EMBED_BATCH_SIZE) and reads their texts, then
stores a vector for each (random unit vectors here, the model's work left out) and marks
them embedded, as workers/tasks.py does, each step its own transaction; ``--processes``
such workers at once, each claiming its own posts, as an embed worker's processes do. The
posts are stored once, in a SQLite database (the embedded mode's) or, with ``--postgres-admin-url``,
a new PostgreSQL database (production's); each round runs on a fresh copy of it. Prints
one JSON object: the median posts/s over the rounds, every round's, and the CPU time the
embedding processes spent a post.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.cluster_stage import template_database  # noqa: E402
from bench.host import describe_host  # noqa: E402
from bench.posts import real_posts  # noqa: E402
from monitor.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from monitor.embed.stage import claim_pending, new_claim, store_embeddings  # noqa: E402
from monitor.ingest.store import store_posts  # noqa: E402

DIMENSIONS = 384  # the default model's


def embed_all(url: str, task: int) -> tuple[int, float, float]:
    """Claim and store every waiting post at URL in tasks of TASK posts: (posts, seconds, CPU seconds)."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    random = np.random.default_rng(0)
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        with unit_of_work(sessions) as session:
            pending = claim_pending(session, [], new_claim(), take_waiting=task)
        if not pending.post_ids:
            break
        batch = random.standard_normal((len(pending.post_ids), DIMENSIONS)).astype(np.float32)
        batch /= np.linalg.norm(batch, axis=1, keepdims=True)
        with unit_of_work(sessions) as session:
            done += len(store_embeddings(session, pending.post_ids, pending, batch, "bench/random"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return done, seconds, cpu


def embed_in_processes(url: str, task: int, processes: int) -> tuple[int, float, float]:
    """``embed_all`` in PROCESSES processes at once: (posts, seconds to the last one done, CPU seconds)."""
    if processes == 1:
        return embed_all(url, task)
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        started = time.perf_counter()
        done = list(pool.map(embed_all, [url] * processes, [task] * processes))
        seconds = time.perf_counter() - started
    return sum(posts for posts, _, _ in done), seconds, sum(cpu for _, _, cpu in done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=4096)
    parser.add_argument("--task", type=int, default=4096, help="posts an embed task takes (EMBED_BATCH_SIZE)")
    parser.add_argument("--processes", type=int, default=1, help="embedding processes at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-admin-url", metavar="URL",
                        help="run on PostgreSQL: a database to create the benchmark's own from")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        database, copy_of = template_database(args.postgres_admin_url, Path(folder))
        with database as url:
            engine = make_engine(url)
            with unit_of_work(make_session_factory(engine)) as session:
                store_posts(session, real_posts(args.posts))
            engine.dispose()  # a template database must have no one connected
            rounds, cpu_per_post, embedded = [], [], set()
            for number in range(args.rounds):
                with copy_of(url, number) as copy:
                    posts, seconds, cpu = embed_in_processes(copy, args.task, args.processes)
                rounds.append(round(posts / seconds, 1))
                cpu_per_post.append(round(cpu / posts * 1e6))
                embedded.add(posts)
    if len(embedded) > 1:
        raise SystemExit(f"the rounds embedded different numbers of posts: {sorted(embedded)}")
    print(json.dumps({"database": make_url(url).get_backend_name(), "host": describe_host(),
                      "posts": embedded.pop(), "task": args.task, "processes": args.processes,
                      "posts_per_s": statistics.median(rounds),
                      "rounds": rounds, "cpu_us_per_post": cpu_per_post}))


if __name__ == "__main__":
    main()
