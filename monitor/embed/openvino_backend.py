"""The model's transformer run by OpenVINO on a CPU, in place of PyTorch.

Only the forward pass moves: sentence-transformers still tokenizes, sorts, batches, pools
and normalizes. The vectors are PyTorch's to within float rounding (`tests/test_embedding.py`
holds the cosines between real posts to within 1e-5 of PyTorch's), and they come faster
(bench/embed_stage.py).

sentence-transformers' own ``backend="openvino"`` goes through optimum-intel, whose
releases pin transformers below the version this project runs and require torchvision;
OpenVINO converts the PyTorch module itself, which is all that path did for a CPU.

OpenVINO sends usage events to Google Analytics (openvino-telemetry: one on import, one
for each kind of operation a conversion meets) unless a consent file in the user's home
says no, and writes a client id there. A service that watches disinformation tells no
third party when and what it runs: the package is kept from importing, and OpenVINO then
takes its own stub, as where the package is not installed. This module must therefore be
imported before OpenVINO is.
"""

from __future__ import annotations

import logging
import sys
import warnings
from contextlib import contextmanager

import torch

# None: its import raises ImportError. Once OpenVINO is imported the package is too, and stays.
sys.modules.setdefault("openvino_telemetry", None)

log = logging.getLogger(__name__)

# The tokenizer's outputs a BERT-like encoder is traced with (and then takes).
_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class OpenVINOForward(torch.nn.Module):
    """Stands where sentence-transformers keeps the Hugging Face model: called with the
    tokenizer's tensors, returns the token embeddings as the model would."""

    def __init__(self, compiled, config) -> None:
        super().__init__()
        self.config = config  # sentence-transformers reads the model's config from here
        self._input_names = [port.get_any_name() for port in compiled.inputs]
        self._output = compiled.output(0)
        # One request, reused: an encoder is used by one thread at a time.
        self._request = compiled.create_infer_request()

    def forward(self, **features) -> dict[str, torch.Tensor]:
        inputs = {name: features[name].numpy() for name in self._input_names}
        # infer() copies the outputs out of the request's buffers (share_outputs=False).
        return {"last_hidden_state": torch.from_numpy(self._request.infer(inputs)[self._output])}


def run_on_openvino(model, threads: int) -> None:
    """Convert MODEL's transformer (a SentenceTransformer's first module) to OpenVINO,
    compile it for the CPU on THREADS threads (0: OpenVINO's choice, every core), and
    put it in the PyTorch module's place."""
    import openvino
    from sentence_transformers.base.modules import Transformer

    transformer = model[0]
    if not isinstance(transformer, Transformer):
        raise ValueError(f"OpenVINO runs a Hugging Face transformer; this model begins with "
                         f"{type(transformer).__name__}")
    example = model.preprocess(["a text to trace the model with", "and another"])
    inputs = {name: example[name] for name in _INPUT_NAMES if name in example}
    with torch.no_grad(), warnings.catch_warnings(), _transformers_errors_only():
        # The tracer warns of the attention's branches on shapes, which it fixes as traced:
        # they take the same way for every batch the tokenizer makes (mask as long as the ids).
        # Tracing also reads attributes transformers has deprecated or left unset (loss_type),
        # which it warns of, in plain lines among a worker's JSON ones: notes for its authors.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        converted = openvino.convert_model(transformer.model, example_input=inputs)
    compiled = openvino.Core().compile_model(converted, "CPU", {
        "INFERENCE_NUM_THREADS": threads,
        # Some CPUs would otherwise run in bfloat16: the thresholds are calibrated on float32.
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        # Pinned, the embed worker's one-thread processes all took the first core (half
        # their speed, two of them); the system's scheduler spreads them.
        "ENABLE_CPU_PINNING": False,
    })
    transformer.model = OpenVINOForward(compiled, transformer.model.config)
    log.info("embedding model compiled by OpenVINO %s for the CPU on %s threads",
             openvino.__version__, threads or "all")


@contextmanager
def _transformers_errors_only():
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(level)
