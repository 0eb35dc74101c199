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
from monitor.evaluation.runs import (
    calibrate,
    evaluate_clusters,
    evaluate_pairs,
    evaluate_retrieval,
    folds_sharing_no_text,
)
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


def test_cross_validation_keeps_pairs_that_share_a_text_in_one_fold(paraphrases):
    pairs = labelled(paraphrases, held_out=False)
    folds = folds_sharing_no_text(pairs, 5)
    fold_of_text = {}
    for pair, fold in zip(pairs, folds.tolist(), strict=True):
        for text in (pair.text_a, pair.text_b):
            assert fold_of_text.setdefault(text, fold) == fold, text
    sizes = np.bincount(folds, minlength=5)
    assert sizes.min() > 0.15 * len(pairs), sizes  # ParaPhraser's headline groups are small


def test_eval_cv_fits_on_the_other_folds_and_reports_each_fold_and_the_spread(tmp_path):
    paraphrases_file, claims_file, queries_file = tmp_path / "pairs.tsv", tmp_path / "claims.jsonl", \
        tmp_path / "queries.tsv"
    chosen = [pair for pair in paraphraser_pairs(PARAPHRASER) if not is_dev(pair[0])][:600]
    write_pairs(paraphrases_file, [(a, b, label) for *_, a, b, label in chosen])
    relevant = read_qrels(CHECKTHAT / "train-qrels.tsv").items[0]
    queries = [(query_id, text) for query_id, text in read_queries(CHECKTHAT / "train-dev-queries.tsv").items
               if query_id in relevant][:90]
    queries_file.write_text("".join(f"{query_id}\t{text}\n" for query_id, text in queries), encoding="utf-8")
    wanted = {claim_id for query_id, _ in queries for claim_id in relevant[query_id]}
    lines = (CHECKTHAT / "vclaims.jsonl").read_text(encoding="utf-8").splitlines()
    claims_file.write_text("".join(
        json.dumps({"id": claim["vclaim_id"], "text": checkthat_claim_text(claim)}) + "\n"
        for number, claim in enumerate(map(json.loads, lines))
        if claim["vclaim_id"] in wanted or number < 600), encoding="utf-8")
    result = monitor_command("eval", "cv", "--pairs", str(paraphrases_file), "--claims", str(claims_file),
                             "--queries", str(queries_file), "--qrels", str(CHECKTHAT / "train-qrels.tsv"),
                             "--folds", "3", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["folds"] == 3
    scored = report["pairs"]
    assert len(scored["f1_by_fold"]) == 3 and min(scored["f1_by_fold"]) > 0.6, scored
    assert scored["f1"] == pytest.approx(np.mean(scored["f1_by_fold"]), abs=1e-4)
    assert scored["f1_spread"] == pytest.approx(np.std(scored["f1_by_fold"]), abs=1e-4)
    ranked = report["retrieval"]
    assert ranked["n"] == 90 and min(ranked["map@5_by_fold"]) > 0.7, ranked


def test_eval_cv_needs_claims_queries_and_qrels_together(tmp_path):
    pairs_file = tmp_path / "pairs.tsv"
    write_pairs(pairs_file, [("a b c", "a b c", 1), ("a b c", "d e f", 0)])
    result = monitor_command("eval", "cv", "--pairs", str(pairs_file), "--claims", str(pairs_file),
                             env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2 and "--claims, --queries and --qrels together" in result.stderr


def test_finetune_keeps_a_model_that_separates_its_pairs_better_and_reports_before_and_after(
        encoder, paraphrases, tmp_path):
    from monitor.embed.encoder import Encoder
    from monitor.normalize import readable_text

    training = labelled(paraphrases, held_out=False)[:96]
    held_out = labelled(paraphrases, held_out=True)[:80]
    training_file, held_out_file = tmp_path / "train.tsv", tmp_path / "held-out.tsv"
    for path, pairs in ((training_file, training), (held_out_file, held_out)):
        write_pairs(path, [(pair.text_a, pair.text_b, pair.label) for pair in pairs])
    result = monitor_command("models", "finetune", str(training_file), "--to", str(tmp_path / "models"),
                             "--name", "newsroom-minilm", "--epochs", "3",
                             "--eval", str(held_out_file),
                             env={"HF_HUB_OFFLINE": "1", "EMBEDDING_DEVICE": "cpu"})
    assert result.returncode == 0, result.stderr
    assert "EMBEDDING_MODEL=newsroom-minilm" in result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert report["after"]["model"] == "newsroom-minilm"
    assert 0 < report["after"]["rule"]["f1"] <= 1 and 0 < report["after"]["cosine_alone_f1"] <= 1

    # What the loss asks for: same-claim pairs nearer than the others.
    tuned = Encoder("newsroom-minilm", model_dir=str(tmp_path / "models"))

    def margin(model: Encoder) -> float:
        first = model.encode([readable_text(pair.text_a) for pair in training])
        second = model.encode([readable_text(pair.text_b) for pair in training])
        cosines = (first * second).sum(axis=1)
        labels = np.array([pair.label for pair in training]) == 1
        return float(cosines[labels].mean() - cosines[~labels].mean())

    assert margin(tuned) > margin(encoder) + 0.05, (margin(tuned), margin(encoder))
    again = monitor_command("models", "finetune", str(training_file), "--to", str(tmp_path / "models"),
                            "--name", "newsroom-minilm", env={"HF_HUB_OFFLINE": "1"})
    assert again.returncode != 0 and "exists" in again.stderr  # never overwrites a kept model


def test_finetune_refuses_pairs_of_one_label_before_loading_anything(tmp_path):
    pairs_file = tmp_path / "pairs.tsv"
    write_pairs(pairs_file, [("Аким призвал выйти 9 мая", "Аким позвал всех 9 мая", 1)] * 3)
    result = monitor_command("models", "finetune", str(pairs_file), "--to", str(tmp_path / "models"),
                             env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1 and "labelled 1 (same claim) and 0" in result.stderr
    assert not (tmp_path / "models").exists()


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
