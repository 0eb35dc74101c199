"""`monitor claims import` and `monitor claims list`: fact-checkers' reviewed claims (schema.org
ClaimReview), which alerts recognise when a post repeats one."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.database import session_scope
from cli.options import ACTOR
from config import Settings


@click.group("claims")
def claims_group() -> None:
    """Known claims: what fact-checkers have reviewed."""


@claims_group.command("import")
@click.argument("source")
@ACTOR
@click.pass_obj
def claims_import(settings: Settings, source: str, actor: str) -> None:
    """Import the ClaimReviews of SOURCE, a file or an http(s) URL: JSON-LD (an object, a
    list, an @graph), a Data Commons / Fact Check Explorer feed (dataFeedElement) or an HTML
    page with ld+json blocks. A review imported before is updated, never duplicated; a bad
    one is reported with its place and the rest are imported (exit status 1)."""
    from cli.progress import report_problems
    from monitor import runtime
    from monitor.claims.claimreview import ClaimReviewError, parse_claimreviews
    from monitor.claims.imports import import_reviews
    from monitor.news.http import FetchError, HttpPolicy, fetch
    from workers.dispatch import send
    from workers.tasks import embed_claims_task

    try:
        if source.startswith(("http://", "https://")):
            data = fetch(runtime.http_client(settings), source, HttpPolicy.from_settings(settings)).body
        else:
            data = Path(source).read_bytes()
        parsed = parse_claimreviews(data)
    except (OSError, FetchError, ClaimReviewError) as error:
        raise click.ClickException(f"{source}: {error}") from None
    report_problems(source, parsed.problems)
    with session_scope(settings) as session:
        imported = import_reviews(session, parsed.claims, actor, source)
    click.echo(f"{source}: {len(parsed.claims):,} reviews read, {len(parsed.problems):,} rejected; "
               f"{imported.added:,} claims added, {imported.updated:,} updated, "
               f"{imported.unchanged:,} unchanged")
    if imported.added or imported.updated:
        embedded = send(settings, embed_claims_task)
        click.echo(f"{embedded:,} claims embedded" if embedded is not None else "embedding queued")
    if parsed.problems:
        raise SystemExit(1)


@claims_group.command("watch")
@click.argument("url")
@click.option("--interval", type=int, default=None,
              help="Seconds between fetches [default: FEED_INTERVAL_SECONDS].")
@ACTOR
@click.pass_obj
def claims_watch(settings: Settings, url: str, interval: int | None, actor: str) -> None:
    """Poll the ClaimReview feed at URL like a news feed (conditional GET, backoff, pausing
    after repeated failures): its new and changed reviews become known claims."""
    from monitor.news.sources import SourceError, add_feed

    with session_scope(settings) as session:
        try:
            source = add_feed(session, url, interval or settings.feed_interval_seconds, actor, kind="claims")
        except SourceError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"source {source.id}: {source.key}, every {source.fetch_interval_seconds} s "
                   "(`monitor sources fetch ID` fetches it now)")


@claims_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def claims_list(settings: Settings, as_json: bool) -> None:
    """The known claims, newest first: label, rating, fact-checker, link."""
    from monitor.alerts.known_claims import list_known_claims

    with session_scope(settings) as session:
        claims = [{"id": claim.id, "label": claim.label, "rating": claim.rating, "author": claim.author or
                   claim.created_by, "url": claim.url, "language": claim.language, "text": claim.text,
                   "published_at": claim.published_at.isoformat() if claim.published_at else None,
                   "appearances": claim.appearances or [], "active": claim.active}
                  for claim in list_known_claims(session)]
    if as_json:
        click.echo(json.dumps(claims, ensure_ascii=False, indent=1))
        return
    for claim in claims:
        rating = f" \u201c{claim['rating']}\u201d" if claim["rating"] else ""
        click.echo(f"{claim['id']:>6}  {claim['label']}{rating}  {claim['author']}  {claim['url'] or ''}\n"
                   f"        {claim['text'][:120]}")
