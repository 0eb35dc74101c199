"""Reviewed claims kept as known claims: a second import of the same reviews updates them
(by the review's key) and never duplicates; a changed claim text is embedded again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from monitor.claims.claimreview import ReviewedClaim
from monitor.db.models import AuditEntry, KnownClaim, utcnow

_KEYS_PER_QUERY = 1000


@dataclass(frozen=True)
class ClaimsImported:
    added: int
    updated: int
    unchanged: int


def import_reviews(session: Session, reviews: list[ReviewedClaim], actor: str, origin: str) -> ClaimsImported:
    """Add or update a known claim for each review (the last of a key wins); one audit entry."""
    by_key = {review.key: review for review in reviews}
    keys = list(by_key)
    existing: dict[str, KnownClaim] = {}
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        existing |= {claim.review_key: claim for claim in session.scalars(
            select(KnownClaim).where(KnownClaim.review_key.in_(keys[start : start + _KEYS_PER_QUERY])))}
    now, added, updated = utcnow(), [], 0
    for key, review in by_key.items():
        values = _values(review)
        claim = existing.get(key)
        if claim is None:
            added.append(values | {"review_key": key, "created_by": actor, "created_at": now,
                                   "updated_at": now, "active": True})
        elif any(getattr(claim, name) != value for name, value in values.items()):
            if claim.text != values["text"]:
                claim.vector = claim.vector_model = None  # embedded again by the embed worker
            for name, value in values.items():
                setattr(claim, name, value)
            claim.updated_at = now
            updated += 1
    if added:
        session.execute(insert(KnownClaim), added)
    result = ClaimsImported(len(added), updated, len(by_key) - len(added) - updated)
    session.add(AuditEntry(actor=actor, action="known_claim.import", object_type="known_claim",
                           object_id="import", details=vars(result) | {"origin": origin}))
    return result


def _values(review: ReviewedClaim) -> dict:
    return {"text": review.text, "label": review.label, "rating": review.rating, "url": review.url,
            "author": review.author, "published_at": review.published_at, "language": review.language,
            "appearances": list(review.appearances)}
