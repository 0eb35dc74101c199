"""Readiness: can this process do its work? The database answers at the newest schema
revision, and the broker answers. Shared by /readyz and `monitor check`."""

from __future__ import annotations

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.db.migrate import is_current


def database_state(engine: Engine) -> str:
    try:
        return "ok" if is_current(engine) else "schema not at the newest revision: run `monitor db upgrade`"
    except SQLAlchemyError as error:
        return f"unreachable: {type(error).__name__}"


def broker_state(broker_url: str, eager: bool) -> str:
    if eager:
        return "ok"  # tasks run inline: no broker to reach
    try:
        redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        return f"unreachable: {type(error).__name__}"
    return "ok"


def readiness(engine: Engine, broker_url: str, eager: bool) -> dict:
    checks = {"database": database_state(engine), "broker": broker_state(broker_url, eager)}
    return {"status": "ok" if all(state == "ok" for state in checks.values()) else "unavailable",
            "checks": checks}
