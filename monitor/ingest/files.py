"""Pick the parser for an import file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from monitor.ingest.jsonl import parse_json_array, parse_jsonl
from monitor.ingest.records import ParseResult
from monitor.ingest.telegram_export import parse_telegram_export

FORMATS = ("auto", "jsonl", "json-array", "telegram-export")


def detect_format(path: Path) -> str:
    """A Telegram Desktop export is one JSON object spread over many lines; JSON Lines is not;
    a channel dump is a JSON array."""
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        return "json-array"
    if head.startswith(b"{") and b"\n" in head:
        first_line = head.split(b"\n", 1)[0].strip()
        if first_line == b"{":
            return "telegram-export"
    return "telegram-export" if path.name == "result.json" else "jsonl"


def parse_file(path: Path, file_format: str = "auto") -> ParseResult:
    if file_format == "auto":
        file_format = detect_format(path)
    if file_format == "telegram-export":
        result = parse_telegram_export(path)
    elif file_format == "json-array":
        result = parse_json_array(path.read_bytes())
    else:
        with path.open("rb") as handle:
            result = parse_jsonl(handle)
    return resolve_media(result, path.resolve().parent)


def resolve_media(result: ParseResult, folder: Path) -> ParseResult:
    """Media paths made absolute (relative ones are relative to FOLDER, the imported file's);
    those not there are dropped and counted in media_absent. URLs are kept for the media stage."""
    records = []
    for record in result.records:
        found = []
        for origin in record.media:
            if origin.startswith(("http://", "https://")):
                found.append(origin)
            elif (local := folder / origin).is_file():
                found.append(str(local))
            else:
                result.media_absent += 1
        records.append(replace(record, media=tuple(found)) if found != list(record.media) else record)
    result.records = records
    return result
