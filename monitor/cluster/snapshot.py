"""Snapshots of a cluster worker's candidate index, so that a restarted worker places posts
within seconds instead of rebuilding the index from every stored post.

A snapshot is a folder: the ANN index as usearch saves it, the shingle index and the
cached text evidence of the posts compared most recently as arrays, and last a manifest
naming the model, the shingle window and the membership watermark the index reflects.
It is written under a temporary name and renamed when complete, so a
process killed while writing leaves no snapshot, only a folder the next save removes. A
worker loads the newest complete snapshot made for its model and window and catches up
from its watermark (ClusterIndex.sync, which also starts again from nothing when the
watermark's membership is not the one the snapshot saw: another or a restored database).
A snapshot that is missing, unreadable or made for another model means a full rebuild,
logged; never wrong placements.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from zipfile import BadZipFile

from monitor.cluster.index import ClusterIndex

log = logging.getLogger(__name__)
FORMAT = 1
MANIFEST = "manifest.json"
PREFIX, PARTIAL = "index-", ".partial-"
KEPT = 2  # the newest, and one before it should the newest prove unreadable


def save_snapshot(index: ClusterIndex, directory: Path) -> Path:
    """Write a snapshot of INDEX into DIRECTORY; the older ones but one are removed."""
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    partial = directory / f"{PARTIAL}{os.getpid()}-{time.time_ns()}"
    partial.mkdir()
    manifest = {"format": FORMAT, **index.write_files(partial)}
    with open(partial / MANIFEST, "w") as file:
        json.dump(manifest, file)
        file.flush()
        os.fsync(file.fileno())
    final = directory / f"{PREFIX}{time.time_ns():020d}-{manifest['watermark']}"  # newest last, by name
    partial.rename(final)
    _fsync_directory(directory)
    for old in sorted(directory.glob(f"{PREFIX}*"))[:-KEPT] + list(directory.glob(f"{PARTIAL}*")):
        shutil.rmtree(old, ignore_errors=True)
    log.info("index snapshot of %d posts up to membership %d saved in %.1f s: %s", manifest["posts"],
             manifest["watermark"], time.monotonic() - started, final)
    return final


def load_snapshot(directory: Path, model_id: str, lsh_window: int,
                  days: float | None = None) -> ClusterIndex | None:
    """The index of the newest readable snapshot in DIRECTORY made for MODEL_ID, LSH_WINDOW and a
    window of DAYS; None (logged) when there is none, and the index is to be built from the
    database."""
    for folder in sorted(directory.glob(f"{PREFIX}*"), reverse=True) if directory.is_dir() else []:
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            if manifest.get("format") != FORMAT:
                raise ValueError(f"format {manifest.get('format')}, not {FORMAT}")
            made_for = (manifest["model_id"], manifest["lsh_window"], manifest["days"])
            if made_for != (model_id, lsh_window, days or None):
                log.warning("index snapshot %s was made for model, shingle window and days %s, not %s: "
                            "not used", folder, made_for, (model_id, lsh_window, days or None))
                continue
            index = ClusterIndex(model_id, lsh_window, days)
            index.read_files(folder, manifest)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, BadZipFile) as error:
            log.warning("index snapshot %s is unreadable (%s): not used", folder, error)
            continue
        log.info("index of %d posts loaded from snapshot %s (up to membership %d)", len(index), folder,
                 index.watermark)
        return index
    log.warning("no usable index snapshot in %s: the index is built from the database", directory)
    return None


class SnapshotSchedule:
    """When a cluster worker saves its index: after a task, once MINUTES have passed since
    the last save (at once after a build from the database), and as the process stops; only
    when the index has changed since."""

    def __init__(self, directory: Path, minutes: float):
        self.directory, self.seconds = directory, minutes * 60
        self.index: ClusterIndex | None = None
        self.saved_watermark: int | None = None
        self.saved_at = float("-inf")

    def loaded(self, index: ClusterIndex) -> None:
        """INDEX came from a snapshot: it need not be saved again before MINUTES."""
        self.index, self.saved_watermark, self.saved_at = index, index.watermark, time.monotonic()

    def after_task(self, index: ClusterIndex) -> None:
        self.index = index
        if time.monotonic() - self.saved_at >= self.seconds:
            self.save()

    def save(self) -> None:
        """Save the index if it has changed since it was last saved or loaded."""
        if self.index is None or self.index.watermark in (0, self.saved_watermark):
            return
        save_snapshot(self.index, self.directory)
        self.saved_watermark, self.saved_at = self.index.watermark, time.monotonic()


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
