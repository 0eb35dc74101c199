"""Videos and images made for the tests by FFmpeg's command: one clip in edited variants
(re-encoded, scaled, greyscale, sepia, cropped, letterboxed, logo-stamped) and other clips
that are not it; and hostile files."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

# FFmpeg's synthetic sources: a moving test pattern, and clips that look nothing like it.
CLIP = "testsrc2=size=640x360:rate=25:duration=6"
OTHER_CLIPS = {"mandelbrot": "mandelbrot=size=640x360:rate=25", "life": "life=size=640x360:rate=25:mold=10",
               "cells": "cellauto=size=640x360:rate=25:rule=110"}
VARIANTS = {
    "original": "null",
    "reencoded": "null",  # at a low bitrate, below
    "small": "scale=320:180",
    "greyscale": "format=gray",
    "sepia": "colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131",
    "letterboxed": "scale=480:270,pad=640:480:80:105:black",
    "logo": "drawbox=x=480:y=20:w=140:h=60:color=red@0.9:t=fill",
    "cropped": "crop=600:340:20:10",
}


def make_video(path: Path, source: str, edit: str = "null", bitrate: str = "800k",
               seconds: float = 6) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", str(seconds),
                    "-vf", edit, "-c:v", "libx264", "-b:v", bitrate, "-pix_fmt", "yuv420p", str(path)],
                   check=True, timeout=120)
    return path


def clip_variants(folder: Path) -> dict[str, Path]:
    return {name: make_video(folder / f"clip-{name}.mp4", CLIP, edit,
                             "150k" if name == "reencoded" else "800k")
            for name, edit in VARIANTS.items()}


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A small PNG whose header claims WIDTH x HEIGHT grey pixels, all zero: a decompression
    bomb (a few hundred KB that decode to width x height bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(9), b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(min(height, 2000))) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    path.write_bytes(signature + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path
