"""Alerting: decide which clusters a moderator must see, and why."""
