"""Telegram Desktop "Export chat history" (JSON, result.json) import.

The export is one JSON document: a chat with ``id``, ``name`` and a list of
``messages``. Service messages (channel created, pinned...) are skipped, not errors.
Rich text comes as a list of strings and ``{type, text}`` objects.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from monitor.db.models import storable_time
from monitor.ingest.records import ImportProblem, ParseResult, PostRecord
from monitor.messages import UserError

MEDIA_KEYS = ("photo", "file", "media_type", "sticker_emoji", "location_information", "poll")


class ExportFormatError(UserError):
    """The file as a whole is not a Telegram Desktop export."""


def channel_key(chat_id: int) -> str:
    # The "marked" id Telethon and the Bot API use for channels: -100 followed by the id.
    return f"-100{chat_id}"


def parse_telegram_export(path: Path) -> ParseResult:
    try:
        document = json.loads(path.read_bytes())
    except UnicodeDecodeError as error:
        raise ExportFormatError(f"{path}: not valid UTF-8 (byte {error.start})") from error
    except json.JSONDecodeError as error:
        raise ExportFormatError(
            f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    if not isinstance(document, dict) or not isinstance(document.get("messages"), list):
        raise ExportFormatError(f"{path}: no 'messages' list: not a Telegram Desktop export")
    if not isinstance(document.get("id"), int):
        raise ExportFormatError(f"{path}: the chat has no numeric 'id'")

    source_key = channel_key(document["id"])
    title = str(document.get("name") or source_key)
    username = document.get("username")
    result = ParseResult()
    for index, message in enumerate(document["messages"]):
        location = f"messages[{index}]"
        if not isinstance(message, dict):
            result.problems.append(ImportProblem(location, "expected an object"))
            continue
        if message.get("type", "message") != "message":
            result.skipped += 1
            continue
        try:
            result.records.append(_record(message, source_key, title, username))
        except (KeyError, TypeError, ValueError) as error:
            known = f" (id {message['id']})" if message.get("id") is not None else ""
            result.problems.append(ImportProblem(location + known, str(error)))
    return result


def _record(message: dict, source_key: str, title: str, username: str | None) -> PostRecord:
    if not isinstance(message.get("id"), int):
        raise ValueError("missing or non-integer 'id'")
    if "date" not in message:
        raise ValueError("missing 'date'")
    forwarded = message.get("forwarded_from")
    return PostRecord(
        source_kind="telegram",
        source_key=source_key,
        source_title=title,
        external_id=str(message["id"]),
        text=flatten_text(message.get("text", "")),
        author=message.get("author") or message.get("from"),
        url=f"https://t.me/{username}/{message['id']}" if username else None,
        published_at=_date(message["date"]),
        edited_at=_date(message["edited"]) if message.get("edited") else None,
        forwarded_from=str(forwarded) if forwarded else None,
        has_media=any(key in message for key in MEDIA_KEYS),
        media_kind=_media_kind(message),
        media=_media_files(message),
    )


def _date(value) -> datetime:
    # Desktop exports write local wall-clock time without an offset: read as UTC.
    return storable_time(datetime.fromisoformat(str(value)))


def _media_files(message: dict) -> tuple[str, ...]:
    """The photo or video file the message references, relative to the export's folder (its
    thumbnail if only that was exported). An export made without media writes a note instead
    of a path ("(File not included...)"): kept, then counted as absent (files.resolve_media)."""
    if isinstance(message.get("photo"), str):
        return (message["photo"],)
    mime = str(message.get("mime_type") or "")
    raster = mime.startswith(("video/", "image/")) and mime != "image/svg+xml"  # SVG: a drawing's code
    if isinstance(message.get("file"), str) and (raster or message.get(
            "media_type") in ("video_file", "animation", "video_message")):
        return (message["file"],)
    return (message["thumbnail"],) if isinstance(message.get("thumbnail"), str) else ()


def _media_kind(message: dict) -> str | None:
    if "photo" in message:
        return "photo"
    if message.get("media_type") in ("video_file", "animation", "video_message"):
        return "video"
    if message.get("media_type"):
        return str(message["media_type"])[:16]
    return "document" if "file" in message else None


def flatten_text(text: str | list) -> str:
    if isinstance(text, str):
        return text
    if not isinstance(text, list):
        raise TypeError(f"'text' must be a string or a list, got {type(text).__name__}")
    parts = []
    for part in text:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            parts.append(str(part.get("text", "")))
        else:
            raise TypeError(f"unexpected text part of type {type(part).__name__}")
    return "".join(parts)
