"""Vectors as the embeddings table keeps them: the float32 array's bytes."""

import numpy as np


def vector_from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)
