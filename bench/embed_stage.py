"""The embed stage's own work: claiming posts and storing their vectors, with or without the model.

    python -m bench.embed_stage [--posts 4096 | --texts FILE] [--task 4096] [--processes 1]
                                [--rounds 3] [--with-model] [--postgres-admin-url URL]
                                [--save-texts FILE]

What bounds the embed stage once the model is fast (on a GPU, thousands of posts/s): each
task claims up to ``--task`` waiting posts (EMBED_BATCH_SIZE) and reads their texts, then
stores a vector for each and marks them embedded, as workers/tasks.py does, each step its
own transaction; ``--processes`` such workers at once, each claiming its own posts, as an
embed worker's processes do. The vectors are random unit vectors (the model's work left
out), or with ``--with-model`` the configured model's (EMBEDDING_MODEL, EMBEDDING_DEVICE and
the other settings of the environment; EMBED_PROCESSES and ENCODE_THREADS as `monitor run`
sets them for ``--processes``): the whole stage, as a GPU machine would run it. Each
process loads the model and encodes a few texts before the processes start together. The
posts are the real ones of ../shared, or (``--texts``) texts saved by ``--save-texts``
(the posts' texts as they are, lines and all), one post each, on a machine without
../shared. They are stored once, in a SQLite database (the embedded mode's) or, with
``--postgres-admin-url``, a new PostgreSQL database (production's); each round runs on a
fresh copy of it. Prints one JSON object: the median posts/s over the rounds, every
round's, the CPU time the embedding processes spent a post, and (``--with-model``) the
share of each round the model's calls took and the threads each process ran the model on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from bench.cluster_stage import template_database  # noqa: E402
from bench.encoder import read_texts, write_texts  # noqa: E402
from bench.host import describe_host  # noqa: E402
from bench.posts import real_posts  # noqa: E402
from bench.together import run_together  # noqa: E402
from cli.run import embed_environment  # noqa: E402
from config import load_settings  # noqa: E402
from monitor.db.session import make_engine, make_session_factory, unit_of_work  # noqa: E402
from monitor.embed.encoder import Encoder, configured_model_id  # noqa: E402
from monitor.embed.stage import claim_pending, new_claim, store_embeddings  # noqa: E402
from monitor.ingest.records import PostRecord  # noqa: E402
from monitor.ingest.store import store_posts  # noqa: E402

DIMENSIONS = 384  # the default model's
RANDOM_MODEL = "bench/random"
WARM_UP_TEXTS = 64


class Embedded(NamedTuple):
    """What one embedding process did: its posts, its CPU seconds and its model's."""

    posts: int
    cpu_seconds: float
    model_seconds: float


class EmbedProcess(NamedTuple):
    """An embedding process, ready: its database and its model."""

    engine: Engine
    task: int
    encode: Callable[[list[str]], np.ndarray]
    model_id: str


def random_encoder() -> tuple[Callable[[list[str]], np.ndarray], str]:
    """Unit vectors of random directions, one a text, and the model id they are stored under."""
    random = np.random.default_rng(0)

    def encode(texts: list[str]) -> np.ndarray:
        batch = random.standard_normal((len(texts), DIMENSIONS)).astype(np.float32)
        return batch / np.linalg.norm(batch, axis=1, keepdims=True)

    return encode, RANDOM_MODEL


def configured_encoder() -> tuple[Callable[[list[str]], np.ndarray], str]:
    """The configured model, loaded and warmed up (its first call is the slowest)."""
    encoder = Encoder.from_settings(load_settings())
    encoder.encode([f"warm up {number}" for number in range(WARM_UP_TEXTS)])
    return encoder.encode, encoder.model_id


def ready_to_embed(share: tuple[str, int, bool]) -> EmbedProcess:
    """An embedding process on the database at URL, taking TASK posts a task, with the
    configured model loaded (WITH_MODEL) or random vectors."""
    url, task, with_model = share
    encode, model_id = configured_encoder() if with_model else random_encoder()
    return EmbedProcess(make_engine(url), task, encode, model_id)


def embed_all(process: EmbedProcess) -> Embedded:
    """Claim and store every waiting post in tasks of the process's size."""
    sessions = make_session_factory(process.engine)
    done, model_seconds, cpu = 0, 0.0, time.process_time()
    while True:
        with unit_of_work(sessions) as session:
            pending = claim_pending(session, [], new_claim(), take_waiting=process.task)
        if not pending.post_ids:
            break
        encoding = time.perf_counter()
        vectors = process.encode(pending.texts)  # outside a transaction, as the task does
        model_seconds += time.perf_counter() - encoding
        with unit_of_work(sessions) as session:
            done += len(store_embeddings(session, pending.post_ids, pending, vectors, process.model_id))
    process.engine.dispose()
    return Embedded(done, time.process_time() - cpu, model_seconds)


def posts_of_texts(texts: list[str]) -> list[PostRecord]:
    """A post of each text, a second apart."""
    first = datetime(2025, 5, 6, tzinfo=timezone.utc)
    return [PostRecord(source_kind="telegram", source_key="bench", external_id=str(number), text=text,
                       published_at=first + timedelta(seconds=number))
            for number, text in enumerate(texts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--posts", type=int, default=4096, help="the newest N real posts")
    source.add_argument("--texts", type=Path, help="texts saved by --save-texts, a post each")
    parser.add_argument("--task", type=int, default=4096, help="posts an embed task takes (EMBED_BATCH_SIZE)")
    parser.add_argument("--processes", type=int, default=1, help="embedding processes at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--with-model", action="store_true",
                        help="encode with the configured model instead of random vectors")
    parser.add_argument("--postgres-admin-url", metavar="URL",
                        help="run on PostgreSQL: a database to create the benchmark's own from")
    parser.add_argument("--save-texts", type=Path,
                        help="write the posts' texts for --texts (with --rounds 0: only that)")
    args = parser.parse_args()
    settings = load_settings()
    # As `monitor run` starts them: the processes share the cores out (the model's threads;
    # on a GPU, the tokenizer processes).
    environment = embed_environment(settings, args.processes)
    os.environ.update(environment)

    records = posts_of_texts(read_texts(args.texts)) if args.texts else real_posts(args.posts)
    if args.save_texts:
        write_texts(args.save_texts, [record.text for record in records])
    if not args.rounds:
        return
    with tempfile.TemporaryDirectory() as folder:
        database, copy_of = template_database(args.postgres_admin_url, Path(folder))
        with database as url:
            engine = make_engine(url)
            with unit_of_work(make_session_factory(engine)) as session:
                store_posts(session, records)
            engine.dispose()  # a template database must have no one connected
            rounds, cpu_per_post, model_share, embedded = [], [], [], set()
            for number in range(args.rounds):
                with copy_of(url, number) as copy:
                    done = run_together(ready_to_embed, embed_all,
                                        [(copy, args.task, args.with_model)] * args.processes)
                posts = sum(process.result.posts for process in done)
                seconds = max(process.ended for process in done) - min(process.started for process in done)
                rounds.append(round(posts / seconds, 1))
                cpu_per_post.append(round(sum(process.result.cpu_seconds for process in done) / posts * 1e6))
                model_share.append(round(sum(process.result.model_seconds for process in done)
                                         / sum(process.ended - process.started for process in done), 3))
                embedded.add(posts)
    if len(embedded) > 1:
        raise SystemExit(f"the rounds embedded different numbers of posts: {sorted(embedded)}")
    figures = {"database": make_url(url).get_backend_name(), "host": describe_host(),
               "model": configured_model_id(settings) if args.with_model else RANDOM_MODEL,
               "posts": embedded.pop(), "task": args.task, "processes": args.processes,
               "posts_per_s": round(statistics.median(rounds), 1), "rounds": rounds,
               "cpu_us_per_post": cpu_per_post}
    if args.with_model:
        figures["model_share"] = model_share
        figures["encode_threads"] = int(environment["ENCODE_THREADS"])  # each process's, on a CPU
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
