"""What the media stage costs: hashing the shared sample files, and finding a hash among
many stored ones.

    python -m bench.media [--stored 1000000] [--lookups 2000]

Hashing: every video of ../shared/data/media/videos and every image of .../images,
fingerprinted as the media worker does (a child process each, vPDQ at MEDIA_SECONDS_PER_HASH
and the matching frames); figures are seconds of video hashed per second of wall time and
images hashed per second. Lookup: a faiss multi-index hashing table of --stored random PDQ hashes (the
media index), searched with --lookups hashes each some bits from a stored one, within
31 bits (an image's threshold) and within 63 (a video frame's); p50 and p95
of one search, in milliseconds, and the index's build time and memory. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from bench.host import describe_host
from monitor.media.hashing import fingerprint
from monitor.media.index import MediaIndex

SHARED_MEDIA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "media"


def hashing_figures(folder: Path) -> dict:
    videos, images = sorted((folder / "videos").glob("*.mp4")), sorted((folder / "images").glob("*.jpg"))
    started = time.perf_counter()
    seconds_of_video = sum(max(frame.timestamp for frame in fingerprint(video).match_frames) + 0.25
                           for video in videos)
    video_wall = time.perf_counter() - started
    started = time.perf_counter()
    for image in images:
        fingerprint(image)
    image_wall = time.perf_counter() - started
    return {"videos": len(videos), "video_seconds": round(seconds_of_video, 1),
            "video_seconds_hashed_per_second": round(seconds_of_video / video_wall, 2),
            "images": len(images), "images_per_second": round(len(images) / image_wall, 2)}


def lookup_figures(stored: int, lookups: int, distance: int, seed: int = 7) -> dict:
    random = np.random.default_rng(seed)
    hashes = random.integers(0, 256, size=(stored, 32), dtype=np.uint8)
    index = MediaIndex()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    for start in range(0, stored, 100_000):
        chunk = hashes[start : start + 100_000]
        ids = list(range(start + 1, start + len(chunk) + 1))
        index.add(ids, ids, [row.tobytes().hex() for row in chunk])
    build = time.perf_counter() - started
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    picked = random.integers(0, stored, size=lookups)
    queries = hashes[picked].copy()
    flips = random.integers(0, 256, size=(lookups, distance // 2))  # well within DISTANCE of it
    for row, bits in zip(queries, flips, strict=True):
        for bit in bits:
            row[bit // 8] ^= 1 << (bit % 8)
    timings, found = [], 0
    for query, expected in zip(queries, picked, strict=True):
        started = time.perf_counter()
        near = index.media_near([query.tobytes().hex()], distance)
        timings.append((time.perf_counter() - started) * 1000)
        found += int(expected) + 1 in near
    return {"stored": stored, "lookups": lookups, "distance": distance, "build_seconds": round(build, 1),
            "index_memory_mb": round(grown / 1024, 1),
            "lookup_ms_p50": round(float(np.percentile(timings, 50)), 3),
            "lookup_ms_p95": round(float(np.percentile(timings, 95)), 3),
            "recall": round(found / lookups, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--media", type=Path, default=SHARED_MEDIA)
    options = parser.parse_args()
    print(json.dumps({"host": describe_host(), "hashing": hashing_figures(options.media),
                      "lookup": [lookup_figures(options.stored, options.lookups, distance)
                                 for distance in (31, 63)]}, indent=1))


if __name__ == "__main__":
    main()
