"""Per-request plumbing: the settings, and one database session per request, closed when it ends."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from config import Settings
from monitor.db.session import make_engine, make_session_factory


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["monitor.sessions"] = make_session_factory(make_engine(settings.database_url))
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["monitor.sessions"]()
    return g.db_session


def current_settings() -> Settings:
    return current_app.config["MONITOR_SETTINGS"]


def commit(event_ids: list[int] = ()) -> None:
    """Commit the request's changes, then tell subscribers about the alert events they made."""
    from workers.dispatch import notify

    get_session().commit()
    notify(current_settings(), list(event_ids))


def _close_session(_error) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
