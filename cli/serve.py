"""`monitor demo`, `serve`, `run` and `check`: the product on the embedded default, the UI
alone, the whole topology as local processes, and a readiness check for health probes."""

from __future__ import annotations

import json
import sys
from importlib import resources

import click

from cli.database import migrate, safe_url, session_scope
from cli.ingest import import_file, store_counts
from cli.options import log_as_a_service
from config import Settings
from monitor.db.models import Role


@click.command()
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
    figures = store_counts(settings)
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

    from monitor.accounts.users import create_user
    from monitor.review.queries import list_users

    with session_scope(settings) as session:
        if list_users(session):
            click.echo("sign in with an existing account (`monitor users create` adds one)")
            return
        password = secrets.token_urlsafe(12)
        create_user(session, "admin", password, Role.admin, actor="monitor demo")
    click.echo(f"sign in as admin with the password {password} (shown once)")


@click.command("run")
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


@click.command()
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


@click.command()
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
