"""Media files kept as evidence: content-addressed by SHA-256 under MEDIA_DIR, so a clip
posted by fifty channels is stored once; fetched from a path or through the SSRF-guarded
HTTP client, never more than MEDIA_MAX_BYTES; removed after MEDIA_RETENTION_DAYS (their
hashes stay)."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import MediaFile, utcnow
from monitor.media.hashing import MediaError

VIDEO_TYPE, THUMBNAIL_TYPE = "video/mp4", "image/jpeg"


class MediaStore:
    def __init__(self, root: Path, max_bytes: int):
        self.root, self.max_bytes = Path(root), max_bytes

    @classmethod
    def from_settings(cls, settings) -> MediaStore:
        from config.settings import data_directory

        root = Path(settings.media_dir) if settings.media_dir else data_directory() / "media"
        return cls(root, settings.media_max_bytes)

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def downloads(self) -> Path:
        """Where the Telegram listener downloads media for the media stage, which moves them
        on from here (a copy would double the disk a clip takes until then)."""
        return self.root / "downloads"

    def incoming(self) -> Path:
        """A new empty file to fetch into, on the store's file system (kept by a rename)."""
        folder = self.root / "incoming"
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=folder)
        os.close(handle)
        return Path(name)

    def fetch(self, origin: str, client: httpx.Client | None) -> Path:
        """ORIGIN (a local path or an http(s) URL) copied into a new incoming file. Raises
        MediaError: not there, refused by the SSRF guard, an HTTP error, over the cap."""
        target = self.incoming()
        try:
            if origin.startswith(("http://", "https://")):
                self._download(origin, client, target)
            else:
                source = Path(origin)
                if not source.is_file():
                    raise MediaError(f"no such file: {origin}")
                if (size := source.stat().st_size) > self.max_bytes:
                    raise MediaError(f"{size:,} bytes: over MEDIA_MAX_BYTES ({self.max_bytes:,})")
                if source.resolve().parent == self.downloads.resolve():
                    os.replace(source, target)
                else:
                    shutil.copyfile(source, target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target

    def _download(self, url: str, client: httpx.Client | None, target: Path) -> None:
        if client is None:
            raise MediaError("no HTTP client to fetch it with")
        try:
            with client.stream("GET", url) as response, target.open("wb") as file:
                if response.status_code != 200:
                    raise MediaError(f"HTTP {response.status_code} from {url}")
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise MediaError(f"over MEDIA_MAX_BYTES ({self.max_bytes:,}): stopped reading")
                    file.write(chunk)
        except httpx.HTTPError as error:
            raise MediaError(f"cannot fetch {url}: {error}") from None

    def keep(self, incoming: Path, sha256: str, suffix: str = "") -> str:
        """Move INCOMING to its content address; the name under the store's root."""
        name = f"{sha256[:2]}/{sha256}{suffix}"
        self.path(name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(incoming, self.path(name))
        return name

    def remove_expired(self, session: Session, before: datetime) -> int:
        """Delete the files of media first seen before BEFORE; their hashes stay. How many."""
        expired = session.scalars(select(MediaFile).where(MediaFile.first_seen_at < before,
                                                          MediaFile.removed_at.is_(None))).all()
        for media in expired:
            for name in (media.stored_name, media.thumbnail_name):
                if name:
                    self.path(name).unlink(missing_ok=True)
            media.stored_name = media.thumbnail_name = None
            media.removed_at = utcnow()
        return len(expired)
