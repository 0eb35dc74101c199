"""What reading a post's text costs: on the real posts, and on hostile texts.

    python -m bench.normalize [--posts 22000] [--hostile-chars 160000] [--rounds 3]

``readable_text`` (what the model is given) and ``matching_text`` (what fingerprints and
shingles are made of; ``fingerprint`` at storing, ``text_to_encode`` at embedding) run on
every post. Each is timed over the real posts (µs a post) and over texts made of one
markup pattern repeated to ``--hostile-chars`` characters (ms a text): a pattern whose
cost grows with the square of the text's length shows there as seconds. Prints one JSON
object; each figure is the median of ``--rounds``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from bench.host import describe_host
from bench.posts import real_posts
from monitor.normalize import matching_text, readable_text

# Markup a post may be made of, each repeated to the hostile text's length: brackets and
# parentheses (Markdown links), tags (HTML), links, mentions, emphasis, a zero-width
# space, a line asking to subscribe.
HOSTILE_PATTERNS = ["[", "[a](", "(", "<script>", "</script><script>", "<style x=", "<a", "http://",
                    "@", "**", "\u200b", "Подписаться "]
READERS: dict[str, Callable[[str], str]] = {"readable_text": readable_text, "matching_text": matching_text}


def seconds_for(read: Callable[[str], str], texts: list[str], rounds: int) -> float:
    """The median over ROUNDS of the seconds READ takes over every one of TEXTS."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            read(text)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=22000)
    parser.add_argument("--hostile-chars", type=int, default=160_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    texts = [post.text for post in real_posts(args.posts)]
    hostile = {pattern: (pattern * (args.hostile_chars // len(pattern) + 1))[:args.hostile_chars]
               for pattern in HOSTILE_PATTERNS}
    print(json.dumps({
        "host": describe_host(), "posts": len(texts), "mean_chars": round(statistics.mean(map(len, texts))),
        "hostile_chars": args.hostile_chars,
        "us_per_post": {name: round(seconds_for(read, texts, args.rounds) / len(texts) * 1e6, 2)
                        for name, read in READERS.items()},
        "hostile_ms": {name: {pattern: round(seconds_for(read, [text], args.rounds) * 1e3, 2)
                              for pattern, text in hostile.items()}
                       for name, read in READERS.items()},
    }))


if __name__ == "__main__":
    main()
