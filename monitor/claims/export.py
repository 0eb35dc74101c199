"""Reviewed claims as ClaimReview, for fact-checkers' tools and search engines: a confirmed
alert with a fact-check link, and the known claims an alert repeats (webhook payloads)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.claims.claimreview import claimreview_jsonld
from monitor.db.models import Alert, AlertStatus, ClusterMembership, KnownClaim, Post, ReviewDecision
from monitor.messages import Conflict, NotFound
from monitor.normalize import readable_text

APPEARANCES_LISTED = 50


def alert_claimreview(session: Session, alert_id: int, publisher: str) -> dict:
    """The ClaimReview of a confirmed alert: its cluster's claim, the moderators' label, the
    fact-check promoted from the cluster (or the one it repeats) as its URL, and the posts
    that carried it as appearances. PUBLISHER names the reviewing organisation."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    decision = session.scalar(select(ReviewDecision).where(ReviewDecision.alert_id == alert_id)
                              .order_by(ReviewDecision.id.desc()).limit(1))
    if alert.status != AlertStatus.confirmed or decision is None:
        raise Conflict(f"alert {alert_id} is {alert.status.value}: only a confirmed alert is a review")
    checks = [claim for claim in (_promoted(session, alert.cluster_id), *repeated_claims(session, alert))
              if claim is not None and claim.url]
    if not checks:
        raise Conflict(f"alert {alert_id} has no fact-check link: promote its cluster to a known claim "
                       "with the fact-check's URL first")
    check = checks[0]
    posts = session.execute(
        select(Post.url, Post.published_at)
        .join(ClusterMembership, ClusterMembership.post_id == Post.id)
        .where(ClusterMembership.cluster_id == alert.cluster_id)
        .order_by(Post.published_at, Post.id)).all()
    claim = readable_text(alert.cluster.representative.text) if alert.cluster.representative else check.text
    return claimreview_jsonld(
        claim=claim or check.text, label=decision.label or check.label, rating=None, url=check.url,
        author=publisher, published_at=decision.created_at, language=check.language,
        appearances=[(post.url, post.published_at) for post in posts if post.url][:APPEARANCES_LISTED])


def known_claimreview(claim: KnownClaim) -> dict:
    """A known claim with a fact-check link as the ClaimReview it came from (or would be)."""
    return claimreview_jsonld(claim=claim.text, label=claim.label, rating=claim.rating, url=claim.url,
                              author=claim.author or claim.created_by, published_at=claim.published_at,
                              language=claim.language,
                              appearances=[(link, None) for link in claim.appearances or ()])


def repeated_claims(session: Session, alert: Alert) -> list[KnownClaim]:
    """The known claims the alert's rules found its cluster repeating."""
    claim_ids = [item["claim_id"] for item in alert.breakdown or () if item.get("claim_id") is not None]
    return [claim for claim_id in claim_ids if (claim := session.get(KnownClaim, claim_id)) is not None]


def _promoted(session: Session, cluster_id: int) -> KnownClaim | None:
    return session.scalar(select(KnownClaim)
                          .where(KnownClaim.cluster_id == cluster_id, KnownClaim.url.is_not(None))
                          .order_by(KnownClaim.id.desc()).limit(1))
