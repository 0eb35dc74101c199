"""Telethon messages to post records.

An album arrives as several messages sharing a ``grouped_id`` (one per photo or
video, the caption on one of them): it becomes one post, under the id of its first
message. The Telegram id of a photo or document stays the same wherever the file is
forwarded or reposted, so it is kept: the same video in many channels is the same media.
"""

from __future__ import annotations

from itertools import groupby

from telethon.tl.types import (
    DocumentAttributeVideo,
    Message,
    MessageEntityTextUrl,
    MessageMediaDocument,
    MessageMediaPhoto,
    MessageMediaWebPage,
    PeerChannel,
    PeerUser,
)

from monitor.ingest.records import PostRecord


def channel_key(channel_id: int) -> str:
    """The "marked" id Telethon and the Bot API use for channels: -100 followed by the id."""
    return f"-100{channel_id}"


def message_text(message: Message) -> str:
    """The text, with the targets of hidden links (text links) added: they are where a claim points."""
    text = message.message or ""
    hidden = [entity.url for entity in message.entities or []
              if isinstance(entity, MessageEntityTextUrl) and entity.url not in text]
    return "\n".join([text, *dict.fromkeys(hidden)]) if hidden else text


def media_of(message: Message) -> tuple[str | None, str | None]:
    """(kind, Telegram file id) of the message's photo, video or document."""
    media = message.media
    if isinstance(media, MessageMediaPhoto) and media.photo is not None:
        return "photo", str(media.photo.id)
    if isinstance(media, MessageMediaDocument) and media.document is not None:
        document = media.document
        is_video = any(isinstance(attribute, DocumentAttributeVideo) for attribute in document.attributes) \
            or (getattr(document, "mime_type", "") or "").startswith("video/")
        return ("video" if is_video else "document"), str(document.id)
    if media is not None and not isinstance(media, MessageMediaWebPage):
        return type(media).__name__.removeprefix("MessageMedia").lower()[:16], None
    return None, None


def downloadable(message: Message) -> bool:
    """A photo, or a video, round video, animation or image document: media the media stage
    fingerprints (not voice, audio, stickers or other files)."""
    media = message.media
    if isinstance(media, MessageMediaPhoto):
        return media.photo is not None
    if isinstance(media, MessageMediaDocument) and media.document is not None:
        mime = getattr(media.document, "mime_type", "") or ""
        return mime.startswith(("video/", "image/")) and mime != "image/webp"  # webp: stickers
    return False


def document_size(message: Message) -> int | None:
    """The size Telegram gives a document (a photo has none: its sizes are small)."""
    document = getattr(message.media, "document", None)
    return getattr(document, "size", None)


def forward_of(message: Message) -> dict:
    """The provenance of a forward: the origin channel (or user), its message id and date."""
    header = message.fwd_from
    if header is None:
        return {}
    if isinstance(header.from_id, PeerChannel):
        origin = channel_key(header.from_id.channel_id)
    elif isinstance(header.from_id, PeerUser):
        origin = f"user{header.from_id.user_id}"
    else:
        origin = header.from_name or "hidden sender"
    return {"forwarded_from": f"{origin} ({header.post_author})" if header.post_author else origin,
            "forwarded_from_id": origin,
            "forwarded_message_id": str(header.channel_post) if header.channel_post else None,
            "forwarded_at": header.date}


def post_url(channel_id: int, username: str | None, message_id: int) -> str:
    return f"https://t.me/{username}/{message_id}" if username else f"https://t.me/c/{channel_id}/{message_id}"


def to_records(messages: list[Message], source_key: str, title: str, channel_id: int,
               username: str | None, downloaded: dict[int, str] | None = None) -> list[PostRecord]:
    """Records for MESSAGES (one channel, ascending ids), an album merged into one record;
    DOWNLOADED: the local files of their media, by message id."""
    downloaded = downloaded or {}
    records = []
    # Service messages (channel created, message pinned...) are not posts.
    posts = (m for m in messages if isinstance(m, Message) and getattr(m, "action", None) is None)
    ordered = sorted(posts, key=lambda m: m.id)
    for _, group in groupby(ordered, key=lambda m: m.grouped_id or -m.id):
        parts = list(group)
        first = parts[0]
        captioned = next((part for part in parts if part.message), first)
        kinds = [media_of(part) for part in parts]
        kind, media_id = next(((k, i) for k, i in kinds if i), kinds[0])
        replies = first.replies.replies if first.replies is not None else None
        records.append(PostRecord(
            source_kind="telegram", source_key=source_key, source_title=title,
            external_id=str(first.id), text=message_text(captioned), author=captioned.post_author,
            url=post_url(channel_id, username, first.id), published_at=first.date,
            views=max((p.views for p in parts if p.views is not None), default=None),
            forwards=max((p.forwards for p in parts if p.forwards is not None), default=None),
            replies=replies, edited_at=captioned.edit_date, media_kind=kind, media_id=media_id,
            has_media=kind is not None, **forward_of(first),
            media=tuple(downloaded[part.id] for part in parts if part.id in downloaded),
        ))
    return records
