"""The model's own Rust tokenizer, called on a whole batch at once, for the GPU path.

sentence-transformers' ``preprocess`` goes through transformers' tokenizer wrapper, whose
Python work for each text (checking its modality, a dict and lists per text, tensors built
from lists of ints) holds the GIL; on a GPU that work, not the model, bounded the embed
stage (docs/performance.md). The tokenizers library's ``encode_batch_fast`` tokenizes,
truncates and pads a batch on every core with the GIL released, and its ids become tensors
through one array each.

Only for a model whose ``preprocess`` gives these very tensors: each model is checked on
load against ``preprocess`` on probe texts, and keeps ``preprocess`` where they differ.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

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
        expected = {name: value for name, value in model.preprocess(texts).items()
                    if isinstance(value, torch.Tensor)}
        found = self(texts)
        return expected.keys() == found.keys() and all(torch.equal(expected[name], found[name])
                                                       for name in expected)

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encodings = self._tokenizer.encode_batch_fast(texts)
        fields = {"input_ids": "ids", "attention_mask": "attention_mask"}
        if self._type_ids:
            fields["token_type_ids"] = "type_ids"
        return {name: torch.from_numpy(np.array([getattr(encoding, field) for encoding in encodings],
                                                dtype=np.int64))
                for name, field in fields.items()}
