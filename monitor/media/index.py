"""Every stored PDQ hash (media_hashes), searched by Hamming distance: faiss's multi-index
hashing (IndexBinaryMultiHash), not a scan. The 256 bits are cut into 16 words of 16; a
hash within D bits of another agrees with it, bit for bit, on one of the words but D // 16
bits (pigeonhole), so probing each word's table with that many bits flipped finds every
hash within D: exact, where a graph index (HNSW) on PDQ-like hashes found a third of them
(bench/media.py). A worker keeps one and brings it up to date from the database before each
use (rows by id, past the last one it read)."""

from __future__ import annotations

import faiss
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.db.models import MediaHash
from monitor.media.hashing import MIN_QUALITY

WORDS, WORD_BITS = 16, 16
_SYNC_BATCH = 50_000


def packed(pdq: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(pdq), dtype=np.uint8)


class MediaIndex:
    def __init__(self):
        self.tables = faiss.IndexBinaryMultiHash(256, WORDS, WORD_BITS)
        self.index = faiss.IndexBinaryIDMap(self.tables)
        self.media_of: dict[int, int] = {}  # hash row id: media file id
        self.last_id = 0

    def __len__(self) -> int:
        return len(self.media_of)

    def add(self, hash_ids: list[int], media_ids: list[int], pdqs: list[str]) -> None:
        if not hash_ids:
            return
        self.index.add_with_ids(np.vstack([packed(pdq) for pdq in pdqs]), np.array(hash_ids, dtype=np.int64))
        self.media_of.update(zip(hash_ids, media_ids, strict=True))
        self.last_id = max(self.last_id, *hash_ids)

    def sync(self, session: Session) -> None:
        """Add the good hashes stored since the last sync; all of them again if the table
        lost rows it had (a restored or emptied database)."""
        if self.last_id and (session.scalar(select(func.max(MediaHash.id))) or 0) < self.last_id:
            self.reset()
        while rows := session.execute(
                select(MediaHash.id, MediaHash.media_file_id, MediaHash.pdq)
                .where(MediaHash.id > self.last_id, MediaHash.quality >= MIN_QUALITY)
                .order_by(MediaHash.id).limit(_SYNC_BATCH)).all():
            self.add(*map(list, zip(*rows, strict=True)))

    def reset(self) -> None:
        """Forget everything: the next sync reads every hash again (after a rolled-back write)."""
        self.__init__()

    def media_near(self, pdqs: list[str], distance: int) -> set[int]:
        """The media files with a hash within DISTANCE bits of one of PDQS."""
        if not pdqs or not self.media_of:
            return set()
        self.tables.nflip = distance // WORDS
        _, _, keys = self.index.range_search(np.vstack([packed(pdq) for pdq in pdqs]), distance + 1)
        return {self.media_of[key] for key in keys.tolist() if key in self.media_of}
