"""The real posts every benchmark runs on: ../shared/data/telegram/channels, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from monitor.embed.stage import text_to_encode
from monitor.evaluation.datasets import channel_posts
from monitor.ingest.records import PostRecord

CHANNELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "telegram" / "channels"
# Posts a benchmark sends through before it measures, and leaves out of its figures.
WARM_UP_POSTS = 16


def real_posts(count: int) -> list[PostRecord]:
    """The COUNT newest posts, one per channel message."""
    posts = {(post["sender_id"], post["message_id"]): post for post in channel_posts(CHANNELS)}
    if not posts:
        raise SystemExit(f"no channel posts in {CHANNELS}: ../shared must lie beside the repository")
    newest = sorted(posts.values(), key=lambda post: post["date"], reverse=True)[:count]
    return [PostRecord(source_kind="telegram", source_key=str(post["sender_id"]),
                       source_title=post["channel"], external_id=str(post["message_id"]),
                       text=post["text"], published_at=datetime.fromisoformat(post["date"]))
            for post in newest]


def texts_to_encode(texts: Iterable[str]) -> list[str]:
    """What the embed stage encodes of TEXTS (those with words to compare), in order."""
    return [encoded for text in texts if (encoded := text_to_encode(text)) is not None]
