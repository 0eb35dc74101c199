"""Claim-matching quality commands on the real development data in ../shared/data:
the file formats and their errors, the measures, calibration and the three evaluations.
The figures themselves are measured on full splits in docs/quality.md, not here."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest

from monitor.evaluation.datasets import (
    LabelledPair,
    checkthat_claim_text,
    is_dev,
    paraphraser_clusters,
    paraphraser_pairs,
    read_cluster_items,
    read_pairs,
    read_qrels,
    read_queries,
    write_pairs,
)
from monitor.evaluation.measures import average_precision_at, bcubed, precision_recall_f1
from monitor.evaluation.runs import calibrate, evaluate_clusters, evaluate_pairs, evaluate_retrieval
from monitor.similarity import PACKAGED_CALIBRATION, Calibration, MatchRules, TextEvidence
from tests.conftest import SHARED_DATA, monitor_command

PARAPHRASER = SHARED_DATA / "paraphrase" / "ru-paraphraser-train.xml"
CHECKTHAT = SHARED_DATA / "claims" / "checkthat22-en"


@pytest.fixture(scope="module")
def paraphrases():
    return paraphraser_pairs(PARAPHRASER)


@pytest.fixture
def rules():
    return MatchRules(Calibration.load(PACKAGED_CALIBRATION), neighbours=20)


def labelled(paraphrases, held_out: bool) -> list[LabelledPair]:
    return [LabelledPair(a, b, label) for pair_id, _, _, a, b, label in paraphrases
            if is_dev(pair_id) == held_out]


def test_the_measures_agree_with_worked_examples():
    assert precision_recall_f1([True, True, False, False], [1, 0, 1, 0]) == \
        {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    # Two relevant claims, found at ranks 1 and 3: (1/1 + 2/3) / 2.
    assert average_precision_at(["a", "x", "b", "y"], {"a", "b"}, 5) == pytest.approx(5 / 6)
    assert average_precision_at(["x", "y", "z", "w", "v", "a"], {"a"}, 5) == 0.0
    # Everything in one cluster against two gold clusters of two: precision 1/2, recall 1.
    assert bcubed({"1": "c", "2": "c", "3": "c", "4": "c"}, {"1": "g", "2": "g", "3": "h", "4": "h"}) == \
        {"precision": 0.5, "recall": 1.0, "f1": 0.6667}


def test_paraphraser_keeps_precise_paraphrases_and_non_paraphrases_and_holds_out_a_fifth(paraphrases):
    labels = {label for *_, label in paraphrases}
    assert labels == {0, 1} and len(paraphrases) == 4270  # class 0 (loose) left out of 7,227
    held_out = [pair for pair in paraphrases if is_dev(pair[0])]
    assert 0.18 < len(held_out) / len(paraphrases) < 0.22
    clusters = paraphraser_clusters(held_out)
    gold = {item["id"]: item["gold"] for item in clusters}
    precise = [(first, second) for _, first, second, *_, label in held_out if label]
    assert precise and all(gold[str(first)] == gold[str(second)] for first, second in precise)
    assert len(set(gold.values())) < len(gold)


def test_a_pairs_file_with_bad_lines_says_where_and_keeps_the_good_ones(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("text_a\ttext_b\tlabel\n"
                    "Митинг в Алматы\tМитинг в Алматы 9 мая\t1\n"
                    "only two\tcolumns\n"
                    "Митинг\tПогода\tmaybe\n"
                    "\tПогода\t0\n"
                    "Rally in Almaty\tWeather in Astana\t0\n", encoding="utf-8")
    loaded = read_pairs(path)
    assert [pair.label for pair in loaded.items] == [1, 0]
    assert [str(problem) for problem in loaded.problems] == [
        "line 3: expected 3 tab-separated columns, not 2",
        "line 4: label must be 0 or 1, not 'maybe'",
        "line 5: a text is empty",
    ]
    result = monitor_command("eval", "pairs", str(path), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert "line 4: label must be 0 or 1" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["n"] == 2


def test_a_qrels_file_with_bad_lines_says_where_and_keeps_the_good_ones(tmp_path):
    path = tmp_path / "qrels.tsv"
    path.write_text("q1 0 c1 1\nq2 0 c2 ²\nq3 0 c3\nq4 0 c4 0\n", encoding="utf-8")
    loaded = read_qrels(path)
    assert loaded.items == [{"q1": {"c1"}}]
    assert [str(problem) for problem in loaded.problems] == [
        "line 2: expected 'query_id 0 claim_id 1'", "line 3: expected 'query_id 0 claim_id 1'"]


def test_a_pairs_file_without_its_header_is_refused(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Митинг\tМитинг\t1\n", encoding="utf-8")
    result = monitor_command("eval", "pairs", str(path), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode != 0
    assert "header text_a<TAB>text_b<TAB>label" in result.stderr


def test_eval_pairs_scores_held_out_paraphrases_under_the_packaged_calibration(encoder, rules, paraphrases):
    held_out = labelled(paraphrases, held_out=True)[:300]
    result = evaluate_pairs(encoder, rules, held_out)
    assert result["n"] == 300 and result["languages"]["ru"] > 290
    # Far better than chance on pairs it was not fitted on (the full figure is in docs/quality.md).
    assert result["f1"] > 0.7, result


def test_calibrate_fits_weights_and_language_thresholds_that_eval_then_uses(encoder, paraphrases, tmp_path):
    training = labelled(paraphrases, held_out=False)[:400]
    calibration = calibrate(encoder, training, ["sample.tsv"])
    assert set(calibration.by_kind) == {"*", "ru"}  # headlines only: no weighing for long posts
    russian = calibration.by_kind["ru"]
    assert russian.weights[0] > 0  # a higher cosine is evidence for the same claim
    assert russian.weights[-2] < 0  # disagreeing numbers are evidence against
    # Short texts never get a laxer threshold than longer ones.
    features = np.array([(0.9, 0.5, 0.4, 0.5, 0.0, 0.0, 0.8)] * 2)
    _, (short, longer) = calibration.judge_many(features, ["ru", "ru"], np.array([2, 8]), np.array([10, 10]))
    assert short >= longer
    path = tmp_path / "matching.json"
    calibration.save(path)
    assert Calibration.load(path) == calibration

    pairs_file = tmp_path / "pairs.tsv"
    write_pairs(pairs_file, [(pair.text_a, pair.text_b, pair.label) for pair in training[:20]])
    result = monitor_command("eval", "pairs", str(pairs_file),
                             env={"HF_HUB_OFFLINE": "1", "MATCHING_CALIBRATION": str(path)})
    assert result.returncode == 0, result.stderr
    used = json.loads(result.stdout.strip().splitlines()[-1])["threshold"]
    fitted = {threshold for weighing in calibration.by_kind.values()
              for threshold in (weighing.threshold, weighing.short_text_threshold)}
    assert set(used if isinstance(used, list) else [used]) <= fitted


def test_a_calibration_fitted_on_other_features_is_refused_with_what_to_do(tmp_path):
    path, pairs = tmp_path / "old.json", tmp_path / "pairs.tsv"
    path.write_text(json.dumps({"features": ["cosine"], "weights": [1.0]}))
    write_pairs(pairs, [("Митинг в Алматы", "Митинг в Алматы 9 мая", 1)])
    result = monitor_command("eval", "pairs", str(pairs), env={"MATCHING_CALIBRATION": str(path)})
    assert result.returncode != 0
    assert "run `monitor calibrate` again" in result.stderr


def test_numbers_that_disagree_lower_the_probability_of_the_same_claim(rules):
    claim = "Акимат Алматы запретил шествие 9 мая у Вечного огня"
    original, other_day = TextEvidence.of(claim), TextEvidence.of(claim.replace("9 мая", "1 мая"))
    same_day, day_differs = (rules.judge(0.95, original, other, "ru", "ru")[0]
                             for other in (original, other_day))
    assert same_day > day_differs


# Three different claims about one event: the English-only default model gives them
# cosines of 0.80 to 0.85, which the English weighing takes for the same claim.
SOUTH_KOREA = [
    "Парламент Южной Кореи проголосовал за отмену военного положения в стране, которое "
    "несколькими часами ранее объявил президент Юн Сок Ёль",
    "США на фоне ситуации с введением и отменой военного положения в Южной Корее отложили "
    "совместные учения по ядерному сдерживанию КНДР",
    "Представитель правящей партии Южной Кореи извинился за действия президента, объявившего "
    "о введении военного положения в стране",
]


def test_russian_posts_on_one_event_stay_different_claims_when_one_was_taken_for_english(encoder, rules):
    vectors = encoder.encode(SOUTH_KOREA)
    evidence = [TextEvidence.of(text) for text in SOUTH_KOREA]
    for first, second in combinations(range(len(SOUTH_KOREA)), 2):
        cosine = float(vectors[first] @ vectors[second])
        assert rules.judge(cosine, evidence[first], evidence[second], "en", "en")[1]  # why it matters
        assert not rules.judge(cosine, evidence[first], evidence[second], "ru", "ru")[1]
        assert not rules.judge(cosine, evidence[first], evidence[second], "en", "ru")[1]


def test_eval_retrieval_finds_the_fact_checks_of_real_tweets(encoder, rules):
    relevant = read_qrels(CHECKTHAT / "dev-qrels.tsv").items[0]
    queries = [(query_id, text) for query_id, text in read_queries(CHECKTHAT / "train-dev-queries.tsv").items
               if query_id in relevant][:40]
    wanted = {claim_id for query_id, _ in queries for claim_id in relevant[query_id]}
    claims = []
    for line in (CHECKTHAT / "vclaims.jsonl").read_text(encoding="utf-8").splitlines():
        claim = json.loads(line)
        if claim["vclaim_id"] in wanted or len(claims) < 1000:
            claims.append((claim["vclaim_id"], checkthat_claim_text(claim)))
    result = evaluate_retrieval(encoder, rules, claims, queries, relevant)
    assert result["n"] == 40
    assert result["map@5"] > 0.8 and result["p@1"] > 0.7, result


def test_eval_clusters_runs_the_cluster_stage_and_scores_it_against_gold(encoder, rules, paraphrases,
                                                                         tmp_path):
    items = paraphraser_clusters([pair for pair in paraphrases if is_dev(pair[0])][:150])
    path = tmp_path / "clusters.jsonl"
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items) + "{not json\n",
                    encoding="utf-8")
    loaded = read_cluster_items(path)
    assert [problem.location for problem in loaded.problems] == [f"line {len(loaded.items) + 1}"]
    result = evaluate_clusters(encoder, rules, loaded.items)
    assert result["n"] == len(loaded.items)
    assert result["gold_clusters"] < result["n"]  # the precise paraphrases were grouped
    assert result["bcubed_precision"] > 0.9 and result["bcubed_recall"] > 0.8, result
    assert np.isclose(result["bcubed_f1"], 2 * result["bcubed_precision"] * result["bcubed_recall"]
                      / (result["bcubed_precision"] + result["bcubed_recall"]), atol=1e-3)
