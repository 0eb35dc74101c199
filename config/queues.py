"""The Celery queues, one per stage: what the workers consume, what the web app and the
workers report the depth of, and what `monitor run` starts a worker for."""

QUEUES = ("ingest", "embed", "cluster", "media", "notify")
