"""The runs behind `monitor eval pairs|retrieval|clusters` and `monitor calibrate`.

Each scores with the code the service runs: the same encoder, the same features and
calibration (``MatchRules``), and for clusters the real cluster stage on a database of
its own.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import select

from monitor.alerts.known_claims import ClaimMatching, KnownClaimIndex
from monitor.cluster.assign import assign_posts
from monitor.cluster.index import ClusterIndex
from monitor.db.migrate import upgrade
from monitor.db.models import ClusterMembership, KnownClaim, Post
from monitor.db.session import make_engine, make_session_factory, unit_of_work
from monitor.embed.encoder import Encoder
from monitor.embed.stage import embed_posts
from monitor.evaluation.datasets import ClusterItem, LabelledPair
from monitor.evaluation.measures import average_precision_at, bcubed, precision_recall_f1
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.language import detect_language
from monitor.normalize import readable_text
from monitor.similarity import Calibration, MatchRules, TextEvidence, fit_calibration, pair_features

# Claims compared in full with each query: the nearest by embedding.
BATCH = 256


def _vectors(encoder: Encoder, texts: list[str]) -> dict[str, np.ndarray]:
    unique = sorted(set(texts))
    return dict(zip(unique, encoder.encode([readable_text(text) for text in unique]), strict=True))


def pair_signals(encoder: Encoder, pairs: list[LabelledPair]):
    """Features, labels, languages (of text_a), and the shorter and longer text's word
    counts of every pair."""
    vector = _vectors(encoder, [text for pair in pairs for text in (pair.text_a, pair.text_b)])
    evidence = {text: TextEvidence.of(text) for text in vector}
    features = np.array([pair_features(float(vector[pair.text_a] @ vector[pair.text_b]),
                                       evidence[pair.text_a], evidence[pair.text_b]) for pair in pairs])
    labels = np.array([pair.label for pair in pairs])
    languages = [detect_language(pair.text_a) for pair in pairs]
    words = np.array([(evidence[pair.text_a].words, evidence[pair.text_b].words) for pair in pairs])
    return features, labels, languages, words.min(axis=1), words.max(axis=1)


def evaluate_pairs(encoder: Encoder, rules: MatchRules, pairs: list[LabelledPair]) -> dict:
    features, labels, languages, shortest, longest = pair_signals(encoder, pairs)
    probabilities, thresholds = rules.calibration.judge_many(features, languages, shortest, longest)
    predicted = (probabilities >= thresholds).tolist()
    used = sorted(set(thresholds.tolist()))
    return {"n": len(pairs), "threshold": used[0] if len(used) == 1 else used,
            "languages": _counts(languages), **precision_recall_f1(predicted, labels.tolist())}


def calibrate(encoder: Encoder, pairs: list[LabelledPair], sources: list[str]) -> Calibration:
    features, labels, languages, shortest, longest = pair_signals(encoder, pairs)
    return fit_calibration(features, labels, languages, shortest, longest, encoder.model_id,
                           fitted_on={"files": sources, "pairs": len(pairs),
                                      "languages": _counts(languages)})


def evaluate_retrieval(encoder: Encoder, rules: MatchRules, claims: list[tuple[str, str]],
                       queries: list[tuple[str, str]], relevant: dict[str, set[str]], k: int = 5) -> dict:
    """Rank the claims for each query that has a relevant claim as alerts do
    (KnownClaimIndex.rank: the nearest by embedding, by the same-claim probability)."""
    queries = [(query_id, text) for query_id, text in queries if relevant.get(query_id)]
    claim_ids = [claim_id for claim_id, _ in claims]
    claim_vectors = encoder.encode([readable_text(text) for _, text in claims])
    known = [KnownClaim(id=row, text=text, label="false_claim", vector=vector.tobytes(),
                        vector_model=encoder.model_id, appearances=[])
             for row, ((_, text), vector) in enumerate(zip(claims, claim_vectors, strict=True))]
    index = KnownClaimIndex(known, ClaimMatching(rules, encoder.model_id))
    query_vectors = encoder.encode([readable_text(text) for _, text in queries])
    average_precisions, first_hits = [], []
    for (query_id, text), query_vector in zip(queries, query_vectors, strict=True):
        ranked = index.rank(TextEvidence.of(text), query_vector, detect_language(text))
        ranked_ids = [claim_ids[row] for row, _, _ in ranked]
        average_precisions.append(average_precision_at(ranked_ids, relevant[query_id], k))
        first_hits.append(1.0 if ranked_ids and ranked_ids[0] in relevant[query_id] else 0.0)
    n = len(queries)
    return {"n": n, f"map@{k}": round(sum(average_precisions) / n, 4) if n else 0.0,
            "p@1": round(sum(first_hits) / n, 4) if n else 0.0}


def evaluate_clusters(encoder: Encoder, rules: MatchRules, items: list[ClusterItem]) -> dict:
    """Run the cluster stage over the items in arrival order, in a SQLite database of
    its own, and compare the clusters it makes with the gold ones."""
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    records = [PostRecord(source_kind="eval", source_key="eval", external_id=item.id, text=item.text,
                          language=item.language,
                          published_at=item.time or start + timedelta(seconds=number))
               for number, item in enumerate(items)]
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'eval.db'}"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        with unit_of_work(sessions) as session:
            post_ids = store_posts(session, records).new_post_ids
        index = ClusterIndex(encoder.model_id)
        for offset in range(0, len(post_ids), BATCH):
            batch = post_ids[offset : offset + BATCH]
            with unit_of_work(sessions) as session:
                ready = embed_posts(session, encoder, batch)
            with unit_of_work(sessions) as session:
                assign_posts(session, index, ready, rules)
        with unit_of_work(sessions) as session:
            cluster_of = dict(session.execute(
                select(Post.external_id, ClusterMembership.cluster_id)
                .join(ClusterMembership, ClusterMembership.post_id == Post.id)).all())
        engine.dispose()
    # A post with no words to compare is a cluster of its own.
    predicted = {item.id: cluster_of.get(item.id, f"alone-{item.id}") for item in items}
    gold = {item.id: item.gold for item in items}
    return {"n": len(items), "clusters": len(set(predicted.values())),
            "gold_clusters": len(set(gold.values())),
            **{f"bcubed_{name}": value for name, value in bcubed(predicted, gold).items()}}


def _counts(languages: list[str | None]) -> dict[str, int]:
    return dict(Counter(language or "?" for language in languages).most_common())
