"""Celery: the app, its queues and the thin tasks that call into monitor/."""
