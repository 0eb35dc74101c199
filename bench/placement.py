"""The cost of finding one post's candidates as the index grows, on synthetic posts.

Random unit vectors are the hardest case for an HNSW index (real embeddings cluster);
random 150-shingle sets stand in for a post's shingles. Posts are indexed as a worker's
start-up sync indexes them: in batches, with shingles for the most recent LSH_WINDOW only.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from monitor.cluster.index import ClusterIndex
from monitor.similarity import minhash

SHINGLES_PER_POST = 150
CHUNK = 10_000


def _unit_vectors(rng: np.random.Generator, count: int, dimensions: int) -> np.ndarray:
    vectors = rng.standard_normal((count, dimensions)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _shingles(rng: np.random.Generator) -> np.ndarray:
    return np.unique(rng.integers(0, 2**62, SHINGLES_PER_POST))


def measure_placement(sizes: list[int], dimensions: int, neighbours: int, probes: int = 500) -> dict:
    """p50/p95 of one candidate lookup (ANN + LSH) at each index size, and the build rate."""
    rng = np.random.default_rng(0)
    index = ClusterIndex("synthetic")
    results: dict[str, dict] = {}
    added, build_seconds = 0, 0.0
    for size in sorted(sizes):
        started = time.perf_counter()
        while added < size:
            count = min(CHUNK, size - added)
            post_ids = list(range(added + 1, added + count + 1))
            in_window = [post_id > size - index.lsh_window for post_id in post_ids]
            signatures = [[minhash(_shingles(rng))] if recent else [] for recent in in_window]
            index.add_batch(post_ids, _unit_vectors(rng, count, dimensions), signatures)
            added += count
        build_seconds += time.perf_counter() - started
        timings = []
        for vector in _unit_vectors(rng, probes, dimensions):
            signatures = [minhash(_shingles(rng))]
            started = time.perf_counter()
            index.candidates(vector, signatures, neighbours)
            timings.append((time.perf_counter() - started) * 1000)
        results[str(size)] = {"p50_ms": round(statistics.median(timings), 3),
                              "p95_ms": round(statistics.quantiles(timings, n=20)[18], 3),
                              "indexed_posts_per_s": round(added / build_seconds)}
    return results
