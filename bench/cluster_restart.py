"""What a restart of the cluster worker costs: the time from the process's start to its first
placement when it loads its index from a snapshot, and the memory the index then holds.

    python -m bench.cluster_restart [--posts 1000000] [--keep DIR]
                                    [--stored 1000000 --stored 10000000] [--posts-per-day 500000]

Builds an index of --posts random unit vectors of the default model's 384 dimensions (the
hardest case for the HNSW graph), with random shingle signatures for the newest LSH_WINDOW
of them, as the cluster stage builds it, and the text evidence of real channel posts
(../shared/data) cached for the newest EVIDENCE_CACHE_SIZE, and saves it as a snapshot
(monitor/cluster/snapshot.py); --keep DIR keeps the snapshot there and uses one already there. Then starts
a fresh Python process, as a restarted worker is, which imports the stage, loads the
newest snapshot and looks up the candidates of one new post: `restart_to_first_placement_s`
is that process's whole life to that point, `index_memory_mb` what loading the snapshot
added to its resident memory. `build_s` is the time to build the index from vectors in
memory: a lower bound of a rebuild from the database, which also reads every post and
computes the shingles of the newest.

`at_stored` gives, for each --stored count of stored posts, how many the index holds with
the default window of CLUSTER_INDEX_DAYS at --posts-per-day (500,000: 10,000 channels at
50 posts a day), and the memory that takes, projected from the parts measured: the vectors
and graph grow with the posts indexed (the snapshot's vectors file, a post), the shingles
and the evidence cache do not (their windows; --posts must be at least LSH_WINDOW for
that part to be whole). The index also keeps, beyond the window, the representatives of
clusters of several posts and the posts of open alerts, a small share left out here.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.host import describe_host
from monitor.cluster.index import VECTORS_FILE

DIMENSIONS, MODEL = 384, "bench-model"
CHUNK = 50_000

# The restarted process: what it prints is read back by the parent.
RESTART = """
import json, sys
from pathlib import Path
import numpy as np
from monitor.cluster.index import LSH_WINDOW
from monitor.cluster.snapshot import load_snapshot

def resident_kb():
    line = next(line for line in open("/proc/self/status") if line.startswith("VmRSS:"))
    return int(line.split()[1])

before = resident_kb()
index = load_snapshot(Path(sys.argv[1]), sys.argv[2], LSH_WINDOW)
probe = np.random.default_rng(9).standard_normal((1, int(sys.argv[3])), dtype=np.float32)
found = index.candidates_in_order([10**12], probe, [[]], 20)
print(json.dumps({"posts": len(index), "candidates": len(found[0]),
                  "index_memory_mb": (resident_kb() - before) / 1024}))
"""


def build_snapshot(posts: int, folder: Path) -> float:
    from monitor.cluster.index import LSH_WINDOW, ClusterIndex
    from monitor.cluster.snapshot import save_snapshot
    from monitor.similarity import MINHASH_PERMUTATIONS

    rng = np.random.default_rng(7)
    index = ClusterIndex(MODEL)
    started = time.perf_counter()
    for start in range(0, posts, CHUNK):
        count = min(CHUNK, posts - start)
        vectors = rng.standard_normal((count, DIMENSIONS), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        post_ids = list(range(start + 1, start + count + 1))
        signatures = [[rng.integers(0, 2**32, size=MINHASH_PERMUTATIONS, dtype=np.uint32)]
                      if post_id > posts - LSH_WINDOW else [] for post_id in post_ids]
        index.add_batch(post_ids, vectors, signatures)
    built = time.perf_counter() - started
    _cache_real_evidence(index, posts)
    index.placed_up_to(posts, posts, _now())
    save_snapshot(index, folder)
    return built


def _cache_real_evidence(index, posts: int) -> None:
    """The evidence cache as a busy worker holds it: real posts' texts for the newest posts."""
    from bench.posts import real_posts
    from monitor.cluster.index import EVIDENCE_CACHE_SIZE
    from monitor.normalize import fingerprint

    cached = min(posts, EVIDENCE_CACHE_SIZE)
    texts = [record.text for record in real_posts(cached) if fingerprint(record.text)]
    for post_id in range(posts - cached + 1, posts + 1):
        text = texts[post_id % len(texts)]
        index.evidence(post_id, text, fingerprint(text))


def _now():
    from monitor.db.models import utcnow

    return utcnow()


def restart(folder: Path) -> dict:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", RESTART, str(folder), MODEL, str(DIMENSIONS)],
                            capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    return {**json.loads(result.stdout.splitlines()[-1]), "restart_to_first_placement_s": round(elapsed, 2)}


def at_stored(stored_counts: list[int], posts_per_day: int, figures: dict, vectors_bytes: int) -> dict:
    """For each count of stored posts: the posts the default window holds, and their memory
    projected from the measured parts (see the module's doc)."""
    from config.settings import Settings

    window_posts = round(posts_per_day * Settings.model_fields["cluster_index_days"].default)
    per_post = vectors_bytes / max(figures["posts"], 1)
    fixed = figures["index_memory_mb"] * 2**20 - vectors_bytes
    return {str(stored): {"indexed_posts": (indexed := min(stored, window_posts)),
                          "index_memory_mb": round((fixed + indexed * per_post) / 2**20)}
            for stored in stored_counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the snapshot here, and use one already here")
    parser.add_argument("--stored", type=int, action="append",
                        help="stored posts to project the memory at (default: 1,000,000 and 10,000,000)")
    parser.add_argument("--posts-per-day", type=int, default=500_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = options.keep or Path(scratch)
        built = None
        if not any(folder.glob("index-*")):
            built = round(build_snapshot(options.posts, folder), 1)
        figures = restart(folder)
        vectors_bytes = (sorted(folder.glob("index-*"))[-1] / VECTORS_FILE).stat().st_size
    figures["index_memory_mb"] = round(figures["index_memory_mb"], 1)
    figures["memory_per_post_bytes"] = round(figures["index_memory_mb"] * 2**20 / max(figures["posts"], 1))
    figures["at_stored"] = at_stored(options.stored or [1_000_000, 10_000_000], options.posts_per_day,
                                     figures, vectors_bytes)
    print(json.dumps({"host": describe_host(), "build_s": built, **figures,
                      "max_rss_mb_of_the_builder": round(
                          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
