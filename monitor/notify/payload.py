"""The webhook body, schema ``monitor.alert.v1`` (docs/webhooks.md).

Standard Webhooks shape: ``{"type", "timestamp", "data"}``. Built once per event, so
every attempt and every subscriber gets the same bytes.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from monitor.claims.export import known_claimreview, repeated_claims
from monitor.db.models import Alert, AlertEvent, Cluster, ClusterMembership, MediaFile, Post, PostMedia
from monitor.normalize import readable_text
from monitor.review.decisions import latest_label

SCHEMA = "monitor.alert.v1"
SAMPLE_POSTS = 5
SAMPLE_TEXT_CHARS = 500
MEDIA_LISTED = 10  # the cluster's most carried media files, with their hashes


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def alert_body(session: Session, event: AlertEvent, base_url: str) -> str:
    alert = session.get(Alert, event.alert_id)
    cluster = session.get(Cluster, alert.cluster_id)
    label = latest_label(session, alert.id)
    posts = session.scalars(
        select(Post).options(joinedload(Post.source))
        .join(ClusterMembership, ClusterMembership.post_id == Post.id)
        .where(ClusterMembership.cluster_id == cluster.id)
        .order_by(Post.published_at, Post.id).limit(SAMPLE_POSTS)).all()
    representative = cluster.representative.text if cluster.representative else ""
    data = {
        "schema": SCHEMA,
        "event_id": event.id,
        "alert": {
            "id": alert.id, "status": alert.status.value, "label": label, "score": alert.score,
            "reasons": alert.reasons, "post_count": alert.post_count,
            "source_count": alert.source_count, "opened_at": _iso(alert.opened_at),
            "updated_at": _iso(alert.updated_at),
        },
        "cluster": {
            "id": cluster.id, "claim": readable_text(representative)[:SAMPLE_TEXT_CHARS],
            "post_count": cluster.post_count, "source_count": cluster.source_count,
            "first_seen_at": _iso(cluster.first_seen_at), "last_seen_at": _iso(cluster.last_seen_at),
            "url": f"{base_url.rstrip('/')}/clusters/{cluster.id}",
        },
        "sample_posts": [{
            "source": post.source.title or post.source.key, "url": post.url,
            "published_at": _iso(post.published_at), "language": post.language,
            "text": readable_text(post.text)[:SAMPLE_TEXT_CHARS],
        } for post in posts],
        "media": cluster_media_hashes(session, cluster.id),
        # The fact-checks of the known claims it repeats, as the ClaimReview they came as.
        "claim_reviews": [known_claimreview(claim) for claim in repeated_claims(session, alert) if claim.url],
    }
    return _envelope(event.kind, event.created_at, data)


def cluster_media_hashes(session: Session, cluster_id: int) -> list[dict]:
    """The cluster's most carried photos and videos with their hashes, for a newsroom to match
    against its own hash lists: SHA-256, and PDQ (image) or vPDQ frames (video)."""
    carried = func.count(PostMedia.id).label("posts")
    rows = session.execute(
        select(MediaFile, carried).join(PostMedia, PostMedia.media_file_id == MediaFile.id)
        .join(ClusterMembership, ClusterMembership.post_id == PostMedia.post_id)
        .where(ClusterMembership.cluster_id == cluster_id).group_by(MediaFile.id)
        .order_by(carried.desc(), MediaFile.id).limit(MEDIA_LISTED)).all()
    listed = []
    for media, posts in rows:
        hashes = ({"pdq": media.frames[0]["pdq"], "quality": media.frames[0]["quality"]}
                  if media.kind == "image" else {"vpdq": media.frames})
        listed.append({"kind": media.kind, "sha256": media.sha256, "posts": posts, **hashes})
    return listed


def test_body(now: datetime, subscription_id: int) -> str:
    return _envelope("webhook.test", now, {"schema": SCHEMA, "subscription_id": subscription_id,
                                           "message": "A test event from the claim monitor."})


def _envelope(event_type: str, moment: datetime, data: dict) -> str:
    return json.dumps({"type": event_type, "timestamp": moment.isoformat(), "data": data},
                      ensure_ascii=False, separators=(",", ":"))
