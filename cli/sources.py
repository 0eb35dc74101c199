"""`monitor sources ...`: every source's health, feeds added, fetched now or resumed."""

from __future__ import annotations

import json

import click

from cli.database import session_scope
from cli.options import ACTOR
from config import Settings


@click.group("sources")
def sources_group() -> None:
    """Every source (news feeds, Telegram channels, imported ones): their health, fetching a
    feed now, resuming a paused one. Telegram channels are added with `monitor telegram add`."""


@sources_group.command("add-feed")
@click.argument("url")
@click.option("--interval", type=int, default=None,
              help="Seconds between fetches [default: FEED_INTERVAL_SECONDS, 900].")
@click.option("--title", default="", help="Display name [default: the URL].")
@ACTOR
@click.pass_obj
def sources_add_feed(settings: Settings, url: str, interval: int | None, title: str, actor: str) -> None:
    """Watch the RSS, Atom or JSON feed at URL (adding it again updates its interval)."""
    from monitor.news.sources import add_feed

    with session_scope(settings) as session:
        source = add_feed(session, url, interval or settings.feed_interval_seconds, actor, title)
        click.echo(f"feed source {source.id}: {source.key} every {source.fetch_interval_seconds} s")


@sources_group.command("fetch")
@click.argument("source_id", type=int)
@click.pass_obj
def sources_fetch(settings: Settings, source_id: int) -> None:
    """Fetch feed SOURCE_ID now (with the embedded default, its articles too)."""
    from monitor.news.sources import get_feed
    from monitor.wording import plural
    from workers.dispatch import send
    from workers.tasks import fetch_feed_task

    with session_scope(settings) as session:
        get_feed(session, source_id)
    result = send(settings, fetch_feed_task, source_id)
    if result is None:
        click.echo(f"fetch of source {source_id} queued")
        return
    if result["status"] in ("failed", "refused-by-robots"):
        raise click.ClickException(f"source {source_id}: {result['error']}")
    found = (plural(result["reviews"], "review") if "reviews" in result
             else plural(result["new_entries"], "new article"))
    click.echo(f"source {source_id}: {result['status']}, {found}"
               + (f" (warning: {result['warning']})" if result["warning"] else ""))


@sources_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def sources_list(settings: Settings, as_json: bool) -> None:
    """Every source with its title and key (handle, channel id or URL) and its health: last
    fetch, failures in a row, last error, pause reason."""
    from monitor.ingest.sources import list_sources
    from monitor.normalize import visible

    with session_scope(settings) as session:
        rows = [{
            "id": source.id, "kind": source.kind, "key": source.key, "title": source.title,
            "last_success_at": source.last_success_at.isoformat() if source.last_success_at else None,
            "error_count": source.error_count, "last_error": source.last_error,
            "paused_reason": source.paused_reason, "cursor": source.cursor,
        } for source in list_sources(session)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        state = f"PAUSED: {row['paused_reason']}" if row["paused_reason"] else (
            f"{row['error_count']} failures, last: {row['last_error']}" if row["error_count"]
            else "ok")
        title, key = visible(row["title"] or ""), visible(row["key"])
        name = f"{title} ({key})" if title and title != key else key
        click.echo(f"{row['id']:>5}  {row['kind']:<9} {name}  [{state}]")


@sources_group.command("resume")
@click.argument("source_id", type=int)
@ACTOR
@click.pass_obj
def sources_resume(settings: Settings, source_id: int, actor: str) -> None:
    """Un-pause SOURCE_ID and fetch it at the next round."""
    from monitor.ingest.sources import set_paused

    with session_scope(settings) as session:
        set_paused(session, source_id, actor, None)
    click.echo(f"source {source_id} resumed")
