"""JSON Lines import: one post per line, schema in docs/import-format.md; and JSON arrays of
posts, in that schema or as Telethon scripts and research dumps write them.

A bad line (or item) is reported with its number and what is wrong; every good one is kept.
"""

from __future__ import annotations

import json
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.db.models import StorableTime
from monitor.ingest.records import ImportProblem, ParseResult, PostRecord


class JsonlPost(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    source: str = Field(min_length=1, max_length=512)
    source_kind: Literal["telegram", "feed", "web", "import"] = "telegram"
    source_title: str = ""
    id: str | int
    text: str
    date: StorableTime | None = None
    author: str | None = None
    url: str | None = None
    language: str | None = Field(default=None, max_length=8)
    views: int | None = Field(default=None, ge=0)
    forwards: int | None = Field(default=None, ge=0)
    forwarded_from: str | None = None
    forwarded_from_id: str | int | None = None
    has_media: bool = False
    media_kind: Literal["photo", "video", "round_video", "animation", "document", "audio", "voice",
                        "sticker"] | None = None
    # Photos and videos: paths (relative to the imported file's folder) or http(s) URLs.
    media: list[str] = Field(default_factory=list, max_length=10)

    def to_record(self) -> PostRecord:
        return PostRecord(
            source_kind=self.source_kind,
            source_key=self.source,
            source_title=self.source_title or self.source,
            external_id=str(self.id),
            text=self.text,
            author=self.author,
            url=self.url,
            language=self.language,
            published_at=self.date,
            views=self.views,
            forwards=self.forwards,
            forwarded_from=self.forwarded_from,
            forwarded_from_id=None if self.forwarded_from_id is None else str(self.forwarded_from_id),
            has_media=self.has_media or self.media_kind is not None or bool(self.media),
            media_kind=self.media_kind,  # the media stage finds out what MEDIA are
            media=tuple(self.media),
        )


def dump_fields(item: dict) -> dict:
    """A post of a channel dump (``message_id``, ``sender_id`` or ``channel_id``, ``channel``,
    ``text`` or ``message``, ``date``) in this schema's fields; one in this schema as it is."""
    if "source" in item or "message_id" not in item:
        return item
    channel = item.get("sender_id") or item.get("channel_id") or item.get("peer_id") or item.get("channel")
    return {"source": None if channel is None else str(channel), "source_title": item.get("channel") or "",
            "id": item["message_id"], "text": item.get("text", item.get("message")) or "",
            "date": item.get("date"), "views": item.get("views"), "forwards": item.get("forwards")}


def parse_jsonl(lines: Iterable[bytes | str]) -> ParseResult:
    result = ParseResult()
    for number, raw in enumerate(lines, start=1):
        location = f"line {number}"
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                result.problems.append(
                    ImportProblem(location, f"not valid UTF-8 (byte {error.start})")
                )
                continue
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            result.problems.append(
                ImportProblem(location, f"not valid JSON: {error.msg} at column {error.colno}")
            )
            continue
        _add_post(result, location, data)
    return result


def parse_json_array(data: bytes) -> ParseResult:
    """A JSON array of post objects (JSON Lines' schema, or a channel dump's fields)."""
    result = ParseResult()
    try:
        items = json.loads(data)
    except UnicodeDecodeError as error:
        result.problems.append(ImportProblem("file", f"not valid UTF-8 (byte {error.start})"))
        return result
    except json.JSONDecodeError as error:
        result.problems.append(ImportProblem(f"line {error.lineno}",
                                             f"not valid JSON: {error.msg} at column {error.colno}"))
        return result
    if not isinstance(items, list):
        result.problems.append(ImportProblem("file", f"expected a JSON array, got {type(items).__name__}"))
        return result
    for index, item in enumerate(items):
        _add_post(result, f"item {index}", dump_fields(item) if isinstance(item, dict) else item)
    return result


def _add_post(result: ParseResult, location: str, data) -> None:
    """DATA as a post of RESULT, or the reason it is none as a problem at LOCATION."""
    if not isinstance(data, dict):
        result.problems.append(ImportProblem(location, f"expected a JSON object, got {type(data).__name__}"))
        return
    try:
        result.records.append(JsonlPost.model_validate(data).to_record())
    except ValidationError as error:
        result.problems.append(ImportProblem(location, _describe(error)))


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "record"
        parts.append(f"field '{field}': {item['msg']}")
    return "; ".join(parts)
