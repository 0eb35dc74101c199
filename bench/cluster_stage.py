"""The cluster stage alone, on the real posts' vectors, several rounds: how a change to
placing posts moves its speed.

    python -m bench.cluster_stage [--posts 2000] [--batch 64] [--rounds 5]

The posts are stored and encoded once, in a SQLite database; each round places them all,
in tasks of ``--batch`` posts, on a fresh copy of it with a fresh index, as
``bench.pipeline`` measures ``cluster_stage_posts_per_s`` once. Prints one JSON object: the
median posts/s, every round's, and how many clusters were made (the same number in every
round, or the placements are not deterministic and the run fails).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from bench.posts import WARM_UP_POSTS, real_posts  # noqa: E402
from config import load_settings  # noqa: E402
from monitor.cluster.assign import assign_posts  # noqa: E402
from monitor.cluster.index import ClusterIndex  # noqa: E402
from monitor.db.migrate import upgrade  # noqa: E402
from monitor.db.models import ClusterMembership  # noqa: E402
from monitor.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from monitor.embed.encoder import Encoder  # noqa: E402
from monitor.embed.stage import embed_posts  # noqa: E402
from monitor.ingest.store import store_posts  # noqa: E402
from monitor.similarity import MatchRules  # noqa: E402

TASK_POSTS = 64  # posts a cluster task places, as a task that takes no waiting posts does


def place_all(sessions: sessionmaker, post_ids: list[int], model_id: str, rules: MatchRules,
              batch: int) -> float:
    """Place the embedded POST_IDS in tasks of BATCH posts, with a fresh index; the seconds it took."""
    index = ClusterIndex(model_id)
    gc.freeze()  # as a worker process does once it has started (workers/celery_app.py)
    started = time.perf_counter()
    for start in range(0, len(post_ids), batch):
        with unit_of_work(sessions) as session:
            assign_posts(session, index, post_ids[start : start + batch], rules)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=TASK_POSTS, help="posts per cluster task")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    settings = load_settings()
    encoder, rules = Encoder.from_settings(settings), MatchRules.from_settings(settings)
    with tempfile.TemporaryDirectory() as folder:
        embedded = Path(folder) / "embedded.db"
        upgrade(f"sqlite:///{embedded}")
        with unit_of_work(make_session_factory(make_engine(f"sqlite:///{embedded}"))) as session:
            ids = store_posts(session, real_posts(WARM_UP_POSTS + args.posts)[WARM_UP_POSTS:]).new_post_ids
            ready = embed_posts(session, encoder, ids)
        rounds, clusters = [], set()
        for number in range(args.rounds):
            copy = Path(folder) / f"round-{number}.db"
            with closing(sqlite3.connect(embedded)) as source, closing(sqlite3.connect(copy)) as target:
                source.backup(target)
            engine = make_engine(f"sqlite:///{copy}")
            sessions = make_session_factory(engine)
            seconds = place_all(sessions, ready, encoder.model_id, rules, args.batch)
            rounds.append(round(len(ready) / seconds, 1))
            with unit_of_work(sessions) as session:
                clusters.add(session.scalar(select(func.count(func.distinct(ClusterMembership.cluster_id)))))
            engine.dispose()
    if len(clusters) > 1:
        raise SystemExit(f"the rounds made different numbers of clusters: {sorted(clusters)}")
    print(json.dumps({"model": encoder.model_id, "posts": len(ready), "batch": args.batch,
                      "clusters": clusters.pop(), "posts_per_s": statistics.median(rounds),
                      "rounds": rounds}))


if __name__ == "__main__":
    main()
