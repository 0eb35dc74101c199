"""A stand-in for telethon.TelegramClient: only the methods the listener calls, serving
real Telethon types (Channel, Message, ...) and raising Telethon's own errors on cue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from telethon.errors import FileReferenceExpiredError, FloodWaitError
from telethon.tl.types import (
    Channel,
    ChatPhotoEmpty,
    Document,
    DocumentAttributeVideo,
    InputPeerChannel,
    Message,
    MessageEntityTextUrl,
    MessageFwdHeader,
    MessageMediaDocument,
    MessageMediaPhoto,
    MessageReplies,
    PeerChannel,
    Photo,
)

# Recent enough for the default backfill depth (days back from now).
START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)


def channel(channel_id: int, username: str, title: str) -> Channel:
    return Channel(id=channel_id, title=title, photo=ChatPhotoEmpty(), date=START, username=username,
                   access_hash=channel_id * 7, broadcast=True)


def message(channel_id: int, message_id: int, text: str = "", *, minutes: int | None = None,
            **fields) -> Message:
    return Message(id=message_id, peer_id=PeerChannel(channel_id), message=text,
                   date=START + timedelta(minutes=message_id if minutes is None else minutes), **fields)


def video(document_id: int, size: int = 10_000) -> MessageMediaDocument:
    return MessageMediaDocument(document=Document(
        id=document_id, access_hash=1, file_reference=b"", date=START, mime_type="video/mp4", size=size,
        dc_id=2, attributes=[DocumentAttributeVideo(duration=12.0, w=720, h=1280)]))


def photo(photo_id: int) -> MessageMediaPhoto:
    return MessageMediaPhoto(photo=Photo(id=photo_id, access_hash=1, file_reference=b"", date=START, sizes=[],
                                         dc_id=2))


def forwarded_from(origin_channel_id: int, origin_message_id: int) -> MessageFwdHeader:
    return MessageFwdHeader(date=START - timedelta(minutes=30), from_id=PeerChannel(origin_channel_id),
                            channel_post=origin_message_id)


def hidden_link(text: str, url: str) -> list:
    return [MessageEntityTextUrl(offset=0, length=len(text), url=url)]


def replies(count: int) -> MessageReplies:
    return MessageReplies(replies=count, replies_pts=0)


@dataclass
class StandInTelegram:
    channels: dict[str, Channel] = field(default_factory=dict)  # by @username
    history: dict[int, list[Message]] = field(default_factory=dict)  # by channel id
    # Failures on cue, by the number of the get_messages call (1-based): an exception to raise.
    failures: dict[int, Exception] = field(default_factory=dict)
    # The bytes download_media serves, by photo or document id; and a document's thumbnail.
    files: dict[int, Path] = field(default_factory=dict)
    thumbnails: dict[int, Path] = field(default_factory=dict)
    downloads: list[tuple[int, bool]] = field(default_factory=list)  # (media id, thumbnail only)
    entity_lookups: int = 0
    message_calls: int = 0

    def add(self, entity: Channel, messages: list[Message]) -> None:
        self.channels["@" + entity.username.lower()] = entity
        self.history[entity.id] = messages

    async def get_entity(self, reference):
        self.entity_lookups += 1
        if isinstance(reference, str) and reference in self.channels:
            return self.channels[reference]
        for entity in self.channels.values():
            if reference in (entity.id, int(f"-100{entity.id}")):
                return entity
        raise ValueError(f'Cannot find any entity corresponding to "{reference}"')

    async def get_messages(self, entity: InputPeerChannel, limit: int = 100, *, reverse: bool = False,
                           min_id: int = 0, offset_date: datetime | None = None,
                           offset_id: int = 0) -> list[Message]:
        self.message_calls += 1
        if self.message_calls in self.failures:
            raise self.failures.pop(self.message_calls)
        assert isinstance(entity, InputPeerChannel) and entity.access_hash == entity.channel_id * 7
        messages = sorted(self.history[entity.channel_id], key=lambda m: m.id)
        if not reverse:  # newest first, before OFFSET_ID when given
            return [m for m in reversed(messages) if not offset_id or m.id < offset_id][:limit]
        after = [m for m in messages if m.id > min_id and (offset_date is None or m.date > offset_date)]
        return after[:limit]


    async def download_media(self, message: Message, file=None, thumb=None):
        """Telethon's: the message's file (or, with THUMB, its thumbnail) written to FILE, with
        the extension its type implies; the path written."""
        media = message.media
        media_id = media.photo.id if isinstance(media, MessageMediaPhoto) else media.document.id
        self.downloads.append((media_id, thumb is not None))
        source = (self.thumbnails if thumb is not None else self.files).get(media_id)
        if source is None:
            raise FileReferenceExpiredError(request=None)
        target = Path(f"{file}{source.suffix}")
        target.write_bytes(source.read_bytes())
        return str(target)


def flood_wait(seconds: int) -> FloodWaitError:
    return FloodWaitError(request=None, capture=seconds)
