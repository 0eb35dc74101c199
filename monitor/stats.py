"""Counts for `monitor stats` and the UI header."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.db.models import Alert, Cluster, PostStage, Source


def collect_stats(session: Session) -> dict:
    by_stage = dict(session.execute(select(PostStage.stage, func.count()).group_by(PostStage.stage)).all())
    alerts_by_status = dict(
        session.execute(select(Alert.status, func.count()).group_by(Alert.status)).all()
    )
    return {
        "sources": session.scalar(select(func.count()).select_from(Source)),
        "posts": sum(by_stage.values()),
        "posts_by_stage": {stage.value: count for stage, count in sorted(by_stage.items())},
        "clusters": session.scalar(select(func.count()).select_from(Cluster)),
        "clusters_with_reposts": session.scalar(
            select(func.count()).select_from(Cluster).where(Cluster.post_count > 1)
        ),
        "alerts": sum(alerts_by_status.values()),
        "alerts_by_status": {status.value: count for status, count in sorted(alerts_by_status.items())},
    }
