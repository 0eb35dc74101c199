"""Engines and units of work. One session per task or request, committed at the edge."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.expressions import fold_for_search


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url, connect_args={"timeout": 60, "check_same_thread": False}
        )
        event.listen(engine, "connect", _configure_sqlite)
        # Take the write lock at BEGIN: two writers then queue instead of failing
        # with "database is locked" when a reader upgrades to a writer.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(database_url, pool_pre_ping=True, connect_args=POSTGRESQL_CONNECTION_GUARDS)


# A worker that loses its connection in the middle of a transaction (network cut, process
# frozen) must not leave a backend holding the cluster-assignment lock until TCP notices,
# hours later: PostgreSQL ends a transaction left idle for a minute, and keepalives find
# a dead peer within about a minute. Connecting gives up after 10 s instead of hanging.
POSTGRESQL_CONNECTION_GUARDS = {
    "connect_timeout": 10,
    "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
    # The same keepalives on the server's end: that is how a backend hears its client is gone.
    "options": "-c idle_in_transaction_session_timeout=60000 -c tcp_keepalives_idle=30"
               " -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3",
}


def _configure_sqlite(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling is switched off so that BEGIN IMMEDIATE above applies.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()
    dbapi_connection.create_function("monitor_fold", 1, fold_for_search, deterministic=True)


def dialect_insert(session: Session, model):
    """An INSERT that knows ON CONFLICT on both databases."""
    return insert_for(session.get_bind().dialect, model)


def insert_for(dialect: Dialect, model):
    """An INSERT that knows ON CONFLICT on DIALECT's database."""
    return (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(model)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
