"""`monitor media hash` and `monitor media match`: the fingerprints of files, and whether two
files are the same media, as the media stage sees them."""

from __future__ import annotations

import json
from pathlib import Path

import click

from config import Settings

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("media")
def media_group() -> None:
    """Photos and videos: PDQ and vPDQ fingerprints."""


@media_group.command("hash")
@click.argument("files", type=_FILE, nargs=-1, required=True)
@click.pass_obj
def media_hash(settings: Settings, files: tuple[Path, ...]) -> None:
    """Print one JSON object a line per file: file, sha256, kind, and an image's pdq and
    quality or a video's frames (frame, quality, pdq, timestamp in seconds). A file that
    cannot be hashed gets an object with its error; the exit status is then 1."""
    from monitor.media.hashing import HashLimits, MediaError, fingerprint

    limits, failed = HashLimits.from_settings(settings), False
    for file in files:
        try:
            found = {"file": str(file)} | fingerprint(file, limits).to_json()
        except MediaError as error:
            found, failed = {"file": str(file), "error": str(error)}, True
        click.echo(json.dumps(found, ensure_ascii=False))
    if failed:
        raise SystemExit(1)


@media_group.command("match")
@click.argument("first", type=_FILE)
@click.argument("second", type=_FILE)
@click.pass_obj
def media_match(settings: Settings, first: Path, second: Path) -> None:
    """Whether FIRST and SECOND are the same media, and by how much: an image's Hamming
    distance, a video's share of frames matched each way. Exit status 0 if they match, 1 if not."""
    from monitor.media.hashing import HashLimits, MediaError, fingerprint
    from monitor.media.matching import MatchRules, compare

    limits = HashLimits.from_settings(settings)
    try:
        prints = [fingerprint(file, limits) for file in (first, second)]
    except MediaError as error:
        raise click.ClickException(str(error)) from None
    match = compare(*prints, MatchRules.from_settings(settings))
    click.echo(json.dumps({"first": str(first), "second": str(second),
                           "kinds": [found.kind for found in prints]} | match.to_json()))
    if not match.matched:
        raise SystemExit(1)
