"""The cluster stage alone, on the real posts' vectors, several rounds: how a change to
placing posts moves its speed.

    python -m bench.cluster_stage [--posts 2000] [--batch 64] [--rounds 5]
                                  [--postgres-admin-url URL]

The posts are stored and encoded once, in a SQLite database (the embedded mode's) or, with
``--postgres-admin-url`` (a database to create others from, as bench.pipeline's), in a
new PostgreSQL database (production's); each round places them all, in tasks of
``--batch`` posts, on a fresh copy of it with a fresh index, as ``bench.pipeline``
measures ``cluster_stage_posts_per_s`` once on SQLite (``--batch 1``: the one-post tasks
of a live stream, as the Telegram listener sends posts). Prints one JSON object: the median
posts/s, every round's, and how many clusters were made (the same number in every round,
or the placements are not deterministic and the run fails).
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
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import psycopg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from bench.host import describe_host  # noqa: E402
from bench.posts import WARM_UP_POSTS, real_posts  # noqa: E402
from bench.topology import fresh_database  # noqa: E402
from config import load_settings  # noqa: E402
from monitor.cluster.assign import assign_posts  # noqa: E402
from monitor.cluster.index import ClusterIndex  # noqa: E402
from monitor.db.migrate import upgrade  # noqa: E402
from monitor.db.models import ClusterMembership  # noqa: E402
from monitor.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from monitor.embed.encoder import Encoder  # noqa: E402
from monitor.embed.stage import claim_pending, new_claim, store_embeddings  # noqa: E402
from monitor.ingest.store import store_posts  # noqa: E402
from monitor.similarity import MatchRules, load_compiled_loops  # noqa: E402

TASK_POSTS = 64  # posts a cluster task places, as a task that takes no waiting posts does


def place_all(sessions: sessionmaker, post_ids: list[int], model_id: str, rules: MatchRules,
              batch: int) -> float:
    """Place the embedded POST_IDS in tasks of BATCH posts, with a fresh index; the seconds it took."""
    index = ClusterIndex(model_id)
    # As a cluster worker's process does once it has started (workers/celery_app.py): the
    # first round timed loading the compiled loops, about a third of it.
    load_compiled_loops()
    gc.freeze()
    started = time.perf_counter()
    for start in range(0, len(post_ids), batch):
        with unit_of_work(sessions) as session:
            assign_posts(session, index, post_ids[start : start + batch], rules)
    return time.perf_counter() - started


def template_database(postgres_admin_url: str | None, folder: Path):
    """A database to store the posts in once, and how to make a fresh copy of it for each
    round: a new PostgreSQL database (copied by the server) given an admin URL, else SQLite
    in FOLDER."""
    if postgres_admin_url:
        return fresh_database(postgres_admin_url), postgres_copy
    return sqlite_database(folder), sqlite_copy


@contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    url = f"sqlite:///{folder / 'embedded.db'}"
    upgrade(url)
    yield url


@contextmanager
def sqlite_copy(url: str, number: int) -> Iterator[str]:
    """A copy of the SQLite database at URL, made with SQLite's backup."""
    copy = Path(make_url(url).database).with_name(f"round-{number}.db")
    with closing(sqlite3.connect(make_url(url).database)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    yield f"sqlite:///{copy}"


@contextmanager
def postgres_copy(url: str, number: int) -> Iterator[str]:
    """A copy of the PostgreSQL database at URL, made by the server from it as a template,
    and dropped afterwards. No other session may be connected to the template; the one
    that asks for the copy may (it connects to URL, the one database known here)."""
    name = f"{make_url(url).database}_round_{number}_{uuid.uuid4().hex[:4]}"
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"')
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=TASK_POSTS, help="posts per cluster task")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-admin-url", metavar="URL",
                        help="run on PostgreSQL: a database to create the benchmark's own from")
    args = parser.parse_args()

    settings = load_settings()
    encoder, rules = Encoder.from_settings(settings), MatchRules.from_settings(settings)
    with tempfile.TemporaryDirectory() as folder:
        database, copy_of = template_database(args.postgres_admin_url, Path(folder))
        with database as url:
            engine = make_engine(url)
            sessions = make_session_factory(engine)
            records = real_posts(WARM_UP_POSTS + args.posts)[WARM_UP_POSTS:]
            with unit_of_work(sessions) as session:
                ids = store_posts(session, records).new_post_ids
                pending = claim_pending(session, ids, new_claim())
            vectors = encoder.encode(pending.texts)  # outside a transaction: PostgreSQL ends idle ones
            with unit_of_work(sessions) as session:
                ready = store_embeddings(session, ids, pending, vectors, encoder.model_id)
            engine.dispose()  # a template database must have no one connected
            rounds, clusters = [], set()
            for number in range(args.rounds):
                with copy_of(url, number) as copy:
                    engine = make_engine(copy)
                    sessions = make_session_factory(engine)
                    seconds = place_all(sessions, ready, encoder.model_id, rules, args.batch)
                    rounds.append(round(len(ready) / seconds, 1))
                    with unit_of_work(sessions) as session:
                        clusters.add(session.scalar(
                            select(func.count(func.distinct(ClusterMembership.cluster_id)))))
                    engine.dispose()
    if len(clusters) > 1:
        raise SystemExit(f"the rounds made different numbers of clusters: {sorted(clusters)}")
    print(json.dumps({"model": encoder.model_id, "database": make_url(url).get_backend_name(),
                      "host": describe_host(), "posts": len(ready), "batch": args.batch,
                      "clusters": clusters.pop(),
                      "posts_per_s": round(statistics.median(rounds), 1), "rounds": rounds}))


if __name__ == "__main__":
    main()
