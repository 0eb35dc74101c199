"""The Telegram listener: one process, one client session, every watched channel.

Gap-free by construction: each channel keeps a cursor, the highest message id stored,
advanced in the same transaction that stores the messages. Catching up fetches history
after the cursor, page by page, on start, on a schedule and whenever a live update says
a channel has something new; so a message posted while the process was down, or whose
update was lost, is fetched by the next catch-up, and a restart halfway through a
backfill goes on from the last page stored.

FloodWaitError is waited out up to a cap; above it the channel is rescheduled. Lost
connections are recorded on the channel and retried at the next round. Every request of
the process goes through one pacer (TELEGRAM_REQUESTS_PER_SECOND).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Awaitable, Callable, Protocol

from sqlalchemy.orm import Session, sessionmaker
from telethon.errors import FloodWaitError, RPCError
from telethon.tl.types import InputPeerChannel, Message

from monitor import metrics
from monitor.db.models import Source, utcnow
from monitor.db.session import unit_of_work
from monitor.ingest.store import store_posts
from monitor.media.files import MediaStore
from monitor.telegram.changes import apply_edit, mark_deleted, posts_published_since
from monitor.telegram.channels import remember_entity, watched_channels
from monitor.telegram.messages import document_size, downloadable, to_records

log = logging.getLogger(__name__)


class TelegramClientLike(Protocol):
    """The part of telethon.TelegramClient the listener uses (tests drive a stand-in)."""

    async def get_entity(self, entity): ...

    async def get_messages(self, entity, *args, **kwargs): ...

    async def download_media(self, message, file=None, thumb=None): ...


@dataclass(frozen=True)
class ListenerPolicy:
    backfill_messages: int | None = None
    backfill_days: float = 7.0
    page_size: int = 100
    flood_wait_cap_seconds: float = 300.0
    requests_per_second: float = 1.0
    catch_up_seconds: float = 300.0
    # Where photos and videos are downloaded for the media stage (None: not downloaded), and
    # the largest file taken whole: above it, a video's thumbnail only.
    media_dir: str | None = None
    media_max_bytes: int = 50_000_000
    # Once a process, after catching a channel up: its newest messages read again (no more
    # than this many, none older than the hours), for edits and deletions made while no
    # live update could reach this process. 0: not read again.
    recheck_messages: int = 500
    recheck_hours: float = 48.0

    @classmethod
    def from_settings(cls, settings) -> "ListenerPolicy":
        return cls(settings.telegram_backfill_messages, settings.telegram_backfill_days,
                   settings.telegram_page_size, settings.telegram_flood_wait_cap_seconds,
                   settings.telegram_requests_per_second, settings.telegram_catch_up_seconds,
                   str(MediaStore.from_settings(settings).downloads), settings.media_max_bytes,
                   settings.telegram_recheck_messages, settings.telegram_recheck_hours)


class ChannelDeferred(Exception):
    """Telegram asked for a longer wait than the cap: try this channel again later."""

    def __init__(self, seconds: int):
        super().__init__(f"Telegram asked to wait {seconds} s (FloodWait): channel rescheduled")
        self.seconds = seconds


class Pacer:
    """At most N requests per second across the whole process."""

    def __init__(self, per_second: float, sleep: Callable[[float], Awaitable] = asyncio.sleep):
        self.interval, self.sleep = 1.0 / per_second, sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            delay = self._next - time.monotonic()
            if delay > 0:
                await self.sleep(delay)
            self._next = max(self._next, time.monotonic()) + self.interval


@dataclass
class CatchUp:
    stored: int = 0  # new posts
    pages: int = 0
    error: str | None = None
    edited: int = 0  # stored posts found edited when read again (recheck)
    deleted: int = 0  # stored posts found gone when read again


class ChannelListener:
    def __init__(self, client: TelegramClientLike, sessions: sessionmaker[Session], policy: ListenerPolicy,
                 on_stored: Callable[[list[int]], None],
                 sleep: Callable[[float], Awaitable] = asyncio.sleep,
                 on_media: Callable[[list[int]], None] = lambda post_ids: None):
        self.client, self.sessions, self.policy = client, sessions, policy
        # Post ids to embed, after commit: new posts, and edited ones to embed again.
        self.on_stored = on_stored
        self.on_media = on_media  # new posts with downloaded media: send them to the media stage
        self.sleep = sleep
        self.pacer = Pacer(policy.requests_per_second, sleep)
        self._locks: dict[int, asyncio.Lock] = {}
        self._rechecked: set[int] = set()  # channels read again since this process started

    async def catch_up_all(self, now: datetime | None = None) -> dict[int, CatchUp]:
        """Catch up every watched channel whose time has come."""
        now = now or utcnow()
        with unit_of_work(self.sessions) as session:
            due = [source.id for source in watched_channels(session)
                   if source.next_fetch_at is None or source.next_fetch_at <= now]
        metrics.TELEGRAM_BACKLOG.set(len(due))
        return {source_id: await self.catch_up(source_id) for source_id in due}

    async def catch_up(self, source_id: int) -> CatchUp:
        """Fetch and store everything after the channel's cursor."""
        lock = self._locks.setdefault(source_id, asyncio.Lock())
        async with lock:  # a live update and the schedule may ask at once
            result = CatchUp()
            try:
                await self._catch_up(source_id, result)
            except ChannelDeferred as deferred:
                self._record_failure(source_id, str(deferred), retry_in=deferred.seconds)
                result.error = str(deferred)
            except (ConnectionError, OSError, RPCError) as error:
                self._record_failure(source_id, f"{type(error).__name__}: {error}", retry_in=0)
                result.error = str(error)
            return result

    async def _catch_up(self, source_id: int, result: CatchUp) -> None:
        with unit_of_work(self.sessions) as session:
            source = session.get(Source, source_id)
            key, title, cursor = source.key, source.title, source.cursor
        channel = await self._entity(source_id)
        username = key[1:] if key.startswith("@") else None
        page_query = await self._start(channel, cursor)
        held: list[Message] = []  # the start of an album cut by the page's end
        while True:
            page = list(await self._call(self.client.get_messages, channel, limit=self.policy.page_size,
                                         reverse=True, **page_query))
            if not page:
                break
            result.pages += 1
            full_page = len(page) == self.policy.page_size
            messages = held + page
            last_album = messages[-1].grouped_id
            held = [m for m in messages if full_page and last_album and m.grouped_id == last_album]
            complete = messages[: len(messages) - len(held)]  # ascending ids: the album is at the end
            if complete:
                records = to_records(complete, key, title, channel.channel_id, username,
                                     await self._download(complete, channel.channel_id))
                result.stored += self._store(source_id, records, max(m.id for m in complete))
            page_query = {"min_id": max(m.id for m in page)}
            if not full_page:
                break
        if held:
            records = to_records(held, key, title, channel.channel_id, username,
                                 await self._download(held, channel.channel_id))
            result.stored += self._store(source_id, records, max(m.id for m in held))
        if cursor is not None and self.policy.recheck_messages and source_id not in self._rechecked:
            await self._recheck(source_id, channel, key, title, username, result)
            self._rechecked.add(source_id)
        with unit_of_work(self.sessions) as session:
            source = session.get(Source, source_id)
            source.error_count, source.last_error = 0, None
            source.last_fetched_at = source.last_success_at = utcnow()
            source.next_fetch_at = None
        metrics.TELEGRAM_CAUGHT_UP.labels(key).set(time.time())

    async def _recheck(self, source_id: int, channel: InputPeerChannel, key: str, title: str,
                       username: str | None, result: CatchUp) -> None:
        """Read the channel's newest messages again: a text that changed becomes a revision,
        and a stored post among them that is gone is marked deleted (as of now, when it was
        noticed). Live updates say so as it happens; this covers the time the process was
        not running, or an update was lost."""
        since = utcnow() - timedelta(hours=self.policy.recheck_hours)
        seen: list[Message] = []
        offset_id = 0  # newest first, each page before the last one's oldest
        while len(seen) < self.policy.recheck_messages:
            limit = min(self.policy.page_size, self.policy.recheck_messages - len(seen))
            page = list(await self._call(self.client.get_messages, channel, limit=limit, offset_id=offset_id))
            recent = [message for message in page if message.date >= since]
            seen += recent
            if len(recent) < limit:
                break
            offset_id = min(message.id for message in page)
        if not seen:
            return
        records = to_records(seen, key, title, channel.channel_id, username)
        with unit_of_work(self.sessions) as session:
            edited = [post_id for record in records
                      if (post_id := apply_edit(session, source_id, record)) is not None]
            present = {str(message.id) for message in seen}
            oldest = min(message.id for message in seen)
            gone = [external_id for external_id in posts_published_since(session, source_id, since)
                    if external_id.isdecimal() and int(external_id) >= oldest and external_id not in present]
            result.deleted = mark_deleted(session, source_id, gone)
        result.edited = len(edited)
        if edited:
            self.on_stored(edited)
        if result.edited or result.deleted:
            log.info("channel %s read again: %d posts edited, %d deleted while not followed", key,
                     result.edited, result.deleted)

    async def _start(self, channel: InputPeerChannel, cursor: int | None) -> dict:
        """Where to start reading: after the cursor, or, the first time, the backfill depth."""
        if cursor is not None:
            return {"min_id": cursor}
        if self.policy.backfill_messages:
            newest = await self._call(self.client.get_messages, channel, limit=1)
            top = newest[0].id if newest else 0
            return {"min_id": max(top - self.policy.backfill_messages, 0)}
        return {"offset_date": utcnow() - timedelta(days=self.policy.backfill_days)}

    async def _download(self, messages: list[Message], channel_id: int) -> dict[int, str]:
        """The photos and videos of MESSAGES as local files for the media stage, by message id:
        whole up to media_max_bytes, a video's thumbnail above it. A download that fails is
        logged and left out: the post is stored without it."""
        if self.policy.media_dir is None:
            return {}
        folder = Path(self.policy.media_dir)
        folder.mkdir(parents=True, exist_ok=True)
        found = {}
        for message in messages:
            if not isinstance(message, Message) or not downloadable(message):
                continue
            too_large = (document_size(message) or 0) > self.policy.media_max_bytes
            target = folder / f"{channel_id}-{message.id}{'-thumbnail' if too_large else ''}"
            try:
                path = await self._call(self.client.download_media, message, file=str(target),
                                        thumb=-1 if too_large else None)
            except (ConnectionError, OSError, RPCError, ValueError) as error:
                log.warning("media of message %d in channel %d not downloaded: %s",
                            message.id, channel_id, error)
                continue
            if path:
                found[message.id] = str(path)
        return found

    def _store(self, source_id: int, records, cursor: int) -> int:
        """Store a page and move the cursor past it, in one transaction."""
        with unit_of_work(self.sessions) as session:
            stored = store_posts(session, records)
            source = session.get(Source, source_id)
            source.cursor = max(source.cursor or 0, cursor)
        if stored.new_post_ids:
            self.on_stored(stored.new_post_ids)
        if stored.with_media:
            self.on_media(stored.with_media)
        return len(stored.new_post_ids)

    async def _entity(self, source_id: int) -> InputPeerChannel:
        with unit_of_work(self.sessions) as session:
            source = session.get(Source, source_id)
            if source.telegram_id is not None:
                return InputPeerChannel(source.telegram_id, source.access_hash or 0)
            key = source.key
        reference = int(key) if key.lstrip("-").isdecimal() else key
        entity = await self._call(self.client.get_entity, reference)
        with unit_of_work(self.sessions) as session:
            remember_entity(session.get(Source, source_id), entity.id, entity.access_hash,
                            getattr(entity, "title", None))
        log.info("channel %s resolved to id %s", key, entity.id)
        return InputPeerChannel(entity.id, entity.access_hash or 0)

    async def _call(self, method, *args, **kwargs):
        while True:
            await self.pacer.wait()
            try:
                return await method(*args, **kwargs)
            except FloodWaitError as error:
                if error.seconds > self.policy.flood_wait_cap_seconds:
                    raise ChannelDeferred(error.seconds) from error
                log.warning("FloodWait of %s s: waiting", error.seconds)
                await self.sleep(error.seconds)

    def _record_failure(self, source_id: int, error: str, retry_in: float) -> None:
        log.warning("Telegram source %s: %s", source_id, error)
        with unit_of_work(self.sessions) as session:
            source = session.get(Source, source_id)
            source.error_count += 1
            source.last_error = error
            source.last_fetched_at = utcnow()
            source.next_fetch_at = utcnow() + timedelta(seconds=retry_in) if retry_in else None

    # Live updates (adapters in run_listener turn Telethon events into these calls)

    def source_of(self, channel_id: int) -> int | None:
        with unit_of_work(self.sessions) as session:
            found = watched_channels(session, telegram_id=channel_id)
        return found[0].id if found else None

    async def on_new_message(self, channel_id: int) -> None:
        source_id = self.source_of(channel_id)
        if source_id is not None:
            await self.catch_up(source_id)

    def on_edit(self, channel_id: int, message: Message) -> bool:
        """Record an edit of a stored post and send its new text to the embed stage; False if
        the post is not stored or its text has not changed."""
        source_id = self.source_of(channel_id)
        if source_id is None:
            return False
        with unit_of_work(self.sessions) as session:
            source = session.get(Source, source_id)
            username = source.key[1:] if source.key.startswith("@") else None
            records = to_records([message], source.key, source.title, channel_id, username)
            edited = apply_edit(session, source_id, records[0]) if records else None
        if edited is None:
            return False
        self.on_stored([edited])
        return True

    def on_deleted(self, channel_id: int, message_ids: list[int]) -> int:
        source_id = self.source_of(channel_id)
        if source_id is None:
            return 0
        with unit_of_work(self.sessions) as session:
            return mark_deleted(session, source_id, [str(message_id) for message_id in message_ids])

    async def run_forever(self) -> None:
        while True:
            rounds = await self.catch_up_all()
            stored = sum(result.stored for result in rounds.values())
            if stored:
                log.info("catch-up stored %s new posts from %s channels", stored, len(rounds))
            await self.sleep(self.policy.catch_up_seconds)
