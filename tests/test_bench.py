"""The benchmark harness runs end to end on a small sample; speed is never asserted here
(figures belong in docs/performance.md)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from bench.encoder import read_texts
from bench.normalize import HOSTILE_PATTERNS
from config import load_settings
from monitor.embed.encoder import configured_model_id
from tests.conftest import REPO
from tests.services import POSTGRES_ADMIN_URL, REDIS_URL

BENCH_REDIS_DB = 14  # neither the test worker's nor `monitor run`'s


def run_bench(module: str, *arguments: str) -> dict:
    """Run `python -m bench.MODULE ARGUMENTS`; the JSON object it prints last."""
    result = subprocess.run([sys.executable, "-m", f"bench.{module}", *arguments], cwd=REPO,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_pipeline_benchmark_measures_every_figure_on_a_small_sample():
    figures = run_bench("pipeline", "--posts", "30", "--rate", "5", "--live-seconds", "2",
                        "--index-sizes", "500,1000", "--postgres-admin-url", POSTGRES_ADMIN_URL,
                        "--broker-url", f"{REDIS_URL}/{BENCH_REDIS_DB}")

    assert figures["posts"] == 30 and figures["device"] == "cpu"
    # Hosts of one CPU name have differed: the figures say which one they come from.
    host = figures["host"]
    assert host["cores"] == len(os.sched_getaffinity(0)) and host["gpu"] is None and host["cpu"]
    assert host["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert figures["encode_posts_per_s"] > 0 and figures["cluster_stage_posts_per_s"] > 0
    # The model's speed is that of its faster layout: one process, or the embed worker's processes.
    cores = len(os.sched_getaffinity(0))
    layouts = figures["encode_layouts_posts_per_s"]
    assert set(layouts) == {"one_process"} | ({f"{cores}_processes"} if cores > 1 else set())
    assert figures["encode_posts_per_s"] == max(layouts.values())
    end_to_end = figures["end_to_end"]
    assert end_to_end["throughput_posts_per_s"] > 0
    assert end_to_end["vs_encode"] == round(end_to_end["throughput_posts_per_s"]
                                            / figures["encode_posts_per_s"], 2)
    latency = end_to_end["latency"]["stored_to_cluster"]
    assert latency["n"] == 10 and 0 < latency["p50_s"] <= latency["p95_s"]
    assert set(end_to_end["worker_peak_rss_mb"]) == {"worker-ingest", "worker-embed", "worker-cluster",
                                                     "worker-media", "worker-notify"}
    # The embed worker holds the model: it is the largest, and it does most of the work.
    memory, cpu = end_to_end["worker_peak_rss_mb"], end_to_end["backfill_worker_cpu_s"]
    assert max(memory, key=memory.get) == "worker-embed"
    held = end_to_end["worker_pss_mb"]
    assert set(held) == set(memory) and max(held, key=held.get) == "worker-embed"
    assert set(cpu) == set(memory) and max(cpu, key=cpu.get) == "worker-embed"
    live_cpu = end_to_end["live_worker_cpu_s"]
    assert set(live_cpu) == set(memory) and max(live_cpu, key=live_cpu.get) == "worker-embed"
    assert set(figures["placement"]) == {"500", "1000"}
    assert all(0 < size["p50_ms"] <= size["p95_ms"] for size in figures["placement"].values())


def test_the_batch_size_benchmark_measures_every_combination_on_a_small_sample():
    figures = run_bench("batches", "--posts", "24", "--forward", "4,8", "--task", "8,64", "--rounds", "2")

    combinations = {"forward 4, task 8", "forward 4, task 64", "forward 8, task 8", "forward 8, task 64"}
    assert set(figures["posts_per_s"]) == set(figures["rounds"]) == combinations
    assert all(len(rounds) == 2 and min(rounds) > 0 for rounds in figures["rounds"].values())
    assert 0 < figures["texts"] <= 24
    assert figures["host"]["cores"] == len(os.sched_getaffinity(0))


def test_the_encoder_benchmark_measures_each_part_and_compares_vectors_on_texts_it_saved(tmp_path):
    texts, vectors = tmp_path / "texts.jsonl.gz", tmp_path / "vectors.npy"
    figures = run_bench("encoder", "--posts", "12", "--rounds", "1", "--save-texts", str(texts),
                        "--save-vectors", str(vectors), "--tokenizer-threads", "1",
                        "--tokenizer-processes", "2")
    assert figures["device"] == "cpu" and figures["host"]["gpu"] is None and 0 < figures["texts"] <= 12
    assert figures["mean_tokens"] > 0
    parts = ("batch_tokenizer", "preprocess", "forward", "sentence_transformers_encode")
    assert all(figures[f"{part}_texts_per_s"] > 0 for part in parts)
    assert figures["batch_tokenizer_processes_texts_per_s"]["2 processes"] > 0
    # On a CPU the encoder tokenizes in line with the model; each way of tokenizing ahead is timed too.
    assert figures["tokenizer_threads"] == figures["tokenizer_processes"] == 0
    assert list(figures["encode_texts_per_s"]) == ["as configured", "1 tokenizer threads",
                                                   "2 tokenizer processes"]
    assert all(rate > 0 for rate in figures["encode_texts_per_s"].values())

    tokenizer_only = run_bench("encoder", "--texts", str(texts), "--rounds", "1", "--tokenizer-only",
                               "--tokenizer-processes", "1,2")
    assert tokenizer_only["mean_tokens"] == figures["mean_tokens"]
    assert "forward_texts_per_s" not in tokenizer_only
    assert list(tokenizer_only["batch_tokenizer_processes_texts_per_s"]) == ["1 processes", "2 processes"]

    # Short texts only, encoded in calls of 4 as embed tasks of 4 posts, without the slow preprocess path.
    short = run_bench("encoder", "--texts", str(texts), "--rounds", "1", "--tokens", "1,60", "--task", "4",
                      "--without-preprocess", "--tokenizer-threads", "", "--tokenizer-processes", "")
    assert 0 < short["texts"] < figures["texts"] and short["mean_tokens"] <= 60 and short["task"] == 4
    assert "preprocess_texts_per_s" not in short and "sentence_transformers_encode_texts_per_s" not in short
    assert short["forward_texts_per_s"] > 0 and list(short["encode_texts_per_s"]) == ["as configured"]

    # Another machine reads the texts saved, and compares its vectors with the first one's.
    compared = run_bench("encoder", "--texts", str(texts), "--rounds", "0", "--reference", str(vectors))
    assert compared["texts"] == figures["texts"] and "forward_texts_per_s" not in compared
    assert compared["reference"]["reference_texts"] == figures["texts"]
    assert compared["reference"]["least_cosine_to_reference"] > 0.99999
    assert compared["reference"]["largest_pairwise_cosine_difference"] < 1e-5


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_cluster_stage_benchmark_places_the_same_posts_alike_in_every_round(database):
    on_postgres = ["--postgres-admin-url", POSTGRES_ADMIN_URL] if database == "postgresql" else []
    figures = run_bench("cluster_stage", "--posts", "40", "--batch", "16", "--rounds", "2", *on_postgres)

    assert figures["database"] == database and figures["host"]["cores"] == len(os.sched_getaffinity(0))
    assert len(figures["rounds"]) == 2 and min(figures["rounds"]) > 0
    assert min(figures["rounds"]) <= figures["posts_per_s"] <= max(figures["rounds"])
    assert 0 < figures["clusters"] <= figures["posts"] <= 40


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_embed_stage_benchmark_claims_and_stores_every_post_with_words_in_every_round(database):
    on_postgres = ["--postgres-admin-url", POSTGRES_ADMIN_URL] if database == "postgresql" else []
    figures = run_bench("embed_stage", "--posts", "60", "--task", "16", "--rounds", "2", *on_postgres)

    assert figures["database"] == database and figures["task"] == 16
    assert 0 < figures["posts"] <= 60  # posts without words are skipped, not embedded
    assert len(figures["rounds"]) == len(figures["cpu_us_per_post"]) == 2
    assert min(figures["rounds"]) <= figures["posts_per_s"] <= max(figures["rounds"])
    assert min(figures["cpu_us_per_post"]) > 0

    # Two embedding processes at once claim apart: every post is embedded once, by one of them.
    together = run_bench("embed_stage", "--posts", "60", "--task", "16", "--rounds", "1", "--processes", "2",
                         *on_postgres)
    assert together["processes"] == 2 and together["posts"] == figures["posts"]


def test_the_embed_stage_benchmark_runs_the_configured_model_on_posts_carried_to_another_machine(tmp_path):
    carried = tmp_path / "posts.jsonl.gz"
    saved = run_bench("embed_stage", "--posts", "30", "--task", "8", "--rounds", "1",
                      "--save-texts", str(carried))
    assert len(read_texts(carried)) == 30 and any("\n" in text for text in read_texts(carried))  # as they are

    figures = run_bench("embed_stage", "--texts", str(carried), "--task", "8", "--rounds", "1",
                        "--with-model", "--processes", "2")
    assert figures["posts"] == saved["posts"] and saved["model"] == "bench/random"
    assert figures["model"] == configured_model_id(load_settings())
    assert 0 < figures["model_share"][0] < 1  # the model's calls, within the round's time
    # As `monitor run` starts them: the processes share the cores out, not each on all of them.
    assert figures["encode_threads"] == max(1, len(os.sched_getaffinity(0)) // 2)


def test_the_normalize_benchmark_times_both_readers_on_real_posts_and_every_hostile_pattern():
    figures = run_bench("normalize", "--posts", "50", "--hostile-chars", "2000", "--rounds", "1")

    assert figures["posts"] == 50 and figures["hostile_chars"] == 2000
    assert set(figures["us_per_post"]) == set(figures["hostile_ms"]) == {"readable_text", "matching_text"}
    assert min(figures["us_per_post"].values()) > 0
    assert len({len(timings) for timings in figures["hostile_ms"].values()}) == 1
    for timings in figures["hostile_ms"].values():  # every pattern, read to its end by each reader
        assert list(timings) == HOSTILE_PATTERNS and min(timings.values()) >= 0


@pytest.mark.browser
def test_the_ui_layout_benchmark_opens_every_page_with_hostile_posts_stored():
    figures = run_bench("ui_layout", "--repeat", "1")
    pages = figures["pages"]
    assert {"/", "/search?q=ЖЖЖ", "/sources", "/audit", "/tokens"} <= pages.keys()
    assert sum(path.startswith("/clusters/") for path in pages) >= 10
    assert sum(path.startswith("/similar?cluster=") for path in pages) == 1
    for path, page in pages.items():
        assert 0 < page["server_ms"] <= page["total_ms"] and page["browser_ms"] > 0, path
    assert figures["widest_px"] == max(page["width_px"] for page in pages.values()) <= 1366
    assert figures["slowest_total_ms"] == max(page["total_ms"] for page in pages.values())


def test_the_restart_benchmark_loads_the_snapshot_it_built_in_a_fresh_process(tmp_path):
    figures = run_bench("cluster_restart", "--posts", "3000", "--keep", str(tmp_path))
    assert figures["posts"] == 3000 and figures["candidates"] == 20 and figures["build_s"] > 0
    assert figures["restart_to_first_placement_s"] > 0 and figures["index_memory_mb"] > 0
    # Ten times the posts stored hold more memory, unless the window holds no more of them.
    at = figures["at_stored"]
    assert at["10000000"]["indexed_posts"] == 10_000_000 and at["1000000"]["indexed_posts"] == 1_000_000
    assert at["10000000"]["index_memory_mb"] > at["1000000"]["index_memory_mb"]
    again = run_bench("cluster_restart", "--posts", "3000", "--keep", str(tmp_path),
                      "--posts-per-day", "1000")
    assert again["build_s"] is None and again["posts"] == 3000  # the kept snapshot, not built again
    assert again["at_stored"]["10000000"] == again["at_stored"]["1000000"]  # both hold the 30 days' 30,000


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_scan_benchmark_finds_the_nearest_among_posts_placed_before_the_window(backend):
    database = ["--postgres-admin-url", POSTGRES_ADMIN_URL] if backend == "postgresql" else []
    figures = run_bench("similar_scan", "--posts", "3000", *database)
    assert figures["database"].startswith(backend) and figures["posts"] == 3000
    assert figures["found"] == 20 and figures["scan_s"] >= 0 and figures["posts_per_s"] > 0
