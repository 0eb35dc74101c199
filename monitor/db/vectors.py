"""Vectors as the embeddings table keeps them: the float32 array's bytes."""

import numpy as np


def vector_from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def vectors_from_bytes(blobs: list[bytes]) -> np.ndarray:
    """Vectors of one length as the rows of one array: one copy of all, not one a vector."""
    joined = np.frombuffer(b"".join(blobs), dtype=np.float32)
    return joined.reshape(len(blobs), -1) if blobs else joined.reshape(0, 0)
