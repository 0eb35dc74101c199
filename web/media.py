"""Posts' photos and videos, as evidence for signed-in users only (access.py lets no
anonymous request through): each file by its SHA-256, with a fixed content type, never
the one the uploader's bytes suggest, and nosniff (set on every answer)."""

import re

from flask import Blueprint, abort, send_file

from monitor import runtime
from monitor.db.models import MediaFile
from monitor.media.files import THUMBNAIL_TYPE, VIDEO_TYPE
from monitor.review.queries import media_file
from web.database import current_settings, get_session

bp = Blueprint("media", __name__)
SHA256 = "<sha256>"


def _stored(sha256: str) -> MediaFile:
    media = re.fullmatch("[0-9a-f]{64}", sha256) and media_file(get_session(), sha256)
    if media is None:
        abort(404, f"no media {sha256}")
    return media


def _send(name: str | None, content_type: str, download_name: str, attachment: bool = False):
    store = runtime.media_store(current_settings())
    if name is None or not store.path(name).is_file():
        abort(404, "the file is no longer kept (MEDIA_RETENTION_DAYS); its hashes are")
    return send_file(store.path(name), mimetype=content_type, as_attachment=attachment,
                     download_name=download_name, conditional=True, max_age=0)


@bp.get(f"/media/{SHA256}")
def original(sha256: str):
    """A video plays in the page (video/mp4); an image downloads as bytes, never rendered as
    whatever it claims to be (its JPEG thumbnail is what pages show)."""
    media = _stored(sha256)
    if media.kind == "video":
        return _send(media.stored_name, VIDEO_TYPE, f"{sha256}.mp4")
    return _send(media.stored_name, "application/octet-stream", sha256, attachment=True)


@bp.get(f"/media/{SHA256}/thumbnail")
def thumbnail(sha256: str):
    media = _stored(sha256)
    return _send(media.thumbnail_name, THUMBNAIL_TYPE, f"{sha256}.jpg")
