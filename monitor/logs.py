"""Logs: JSON lines in production (LOG_FORMAT=json), readable lines in development, and
a trace id on every record. The trace id starts with a web request or a command and
travels with the Celery tasks it sends, so one post can be followed through ingest,
embed, cluster and notify in the logs of every process."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

current_trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)
TRACE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(trace_id)s]: %(message)s"


def new_trace_id(offered: str | None = None) -> str:
    """OFFERED (a caller's X-Request-ID) if it is a sane id, else a new one."""
    return offered if offered and TRACE_ID.fullmatch(offered) else uuid.uuid4().hex


class TraceIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = current_trace_id.get() or "-"
        return True


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Configure the root logger of this process (idempotent)."""
    handler = logging.StreamHandler()
    handler.addFilter(TraceIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s",
                                           rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
