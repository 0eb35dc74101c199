"""`monitor ...` commands. Each one reads the settings once and calls into monitor/, workers/ or web/."""

from __future__ import annotations

import getpass
import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click

from cli.claims import claims_group
from cli.clusters import clusters_group
from cli.database import ensure_schema, migrate, safe_url, session_scope
from cli.evaluate import calibrate_command, eval_group
from cli.media import media_group
from cli.watchlist import watchlist_group
from config import Settings, load_settings
from monitor.db.models import Role
from monitor.ingest.files import FORMATS
from monitor.logs import configure_logging, current_trace_id, new_trace_id
from monitor.messages import UserError
from monitor.notify.subscriptions import EVENT_TYPES
from monitor.review.labels import LABELS

IMPORT_CHUNK = 256


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True,
              help="Log more: -v info, -vv debug [default: MONITOR_LOG_LEVEL, warnings only].")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Claim monitor: ingest posts, cluster near-duplicate claims, raise alerts."""
    from pydantic import ValidationError

    try:
        ctx.obj = load_settings()
    except ValidationError as error:
        raise click.ClickException("bad settings: " + "; ".join(
            f"{'.'.join(map(str, problem['loc'])).upper()}: {problem['msg']}" for problem in error.errors())
        ) from None
    # A command answers on stdout and says what went wrong on stderr; its log lines are for
    # when that is not enough. Services started from here (the listener, serve) log at LOG_LEVEL.
    level = {0: ctx.obj.monitor_log_level, 1: "INFO"}.get(verbose, "DEBUG")
    configure_logging(level, ctx.obj.log_format)
    current_trace_id.set(new_trace_id())  # follows what this command sends through the stages


def log_as_a_service(settings: Settings) -> None:
    """A long-running process started from the command line logs as the services do."""
    configure_logging(settings.log_level, settings.log_format)


cli.add_command(eval_group)
cli.add_command(calibrate_command)
cli.add_command(watchlist_group)
cli.add_command(clusters_group)
cli.add_command(claims_group)
cli.add_command(media_group)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Apply the Alembic migrations up to the newest revision."""
    from monitor.db.migrate import upgrade

    upgrade(settings.database_url)
    click.echo(f"database at the newest revision: {safe_url(settings.database_url)}")


@cli.command("import")
@click.argument("files", type=click.Path(exists=True, dir_okay=False, path_type=Path), nargs=-1,
                required=True)
@click.option("--format", "file_format", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="JSON Lines posts, a JSON array of posts (a channel dump) or a Telegram Desktop "
                   "result.json (docs/import-format.md).")
@click.pass_obj
def import_command(settings: Settings, files: tuple[Path, ...], file_format: str) -> None:
    """Import posts from FILES (each in its own format) and send them through the pipeline.

    Bad lines or messages are reported with their place in the file and the rest
    is imported; the exit status is then 1. With the embedded default (eager Celery)
    the whole pipeline runs before the command returns, with a progress bar on a
    terminal; otherwise the posts are queued for the workers. Each file ends with a
    summary: posts stored, already there, rejected, clusters and alerts added, time.
    """
    from cli.progress import report_problems

    ensure_schema(settings)
    failed = False
    first = _stats(settings) if settings.celery_always_eager else None
    total = Imported(0, 0, [], 0, 0.0, 0)
    for file in files:
        before = _stats(settings) if settings.celery_always_eager else None
        try:
            imported = import_file(settings, file, file_format)
        except UserError as error:
            if len(files) == 1:
                raise click.ClickException(str(error)) from error
            click.echo(f"Error: {error}", err=True)
            failed = True
            continue
        report_problems(str(file), imported.problems)
        click.echo(f"{file}: {_import_summary(settings, imported, before)}")
        failed = failed or bool(imported.problems)
        total = Imported(total.sent + imported.sent, total.stored + imported.stored,
                         total.problems + imported.problems, total.skipped + imported.skipped,
                         total.seconds + imported.seconds, total.media_absent + imported.media_absent)
    if len(files) > 1:
        click.echo(f"all {len(files)} files: {_import_summary(settings, total, first)}")
    if failed:
        sys.exit(1)


def _import_summary(settings: Settings, imported: "Imported", before: dict | None) -> str:
    from monitor.wording import plural

    if not imported.sent and not imported.problems and not imported.skipped:
        return "no posts in it"
    summary = [f"{plural(imported.sent, 'post')} sent to the pipeline, {len(imported.problems):,} rejected"
               + (f", {plural(imported.skipped, 'service message')} skipped" if imported.skipped else "")
               + (f"; {plural(imported.media_absent, 'media file')} absent (posts kept without them)"
                  if imported.media_absent else "")]
    if before is not None:
        after = _stats(settings)
        summary.append(f"{plural(imported.stored, 'new post')} stored, {imported.sent - imported.stored:,} "
                       f"already there; {plural(after['clusters'] - before['clusters'], 'cluster')} and "
                       f"{plural(after['alerts'] - before['alerts'], 'alert')} added; "
                       f"{imported.seconds:,.1f} s")
    else:
        summary.append(f"queued for the workers in {imported.seconds:,.1f} s")
    return "; ".join(summary)


@dataclass(frozen=True)
class Imported:
    sent: int
    stored: int  # new posts stored (eager mode: the pipeline ran; else 0)
    problems: list
    skipped: int
    seconds: float
    media_absent: int  # media files the posts name that were not there


def import_file(settings: Settings, file: Path, file_format: str = "auto") -> Imported:
    """Parse FILE and send its posts to the ingest queue in chunks, showing progress."""
    from cli.progress import Progress
    from monitor.ingest.files import parse_file
    from workers.dispatch import send
    from workers.tasks import store_posts_task

    parsed = parse_file(file, file_format)
    progress = Progress(len(parsed.records), "posts", file.name)
    stored = 0
    for start in range(0, len(parsed.records), IMPORT_CHUNK):
        chunk = parsed.records[start : start + IMPORT_CHUNK]
        stored += send(settings, store_posts_task, [record.to_message() for record in chunk]) or 0
        progress.update(len(chunk))
    return Imported(len(parsed.records), stored, parsed.problems, parsed.skipped, progress.close(),
                    parsed.media_absent)


@cli.command()
@click.option("--older-than", type=float, default=600, show_default=True,
              help="Seconds a post may wait in one stage before it counts as stalled.")
@click.pass_obj
def sweep(settings: Settings, older_than: float) -> None:
    """Send again posts and alert events whose tasks were lost (e.g. Redis restarted)."""
    from workers.dispatch import send
    from workers.tasks import sweep_stalled_task

    ensure_schema(settings)
    counts = send(settings, sweep_stalled_task, older_than)
    click.echo("sweep queued on the ingest queue" if counts is None
               else f"re-ran stalled work: {json.dumps(counts)}")


@cli.group()
def sources() -> None:
    """Every source (news feeds, Telegram channels, imported ones): their health, fetching a
    feed now, resuming a paused one. Telegram channels are added with `monitor telegram add`."""


@sources.command("add-feed")
@click.argument("url")
@click.option("--interval", type=int, default=None,
              help="Seconds between fetches [default: FEED_INTERVAL_SECONDS, 900].")
@click.option("--title", default="", help="Display name [default: the URL].")
@click.option("--actor", default=getpass.getuser, show_default="your login name",
              help="Who adds it (kept in the audit trail).")
@click.pass_obj
def sources_add_feed(settings: Settings, url: str, interval: int | None, title: str, actor: str) -> None:
    """Watch the RSS, Atom or JSON feed at URL (adding it again updates its interval)."""
    from monitor.news.sources import add_feed

    with session_scope(settings) as session:
        source = add_feed(session, url, interval or settings.feed_interval_seconds, actor, title)
        click.echo(f"feed source {source.id}: {source.key} every {source.fetch_interval_seconds} s")


@sources.command("fetch")
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


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def sources_list(settings: Settings, as_json: bool) -> None:
    """Every source with its title and key (handle, channel id or URL) and its health: last
    fetch, failures in a row, last error, pause reason."""
    from sqlalchemy import select

    from monitor.db.models import Source
    from monitor.normalize import visible

    with session_scope(settings) as session:
        rows = [{
            "id": source.id, "kind": source.kind, "key": source.key, "title": source.title,
            "last_success_at": source.last_success_at.isoformat() if source.last_success_at else None,
            "error_count": source.error_count, "last_error": source.last_error,
            "paused_reason": source.paused_reason, "cursor": source.cursor,
        } for source in session.scalars(select(Source).order_by(Source.id))]
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


@sources.command("resume")
@click.argument("source_id", type=int)
@click.option("--actor", default=getpass.getuser, show_default="your login name",
              help="Who resumes it (kept in the audit trail).")
@click.pass_obj
def sources_resume(settings: Settings, source_id: int, actor: str) -> None:
    """Un-pause SOURCE_ID and fetch it at the next round."""
    from monitor.ingest.sources import set_paused

    with session_scope(settings) as session:
        set_paused(session, source_id, actor, None)
    click.echo(f"source {source_id} resumed")


@cli.group(invoke_without_command=True)
@click.pass_context
def telegram(ctx: click.Context) -> None:
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


@telegram.command("login")
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


@telegram.command("add")
@click.argument("channel")
@click.option("--actor", default=getpass.getuser, show_default="your login name",
              help="Who adds it (kept in the audit trail).")
@click.pass_obj
def telegram_add(settings: Settings, channel: str, actor: str) -> None:
    """Watch CHANNEL: @username, https://t.me/name, https://t.me/c/ID or the numeric id."""
    from monitor.telegram.channels import add_channel

    with session_scope(settings) as session:
        source = add_channel(session, channel, actor)
        click.echo(f"telegram source {source.id}: {source.key} (resolved by the listener, once)")


@cli.group()
def webhooks() -> None:
    """Newsroom webhooks: subscriptions, deliveries and their log."""


@webhooks.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENT_TYPES),
              help="Event type to send (repeatable) [default: all].")
@click.option("--min-score", type=float, help="Only alerts scoring at least this.")
@click.option("--label", "labels", multiple=True, type=click.Choice(LABELS),
              help="Only alerts confirmed with this label (repeatable).")
@click.option("--language", "languages", multiple=True, help="Only clusters with posts in this language.")
@click.option("--source", "source_ids", multiple=True, type=int,
              help="Only clusters with posts from this source id.")
@click.option("--actor", required=True, help="Who adds it (kept in the audit trail).")
@click.pass_obj
def webhooks_add(settings: Settings, url: str, events, min_score, labels, languages, source_ids,
                 actor: str) -> None:
    """Send alert events to URL, signed per Standard Webhooks. Prints the secret once."""
    from monitor.notify.subscriptions import Filters, add_subscription
    from monitor.ssrf import TargetPolicy

    filters = Filters(min_score, list(labels) or None, list(languages) or None, list(source_ids) or None)
    with session_scope(settings) as session:
        subscription = add_subscription(session, url, list(events), filters,
                                         TargetPolicy.from_settings(settings), actor)
        click.echo(f"webhook subscription {subscription.id}: {url}")
        click.echo(f"secret (shown once, keep it in the receiver): {subscription.secret}")


@webhooks.command("list")
@click.pass_obj
def webhooks_list(settings: Settings) -> None:
    """Subscriptions with their health; secrets are never shown again."""
    from sqlalchemy import select

    from monitor.db.models import WebhookSubscription

    with session_scope(settings) as session:
        for sub in session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)):
            state = "enabled" if sub.enabled else f"DISABLED: {sub.disabled_reason or 'by hand'}"
            click.echo(f"{sub.id:>5}  {sub.url}  events={','.join(sub.events)}  [{state}]")


@webhooks.command("rotate-secret")
@click.argument("subscription_id", type=int)
@click.option("--overlap-hours", type=float, default=24, show_default=True,
              help="How long the old secret keeps signing too.")
@click.option("--actor", default=getpass.getuser, show_default="your login name")
@click.pass_obj
def webhooks_rotate(settings: Settings, subscription_id: int, overlap_hours: float, actor: str) -> None:
    """A new secret; both are sent during the overlap so the receiver can switch."""
    from datetime import timedelta

    from monitor.notify.subscriptions import rotate_secret

    with session_scope(settings) as session:
        subscription = rotate_secret(session, subscription_id, timedelta(hours=overlap_hours), actor)
        click.echo(f"new secret (shown once): {subscription.secret}")


@webhooks.command("enable")
@click.argument("subscription_id", type=int)
@click.option("--actor", default=getpass.getuser, show_default="your login name")
@click.pass_obj
def webhooks_enable(settings: Settings, subscription_id: int, actor: str) -> None:
    """Enable a subscription again (also one disabled after failures)."""
    _set_enabled(settings, subscription_id, True, actor)


@webhooks.command("disable")
@click.argument("subscription_id", type=int)
@click.option("--actor", default=getpass.getuser, show_default="your login name")
@click.pass_obj
def webhooks_disable(settings: Settings, subscription_id: int, actor: str) -> None:
    """Stop sending to a subscription."""
    _set_enabled(settings, subscription_id, False, actor)


def _set_enabled(settings: Settings, subscription_id: int, enabled: bool, actor: str) -> None:
    from monitor.notify.subscriptions import set_enabled

    with session_scope(settings) as session:
        set_enabled(session, subscription_id, enabled, actor)
    click.echo(f"subscription {subscription_id} {'enabled' if enabled else 'disabled'}")


@webhooks.command("test")
@click.argument("subscription_id", type=int)
@click.pass_obj
def webhooks_test(settings: Settings, subscription_id: int) -> None:
    """Send a webhook.test event to the subscription."""
    from monitor.notify.delivery import plan_test_delivery

    with session_scope(settings) as session:
        delivery_id = plan_test_delivery(session, subscription_id)
    _deliver(settings, [delivery_id])


@webhooks.command("redeliver")
@click.argument("delivery_id", type=int)
@click.pass_obj
def webhooks_redeliver(settings: Settings, delivery_id: int) -> None:
    """Send a delivery again, with its original message id and body."""
    from monitor.notify.delivery import redeliver

    with session_scope(settings) as session:
        redeliver(session, delivery_id)
    _deliver(settings, [delivery_id])


@webhooks.command("retry-due")
@click.pass_obj
def webhooks_retry_due(settings: Settings) -> None:
    """Attempt every delivery whose retry time has come (beat does this in production)."""
    from monitor.db.models import utcnow
    from monitor.notify.delivery import due_deliveries

    with session_scope(settings) as session:
        due = due_deliveries(session, utcnow())
    _deliver(settings, due)


@webhooks.command("deliveries")
@click.option("--subscription", "subscription_id", type=int, help="Only this subscription's.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.pass_obj
def webhooks_deliveries(settings: Settings, subscription_id: int | None, limit: int) -> None:
    """The delivery log: each delivery with its attempts (status code, latency, error)."""
    from sqlalchemy import select

    from monitor.db.models import WebhookDelivery

    with session_scope(settings) as session:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if subscription_id is not None:
            query = query.where(WebhookDelivery.subscription_id == subscription_id)
        for delivery in session.scalars(query):
            click.echo(f"{delivery.id:>6}  sub {delivery.subscription_id}  {delivery.event_type:<16} "
                       f"{delivery.status:<9} {delivery.message_id}")
            for attempt in delivery.attempt_log:
                click.echo(f"        #{attempt.attempt} {attempt.created_at:%Y-%m-%d %H:%M:%S} "
                           f"status={attempt.status_code} {attempt.latency_ms} ms"
                           + (f" error={attempt.error}" if attempt.error else ""))


def _deliver(settings: Settings, delivery_ids: list[int]) -> None:
    from workers.dispatch import deliver

    for delivery_id, status in zip(delivery_ids, deliver(settings, delivery_ids), strict=True):
        click.echo(f"delivery {delivery_id}: " + (
            "queued" if not settings.celery_always_eager else status or "not due"))


@cli.group()
def alerts() -> None:
    """Review alerts from the command line."""


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--with-posts", is_flag=True, help="With each alert's posts as {source, id} (JSON).")
@click.option("--status", type=click.Choice(["open", "confirmed", "dismissed"]), default=None,
              help="Only alerts in this state [default: all but merged ones].")
@click.pass_obj
def alerts_list(settings: Settings, as_json: bool, with_posts: bool, status: str | None) -> None:
    """The alert queue in the UI's order: score, counts, each rule's points and the reasons."""
    from monitor.db.models import AlertStatus
    from monitor.review.queries import alert_queue
    from monitor.wording import plural

    with session_scope(settings) as session:
        queue = alert_queue(session, AlertStatus(status) if status else None, with_posts)
    if as_json:
        click.echo(json.dumps(queue, ensure_ascii=False))
        return
    for alert in queue:
        rules = ", ".join(f"{rule['rule']} {rule['points']:g}" for rule in alert["rules"])
        click.echo(f"#{alert['id']:<5} {alert['score']:>7.1f}  {alert['status']:<9} "
                   f"{plural(alert['post_count'], 'post')}, {plural(alert['sources'], 'source')}, "
                   f"{plural(alert['clusters'], 'cluster')}  [{rules}]")
        for reason in alert["reasons"]:
            click.echo(f"        {reason}")


@alerts.command("decide")
@click.argument("alert_id", type=int)
@click.argument("decision", type=click.Choice(["confirm", "dismiss"]))
@click.option("--label", type=click.Choice(LABELS), help="Required to confirm.")
@click.option("--note", default="", help="Why: kept in the review log and the audit trail.")
@click.option("--actor", required=True, help="Who takes the decision.")
@click.pass_obj
def alerts_decide(settings: Settings, alert_id: int, decision: str, label: str | None,
                  note: str, actor: str) -> None:
    """Confirm (with a label) or dismiss ALERT_ID."""
    from monitor.review.decisions import decide
    from workers.dispatch import notify

    with session_scope(settings) as session:
        event = decide(session, alert_id, decision, actor, label=label, note=note)
    notify(settings, [event.id])
    click.echo(f"alert {alert_id}: {decision} recorded")


@alerts.command("explain")
@click.argument("cluster_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def alerts_explain(settings: Settings, cluster_id: int, as_json: bool) -> None:
    """Every alert rule's points and reason for CLUSTER_ID, as they stand now."""
    from sqlalchemy import select

    from monitor.alerts.known_claims import KnownClaimIndex
    from monitor.alerts.rules import AlertPolicy, assess
    from monitor.alerts.watchlists import WatchPatterns
    from monitor.db.models import Alert, Cluster
    from monitor.messages import NotFound

    policy = AlertPolicy.from_settings(settings)
    with session_scope(settings) as session:
        if session.get(Cluster, cluster_id) is None:
            raise NotFound(f"no cluster {cluster_id}")
        assessment = assess(session, cluster_id, policy,
                            WatchPatterns.load(session, policy.extra_calls_to_action),
                            KnownClaimIndex.load(session))
        status = session.scalar(select(Alert.status).where(Alert.cluster_id == cluster_id))
        status = status.value if status else None
    if as_json:
        click.echo(json.dumps({"cluster_id": cluster_id, "score": assessment.score, "opens": assessment.opens,
                               "alert_status": status, "rules": assessment.breakdown()}, ensure_ascii=False))
        return
    click.echo(f"cluster {cluster_id}: score {assessment.score:.1f}, "
               + ("an alert opens" if assessment.opens else "no rule opens an alert")
               + (f" (alert {status})" if status else ""))
    for signal in assessment.signals:
        click.echo(f"  {signal.rule:<14}{signal.points:>7.1f}  {'opens  ' if signal.opens else '       '}"
                   f"{signal.reason}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def stats(settings: Settings, as_json: bool) -> None:
    """Counts of sources, posts (by stage), clusters and alerts."""
    figures = _stats(settings)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    for key, value in figures.items():
        click.echo(f"{key:>22}: {value}")


@cli.command()
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Serve the web UI after the summary.")
@click.option("--host", default=None, help="Address to serve on [default: WEB_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to serve on [default: WEB_PORT, 8000].")
@click.pass_obj
def demo(settings: Settings, serve: bool, host: str | None, port: int | None) -> None:
    """Import the bundled sample posts, cluster them, print a summary and serve the UI.

    Runs on whatever the settings say; by default SQLite, eager Celery and the packaged model.
    Without SECRET_KEY, the UI signs sessions with a random key kept in the data directory.
    """
    from config.secret_key import demo_secret_key
    from config.settings import data_directory
    from monitor.wording import plural

    if not settings.secret_key:
        settings = settings.model_copy(update={"secret_key": demo_secret_key(data_directory())})
    migrate(settings)
    sample = resources.files("monitor") / "sample_data" / "demo_posts.jsonl"
    with resources.as_file(sample) as path:
        imported = import_file(settings, path)
    for problem in imported.problems:
        click.echo(f"sample data: {problem}", err=True)
    figures = _stats(settings)
    click.echo(f"database: {safe_url(settings.database_url)}")
    click.echo(f"imported {imported.sent} sample posts ({imported.stored} new); the store now holds "
               f"{plural(figures['posts'], 'post')} in {plural(figures['clusters'], 'cluster')} "
               f"({figures['clusters_with_reposts']} with reposts), {plural(figures['alerts'], 'alert')}")
    _ensure_demo_admin(settings)
    if serve:
        _serve(settings, host or settings.web_host, port or settings.web_port)


def _ensure_demo_admin(settings: Settings) -> None:
    """A fresh demo store gets one admin, with a random password printed once, to sign in with."""
    import secrets

    from sqlalchemy import select

    from monitor.accounts.users import create_user
    from monitor.db.models import User

    with session_scope(settings) as session:
        if session.scalar(select(User.id).limit(1)) is not None:
            click.echo("sign in with an existing account (`monitor users create` adds one)")
            return
        password = secrets.token_urlsafe(12)
        create_user(session, "admin", password, Role.admin, actor="monitor demo")
    click.echo(f"sign in as admin with the password {password} (shown once)")


@cli.group()
def users() -> None:
    """Accounts of the review UI and API."""


@users.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True,
              help="viewer reads; moderator also reviews; admin also manages users, sources, webhooks.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--actor", default=getpass.getuser, show_default="your login name",
              help="Who creates it (kept in the audit trail).")
@click.pass_obj
def users_create(settings: Settings, name: str, role: str, password_stdin: bool, actor: str) -> None:
    """Create the account NAME; the password is asked for (twice), or read from standard input."""
    from monitor.accounts.users import create_user

    password = _read_password(password_stdin)
    with session_scope(settings) as session:
        user = create_user(session, name, password, Role(role), actor)
        click.echo(f"user {user.name} created as {user.role.value}")


@users.command("set-password")
@click.argument("user_id", type=int)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--actor", default=getpass.getuser, show_default="your login name")
@click.pass_obj
def users_set_password(settings: Settings, user_id: int, password_stdin: bool, actor: str) -> None:
    """Give USER_ID a new password; every session they have open ends."""
    from monitor.accounts.users import set_password

    password = _read_password(password_stdin)
    with session_scope(settings) as session:
        user = set_password(session, user_id, password, actor)
        click.echo(f"user {user.name} has a new password; their sessions have ended")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("list")
@click.pass_obj
def users_list(settings: Settings) -> None:
    """Accounts with their role and state."""
    from monitor.review.queries import list_users

    with session_scope(settings) as session:
        for user in list_users(session):
            click.echo(f"{user.id:>5}  {user.name:<24} {user.role.value:<10} "
                       f"{'active' if user.active else 'disabled'}")


@users.command("set-role")
@click.argument("user_id", type=int)
@click.argument("role", type=click.Choice([role.value for role in Role]))
@click.option("--actor", default=getpass.getuser, show_default="your login name")
@click.pass_obj
def users_set_role(settings: Settings, user_id: int, role: str, actor: str) -> None:
    """Give USER_ID another role (their API tokens are narrowed with it)."""
    from monitor.accounts.users import set_role

    with session_scope(settings) as session:
        user = set_role(session, user_id, Role(role), actor)
        click.echo(f"user {user.name} is now {user.role.value}")


@cli.command()
@click.pass_obj
def check(settings: Settings) -> None:
    """Readiness of this machine's settings: the database at the newest schema revision,
    and the broker. Prints one JSON object; exit status 1 when not ready (health checks)."""
    from monitor.db.session import make_engine
    from monitor.health import readiness

    engine = make_engine(settings.database_url)
    try:
        state = readiness(engine, settings.celery_broker_url, settings.celery_always_eager)
    finally:
        engine.dispose()
    click.echo(json.dumps(state))
    if state["status"] != "ok":
        sys.exit(1)


@cli.group()
def models() -> None:
    """Embedding models."""


@models.command("download")
@click.argument("name")
@click.option("--to", "directory", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to keep models in (EMBEDDING_MODEL_DIR).")
def models_download(name: str, directory: Path) -> None:
    """Download the sentence-transformers model NAME once, for machines that must not reach
    a model hub at run time (the Docker image does this at build time)."""
    from monitor.embed.encoder import download_model

    try:
        path = download_model(name, directory)
    except OSError as error:
        raise click.ClickException(f"could not download {name}: {error}") from error
    click.echo(f"saved {name} in {path}; run with EMBEDDING_MODEL={name} EMBEDDING_MODEL_DIR={directory} "
               "HF_HUB_OFFLINE=1")


@cli.command()
@click.pass_obj
def reembed(settings: Settings) -> None:
    """After changing EMBEDDING_MODEL: give every stored post a vector from the new model.

    Vectors of two models are never mixed; until a post has one from the configured
    model, the cluster stage does not compare new posts with it. Runs here, inline.
    """
    from monitor.db.session import make_engine, make_session_factory
    from monitor.embed.encoder import Encoder
    from monitor.embed.stage import reembed as reembed_posts

    ensure_schema(settings)
    encoder = Encoder.from_settings(settings)
    engine = make_engine(settings.database_url)
    try:
        count = reembed_posts(make_session_factory(engine), encoder, settings.embed_batch_size)
    finally:
        engine.dispose()
    click.echo(f"{count} posts given a vector from {encoder.model_id}")


@cli.command("run")
@click.option("--host", default=None, help="Address of the web app [default: WEB_HOST].")
@click.option("--port", type=int, default=None, help="Port of the web app [default: WEB_PORT].")
@click.pass_obj
def run_command(settings: Settings, host: str | None, port: int | None) -> None:
    """Run the whole topology as local processes: web (gunicorn), a worker per queue, beat,
    and the Telegram listener when it is configured. Migrates the database first.

    Needs the broker (CELERY_ALWAYS_EAGER=false) and a shared database (PostgreSQL).
    Ctrl-C stops every process cleanly.
    """
    from cli.run import run

    if settings.celery_always_eager:
        raise click.ClickException("monitor run starts workers: set CELERY_ALWAYS_EAGER=false and "
                                   "CELERY_BROKER_URL (and DATABASE_URL to PostgreSQL)")
    from config.secret_key import InsecureSecretKey, check_secret_key

    try:
        check_secret_key(settings.secret_key)  # before any process starts, not in gunicorn's log
    except InsecureSecretKey as error:
        raise click.ClickException(str(error)) from error
    migrate(settings)  # the one-shot step, before any process uses the database
    sys.exit(run(settings, host or settings.web_host, port or settings.web_port, click.echo))


@cli.command()
@click.option("--host", default=None, help="Address to serve on [default: WEB_HOST].")
@click.option("--port", type=int, default=None, help="Port to serve on [default: WEB_PORT].")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the web UI with the development server (production runs gunicorn, see README)."""
    _serve(settings, host or settings.web_host, port or settings.web_port)


def _serve(settings: Settings, host: str, port: int) -> None:
    from config.secret_key import InsecureSecretKey
    from web import create_app

    try:
        app = create_app(settings)
    except InsecureSecretKey as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"serving the UI on http://{host}:{port}/ (Ctrl-C to stop)")
    log_as_a_service(settings)
    app.run(host=host, port=port, debug=False, use_reloader=False)


def _stats(settings: Settings) -> dict:
    from monitor.stats import collect_stats

    with session_scope(settings) as session:
        return collect_stats(session)
