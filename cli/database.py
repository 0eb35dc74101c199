"""The database as the command line uses it: one unit of work a command, on a schema that is
current (the embedded SQLite store migrates itself; a shared server is migrated by
`monitor db upgrade` alone)."""

from __future__ import annotations

from contextlib import contextmanager

import click

from config import Settings
from monitor.messages import UserError


@contextmanager
def session_scope(settings: Settings):
    """One unit of work on a database at the newest schema, committed when the block ends;
    a UserError from monitor/ rolls it back and becomes the command's error message."""
    from monitor.db.session import make_engine, make_session_factory, unit_of_work

    ensure_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    except UserError as error:
        raise click.ClickException(str(error)) from error
    finally:
        engine.dispose()


def migrate(settings: Settings) -> None:
    from monitor.db.migrate import upgrade

    upgrade(settings.database_url)


def ensure_schema(settings: Settings) -> None:
    """The embedded SQLite store migrates itself; a shared server is migrated by one
    explicit step (`monitor db upgrade`), never by every command that touches it."""
    if settings.database_url.startswith("sqlite"):
        migrate(settings)
        return
    from monitor.db.migrate import is_current
    from monitor.db.session import make_engine

    engine = make_engine(settings.database_url)
    try:
        current = is_current(engine)
    finally:
        engine.dispose()
    if not current:
        raise click.ClickException(
            f"the database {safe_url(settings.database_url)} is not at the newest schema "
            "revision: run `monitor db upgrade` first")


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Apply the Alembic migrations up to the newest revision."""
    from monitor.db.migrate import upgrade

    upgrade(settings.database_url)
    click.echo(f"database at the newest revision: {safe_url(settings.database_url)}")
