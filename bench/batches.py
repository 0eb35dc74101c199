"""How fast the configured model encodes the same real posts for each texts-per-forward-pass
(ENCODE_BATCH_SIZE) and posts-per-embed-task (EMBED_BATCH_SIZE): what to set them to on
a machine.

    python -m bench.batches [--posts 1024] [--forward 4,8,16,32] [--task 64,256,1024] [--rounds 3]

The model runs on ENCODE_THREADS threads (unset: every core); on a CPU, where the embed
worker runs one process per core on one thread each, measure one of them with
``ENCODE_THREADS=1 python -m bench.batches --forward 1,2,4,8``.

The combinations run in turn, round after round, so that a machine that speeds up or
slows down during the run weighs on all of them alike. Prints one JSON object: the
median posts/s of each combination over the rounds, and every round's figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.host import describe_host  # noqa: E402
from bench.posts import real_posts, texts_to_encode  # noqa: E402
from config import load_settings  # noqa: E402
from monitor.embed.encoder import Encoder  # noqa: E402


def _sizes(text: str) -> list[int]:
    return [int(size) for size in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1024)
    parser.add_argument("--forward", type=_sizes, default=[4, 8, 16, 32], help="texts per forward pass")
    parser.add_argument("--task", type=_sizes, default=[64, 256, 1024], help="posts per embed task")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    # The texts the embed stage encodes, in the order it takes them (oldest first).
    posts = reversed(real_posts(args.posts))
    texts = texts_to_encode(post.text for post in posts)
    encoder = Encoder.from_settings(load_settings())
    encoder.encode(texts[:16])  # warm-up
    seen: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for forward in args.forward:
            encoder.batch_size = forward
            for task in args.task:
                started = time.perf_counter()
                for start in range(0, len(texts), task):
                    encoder.encode(texts[start : start + task])
                posts_per_s = len(texts) / (time.perf_counter() - started)
                seen.setdefault(f"forward {forward}, task {task}", []).append(round(posts_per_s, 1))
    print(json.dumps({"model": encoder.model_id, "device": encoder.device, "backend": encoder.backend,
                      "host": describe_host(), "texts": len(texts),
                      "posts_per_s": {key: round(statistics.median(each), 1) for key, each in seen.items()},
                      "rounds": seen}))


if __name__ == "__main__":
    main()
