"""The measures docs/quality.md reports, as their usual definitions give them."""

from __future__ import annotations

from collections import Counter


def precision_recall_f1(predicted: list[bool], labels: list[int]) -> dict[str, float]:
    true_positives = sum(1 for guess, label in zip(predicted, labels, strict=True) if guess and label)
    guessed, relevant = sum(predicted), sum(labels)
    precision = true_positives / guessed if guessed else 0.0
    recall = true_positives / relevant if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def average_precision_at(ranked: list[str], relevant: set[str], k: int) -> float:
    """AP@k as CheckThat! scores it: precision at each relevant hit in the top k,
    divided by the number of relevant items (at most k)."""
    hits, total = 0, 0.0
    for rank, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), k) if relevant else 0.0


def bcubed(predicted: dict[str, object], gold: dict[str, object]) -> dict[str, float]:
    """B-cubed precision, recall and F1 (Bagga and Baldwin) of a clustering of the same items."""
    predicted_size = Counter(predicted.values())
    gold_size = Counter(gold.values())
    both = Counter((predicted[item], gold[item]) for item in gold)
    precision = sum(both[(predicted[item], gold[item])] / predicted_size[predicted[item]]
                    for item in gold) / len(gold)
    recall = sum(both[(predicted[item], gold[item])] / gold_size[gold[item]] for item in gold) / len(gold)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
