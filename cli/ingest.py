"""`monitor import`, `sweep`, `reembed` and `stats`: posts into the pipeline, lost work sent
again, vectors from a new model, and the store's counts."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from cli.database import ensure_schema, session_scope
from config import Settings
from monitor.ingest.files import FORMATS
from monitor.messages import UserError

IMPORT_CHUNK = 256


@click.command("import")
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
    first = store_counts(settings) if settings.celery_always_eager else None
    total = Imported(0, 0, [], 0, 0.0, 0)
    for file in files:
        before = store_counts(settings) if settings.celery_always_eager else None
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
        after = store_counts(settings)
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


@click.command()
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


@click.command()
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def stats(settings: Settings, as_json: bool) -> None:
    """Counts of sources, posts (by stage), clusters and alerts."""
    figures = store_counts(settings)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    for key, value in figures.items():
        click.echo(f"{key:>22}: {value}")


def store_counts(settings: Settings) -> dict:
    from monitor.stats import collect_stats

    with session_scope(settings) as session:
        return collect_stats(session)
