"""The real Telethon client: its session string, logging in, and the live event handlers.

The session is a StringSession from TELEGRAM_SESSION or TELEGRAM_SESSION_FILE, never a
SQLite session file: two processes sharing one give "database is locked" and
AuthKeyDuplicatedError. Only the one `monitor telegram` process holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session, sessionmaker
from telethon import TelegramClient, events
from telethon.sessions import StringSession

from monitor.messages import UserError
from monitor.telegram.listener import ChannelListener, ListenerPolicy


def session_string(settings) -> str:
    if settings.telegram_session:
        return settings.telegram_session.strip()
    if settings.telegram_session_file:
        path = Path(settings.telegram_session_file)
        if not path.is_file():
            raise UserError(f"TELEGRAM_SESSION_FILE {path} does not exist")
        return path.read_text().strip()
    raise UserError("no Telegram session: run `monitor telegram login`, then set TELEGRAM_SESSION "
                    "or TELEGRAM_SESSION_FILE")


def api_credentials(settings) -> tuple[int, str]:
    if not settings.telegram_api_id or not settings.telegram_api_hash:
        raise UserError("set TELEGRAM_API_ID and TELEGRAM_API_HASH (from https://my.telegram.org, "
                        "API development tools)")
    return settings.telegram_api_id, settings.telegram_api_hash


def make_client(settings, session: str = "") -> TelegramClient:
    # flood_sleep_threshold=0: every FloodWait reaches the listener, whose cap decides.
    return TelegramClient(StringSession(session), *api_credentials(settings),
                          flood_sleep_threshold=0, auto_reconnect=True, connection_retries=None)


async def log_in(settings, ask: Callable[[str, bool], str]) -> str:
    """Sign in interactively (phone, code, 2FA password); returns the session string."""
    client = make_client(settings)
    await client.start(phone=lambda: ask("Phone number (international format)", False),
                       code_callback=lambda: ask("Login code Telegram sent you", False),
                       password=lambda: ask("Two-step verification password", True))
    try:
        return client.session.save()
    finally:
        await client.disconnect()


async def run_listener(settings, sessions: sessionmaker[Session], on_stored: Callable[[list[int]], None],
                       on_media: Callable[[list[int]], None]):
    api_credentials(settings)  # the first thing to be missing on a new deployment
    client = make_client(settings, session_string(settings))
    await client.connect()
    if not await client.is_user_authorized():
        raise UserError("the Telegram session is not signed in: run `monitor telegram login` again")
    listener = ChannelListener(client, sessions, ListenerPolicy.from_settings(settings), on_stored,
                               on_media=on_media)

    @client.on(events.NewMessage())
    async def _new(event):
        if event.is_channel:
            await listener.on_new_message(event.message.peer_id.channel_id)

    @client.on(events.MessageEdited())
    async def _edited(event):
        if event.is_channel:
            listener.on_edit(event.message.peer_id.channel_id, event.message)

    @client.on(events.MessageDeleted())
    async def _deleted(event):
        channel_id = getattr(event.original_update, "channel_id", None)
        if channel_id is not None:  # deletions outside channels do not say where they happened
            listener.on_deleted(channel_id, list(event.deleted_ids))

    try:
        await listener.run_forever()
    finally:
        await client.disconnect()
