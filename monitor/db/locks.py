"""Serialization points that hold until the transaction ends."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Arbitrary constant naming the cluster-assignment lock among PostgreSQL advisory locks.
CLUSTER_ASSIGNMENT_LOCK = 7_201_505


def lock_cluster_assignment(session: Session) -> None:
    """Only one transaction at a time places posts in clusters.

    Without it, two near-duplicates placed at once would each find no cluster and
    open two. PostgreSQL: a transaction-scoped advisory lock. SQLite: every
    transaction already starts with BEGIN IMMEDIATE, which admits one writer.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLUSTER_ASSIGNMENT_LOCK})
