"""PDQ and vPDQ as the field computes them: our hashes of the shared sample files against the
reference implementation's, matching across edits, and hostile files refused with a reason."""

from __future__ import annotations

import csv
import itertools
import json
import shutil

import pytest

from monitor.media.hashing import MIN_QUALITY, HashLimits, MediaError, fingerprint
from monitor.media.matching import compare, hamming
from tests.conftest import SHARED_DATA, monitor_command
from tests.media_files import OTHER_CLIPS, clip_variants, make_video, png_claiming

MEDIA = SHARED_DATA / "media"


def reference_frames(name: str) -> list[tuple[float, int, str]]:
    rows = (line.strip().split(",") for line in (MEDIA / "video-hashes" / f"{name}.txt").open())
    return [(float(seconds), int(quality), pdq) for _, quality, pdq, seconds in rows]


@pytest.fixture(scope="module")
def shared_videos():
    return {path.stem: fingerprint(path) for path in sorted((MEDIA / "videos").glob("*.mp4"))}


@pytest.fixture(scope="module")
def shared_images():
    return {path.name: fingerprint(path) for path in sorted((MEDIA / "images").glob("*.jpg"))}


def test_video_frames_are_within_31_bits_of_the_reference_frame_nearest_in_time(shared_videos):
    near, good_near, frames, good_frames = 0, 0, 0, 0
    for name, found in shared_videos.items():
        reference = reference_frames(name)
        assert found.kind == "video" and len(found.frames) >= int(reference[-1][0])  # one a second
        for frame in found.frames:
            seconds, quality, pdq = min(reference, key=lambda row: abs(row[0] - frame.timestamp))
            close = hamming(frame.pdq, pdq) <= 31
            near, frames = near + close, frames + 1
            if quality >= MIN_QUALITY:
                good_near, good_frames = good_near + close, good_frames + 1
    assert near / frames >= 0.95
    assert good_near == good_frames  # frames PDQ trusts: every one


def test_image_hashes_are_within_31_bits_of_the_reference(shared_images):
    rows = [row for row in csv.reader((MEDIA / "image-hashes.csv").open()) if not row[0].startswith("#")]
    for pdq, _, name in rows:
        assert hamming(shared_images[name].pdq, pdq) <= 31, name
        assert shared_images[name].quality >= MIN_QUALITY


def test_every_variant_pair_of_the_shared_sets_matches_and_no_pair_across_clips(shared_videos, shared_images):
    for first, second in itertools.combinations(shared_videos, 2):
        same_clip = first.startswith("pattern") and second.startswith("pattern")
        assert compare(shared_videos[first], shared_videos[second]).matched == same_clip, (first, second)
    for first, second in itertools.combinations(shared_images.values(), 2):
        assert compare(first, second).matched
    assert not compare(shared_images["aaa-orig.jpg"], shared_videos["pattern-hd-no-bar"]).matched


def test_a_clip_matches_its_edits_and_no_other_clip(tmp_path):
    variants = {name: fingerprint(path) for name, path in clip_variants(tmp_path).items()}
    others = {name: fingerprint(make_video(tmp_path / f"{name}.mp4", source))
              for name, source in OTHER_CLIPS.items()}
    for first, second in itertools.combinations(variants, 2):
        assert compare(variants[first], variants[second]).matched, (first, second)
    for variant, other in itertools.product(variants.values(), others.values()):
        assert not compare(variant, other).matched
    assert len({found.sha256 for found in variants.values()}) == len(variants)


def written(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make, reason", [
    (lambda folder: written(folder / "empty.mp4", b""), "empty file"),
    (lambda folder: png_claiming(folder / "bomb.png", 20_000, 20_000), "decompression bomb"),
    (lambda folder: png_claiming(folder / "huge.png", 30_000, 30_000), "decompression bomb"),
    (lambda folder: written(folder / "text.mp4", b"not a video at all\n"),
     "neither an image nor a readable video"),
])
def test_hostile_files_get_a_reason(tmp_path, make, reason):
    with pytest.raises(MediaError, match=reason):
        fingerprint(make(tmp_path))


def test_a_truncated_video_that_crashes_the_decoder_is_an_error_not_a_dead_worker(tmp_path):
    whole = (MEDIA / "videos" / "pattern-hd-no-bar.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole[:30_000])
    with pytest.raises(MediaError, match="corrupt or truncated|readable video|no frames"):
        fingerprint(truncated)
    assert fingerprint(MEDIA / "videos" / "pattern-hd-no-bar.mp4").kind == "video"  # and we carry on


def test_a_video_named_as_a_photo_is_hashed_as_the_video_it_is(tmp_path):
    misnamed = shutil.copy(MEDIA / "videos" / "doorknob-hd-no-bar.mp4", tmp_path / "photo.jpg")
    assert fingerprint(misnamed).kind == "video"


def test_hashing_stops_at_its_time_limit(tmp_path):
    long_clip = make_video(tmp_path / "long.mp4", "testsrc2=size=1280x720:rate=30", seconds=60)
    with pytest.raises(MediaError, match="longer than 0.5 s"):
        fingerprint(long_clip, HashLimits(timeout_seconds=0.5))


def test_media_commands_print_hashes_and_say_whether_files_match(tmp_path):
    image, video = MEDIA / "images" / "aaa-orig.jpg", MEDIA / "videos" / "pattern-hd-no-bar.mp4"
    empty = written(tmp_path / "empty.jpg", b"")
    done = monitor_command("media", "hash", str(image), str(video), str(empty))
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["kind"] == "image" and len(lines[0]["pdq"]) == 64 and lines[0]["quality"] == 100
    assert lines[1]["kind"] == "video"
    assert {"frame", "quality", "pdq", "timestamp"} <= lines[1]["frames"][0].keys()
    assert lines[2] == {"file": str(empty), "error": "empty file (0 bytes)"}
    same = monitor_command("media", "match", str(video), str(MEDIA / "videos" / "pattern-sd-grey-bar.mp4"))
    assert same.returncode == 0 and json.loads(same.stdout)["matched"] is True
    other = monitor_command("media", "match", str(video), str(MEDIA / "videos" / "doorknob-hd-no-bar.mp4"))
    assert other.returncode == 1 and json.loads(other.stdout)["matched"] is False
