"""The model's own Rust tokenizer, called on a whole batch at once, for the GPU path.

sentence-transformers' ``preprocess`` goes through transformers' tokenizer wrapper, whose
Python work for each text (checking its modality, a dict and lists per text, tensors built
from lists of ints) holds the GIL; on a GPU that work, not the model, bounds the embed
stage. The tokenizers library's ``encode_batch_fast`` tokenizes,
truncates and pads a batch on every core with the GIL released, and its ids become tensors
through one array each.

Only for a model whose ``preprocess`` gives these very tensors: each model is checked on
load against ``preprocess`` on probe texts, and keeps ``preprocess`` where they differ.

On an H100 this tokenizer, in the embed process on 16 cores, ran at a third of the
model's forward pass: the Rust half of tokenizing spreads over the cores, but reading each
text's ids out into arrays is Python work under the process's GIL. ``TokenizerProcesses``
tokenizes in processes of their own instead, one core each. They load this module without
torch (imported where the tensors are made), so each holds tens of MB, not hundreds.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

log = logging.getLogger(__name__)

# Batches to compare on: cased, Cyrillic and Kazakh letters, spaces around a text and an
# empty text, padded to the longest; and one text longer than the model reads (truncated).
PROBE_BATCHES = (["  Аким Алматы ПРИЗВАЛ выйти 9 мая на шествие  ", "Ақпарат: Қазақстан", ""],
                 ["Hot water does NOT kill the coronavirus. " * 80])


class BatchTokenizer:
    """Texts → the features the model's forward pass takes (ids, attention mask and, where
    the model takes them, token type ids), padded to the batch's longest text."""

    def __init__(self, tokenizer, max_length: int, pad_id: int, pad_token: str, type_ids: bool):
        from tokenizers import Tokenizer

        # A copy: transformers sets truncation and padding on the tokenizer it wraps at each call.
        self._tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._type_ids = type_ids

    @classmethod
    def of_model(cls, model) -> BatchTokenizer | None:
        """MODEL's (a SentenceTransformer's) tokenizer, if it gives what ``preprocess``
        gives on the probe batches; else None."""
        wrapper = getattr(model[0], "tokenizer", None)
        if not getattr(wrapper, "is_fast", False) or wrapper.pad_token is None:
            return None
        tokenizer = cls(wrapper.backend_tokenizer, model.max_seq_length, wrapper.pad_token_id,
                        wrapper.pad_token, "token_type_ids" in wrapper.model_input_names)
        if not all(tokenizer._agrees_with(model, batch) for batch in PROBE_BATCHES):
            log.info("the model's Rust tokenizer alone tokenizes otherwise than sentence-transformers: "
                     "batches go through sentence-transformers' preprocess (slower on a GPU)")
            return None
        return tokenizer

    def _agrees_with(self, model, texts: list[str]) -> bool:
        """Whether this gives for TEXTS the tensors that MODEL's ``preprocess`` gives."""
        import torch

        expected = {name: value for name, value in model.preprocess(texts).items()
                    if isinstance(value, torch.Tensor)}
        found = self(texts)
        return expected.keys() == found.keys() and all(torch.equal(expected[name], found[name])
                                                       for name in expected)

    def __call__(self, texts: list[str]) -> dict:
        return as_tensors(self.arrays(texts))

    def arrays(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The features of TEXTS as int64 arrays, one row a text."""
        encodings = self._tokenizer.encode_batch_fast(texts)
        fields = {"input_ids": "ids", "attention_mask": "attention_mask"}
        if self._type_ids:
            fields["token_type_ids"] = "type_ids"
        return {name: np.array([getattr(encoding, field) for encoding in encodings], dtype=np.int64)
                for name, field in fields.items()}

    def joined(self, parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The features of PARTS' texts together, as ``arrays`` gives them for all at once:
        each part padded to its own longest text, padded again to the longest of all."""
        if len(parts) == 1:  # a batch short enough to go to one process (a live task's post)
            return parts[0]
        width = max(part["input_ids"].shape[1] for part in parts)
        padding = self._tokenizer.padding
        pad_values = {"input_ids": padding["pad_id"], "attention_mask": 0,
                      "token_type_ids": padding["pad_type_id"]}

        def padded(array: np.ndarray, value: int) -> np.ndarray:
            missing = width - array.shape[1]
            sides = (missing, 0) if padding["direction"] == "left" else (0, missing)
            return np.pad(array, ((0, 0), sides), constant_values=value)

        return {name: np.concatenate([padded(part[name], pad_values[name]) for part in parts])
                for name in parts[0]}


def as_tensors(arrays: dict[str, np.ndarray]) -> dict:
    import torch

    return {name: torch.from_numpy(array) for name, array in arrays.items()}


class TokenizerProcesses:
    """PROCESSES processes, each tokenizing whole batches with its own copy of a
    BatchTokenizer, on one core (the Rust tokenizer's own threads turned off there).

    Started with "spawn" (the encoder's process holds CUDA and threads, which a forked child
    must not inherit), all at once and before the first batch, which would wait for them.
    Each ends when the process that started it does, however that ends. A process that
    dies breaks the pool: the call that finds it raises BrokenProcessPool, and the next
    call starts new processes.
    """

    def __init__(self, tokenizer: BatchTokenizer, processes: int):
        self._tokenizer, self.processes = tokenizer, processes
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_take_tokenizer, initargs=(self._tokenizer,))
        # The pool starts a process for each batch handed out while none is idle.
        list(pool.map(_tokenize_here, [[""]] * self.processes))
        return pool

    def map(self, batches: list[list[str]]) -> Iterator[dict]:
        """The features of each of BATCHES, in order, as tensors. Each batch is cut into a
        piece for every process (a call holds fewer batches than there are processes: 4
        of a GPU's 1,024 texts in a task of 4,096 posts), and every piece is handed out at
        once, so that the processes run ahead of whoever reads them."""
        pieces = [[batch[start : start + step] for start in range(0, len(batch), step)]
                  for batch, step in ((batch, -(-len(batch) // self.processes)) for batch in batches)]
        try:
            tokenized = self._pool.map(_tokenize_here, itertools.chain.from_iterable(pieces))
            for batch in pieces:
                yield as_tensors(self._tokenizer.joined([next(tokenized) for _ in batch]))
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
            raise

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


# In a tokenizer process: the tokenizer its batches go through.
_process_tokenizer: BatchTokenizer | None = None


def _take_tokenizer(tokenizer: BatchTokenizer) -> None:
    global _process_tokenizer
    # The Rust tokenizer reads it at each call: the processes already share the cores out.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _process_tokenizer = tokenizer
    threading.Thread(target=_end_with_parent, name="parent-watch", daemon=True).start()


def _end_with_parent() -> None:
    # A process killed outright (a worker's hard time limit, OOM) shuts no pool down: its
    # tokenizer processes would wait on their queue for ever.
    multiprocessing.parent_process().join()
    os._exit(0)


def _tokenize_here(texts: list[str]) -> dict[str, np.ndarray]:
    return _process_tokenizer.arrays(texts)
