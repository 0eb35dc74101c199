"""Domain core of the claim monitor: plain functions and classes over a database session.

Nothing here imports Celery or Flask; ``workers/`` and ``web/`` call in.
"""
