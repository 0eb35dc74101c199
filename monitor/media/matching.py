"""Whether two fingerprints are the same media.

Images: their PDQ hashes within MEDIA_MATCH_DISTANCE bits (31 of 256, ThreatExchange's
threshold). Videos: vPDQ's matching, both ways: the share of one video's good frames that
have a frame of the other within MEDIA_VIDEO_FRAME_DISTANCE, and the other way round; both
must reach MEDIA_VIDEO_MATCH_SHARE. Both ways, so that a clip is not "the same" as an
hour-long video it appears in for a second, nor the other way round. Frames and images of
PDQ quality under MIN_QUALITY (near-uniform pictures, whose hashes are noise) never match.

Videos are compared on their matching frames (hashing.py: four a second, bars cut away), at
a looser distance than one image needs: a logo stamped over a clip moves its frames' PDQ
40 to 80 bits from the original's (the shared sample set), and a match then rests on many
frames agreeing, not one. Unrelated clips sit 110 to 130 bits apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from monitor.media.hashing import MIN_QUALITY, Fingerprint, Frame


@dataclass(frozen=True)
class MatchRules:
    distance: int = 31
    video_frame_distance: int = 63
    video_share: float = 0.2

    @classmethod
    def from_settings(cls, settings) -> MatchRules:
        return cls(settings.media_match_distance, settings.media_video_frame_distance,
                   settings.media_video_match_share)


@dataclass(frozen=True)
class MediaMatch:
    matched: bool
    distance: int | None = None  # images: the Hamming distance of their PDQ hashes
    share: float | None = None  # videos: of the first's good frames matched by the second
    share_back: float | None = None  # and of the second's by the first

    def to_json(self) -> dict:
        return {key: value for key, value in vars(self).items() if value is not None}


def hamming(first: str, second: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(first, 16) ^ int(second, 16)).bit_count()


def good_frames(frames: Sequence[Frame]) -> list[Frame]:
    return [frame for frame in frames if frame.quality >= MIN_QUALITY]


def compare(first: Fingerprint, second: Fingerprint, rules: MatchRules = MatchRules()) -> MediaMatch:
    if first.kind != second.kind:
        return MediaMatch(False)
    if first.kind == "image":
        distance = hamming(first.frames[0].pdq, second.frames[0].pdq)
        usable = bool(good_frames(first.frames) and good_frames(second.frames))
        return MediaMatch(usable and distance <= rules.distance, distance=distance)
    share, share_back = frames_matched(first.match_frames, second.match_frames, rules.video_frame_distance)
    return MediaMatch(min(share, share_back) >= rules.video_share, share=share, share_back=share_back)


def frames_matched(first: Sequence[Frame], second: Sequence[Frame], distance: int) -> tuple[float, float]:
    """The share of FIRST's good frames within DISTANCE of one of SECOND's, and the other way:
    each frame's nearest in the other video by faiss's brute-force Hamming search (an hour of
    video at four frames a second is 14,400 frames a side)."""
    ours, theirs = _packed(good_frames(first)), _packed(good_frames(second))
    if not len(ours) or not len(theirs):
        return 0.0, 0.0
    return round(_share_near(ours, theirs, distance), 4), round(_share_near(theirs, ours, distance), 4)


def _packed(frames: Sequence[Frame]) -> np.ndarray:
    return np.array([np.frombuffer(bytes.fromhex(frame.pdq), dtype=np.uint8) for frame in frames],
                    dtype=np.uint8).reshape(len(frames), 32)


def _share_near(queries: np.ndarray, hashes: np.ndarray, distance: int) -> float:
    """The share of QUERIES whose nearest of HASHES lies within DISTANCE bits."""
    index = faiss.IndexBinaryFlat(256)
    index.add(hashes)
    nearest, _ = index.search(queries, 1)
    return float((nearest[:, 0] <= distance).mean())
