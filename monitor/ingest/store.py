"""Store parsed posts. Idempotent on (source, external id) and on an article's canonical
URL: a redelivered batch adds nothing.

Inserts use ON CONFLICT DO NOTHING rather than "check, then insert", so two workers
storing the same post at once still leave one row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from monitor.db.models import Post, PostMedia, PostStage, Source, Stage, utcnow
from monitor.db.session import dialect_insert
from monitor.db.statements import RowsInsert, built_once
from monitor.ingest.records import PostRecord
from monitor.language import detect_language
from monitor.normalize import clean_text, fingerprint


@dataclass
class StoreResult:
    new_post_ids: list[int] = field(default_factory=list)
    already_stored: int = 0
    new_by_source: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, key): new posts
    with_media: list[int] = field(default_factory=list)  # new posts with media for the media stage


def ensure_sources(session: Session, records: list[PostRecord]) -> dict[tuple[str, str], int]:
    """Source ids by (kind, key), creating the sources not seen before."""
    wanted = {(r.source_kind, r.source_key): r.source_title or r.source_key for r in records}
    found = _source_ids(session, wanted.keys())
    # Looked up first: the sources of a stream of one-post messages are known but for the
    # first, and a lookup is one statement where inserting and reading back are two.
    if missing := wanted.keys() - found.keys():
        rows = [{"kind": kind, "key": key, "title": wanted[kind, key], "enabled": True,
                 "created_at": utcnow()} for kind, key in sorted(missing)]
        session.execute(dialect_insert(session, Source).values(rows).on_conflict_do_nothing(
            index_elements=["kind", "key"]))
        found |= _source_ids(session, missing)
    return found


def _source_ids(session: Session, wanted: AbstractSet[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if not wanted:
        return {}
    rows = session.execute(select(Source.id, Source.kind, Source.key)
                           .where(Source.key.in_({key for _, key in wanted})))
    return {(kind, key): source_id for source_id, kind, key in rows if (kind, key) in wanted}


def _new_posts(dialect: Dialect) -> RowsInsert:
    # No conflict target: a post already stored under (source, external id), or an
    # article already stored under its canonical URL, are both skipped.
    return RowsInsert(Post.__table__, dialect,
                      lambda insert: insert.on_conflict_do_nothing().returning(
                          Post.id, Post.source_id, Post.external_id))


def _new_stages(dialect: Dialect) -> RowsInsert:
    return RowsInsert(PostStage.__table__, dialect)


def store_posts(session: Session, records: list[PostRecord]) -> StoreResult:
    source_ids = ensure_sources(session, records)
    now = utcnow()
    rows = []
    for record in records:
        text = clean_text(record.text)
        rows.append({
            "source_id": source_ids[(record.source_kind, record.source_key)],
            "external_id": record.external_id,
            "author": record.author,
            "url": record.url,
            "text": text,
            "language": record.language or detect_language(text),
            "published_at": record.published_at or now,
            "fetched_at": now,
            "views": record.views,
            "forwards": record.forwards,
            "forwarded_from": record.forwarded_from,
            "forwarded_from_id": record.forwarded_from_id,
            "forwarded_message_id": record.forwarded_message_id,
            "forwarded_at": record.forwarded_at,
            "has_media": record.has_media or record.media_kind is not None,
            "media_kind": record.media_kind,
            "media_id": record.media_id,
            "replies": record.replies,
            "edited_at": record.edited_at,
            "title": record.title,
            "canonical_url": record.canonical_url,
            "text_origin": record.text_origin,
            "fingerprint": fingerprint(text),
        })
    result = StoreResult()
    if not rows:
        return result
    rows = list({(row["source_id"], row["external_id"]): row for row in rows}.values())
    # RETURNING gives only the rows this call inserted; the conflicting ones were stored before.
    inserted = built_once(session, _new_posts)(session.connection(), rows).all()
    result.new_post_ids = sorted(post_id for post_id, _, _ in inserted)
    if inserted:
        built_once(session, _new_stages)(session.connection(), [
            {"post_id": post_id, "stage": Stage.stored, "changed_at": now}
            for post_id in result.new_post_ids])
    result.already_stored = len(rows) - len(result.new_post_ids)
    source_of = {source_id: key for key, source_id in source_ids.items()}
    result.new_by_source = dict(Counter(source_of[source_id] for _, source_id, _ in inserted))
    result.with_media = _add_media(session, records, source_ids, inserted)
    return result


def _add_media(session: Session, records: list[PostRecord], source_ids: dict[tuple[str, str], int],
               inserted) -> list[int]:
    """The media rows of the new posts, pending for the media stage; their posts' ids. A post
    given twice in RECORDS was stored as its last (store_posts): its media are that one's."""
    post_of = {(source_id, external_id): post_id for post_id, source_id, external_id in inserted}
    rows = []
    for record in reversed(records):
        post_id = post_of.pop((source_ids[(record.source_kind, record.source_key)], record.external_id), None)
        if post_id is not None:
            rows += [{"post_id": post_id, "position": position, "kind": record.media_kind, "origin": origin,
                      "status": "pending"} for position, origin in enumerate(record.media)]
    if rows:
        session.execute(insert(PostMedia), rows)
    return sorted({row["post_id"] for row in rows})
