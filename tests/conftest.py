"""Fixtures over the real services: PostgreSQL and SQLite databases built by the
Alembic migrations, the real Redis, a real Celery worker process and the packaged model."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from config import Settings, load_settings
from config.queues import QUEUES
from monitor.db.migrate import upgrade
from monitor.db.models import Base
from monitor.db.session import make_engine, make_session_factory, unit_of_work
from monitor.evaluation.datasets import channel_posts
from tests.services import POSTGRES_ADMIN_URL, REDIS_URL, ensure_running

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
CHANNELS = SHARED_DATA / "telegram" / "channels"
# Media files the tests' posts carry are kept here, not in the user's data directory.
TEST_MEDIA_DIR = Path(tempfile.gettempdir()) / f"monitor-test-media-{os.getpid()}"
# A Redis database of its own, so a test run never eats another run's or the demo's queues.
TEST_REDIS_DB = 11

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass
class TestDatabase:
    __test__ = False  # a fixture's helper, not a test class
    url: str

    def __post_init__(self):
        self.engine = make_engine(self.url)
        self.sessions = make_session_factory(self.engine)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def session(self):
        return unit_of_work(self.sessions)

    def clear(self) -> None:
        # The placement revision's one row stays, and keeps rising from test to test, as in a
        # database that is used, not emptied (models.PlacementRevision).
        tables = [table.name for table in reversed(Base.metadata.sorted_tables)
                  if table.name != "placement_revision"]
        with self.engine.begin() as connection:
            if self.backend == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    connection.execute(text(f"DELETE FROM {table}"))


def _create_postgres_database() -> str:
    ensure_running("PostgreSQL")
    name = f"monitor_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    admin = make_url(POSTGRES_ADMIN_URL)
    return admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False)


def _drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_database(request, tmp_path_factory):
    """A fresh database per backend for the whole run, its schema built by the migrations."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'monitor.db'}"
    else:
        url = _create_postgres_database()
    upgrade(url)
    database = TestDatabase(url)
    yield database
    database.engine.dispose()
    if request.param == "postgresql":
        _drop_postgres_database(url)


@pytest.fixture
def own_postgres():
    """A fresh PostgreSQL database of the test's own, migrated, for tests whose separate
    processes (workers, `monitor run`) share it."""
    url = _create_postgres_database()
    upgrade(url)
    database = TestDatabase(url)
    yield database
    database.engine.dispose()
    _drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """A new database of each backend with no schema yet: for tests of the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
        return
    url = _create_postgres_database()
    yield url
    _drop_postgres_database(url)


@pytest.fixture
def database(migrated_database):
    """The backend's database, emptied before the test."""
    migrated_database.clear()
    return migrated_database


@pytest.fixture(scope="session")
def redis_url():
    ensure_running("Redis")
    url = f"{REDIS_URL}/{TEST_REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


TEST_SECRET_KEY = "test-secret-key-" + "0123456789abcdef" * 3


def make_settings(database_url: str, **overrides) -> Settings:
    overrides.setdefault("secret_key", TEST_SECRET_KEY)
    overrides.setdefault("media_dir", str(TEST_MEDIA_DIR))
    return load_settings(database_url=database_url, celery_always_eager=True, **overrides)


@pytest.fixture
def settings(database) -> Settings:
    return make_settings(database.url)


@pytest.fixture
def eager_pipeline(settings):
    """The Celery app in eager mode on the test database: tasks run inline, as in `monitor demo`."""
    from workers.celery_app import app, configure

    previous = app.conf.monitor_settings
    configure(app, settings)
    yield app
    configure(app, previous)


@pytest.fixture(scope="session")
def encoder():
    from monitor.embed.encoder import Encoder

    return Encoder("all-MiniLM-L6-v2")


def poll_until(condition, timeout: float, what: str, explain=lambda: "") -> None:
    """Poll until CONDITION holds; on time-out fail, saying what was awaited and (EXPLAIN) why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}{explain()}")


def real_channel_posts(since: str) -> list[dict]:
    """The shared data's Telegram channel posts published since SINCE (an ISO date)."""
    return [post for post in channel_posts(CHANNELS) if post["date"] >= since]


def monitor_command(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
                    input: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed `monitor` command line as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, input=input, cwd=REPO,
    )


def child_processes(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def spawned_processes(pid: int) -> list[int]:
    """PID's child processes started by multiprocessing's "spawn" (tokenizer processes)."""
    return [child for child in child_processes(pid)
            if "spawn_main" in Path(f"/proc/{child}/cmdline").read_text()]


class CeleryWorker:
    """A real `celery worker` process consuming QUEUES (by default every one) from the real
    Redis, with SETTINGS (environment variables) on top of the test run's."""

    def __init__(self, database_url: str, broker_url: str, log_path: Path,
                 queues: str = ",".join(QUEUES), concurrency: int = 2,
                 settings: dict[str, str] | None = None):
        self.env = {**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url,
                    "CELERY_ALWAYS_EAGER": "false", "HF_HUB_OFFLINE": "1", **(settings or {})}
        self.log_path, self.queues, self.concurrency = log_path, queues, concurrency
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> None:
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
             "--queues", self.queues, "--concurrency", str(self.concurrency),
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log_path.read_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"the Celery worker did not start{self.log_tail()}")

    def log_tail(self, characters: int = 3000) -> str:
        """The end of what the worker logged, for a failure's message."""
        return f"\nworker log, last lines:\n{self.log_path.read_text()[-characters:]}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def celery_worker(migrated_database, redis_url, tmp_path_factory):
    """One worker per backend for the whole run (the model loads once per worker process)."""
    worker = CeleryWorker(migrated_database.url, redis_url,
                          tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


PASSWORD = "correct horse battery staple"
ACCOUNTS = {"viewer": "dana", "moderator": "aigerim", "admin": "erlan"}


@pytest.fixture
def accounts(database) -> dict[str, int]:
    """One account per role (name by role in ACCOUNTS, password PASSWORD); their ids by role."""
    from monitor.accounts.users import create_user
    from monitor.db.models import Role

    with database.session() as session:
        return {role: create_user(session, name, PASSWORD, Role(role), actor="setup").id
                for role, name in ACCOUNTS.items()}


@pytest.fixture
def live_server():
    """Serve a Flask app on 127.0.0.1 on a free port, in a thread; yields a function app -> base URL."""
    from werkzeug.serving import make_server

    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()


CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own download is not used


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven through Playwright, for the tests marked browser. For a module
    at a time: Playwright's sync API keeps an event loop running in this thread, and the tests
    of the Telegram listener run their own (asyncio.run) once it has stopped."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()
