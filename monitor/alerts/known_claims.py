"""Known claims: claims already checked by fact-checkers, so that one resurfacing is
recognised. Added by moderators, directly or by promoting a reviewed cluster.

A cluster repeats a claim when its representative carries the same claim by the
calibrated rule that clusters posts (the claim's vector is made by the embed worker,
within a batch of its being added), or shares much of its wording; the score says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.models import AuditEntry, Cluster, Embedding, KnownClaim
from monitor.db.session import unit_of_work
from monitor.embed.encoder import Encoder, configured_model_id
from monitor.embed.stage import vector_from_bytes
from monitor.language import detect_language
from monitor.messages import UserError
from monitor.normalize import readable_text
from monitor.review.labels import LABELS
from monitor.similarity import MatchRules, TextEvidence, containment, jaccard
from monitor.urls import split_url

# Share of wording (character shingles) from which a known claim is shown as matching.
MIN_OVERLAP = 0.3


@dataclass(frozen=True)
class ClaimMatch:
    claim: KnownClaim
    score: float  # 1.0 for the claim promoted from the cluster, else the probability or the overlap
    how: str


@dataclass(frozen=True)
class ClaimMatching:
    """How claims are compared by meaning: the same-claim rule, on vectors of this model."""

    rules: MatchRules
    model_id: str

    @classmethod
    def from_settings(cls, settings) -> "ClaimMatching":
        return cls(MatchRules.from_settings(settings), configured_model_id(settings))


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


def embed_new_claims(session_factory: sessionmaker[Session], encoder: Encoder) -> int:
    """Give the active claims that have no vector of the encoder's model one (run by the embed
    worker after each batch it encodes: claims are few); return how many."""
    with unit_of_work(session_factory) as session:
        claims = list(session.execute(select(KnownClaim.id, KnownClaim.text).where(
            KnownClaim.active.is_(True),
            or_(KnownClaim.vector_model.is_(None), KnownClaim.vector_model != encoder.model_id))))
    if not claims:
        return 0
    vectors = encoder.encode([readable_text(text) for _, text in claims])  # no transaction open meanwhile
    with unit_of_work(session_factory) as session:
        for (claim_id, _), vector in zip(claims, vectors, strict=True):
            if claim := session.get(KnownClaim, claim_id):
                claim.vector, claim.vector_model = vector.tobytes(), encoder.model_id
    return len(claims)


@lru_cache(maxsize=4096)
def _claim_evidence(text: str) -> tuple[TextEvidence, str | None]:
    # The index is loaded for every cluster task and cluster page; claims rarely change.
    return TextEvidence.of(text), detect_language(text)


class KnownClaimIndex:
    """The active known claims with their evidence, read once for many clusters."""

    def __init__(self, claims: list[KnownClaim], matching: ClaimMatching | None = None):
        self.matching = matching
        self.claims = [(claim, *_claim_evidence(claim.text),
                        vector_from_bytes(claim.vector)
                        if matching and claim.vector and claim.vector_model == matching.model_id else None)
                       for claim in claims]

    @classmethod
    def load(cls, session: Session, matching: ClaimMatching | None = None) -> "KnownClaimIndex":
        """MATCHING None: by wording only."""
        return cls(list(session.scalars(select(KnownClaim).where(KnownClaim.active.is_(True)))), matching)

    def matches_cluster(self, session: Session, cluster: Cluster,
                        min_overlap: float = MIN_OVERLAP) -> list[ClaimMatch]:
        """The claims the cluster's representative repeats, best first."""
        if not self.claims:  # every cluster task asks: with none recorded, read nothing
            return []
        post = cluster.representative
        if post is None:
            return self.matches(cluster.id, "", min_overlap)
        blob = None
        if self.matching:
            blob = session.scalar(select(Embedding.vector).where(Embedding.post_id == post.id,
                                                                 Embedding.model == self.matching.model_id))
        return self.matches(cluster.id, post.text, min_overlap,
                            vector_from_bytes(blob) if blob else None, post.language)

    def matches(self, cluster_id: int, text: str, min_overlap: float = MIN_OVERLAP,
                vector: np.ndarray | None = None, language: str | None = None) -> list[ClaimMatch]:
        """The claims TEXT (a cluster's claim, VECTOR its embedding) repeats, best first: by
        the same-claim rule where both have vectors of the model, and by wording overlap,
        which needs no vector and holds across models."""
        evidence = TextEvidence.of(text)
        found = []
        for claim, claim_evidence, claim_language, claim_vector in self.claims:
            if claim.cluster_id == cluster_id:
                found.append(ClaimMatch(claim, 1.0, "promoted from this cluster"))
                continue
            ways = []
            overlap = max(jaccard(evidence.char5, claim_evidence.char5),
                          containment(evidence.char5, claim_evidence.char5))
            if overlap >= min_overlap:
                ways.append(ClaimMatch(claim, round(overlap, 2), f"shares {overlap:.0%} of its wording"))
            if vector is not None and claim_vector is not None:
                probability, same_claim = self.matching.rules.judge(
                    float(vector @ claim_vector), evidence, claim_evidence, language, claim_language)
                if same_claim:
                    ways.append(ClaimMatch(claim, round(probability, 2),
                                           f"carries the same claim (probability {probability:.0%})"))
            if ways:
                found.append(max(ways, key=lambda match: match.score))
        return sorted(found, key=lambda match: match.score, reverse=True)
