import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.db.models import Post
from monitor.ingest.files import detect_format, parse_file
from monitor.ingest.jsonl import parse_jsonl
from monitor.ingest.telegram_export import ExportFormatError, parse_telegram_export
from monitor.news.feeds import parse_feed
from tests.conftest import SHARED_DATA

DESKTOP_EXPORT = SHARED_DATA / "telegram" / "desktop-export" / "result.json"


def test_jsonl_reports_each_bad_line_by_number_and_keeps_the_good_ones():
    lines = [
        json.dumps({"source": "@a", "id": 1, "text": "first", "date": "2025-05-06T10:00:00+05:00"}),
        '{"source": "@a", "id": 2, "text": "truncated',
        json.dumps({"source": "@a", "text": "no id"}),
        json.dumps({"source": "@a", "id": 4, "text": "x", "views": "many"}),
        b"\xff\xfe not utf-8",
        "[1, 2]",
        "",
        json.dumps({"source": "@b", "id": "7", "text": "last", "has_media": True}),
    ]
    result = parse_jsonl(lines)
    assert [record.external_id for record in result.records] == ["1", "7"]
    assert [problem.location for problem in result.problems] == [
        "line 2", "line 3", "line 4", "line 5", "line 6"]
    messages = [problem.message for problem in result.problems]
    assert "not valid JSON" in messages[0]
    assert "field 'id'" in messages[1]
    assert "field 'views'" in messages[2]
    assert "UTF-8" in messages[3]
    assert "expected a JSON object" in messages[4]


def test_jsonl_dates_without_offset_are_utc_and_offsets_are_kept():
    result = parse_jsonl([
        json.dumps({"source": "@a", "id": 1, "text": "x", "date": "2025-05-06T10:00:00"}),
        json.dumps({"source": "@a", "id": 2, "text": "y", "date": "2025-05-06T10:00:00+05:00"}),
    ])
    naive, offset = (record.published_at for record in result.records)
    assert naive.utcoffset().total_seconds() == 0
    assert offset.utcoffset().total_seconds() == 5 * 3600


def test_a_time_out_of_the_range_the_database_stores_is_a_bad_line_not_a_failed_import(tmp_path: Path):
    """0001-01-01T00:00+00:01 is in year 0 in UTC, as times are stored: reported where it
    came in, the other posts kept."""
    before_year_one = "0001-01-01T00:00:00+00:01"
    result = parse_jsonl([
        json.dumps({"source": "@a", "id": 1, "text": "x", "date": before_year_one}),
        json.dumps({"source": "@a", "id": 2, "text": "y", "date": "0001-01-01T00:00:00"}),
    ])
    assert [record.external_id for record in result.records] == ["2"]
    assert [problem.location for problem in result.problems] == ["line 1"]
    assert "out of the range of times in UTC" in result.problems[0].message
    document = json.loads(DESKTOP_EXPORT.read_text())
    document["messages"][2]["date"] = before_year_one
    export = tmp_path / "result.json"
    export.write_text(json.dumps(document))
    exported = parse_telegram_export(export)
    assert [problem.location for problem in exported.problems] == ["messages[2] (id 3)"]
    assert len(exported.records) == len(parse_telegram_export(DESKTOP_EXPORT).records) - 1
    feed = parse_feed(json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"url": "https://example.kz/1", "date_published": before_year_one},
        {"url": "https://example.kz/2", "date_published": "2025-05-06T09:30:00+05:00"}]}).encode())
    assert [entry.link for entry in feed.entries] == ["https://example.kz/2"]
    assert feed.warning.startswith("items[0]: ") and "out of the range of times in UTC" in feed.warning


def test_real_telegram_desktop_export_is_imported_with_rich_text_flattened():
    result = parse_telegram_export(DESKTOP_EXPORT)
    assert result.problems == []
    assert result.skipped == 1  # the "create_channel" service message
    by_id = {record.external_id: record for record in result.records}
    assert by_id["2"].text == "test text post"
    assert by_id["5"].text.startswith("italic\n\nbold\n\n")
    assert by_id["4"].has_media and by_id["4"].text == "photo with text"
    assert by_id["2"].source_key == "-1001292077344"
    assert by_id["2"].published_at.isoformat() == "2020-11-12T12:54:07+00:00"
    assert by_id["5"].edited_at.isoformat() == "2020-11-12T13:03:00+00:00"
    assert by_id["4"].media_kind == "photo"
    assert detect_format(DESKTOP_EXPORT) == "telegram-export"


def test_importing_the_same_export_twice_adds_nothing(database, eager_pipeline):
    from cli.ingest import import_file

    first = import_file(eager_pipeline.conf.monitor_settings, DESKTOP_EXPORT).sent
    with database.session() as session:
        stored = session.scalar(select(func.count()).select_from(Post))
    import_file(eager_pipeline.conf.monitor_settings, DESKTOP_EXPORT)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == stored == first


def test_export_with_a_broken_message_keeps_the_others(tmp_path: Path):
    document = json.loads(DESKTOP_EXPORT.read_text())
    document["messages"][2]["date"] = "yesterday"
    document["messages"][3]["text"] = 42
    broken = tmp_path / "result.json"
    broken.write_text(json.dumps(document))
    result = parse_telegram_export(broken)
    assert len(result.records) == len(parse_telegram_export(DESKTOP_EXPORT).records) - 2
    assert [problem.location for problem in result.problems] == [
        "messages[2] (id 3)", "messages[3] (id 4)"]


def test_truncated_export_says_where_it_breaks(tmp_path: Path):
    truncated = tmp_path / "result.json"
    truncated.write_bytes(DESKTOP_EXPORT.read_bytes()[:700])
    with pytest.raises(ExportFormatError, match=r"not valid JSON: .* at line \d+ column \d+"):
        parse_file(truncated)


def test_a_json_document_that_is_not_an_export_is_refused(tmp_path: Path):
    other = tmp_path / "result.json"
    other.write_text('{\n "chats": []\n}')
    with pytest.raises(ExportFormatError, match="no 'messages' list"):
        parse_file(other)


def test_a_desktop_exports_photos_are_found_beside_it_and_missing_ones_counted(tmp_path):
    export = tmp_path / "export"
    (export / "photos").mkdir(parents=True)
    shutil.copy(DESKTOP_EXPORT, export / "result.json")
    images = SHARED_DATA / "media" / "images"
    shutil.copy(images / "aaa-orig.jpg", export / "photos" / "photo_1@12-11-2020_12-57-31.jpg")
    parsed = parse_file(export / "result.json")
    media = {record.external_id: record.media for record in parsed.records if record.media}
    photo = str(export / "photos" / "photo_1@12-11-2020_12-57-31.jpg")
    assert media == {"3": (photo,), "4": (photo,)}
    # photo_3 (three posts) and the SVG's thumbnail were not exported; voice, audio and text
    # files are no media the stage fingerprints
    assert parsed.media_absent == 4 and len(parsed.records) == 18
    assert parse_file(DESKTOP_EXPORT).media_absent == 6  # an export made without its media
