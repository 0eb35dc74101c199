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
from typing import NamedTuple

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
from monitor.evaluation.datasets import ClusterItem, LabelledPair, joined_groups, query_claim_pairs
from monitor.evaluation.measures import average_precision_at, bcubed, precision_recall_f1
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.language import detect_language
from monitor.normalize import readable_text
from monitor.similarity import (
    FEATURES,
    Calibration,
    MatchRules,
    TextEvidence,
    best_f1_threshold,
    fit_calibration,
    pair_features,
)

# Claims compared in full with each query: the nearest by embedding.
BATCH = 256


def _vectors(encoder: Encoder, texts: list[str]) -> dict[str, np.ndarray]:
    unique = sorted(set(texts))
    return dict(zip(unique, encoder.encode([readable_text(text) for text in unique]), strict=True))


class PairSignals(NamedTuple):
    """What the same-claim rule reads of labelled pairs, one row a pair."""

    features: np.ndarray
    labels: np.ndarray
    languages: list[str | None]  # of each pair's first text
    shortest: np.ndarray  # the shorter text's words
    longest: np.ndarray

    def where(self, chosen: np.ndarray) -> "PairSignals":
        """The pairs for which the boolean array CHOSEN is true."""
        return PairSignals(self.features[chosen], self.labels[chosen],
                           [self.languages[row] for row in np.flatnonzero(chosen)],
                           self.shortest[chosen], self.longest[chosen])

    @classmethod
    def joined(cls, parts: list["PairSignals"]) -> "PairSignals":
        return cls(np.concatenate([part.features for part in parts]),
                   np.concatenate([part.labels for part in parts]),
                   [language for part in parts for language in part.languages],
                   np.concatenate([part.shortest for part in parts]),
                   np.concatenate([part.longest for part in parts]))

    def fit(self, model: str, fitted_on: dict | None = None) -> Calibration:
        return fit_calibration(self.features, self.labels, self.languages, self.shortest, self.longest,
                               model, fitted_on=fitted_on)

    def judged_by(self, calibration: Calibration) -> dict:
        """Precision, recall and F1 of CALIBRATION's decisions on these pairs."""
        return self.scored(*calibration.judge_many(self.features, self.languages, self.shortest,
                                                   self.longest))

    def scored(self, probabilities: np.ndarray, thresholds: np.ndarray) -> dict:
        """Precision, recall and F1 of deciding these pairs by PROBABILITIES over THRESHOLDS."""
        return precision_recall_f1((probabilities >= thresholds).tolist(), self.labels.tolist())


def pair_signals(encoder: Encoder, pairs: list[LabelledPair],
                 vectors: dict[str, np.ndarray] | None = None) -> PairSignals:
    """The signals of PAIRS (VECTORS: their texts' embeddings where already computed)."""
    vector = vectors if vectors is not None else _vectors(encoder, [
        text for pair in pairs for text in (pair.text_a, pair.text_b)])
    evidence = {text: TextEvidence.of(text) for text in {text for pair in pairs
                                                         for text in (pair.text_a, pair.text_b)}}
    features = np.array([pair_features(float(vector[pair.text_a] @ vector[pair.text_b]),
                                       evidence[pair.text_a], evidence[pair.text_b]) for pair in pairs]
                        ).reshape(len(pairs), len(FEATURES))
    labels = np.array([pair.label for pair in pairs], dtype=np.int64)
    languages = [detect_language(pair.text_a) for pair in pairs]
    words = np.array([(evidence[pair.text_a].words, evidence[pair.text_b].words) for pair in pairs]
                     ).reshape(len(pairs), 2)
    return PairSignals(features, labels, languages, words.min(axis=1), words.max(axis=1))


def evaluate_pairs(encoder: Encoder, rules: MatchRules, pairs: list[LabelledPair]) -> dict:
    signals = pair_signals(encoder, pairs)
    probabilities, thresholds = rules.calibration.judge_many(signals.features, signals.languages,
                                                             signals.shortest, signals.longest)
    used = sorted(set(thresholds.tolist()))
    return {"n": len(pairs), "threshold": used[0] if len(used) == 1 else used,
            "languages": _counts(signals.languages), **signals.scored(probabilities, thresholds)}


def calibrate(encoder: Encoder, pairs: list[LabelledPair], sources: list[str]) -> Calibration:
    signals = pair_signals(encoder, pairs)
    return signals.fit(encoder.model_id, {"files": sources, "pairs": len(pairs),
                                          "languages": _counts(signals.languages)})


class Retrieval:
    """Known claims and queries, embedded once, to be ranked under any number of rules."""

    def __init__(self, encoder: Encoder, claims: list[tuple[str, str]], queries: list[tuple[str, str]],
                 relevant: dict[str, set[str]]):
        self.model_id = encoder.model_id
        self.claims, self.relevant = claims, relevant
        self.queries = [(query_id, text) for query_id, text in queries if relevant.get(query_id)]
        self.claim_vectors = encoder.encode([readable_text(text) for _, text in claims])
        self.query_vectors = encoder.encode([readable_text(text) for _, text in self.queries])
        self.known = [KnownClaim(id=row, text=text, label="false_claim", vector=vector.tobytes(),
                                 vector_model=self.model_id, appearances=[])
                      for row, ((_, text), vector) in enumerate(zip(claims, self.claim_vectors, strict=True))]

    def scores(self, rules: MatchRules, chosen: np.ndarray | None = None, k: int = 5) -> dict:
        """MAP@K and P@1 of the CHOSEN queries (a boolean array over self.queries; all by
        default), each ranked as alerts rank (KnownClaimIndex.rank: the nearest by embedding,
        by the same-claim probability)."""
        index = KnownClaimIndex(self.known, ClaimMatching(rules, self.model_id))
        average_precisions, first_hits = [], []
        for number, ((query_id, text), vector) in enumerate(zip(self.queries, self.query_vectors,
                                                                strict=True)):
            if chosen is not None and not chosen[number]:
                continue
            ranked = index.rank(TextEvidence.of(text), vector, detect_language(text))
            ranked_ids = [self.claims[row][0] for row, _, _ in ranked]
            average_precisions.append(average_precision_at(ranked_ids, self.relevant[query_id], k))
            first_hits.append(1.0 if ranked_ids and ranked_ids[0] in self.relevant[query_id] else 0.0)
        n = len(average_precisions)
        return {"n": n, f"map@{k}": round(sum(average_precisions) / n, 4) if n else 0.0,
                "p@1": round(sum(first_hits) / n, 4) if n else 0.0}

    def vectors(self) -> dict[str, np.ndarray]:
        """The embedding of each claim's and query's text."""
        return dict(zip([text for _, text in [*self.claims, *self.queries]],
                        [*self.claim_vectors, *self.query_vectors], strict=True))

    def training_pairs(self) -> list[list[LabelledPair]]:
        """For each query, its pairs to fit on (query_claim_pairs)."""
        return [[LabelledPair(*pair) for pair in pairs] for pairs in query_claim_pairs(
            self.queries, self.query_vectors, [claim_id for claim_id, _ in self.claims],
            [text for _, text in self.claims], self.claim_vectors, self.relevant)]


def compare_models(models: dict[str, Encoder], training: list[LabelledPair],
                   held_out: list[LabelledPair]) -> dict:
    """For each of MODELS: F1 on HELD_OUT of the same-claim rule fitted on TRAINING with that
    model's cosines, and of its cosine alone at the cut with the best F1 on TRAINING."""
    report = {}
    for label, encoder in models.items():
        fitted, scored = pair_signals(encoder, training), pair_signals(encoder, held_out)
        cut = best_f1_threshold(fitted.features[:, 0], fitted.labels)[0]
        cosine_alone = precision_recall_f1((scored.features[:, 0] >= cut).tolist(), scored.labels.tolist())
        report[label] = {"model": encoder.model_id, "rule": scored.judged_by(fitted.fit(encoder.model_id)),
                         "cosine_alone_f1": cosine_alone["f1"]}
    return report


def evaluate_retrieval(encoder: Encoder, rules: MatchRules, claims: list[tuple[str, str]],
                       queries: list[tuple[str, str]], relevant: dict[str, set[str]], k: int = 5) -> dict:
    """Rank the claims for each query that has a relevant claim as alerts do."""
    return Retrieval(encoder, claims, queries, relevant).scores(rules, k=k)


def cross_validate(encoder: Encoder, pairs: list[LabelledPair], fitted_also: list[LabelledPair],
                   retrieval: Retrieval | None, neighbours: int, folds: int = 5, seed: int = 0) -> dict:
    """K-fold cross-validation of `monitor calibrate` itself: for each fold, a calibration
    fitted on the other folds' PAIRS, on every pair of FITTED_ALSO (weakly labelled pairs
    that are fitted on and never scored) and on the training pairs of the other folds'
    RETRIEVAL queries, then scored on the fold's pairs (F1) and queries (MAP@5).

    Pairs that share a text are in one fold (ParaPhraser repeats a headline in several
    pairs: one fold would otherwise be scored on a text another was fitted on); queries
    are dealt out one by one. Returns the mean over folds, the spread (standard deviation)
    and each fold's figure."""
    query_pairs = retrieval.training_pairs() if retrieval else []
    vectors = retrieval.vectors() if retrieval else {}  # its claims and queries, embedded already
    texts = {text for pair in [*pairs, *fitted_also] for text in (pair.text_a, pair.text_b)}
    vectors |= _vectors(encoder, sorted(texts - vectors.keys()))
    scored, always = pair_signals(encoder, pairs, vectors), pair_signals(encoder, fitted_also, vectors)
    pair_fold = folds_sharing_no_text(pairs, folds, seed)
    query_fold = np.arange(len(query_pairs)) % folds
    np.random.default_rng(seed).shuffle(query_fold)
    query_signals = pair_signals(encoder, [pair for each in query_pairs for pair in each], vectors)
    query_of_pair = np.repeat(np.arange(len(query_pairs)), [len(each) for each in query_pairs])
    pair_results, retrieval_results = [], []
    for fold in range(folds):
        training = [scored.where(pair_fold != fold), always]
        if retrieval:
            training.append(query_signals.where(query_fold[query_of_pair] != fold))
        calibration = PairSignals.joined(training).fit(encoder.model_id)
        pair_results.append(scored.where(pair_fold == fold).judged_by(calibration))
        if retrieval:
            rules = MatchRules(calibration, neighbours)
            retrieval_results.append(retrieval.scores(rules, query_fold == fold))
    report = {"folds": folds, "pairs": _over_folds(pair_results, ("f1", "precision", "recall"))}
    if retrieval:
        report["retrieval"] = _over_folds(retrieval_results, ("map@5", "p@1"))
    return report


def folds_sharing_no_text(pairs: list[LabelledPair], folds: int, seed: int = 0) -> np.ndarray:
    """A fold for each pair, pairs joined by a shared text always in the same fold: the
    groups (connected components) are shuffled and dealt out in turn."""
    group = joined_groups([(pair.text_a, pair.text_b) for pair in pairs])
    order = np.random.default_rng(seed).permutation(max(group.values(), default=-1) + 1)
    return np.array([order[group[pair.text_a]] % folds for pair in pairs], dtype=np.int64)


def _over_folds(results: list[dict], measures: tuple[str, ...]) -> dict:
    summary = {"n": sum(result.get("n", 0) for result in results)} if "n" in results[0] else {}
    for measure in measures:
        values = np.array([result[measure] for result in results])
        summary[measure] = round(float(values.mean()), 4)
        summary[f"{measure}_spread"] = round(float(values.std()), 4)
        summary[f"{measure}_by_fold"] = [round(float(value), 4) for value in values]
    return summary


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
