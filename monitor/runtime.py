"""What a process builds once and keeps: database sessions, the model, the candidate
index, HTTP clients. The workers' tasks and the web app's "find similar" share them.

Loaded lazily in the process that uses them (in a worker, after the prefork pool has
forked), never per task or request.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from monitor.cluster.index import LSH_WINDOW, ClusterIndex
from monitor.cluster.snapshot import SnapshotSchedule, load_snapshot
from monitor.db.session import make_engine, make_session_factory
from monitor.embed.encoder import Encoder, configured_model_id
from monitor.media.files import MediaStore
from monitor.media.index import MediaIndex
from monitor.news.http import HttpPolicy, make_client
from monitor.news.robots import RobotsRules
from monitor.ssrf import GuardedTransport, TargetPolicy


@cache
def session_factory(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(make_engine(settings.database_url))


@cache
def encoder(settings: Settings) -> Encoder:
    return Encoder.from_settings(settings)


@cache
def http_client(settings: Settings) -> httpx.Client:
    return make_client(HttpPolicy.from_settings(settings), TargetPolicy.for_fetching(settings))


@cache
def robots_rules(settings: Settings) -> RobotsRules:
    return RobotsRules(http_client(settings), HttpPolicy.from_settings(settings))


@cache
def webhook_client(settings: Settings) -> httpx.Client:
    # Redirects are followed by hand, each hop checked by the SSRF guard.
    return httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                        headers={"User-Agent": settings.http_user_agent},
                        transport=GuardedTransport(TargetPolicy.from_settings(settings)))


@cache
def cluster_index(settings: Settings) -> ClusterIndex:
    """The index from the newest snapshot when CLUSTER_SNAPSHOT_DIR holds one made for the
    model; else an empty one, which its first sync builds from the database."""
    # Needs the model's id, not the model: the cluster worker never loads it.
    model_id = configured_model_id(settings)
    schedule = snapshot_schedule(settings)
    days = settings.cluster_index_days
    if schedule is not None and (index := load_snapshot(schedule.directory, model_id, LSH_WINDOW, days)):
        schedule.loaded(index)
        return index
    return ClusterIndex(model_id, days=days)


@cache
def snapshot_schedule(settings: Settings) -> SnapshotSchedule | None:
    if not settings.cluster_snapshot_dir:
        return None
    return SnapshotSchedule(Path(settings.cluster_snapshot_dir), settings.cluster_snapshot_minutes)


@cache
def media_index(settings: Settings) -> MediaIndex:
    return MediaIndex()


@cache
def media_store(settings: Settings) -> MediaStore:
    return MediaStore.from_settings(settings)
