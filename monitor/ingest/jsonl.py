"""JSON Lines import: one post per line, schema in docs/import-format.md.

A bad line is reported with its number and what is wrong; every good line is kept.
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
            has_media=self.has_media,
        )


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
        if not isinstance(data, dict):
            result.problems.append(
                ImportProblem(location, f"expected a JSON object, got {type(data).__name__}")
            )
            continue
        try:
            result.records.append(JsonlPost.model_validate(data).to_record())
        except ValidationError as error:
            result.problems.append(ImportProblem(location, _describe(error)))
    return result


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "record"
        parts.append(f"field '{field}': {item['msg']}")
    return "; ".join(parts)
