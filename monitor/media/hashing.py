"""Fingerprints of a media file: the SHA-256 of its bytes, and the field's perceptual hashes,
Meta's PDQ for an image and vPDQ (PDQ of a frame every MEDIA_SECONDS_PER_HASH) for a video,
the hashes trust-and-safety teams exchange (ThreatExchange, Alegre). A re-encoded, scaled,
recoloured or watermarked copy hashes within a small Hamming distance of the original.

Matching a video uses frames of its own beside the standard ones (`match_frames`): four a
second, with black bars (letterbox, pillarbox) cut away first, since a re-upload in another
aspect ratio gains bars that move every PDQ bit. See matching.py.

Decoders meet hostile files: FFmpeg aborts the whole process on some truncated MP4s, an
image can claim billions of pixels. So `fingerprint` decodes in a child process with limits
on time and memory, and any failure comes back as a MediaError that says what was wrong.
The child is this module run as a program (`python -m monitor.media.hashing`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

# PDQ's own measure of how much a hash says: a near-uniform picture scores low, and its hash
# flips with any noise. ThreatExchange matches only frames and images of at least this quality.
MIN_QUALITY = 50
THUMBNAIL_PIXELS = 320  # the longer side of a thumbnail
MATCH_FRAMES_PER_SECOND = 4
# Matching frames are scaled to at most this many pixels a side first: PDQ works on 64 x 64,
# and a 4K frame would cost memory and time for nothing.
MATCH_FRAME_PIXELS = 512
BAR_LUMINANCE = 24  # rows and columns at the edges darker than this everywhere are bars


class MediaError(Exception):
    """A file that cannot be fingerprinted; the message says why, for the post's record."""


@dataclass(frozen=True)
class Frame:
    """One hashed frame of a video (an image is one frame at 0 s)."""

    frame: int
    quality: int
    pdq: str  # 64 hex digits
    timestamp: float  # seconds


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    size: int
    kind: Literal["image", "video"]
    frames: tuple[Frame, ...] = field(default=())  # the standard PDQ / vPDQ frames
    match_frames: tuple[Frame, ...] = field(default=())  # a video's bar-less frames (matching.py)

    @property
    def pdq(self) -> str | None:
        """An image's PDQ hash."""
        return self.frames[0].pdq if self.kind == "image" and self.frames else None

    @property
    def quality(self) -> int | None:
        return self.frames[0].quality if self.kind == "image" and self.frames else None

    def to_json(self) -> dict:
        """As `monitor media hash` prints it: an image's pdq and quality, a video's frames."""
        found: dict = {"sha256": self.sha256, "size": self.size, "kind": self.kind}
        if self.kind == "image":
            found |= {"pdq": self.pdq, "quality": self.quality}
        else:
            found["frames"] = [asdict(frame) for frame in self.frames]
        return found


@dataclass(frozen=True)
class HashLimits:
    seconds_per_hash: float = 1.0
    timeout_seconds: float = 120.0
    memory_mb: int = 2048
    max_pixels: int = 50_000_000

    @classmethod
    def from_settings(cls, settings) -> HashLimits:
        return cls(settings.media_seconds_per_hash, settings.media_hash_timeout_seconds,
                   settings.media_hash_memory_mb, settings.media_max_pixels)


def sha256_of(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and size."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest(), os.fstat(file.fileno()).st_size


def fingerprint(path: Path, limits: HashLimits = HashLimits(), thumbnail: Path | None = None) -> Fingerprint:
    """PATH's fingerprint, decoded in a child process within LIMITS; with THUMBNAIL, a JPEG
    of at most THUMBNAIL_PIXELS a side is written there too. Raises MediaError."""
    path = Path(path)
    try:
        sha256, size = sha256_of(path)
    except OSError as error:
        raise MediaError(f"cannot read the file: {error.strerror or error}") from None
    if size == 0:
        raise MediaError("empty file (0 bytes)")
    command = [sys.executable, "-m", "monitor.media.hashing", "--max-pixels", str(limits.max_pixels),
               "--seconds-per-hash", str(limits.seconds_per_hash), str(path)]
    if thumbnail is not None:
        command[-1:-1] = ["--thumbnail", str(thumbnail)]
    memory = limits.memory_mb * 1024 * 1024
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limits.timeout_seconds,
                              env=_child_environment(), preexec_fn=lambda: _limit_memory(memory))
    except subprocess.TimeoutExpired:
        raise MediaError(f"decoding took longer than {limits.timeout_seconds:g} s; stopped") from None
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise MediaError(f"the decoder crashed on this file ({name}): corrupt or truncated")
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    except json.JSONDecodeError:
        answer = {}
    if "error" in answer or done.returncode != 0:
        complaint = done.stderr.strip()[-300:] or f"exit status {done.returncode}"
        raise MediaError(answer.get("error") or f"the decoder failed: {complaint}")
    frames = tuple(Frame(**frame) for frame in answer["frames"])
    match_frames = tuple(Frame(**frame) for frame in answer.get("match_frames", ())) or frames
    return Fingerprint(sha256, size, answer["kind"], frames, match_frames)


def _child_environment() -> dict[str, str]:
    # One thread for numpy's BLAS: its per-thread buffers count against the memory limit.
    return os.environ | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _limit_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# What runs in the child -----------------------------------------------------------------

def _decode_and_hash(path: Path, seconds_per_hash: float, max_pixels: int,
                     thumbnail: Path | None) -> dict:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow refuses a larger image before decoding it
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise MediaError(f"image of {width} x {height} pixels: over the limit of {max_pixels:,}")
            return _hash_image(image, thumbnail)
    except UnidentifiedImageError:
        pass  # not an image: a video, or nothing we can read
    except Image.DecompressionBombError as error:
        raise MediaError(f"refused as a decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise MediaError(f"corrupt image: {error}") from None
    return _hash_video(path, seconds_per_hash, thumbnail)


def _hash_image(image, thumbnail: Path | None) -> dict:
    import numpy as np

    rgb = image.convert("RGB")
    pdq, quality = _pdq(np.asarray(rgb))
    if thumbnail is not None:
        rgb.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
        rgb.save(thumbnail, "JPEG", quality=80)
    return {"kind": "image", "frames": [{"frame": 0, "quality": quality, "pdq": pdq, "timestamp": 0.0}]}


def _pdq(pixels) -> tuple[str, int]:
    """PDQ of an RGB array: its 64 hex digits and its quality."""
    import numpy as np
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def _hash_video(path: Path, seconds_per_hash: float, thumbnail: Path | None) -> dict:
    import vpdq

    try:
        features = vpdq.computeHash(str(path), seconds_per_hash=seconds_per_hash)
    except Exception as error:  # vpdq raises a bare Exception with FFmpeg's complaint
        raise MediaError(f"neither an image nor a readable video: {error}") from None
    if not features:
        raise MediaError("a video with no frames that decode")
    if thumbnail is not None:
        _video_thumbnail(path, thumbnail)
    return {"kind": "video", "frames": [
        {"frame": feature.frame_number, "quality": feature.quality, "pdq": feature.hex,
         "timestamp": round(feature.timestamp, 3)} for feature in features],
        "match_frames": _match_frames(path)}


def _match_frames(path: Path) -> list[dict]:
    """PDQ of MATCH_FRAMES_PER_SECOND frames a second, each without its black bars, decoded by
    FFmpeg's command into raw RGB (scaled to MATCH_FRAME_PIXELS at most)."""
    import numpy as np

    width, height = _scaled_size(path, MATCH_FRAME_PIXELS)
    decoder = subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vf",
                                f"fps={MATCH_FRAMES_PER_SECOND},scale={width}:{height}",
                                "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    frame_bytes, frames = width * height * 3, []
    with decoder:
        while len(raw := decoder.stdout.read(frame_bytes)) == frame_bytes:
            pdq, quality = _pdq(_without_bars(np.frombuffer(raw, np.uint8).reshape(height, width, 3)))
            frames.append({"frame": len(frames), "quality": quality, "pdq": pdq,
                           "timestamp": round(len(frames) / MATCH_FRAMES_PER_SECOND, 3)})
    return frames


def _scaled_size(path: Path, limit: int) -> tuple[int, int]:
    """The first video stream's size as displayed, scaled to LIMIT pixels a side at most."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height:stream_side_data=rotation", "-of", "json", str(path)],
                           capture_output=True, text=True, timeout=30, check=True)
    stream = json.loads(probe.stdout)["streams"][0]
    width, height = stream["width"], stream["height"]
    if any(abs(side.get("rotation", 0)) in (90, 270) for side in stream.get("side_data_list", ())):
        width, height = height, width  # FFmpeg turns the frames upright
    factor = min(1.0, limit / width, limit / height)
    return max(2, round(width * factor) // 2 * 2), max(2, round(height * factor) // 2 * 2)


def _without_bars(picture):
    """PICTURE without the rows and columns at its edges that are dark all along (bars)."""
    luminance = picture.max(axis=2)
    rows = (luminance.max(axis=1) > BAR_LUMINANCE).nonzero()[0]
    columns = (luminance.max(axis=0) > BAR_LUMINANCE).nonzero()[0]
    if len(rows) < 2 or len(columns) < 2:
        return picture  # a dark frame: nothing to cut
    return picture[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def _video_thumbnail(path: Path, thumbnail: Path) -> None:
    """A still of the first second, by FFmpeg's command; none if it cannot make one (the
    hashes stand without it)."""
    scale = f"scale='min({THUMBNAIL_PIXELS},iw)':-2"
    try:
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(path), "-frames:v", "1",
                        "-vf", scale, "-f", "image2", "-c:v", "mjpeg", str(thumbnail)],
                       capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        thumbnail.unlink(missing_ok=True)


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitor.media.hashing")
    parser.add_argument("--seconds-per-hash", type=float, default=HashLimits.seconds_per_hash)
    parser.add_argument("--max-pixels", type=int, default=HashLimits.max_pixels)
    parser.add_argument("--thumbnail", type=Path)
    parser.add_argument("file", type=Path)
    options = parser.parse_args(arguments)
    try:
        answer = _decode_and_hash(options.file, options.seconds_per_hash, options.max_pixels,
                                  options.thumbnail)
    except MediaError as error:
        print(json.dumps({"error": str(error)}))
        return 2
    except MemoryError:
        print(json.dumps({"error": "decoding it needed more memory than the limit allows"}))
        return 2
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
