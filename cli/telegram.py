"""`monitor telegram ...`: the listener, signing in, and channels to watch."""

from __future__ import annotations

import json
import sys

import click

from cli.database import ensure_schema, session_scope
from cli.options import ACTOR, log_as_a_service
from config import Settings
from monitor.messages import UserError


@click.group("telegram", invoke_without_command=True)
@click.pass_context
def telegram_group(ctx: click.Context) -> None:
    """Telegram channels. Without a subcommand: run the listener (one process only).

    The listener catches every watched channel up from its cursor, then follows live
    updates (new posts, edits, deletions) and catches up again every
    TELEGRAM_CATCH_UP_SECONDS. New posts go to the embed stage; Ctrl-C stops it.
    """
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from monitor.db.session import make_engine, make_session_factory
    from monitor.telegram.client import run_listener
    from workers.dispatch import send
    from workers.tasks import embed_posts_task, hash_media_task

    settings: Settings = ctx.obj
    log_as_a_service(settings)
    ensure_schema(settings)
    sessions = make_session_factory(make_engine(settings.database_url))
    if settings.worker_metrics_port:  # each channel's last catch-up and the channels due
        from config.queues import QUEUES
        from monitor import metrics

        metrics.serve(settings.worker_metrics_port, settings.celery_broker_url, QUEUES)

    def embed(post_ids: list[int]) -> None:
        for start in range(0, len(post_ids), settings.embed_batch_size):
            send(settings, embed_posts_task, post_ids[start : start + settings.embed_batch_size])

    def fingerprint_media(post_ids: list[int]) -> None:
        for post_id in post_ids:
            send(settings, hash_media_task, post_id)

    try:
        asyncio.run(run_listener(settings, sessions, embed, fingerprint_media))
    except UserError as error:
        raise click.ClickException(str(error)) from error
    except KeyboardInterrupt:
        click.echo("listener stopped")


@telegram_group.command("login")
@click.pass_obj
def telegram_login(settings: Settings) -> None:
    """Sign in to Telegram (phone, code, 2FA password) and print the session string."""
    import asyncio

    from monitor.telegram.client import log_in

    try:
        session = asyncio.run(log_in(settings, lambda text, hide: click.prompt(text, hide_input=hide)))
    except UserError as error:
        raise click.ClickException(str(error)) from error
    click.echo("Signed in. Keep this session string secret; it is not stored anywhere:")
    click.echo(session)
    click.echo("Put it in TELEGRAM_SESSION, or in a file named by TELEGRAM_SESSION_FILE "
               "(in docker-compose: the secret file config/telegram.session).")


@telegram_group.command("add")
@click.argument("channel")
@ACTOR
@click.pass_obj
def telegram_add(settings: Settings, channel: str, actor: str) -> None:
    """Watch CHANNEL: @username, https://t.me/name, https://t.me/c/ID or the numeric id."""
    from monitor.telegram.channels import add_channel

    with session_scope(settings) as session:
        source = add_channel(session, channel, actor)
        click.echo(f"telegram source {source.id}: {source.key} (resolved by the listener, once)")


@telegram_group.command("health")
@click.pass_obj
def telegram_health(settings: Settings) -> None:
    """Whether the listener is alive: some channel fetched within three
    TELEGRAM_CATCH_UP_SECONDS. Prints one JSON object; exit status 1 when not (health checks)."""
    from monitor.telegram.channels import listener_health

    with session_scope(settings) as session:
        state = listener_health(session, settings.telegram_catch_up_seconds)
    click.echo(json.dumps(state))
    if state["status"] != "ok":
        sys.exit(1)
