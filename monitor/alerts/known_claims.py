"""Known claims: claims already checked by fact-checkers, so that one resurfacing is
recognised. Added by moderators, directly or by promoting a reviewed cluster."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.db.models import AuditEntry, KnownClaim
from monitor.messages import UserError
from monitor.review.labels import LABELS
from monitor.similarity import containment, jaccard, shingles
from monitor.urls import split_url

# Share of wording (character shingles) from which a known claim is shown as matching.
MIN_OVERLAP = 0.3


@dataclass(frozen=True)
class ClaimMatch:
    claim: KnownClaim
    score: float  # 1.0 for the claim promoted from the cluster, else the wording overlap
    how: str


def add_known_claim(session: Session, text: str, label: str, actor: str, *, url: str | None = None,
                    cluster_id: int | None = None) -> KnownClaim:
    if label not in LABELS:
        raise UserError(f"a known claim needs a label, one of {', '.join(LABELS)}")
    if not text.strip():
        raise UserError("a known claim needs its text")
    if url and getattr(split_url(url), "scheme", None) not in ("http", "https"):
        raise UserError(f"the fact-check link must be an http(s) URL, not {url!r}")
    claim = KnownClaim(text=text.strip(), label=label, url=url or None, cluster_id=cluster_id,
                       created_by=actor)
    session.add(claim)
    session.flush()
    session.add(AuditEntry(actor=actor, action="known_claim.add", object_type="known_claim",
                           object_id=str(claim.id),
                           details={"label": label, "cluster_id": cluster_id, "url": claim.url}))
    return claim


def list_known_claims(session: Session) -> list[KnownClaim]:
    return list(session.scalars(select(KnownClaim).order_by(KnownClaim.id.desc())))


class KnownClaimIndex:
    """The active known claims with their shingles, read once for many clusters."""

    def __init__(self, claims: list[KnownClaim]):
        self.claims = [(claim, shingles(claim.text)) for claim in claims]

    @classmethod
    def load(cls, session: Session) -> "KnownClaimIndex":
        return cls(list(session.scalars(select(KnownClaim).where(KnownClaim.active.is_(True)))))

    def matches(self, cluster_id: int, text: str, min_overlap: float = MIN_OVERLAP) -> list[ClaimMatch]:
        """The claims TEXT (a cluster's claim) repeats, best first, by wording.

        Wording overlap is language-agnostic and cheap; scoring by meaning across
        languages needs a multilingual model.
        """
        text_shingles = shingles(text)
        found = []
        for claim, claim_shingles in self.claims:
            if claim.cluster_id == cluster_id:
                found.append(ClaimMatch(claim, 1.0, "promoted from this cluster"))
                continue
            overlap = max(jaccard(text_shingles, claim_shingles), containment(text_shingles, claim_shingles))
            if overlap >= min_overlap:
                found.append(ClaimMatch(claim, round(overlap, 2), f"shares {overlap:.0%} of its wording"))
        return sorted(found, key=lambda match: match.score, reverse=True)
