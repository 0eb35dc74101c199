"""`monitor ...`: the root command. Each area's commands live in their own module, as the web
app has a blueprint per area; each command reads the settings once and calls into monitor/,
workers/ or web/."""

from __future__ import annotations

import click

from cli.alerts import alerts_group
from cli.claims import claims_group
from cli.clusters import clusters_group
from cli.database import db_group
from cli.evaluate import calibrate_command, eval_group
from cli.ingest import import_command, reembed, stats, sweep
from cli.media import media_group
from cli.models import models_group
from cli.serve import check, demo, run_command, serve
from cli.sources import sources_group
from cli.telegram import telegram_group
from cli.users import users_group
from cli.watchlist import watchlist_group
from cli.webhooks import webhooks_group
from config import load_settings
from monitor.logs import configure_logging, current_trace_id, new_trace_id


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


for command in (demo, import_command, stats, sweep, reembed, serve, run_command, check, db_group,
                sources_group, telegram_group, alerts_group, clusters_group, watchlist_group, claims_group,
                media_group, webhooks_group, users_group, models_group, eval_group, calibrate_command):
    cli.add_command(command)
