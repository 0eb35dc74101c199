"""The embed stage's model call alone, on one device: what each of its parts costs.

    python -m bench.encoder [--posts N | --texts FILE] [--paragraphs] [--tokens MIN,MAX]
                            [--device auto] [--model all-MiniLM-L6-v2] [--batch-size N]
                            [--tokenizer-threads 1,2,8] [--tokenizer-processes 2,4,8,12]
                            [--tokenizer-only] [--without-preprocess] [--task N] [--rounds 3]
                            [--save-texts FILE] [--save-vectors FILE] [--reference FILE]

Runs on the texts the embed stage encodes (bench/posts.py: ``texts_to_encode``) of the
real posts, newest first, or with ``--paragraphs`` their paragraphs (news paragraphs run to
about 42 tokens; the posts have about 190; ``--tokens 20,64`` keeps the
texts of 20 to 64 tokens, which makes paragraphs of about that length). ``--save-texts``
writes them to a file that ``--texts`` reads on a machine without ../shared (a GPU
machine, say).

Prints one JSON object: the texts' mean tokens; texts/s of the model's Rust tokenizer
alone (``batch_tokenizer``), in this process and in each count of tokenizer processes
(each on one core), and of sentence-transformers' ``preprocess``; of the forward pass alone
on texts tokenized beforehand; of sentence-transformers' own ``encode``; and of
``Encoder.encode`` on every text at once, as configured and with each count of tokenizer
threads (no processes) and of tokenizer processes; with ``--task N``, in calls of N texts,
as an embed task of N posts (EMBED_BATCH_SIZE) makes them. ``--tokenizer-only`` stops after the
tokenizer's figures: on a CPU the model takes minutes, and the tokenizer is what bounds a
GPU. ``--without-preprocess`` leaves out the two figures that go through
sentence-transformers' ``preprocess`` (slow on a GPU: minutes).
Texts per forward pass and per embed task are bench.batches' to compare. Each figure is
the median of ``--rounds`` after a warm-up pass (``--rounds 0`` measures nothing), and is
logged as it is taken, so that a run cut short still tells what it measured. ``--reference`` (a
.npy of vectors of the first texts, made by ``--save-vectors`` with another device or
precision) adds how far this device's vectors are from those: the least cosine between a
text's two vectors, and the largest difference between two texts' cosines, which is what
the cluster stage compares.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# torch is imported where it is used: every tokenizer process (started by spawn) imports
# this module again, and on a GPU machine 8 of them importing torch took half a minute.
import numpy as np  # noqa: E402

from bench.host import describe_host  # noqa: E402
from monitor.embed.batch_tokenizer import BatchTokenizer, TokenizerProcesses  # noqa: E402
from monitor.embed.encoder import Encoder  # noqa: E402

log = logging.getLogger("bench.encoder")


def post_texts(count: int | None, paragraphs: bool) -> list[str]:
    """The texts the embed stage encodes of the COUNT newest real posts, or of their paragraphs."""
    from bench.posts import real_posts, texts_to_encode

    posts = [post.text for post in real_posts(count or 10**9)]
    return texts_to_encode([piece for text in posts for piece in text.split("\n")] if paragraphs else posts)


def read_texts(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def write_texts(path: Path, texts: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as lines:
        lines.writelines(json.dumps(text, ensure_ascii=False) + "\n" for text in texts)


def median_rate(label: str, count: int, run, rounds: int) -> float:
    """COUNT items over the median seconds of ROUNDS runs of RUN, after one unmeasured."""
    run()
    seconds = []
    for _ in range(rounds):
        _synchronize()
        started = time.perf_counter()
        run()
        _synchronize()
        seconds.append(time.perf_counter() - started)
    rate = round(count / statistics.median(seconds), 1)
    log.info("%s: %s texts/s", label, rate)
    return rate


def _synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def in_batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[start : start + size] for start in range(0, len(texts), size)]


def sorted_batches(texts: list[str], size: int) -> list[list[str]]:
    """TEXTS longest first in batches of SIZE, as the encoder forms them."""
    return in_batches(sorted(texts, key=len, reverse=True), size)


def tokenizer_of(model):
    """MODEL's Rust tokenizer where it gives sentence-transformers' features, else ``preprocess``."""
    return BatchTokenizer.of_model(model) or model.preprocess


def token_counts(tokenize, texts: list[str]) -> np.ndarray:
    """The tokens the model reads of each of TEXTS (truncated as it truncates them), by TOKENIZE."""
    return np.concatenate([np.asarray(tokenize(batch)["attention_mask"].sum(dim=1))
                           for batch in in_batches(texts, 1024)])


def measure_tokenizer(model, texts: list[str], batch_size: int, tokenizer_processes: list[int],
                      rounds: int) -> dict:
    """The texts' mean tokens, and texts/s of the Rust tokenizer alone, in this process and
    in each count of tokenizer processes (None for a model that must go through ``preprocess``)."""
    batches = sorted_batches(texts, batch_size)
    tokenizer = BatchTokenizer.of_model(model)
    return {
        "mean_tokens": round(float(token_counts(tokenizer_of(model), texts).mean()), 1),
        "batch_tokenizer_texts_per_s": tokenizer and median_rate(
            "Rust tokenizer in this process", len(texts), lambda: [tokenizer(batch) for batch in batches],
            rounds),
        "batch_tokenizer_processes_texts_per_s": tokenizer and {
            f"{count} processes": tokenized_in_processes(tokenizer, count, batches, rounds)
            for count in tokenizer_processes},
    }


def measure_model(encoder: Encoder, model_name: str, texts: list[str], tokenizer_threads: list[int],
                  tokenizer_processes: list[int], rounds: int, with_preprocess: bool = True,
                  task: int = 0) -> dict:
    import torch

    model = encoder._model  # the forward pass alone is what this bench isolates
    batches = sorted_batches(texts, encoder.batch_size)
    tokenize = tokenizer_of(model)
    on_device = [{name: value.to(model.device) for name, value in tokenize(batch).items()
                  if isinstance(value, torch.Tensor)} for batch in batches]

    def forward() -> None:
        with torch.inference_mode():
            for features in on_device:
                model(features)

    figures = {"forward_texts_per_s": median_rate("forward pass alone", len(texts), forward, rounds)}
    if with_preprocess:
        figures["preprocess_texts_per_s"] = median_rate(
            "sentence-transformers' preprocess", len(texts),
            lambda: [model.preprocess(batch) for batch in batches], rounds)
        figures["sentence_transformers_encode_texts_per_s"] = median_rate(
            "sentence-transformers' encode", len(texts),
            lambda: model.encode(texts, batch_size=encoder.batch_size, show_progress_bar=False,
                                 normalize_embeddings=True), rounds)
    encoding = figures["encode_texts_per_s"] = {}
    encoding["as configured"] = encode_rate("as configured", encoder, texts, rounds, task)
    for threads in tokenizer_threads:
        encoding[f"{threads} tokenizer threads"] = encode_rate(
            f"{threads} tokenizer threads",
            Encoder(model_name, encoder.device, encoder.batch_size, tokenizer_threads=threads,
                    tokenizer_processes=0), texts, rounds, task)
    for processes in tokenizer_processes:
        encoding[f"{processes} tokenizer processes"] = encode_rate(
            f"{processes} tokenizer processes",
            Encoder(model_name, encoder.device, encoder.batch_size, tokenizer_processes=processes),
            texts, rounds, task)
    if torch.cuda.is_available():
        figures["gpu_peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return figures


def encode_rate(label: str, encoder: Encoder, texts: list[str], rounds: int, task: int = 0) -> float:
    """ENCODER's texts/s through ``Encoder.encode``, in calls of TASK texts (0: one call)."""
    calls = in_batches(texts, task) if task else [texts]
    return median_rate(f"Encoder.encode, {label}", len(texts),
                       lambda: [encoder.encode(call) for call in calls], rounds)


def tokenized_in_processes(tokenizer: BatchTokenizer, processes: int, batches: list[list[str]],
                           rounds: int) -> float:
    tokenizers = TokenizerProcesses(tokenizer, processes)
    try:
        return median_rate(f"Rust tokenizer in {processes} processes", sum(map(len, batches)),
                           lambda: list(tokenizers.map(batches)), rounds)
    finally:
        tokenizers.close()


def compare(vectors: np.ndarray, reference: np.ndarray) -> dict:
    """How far VECTORS are from REFERENCE, over the texts both have (the first ones)."""
    count = min(len(vectors), len(reference))
    mine, reference = vectors[:count], reference[:count]
    return {"reference_texts": count,
            "least_cosine_to_reference": round(float(np.sum(mine * reference, axis=1).min()), 6),
            "largest_pairwise_cosine_difference":
                round(float(np.abs(mine @ mine.T - reference @ reference.T).max()), 6)}


def counts(listed: str) -> list[int]:
    return [int(count) for count in listed.split(",") if count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--posts", type=int, help="the newest N real posts (default: all)")
    source.add_argument("--texts", type=Path, help="texts saved by --save-texts (gzip, a JSON string a line)")
    parser.add_argument("--paragraphs", action="store_true", help="the posts' paragraphs, not whole posts")
    parser.add_argument("--tokens", help="MIN,MAX: only the texts of MIN to MAX tokens")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--batch-size", type=int, default=0, help="texts per forward pass (0: the device's)")
    parser.add_argument("--tokenizer-threads", default="1,2,8")
    parser.add_argument("--tokenizer-processes", default="2,4,8,12")
    parser.add_argument("--tokenizer-only", action="store_true",
                        help="the tokenizer's figures alone, without running the model (on a CPU, what a GPU "
                             "would be bound by)")
    parser.add_argument("--without-preprocess", action="store_true",
                        help="leave out the figures that go through sentence-transformers' preprocess")
    parser.add_argument("--task", type=int, default=0,
                        help="Encoder.encode in calls of N texts, as embed tasks of N posts (0: one call)")
    parser.add_argument("--rounds", type=int, default=3, help="0: only save or compare vectors")
    parser.add_argument("--save-texts", type=Path)
    parser.add_argument("--save-vectors", type=Path)
    parser.add_argument("--reference", type=Path)
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    texts = read_texts(args.texts) if args.texts else post_texts(args.posts, args.paragraphs)
    encoder = Encoder(args.model, args.device, args.batch_size)
    if args.tokens:
        least, most = counts(args.tokens)
        tokens = token_counts(tokenizer_of(encoder._model), texts)
        texts = [text for text, count in zip(texts, tokens, strict=True) if least <= count <= most]
    if args.save_texts:
        write_texts(args.save_texts, texts)
    figures = {"host": describe_host(), "device": encoder.device, "backend": encoder.backend,
               "model": encoder.model_id, "batch_size": encoder.batch_size, "task": args.task or len(texts),
               "tokenizer_threads": encoder.tokenizer_threads,
               "tokenizer_processes": encoder.tokenizer_processes, "texts": len(texts)}
    if args.rounds:
        processes = counts(args.tokenizer_processes)
        figures |= measure_tokenizer(encoder._model, texts, encoder.batch_size, processes, args.rounds)
        if not args.tokenizer_only:
            figures |= measure_model(encoder, args.model, texts, counts(args.tokenizer_threads), processes,
                                     args.rounds, with_preprocess=not args.without_preprocess, task=args.task)
    if args.save_vectors or args.reference:
        vectors = encoder.encode(texts)
        if args.save_vectors:
            np.save(args.save_vectors, vectors)
        if args.reference:
            figures["reference"] = compare(vectors, np.load(args.reference))
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
