"""Known claims: claims already checked by fact-checkers, so that one resurfacing is
recognised. Added by moderators, directly or by promoting a reviewed cluster, or imported
from fact-checkers' ClaimReview (monitor/claims/).

A cluster repeats a claim when one of its posts carries the same claim by the calibrated
rule that clusters posts (the claim's vector is made by the embed worker), shares much of
its wording, or sits at a URL the fact-check names; the score and reason say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from usearch.index import MetricKind, search

from monitor.db.models import LABELS, AuditEntry, Cluster, ClusterMembership, Embedding, KnownClaim, Post
from monitor.db.session import unit_of_work
from monitor.db.vectors import vector_from_bytes
from monitor.embed.encoder import Encoder, configured_model_id
from monitor.language import detect_language
from monitor.messages import UserError
from monitor.normalize import readable_text
from monitor.similarity import MatchRules, TextEvidence, containment, jaccard
from monitor.urls import split_url

# Share of wording (character shingles) from which a known claim is shown as matching.
MIN_OVERLAP = 0.3
# Nearest claims by embedding that the same-claim rule judges for each text.
RETRIEVAL_CANDIDATES = 50
# A cluster's newest posts checked each time it is assessed (with its first post).
CHECKED_POSTS = 64
CLAIMS_EMBEDDED_AT_ONCE = 512
JUDGED_POSTS_KEPT = 100_000  # posts whose matches an index remembers


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


def embed_new_claims(session_factory: sessionmaker[Session], encoder: Encoder,
                     chunk: int = CLAIMS_EMBEDDED_AT_ONCE) -> int:
    """Give the active claims that have no vector of the encoder's model one (run by the embed
    worker after each batch it encodes, and after an import); return how many. In chunks,
    each stored when encoded: an import of thousands is not lost to a restart midway."""
    embedded, last_id = 0, 0
    while True:
        with unit_of_work(session_factory) as session:
            claims = list(session.execute(select(KnownClaim.id, KnownClaim.text).where(
                KnownClaim.active.is_(True), KnownClaim.id > last_id,
                or_(KnownClaim.vector_model.is_(None), KnownClaim.vector_model != encoder.model_id))
                .order_by(KnownClaim.id).limit(chunk)))
        if not claims:
            return embedded
        vectors = encoder.encode([readable_text(text) for _, text in claims])  # no transaction open
        with unit_of_work(session_factory) as session:
            for (claim_id, _), vector in zip(claims, vectors, strict=True):
                if claim := session.get(KnownClaim, claim_id):
                    claim.vector, claim.vector_model = vector.tobytes(), encoder.model_id
        embedded, last_id = embedded + len(claims), claims[-1][0]


@lru_cache(maxsize=65536)
def _claim_evidence(text: str) -> tuple[TextEvidence, str | None]:
    # The index is loaded again only when the claims change; their evidence is kept meanwhile.
    return TextEvidence.of(text), detect_language(text)


class KnownClaimIndex:
    """The active known claims, searched for the claims a text repeats: the nearest by
    embedding (usearch, as the clusters' index, but exact: a newsroom's thousands of claims
    take a few milliseconds a search, and the graph's approximation cost 0.004 of CheckThat!'s MAP@5),
    judged by the calibrated same-claim rule; and by wording among those and the claims that
    have no vector yet. `monitor eval retrieval` ranks with `rank` too: its figure is this
    path's figure."""

    def __init__(self, claims: list[KnownClaim], matching: ClaimMatching | None = None):
        self.matching = matching
        self.claims = claims
        self.evidence = [_claim_evidence(claim.text) for claim in claims]
        vectors = [vector_from_bytes(claim.vector)
                   if matching and claim.vector and claim.vector_model == matching.model_id else None
                   for claim in claims]
        self.unembedded = [row for row, vector in enumerate(vectors) if vector is None]
        self.embedded = np.array([row for row, vector in enumerate(vectors) if vector is not None],
                                 dtype=np.int64)
        self.matrix = np.vstack([vectors[row] for row in self.embedded]) if len(self.embedded) else None
        self.by_appearance = {link: row for row, claim in enumerate(claims)
                              for link in claim.appearances or ()}
        self.promoted = {claim.cluster_id: row for row, claim in enumerate(claims) if claim.cluster_id}
        self._judged: dict[tuple[int, int, float], list[ClaimMatch]] = {}  # (post, text, overlap): matches

    def _remember(self, key: tuple[int, int, float], matches: list[ClaimMatch]) -> None:
        self._judged[key] = matches
        if len(self._judged) > JUDGED_POSTS_KEPT:
            self._judged.pop(next(iter(self._judged)))  # the oldest judged

    @classmethod
    def load(cls, session: Session, matching: ClaimMatching | None = None) -> "KnownClaimIndex":
        """The index of the database's active claims (MATCHING None: by wording only), built
        again only when they changed since it was last built in this process."""
        signature = session.execute(select(
            func.count(KnownClaim.id), func.max(KnownClaim.id), func.max(KnownClaim.updated_at),
            func.count(KnownClaim.vector)).where(KnownClaim.active.is_(True))).one()
        key = (str(session.get_bind().url), matching.model_id if matching else None, tuple(signature))
        if (cached := _loaded.get(key)) is None or cached.matching != matching:
            claims = list(session.scalars(select(KnownClaim).where(KnownClaim.active.is_(True))
                                          .order_by(KnownClaim.id)))
            for claim in claims:
                session.expunge(claim)  # kept across sessions, read only
            cached = _loaded[key] = cls(claims, matching)
            while len(_loaded) > _LOADED_INDEXES:
                _loaded.pop(next(iter(_loaded)))
        return cached

    def rank(self, evidence: TextEvidence, vector: np.ndarray | None, language: str | None,
             candidates: int = RETRIEVAL_CANDIDATES) -> list[tuple[int, float, bool]]:
        """The claims nearest a text (EVIDENCE: what it says, VECTOR: its embedding) as (row,
        same-claim probability, same claim), most probable first."""
        if vector is None or self.matrix is None or not self.matching:
            return []
        found = search(self.matrix, vector.astype(np.float32), min(candidates, len(self.embedded)),
                       MetricKind.Cos, exact=True)
        judged = []
        for position, distance in zip(found.keys.tolist(), found.distances.tolist(), strict=True):
            row = int(self.embedded[position])
            claim_evidence, claim_language = self.evidence[row]
            probability, same = self.matching.rules.judge(1.0 - float(distance), evidence, claim_evidence,
                                                          language, claim_language)
            judged.append((row, probability, same))
        return sorted(judged, key=lambda item: item[1], reverse=True)

    def matches_cluster(self, session: Session, cluster: Cluster, min_overlap: float = MIN_OVERLAP,
                        posts: int = CHECKED_POSTS) -> list[ClaimMatch]:
        """The claims the cluster's posts repeat, best first: its first post and its POSTS
        newest (each post is checked when it arrives: the cluster is assessed after every
        batch placed in it), and any post at a URL a fact-check names as an appearance."""
        if not self.claims:  # every cluster task asks: with none recorded, read nothing
            return []
        found = [ClaimMatch(self.claims[self.promoted[cluster.id]], 1.0, "promoted from this cluster")] \
            if cluster.id in self.promoted else []
        columns = select(Post.id, Post.text, Post.language, Post.url, Post.canonical_url)
        checked = session.execute(
            columns.join(ClusterMembership, ClusterMembership.post_id == Post.id)
            .where(ClusterMembership.cluster_id == cluster.id)
            .order_by(Post.published_at.desc(), Post.id.desc()).limit(posts)).all()
        if cluster.representative_post_id not in {post.id for post in checked}:
            checked += session.execute(columns.where(Post.id == cluster.representative_post_id)).all()
        for post in checked:
            for link in {post.url, post.canonical_url} & self.by_appearance.keys():
                found.append(ClaimMatch(self.claims[self.by_appearance[link]], 1.0,
                                        f"post {post.id} is at a URL the fact-check names: {link}"))
        # A post is judged once per index (a cluster is assessed after every batch placed in
        # it, and most of its newest posts were judged the time before).
        keys = {post.id: (post.id, hash(post.text), min_overlap) for post in checked}
        judged = {post_id: self._judged[key] for post_id, key in keys.items() if key in self._judged}
        unjudged = [post for post in checked if post.id not in judged]
        vectors = {}
        if unjudged and self.matching and self.matrix is not None:
            vectors = dict(session.execute(select(Embedding.post_id, Embedding.vector).where(
                Embedding.post_id.in_([post.id for post in unjudged]),
                Embedding.model == self.matching.model_id)).all())
        for post in unjudged:
            vector = vector_from_bytes(vectors[post.id]) if post.id in vectors else None
            judged[post.id] = self.matches(post.text, min_overlap, vector, post.language, post.id)
            self._remember(keys[post.id], judged[post.id])
        for matches in judged.values():
            found += matches
        best: dict[int, ClaimMatch] = {}
        for match in found:
            if match.claim.id not in best or match.score > best[match.claim.id].score:
                best[match.claim.id] = match
        return sorted(best.values(), key=lambda match: match.score, reverse=True)

    def matches(self, text: str, min_overlap: float = MIN_OVERLAP, vector: np.ndarray | None = None,
                language: str | None = None, post_id: int | None = None) -> list[ClaimMatch]:
        """The claims TEXT (VECTOR its embedding) repeats: by the same-claim rule among its
        nearest claims, and by wording overlap among those and the claims with no vector of
        the model, which holds across models."""
        evidence = TextEvidence.of(text)
        whose = f"post {post_id} " if post_id is not None else ""
        ranked = self.rank(evidence, vector, language)
        found = [ClaimMatch(self.claims[row], round(probability, 2),
                            f"{whose}carries the same claim (probability {probability:.0%})")
                 for row, probability, same in ranked if same]
        for row in dict.fromkeys([row for row, _, _ in ranked] + self.unembedded):
            claim_evidence = self.evidence[row][0]
            overlap = max(jaccard(evidence.char5, claim_evidence.char5),
                          containment(evidence.char5, claim_evidence.char5))
            if overlap >= min_overlap:
                found.append(ClaimMatch(self.claims[row], round(overlap, 2),
                                        f"{whose}shares {overlap:.0%} of its wording"))
        return found


_loaded: dict[tuple, KnownClaimIndex] = {}
_LOADED_INDEXES = 4
