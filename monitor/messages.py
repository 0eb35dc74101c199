"""Values that travel through the broker as JSON (Celery is set to JSON only)."""

from __future__ import annotations

import typing
from dataclasses import asdict
from datetime import datetime


class BrokerMessage:
    """Mixin for dataclasses: datetimes go out as ISO 8601 strings and come back as datetimes."""

    def to_message(self) -> dict:
        return {name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in asdict(self).items()}

    @classmethod
    def from_message(cls, message: dict):
        hints = typing.get_type_hints(cls)
        return cls(**{
            name: datetime.fromisoformat(value)
            if value is not None and datetime in (hints[name], *typing.get_args(hints[name]))
            else value
            for name, value in message.items()})


class UserError(ValueError):
    """A request that cannot be done as asked; the message says why, in the user's terms."""


class NotFound(UserError):
    """The thing a request names does not exist."""


class Conflict(UserError):
    """The request is well formed but conflicts with the current state (merging a cluster twice)."""
