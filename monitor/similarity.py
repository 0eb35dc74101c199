"""Same-claim evidence between two texts, and the calibrated rule that weighs it.

No single signal is enough. The default all-MiniLM-L6-v2 is English-only and gives
unrelated Russian posts cosines of 0.6 and more; character shingles catch reposts in any
script but miss a rewording; word stems (the first letters of each word) carry Russian
and Kazakh inflection; numbers that disagree ("9 May" against "1 May") separate two
events told in the same words. A logistic model fitted on labelled pairs
(``monitor calibrate``) turns the signals into one probability, and the thresholds it
is compared with are fitted too: per language where the data allows, and stricter for
short texts, which share much by chance.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from datasketch import MinHash

from monitor.messages import UserError
from monitor.normalize import matching_text

SHINGLE_SIZE = 5
MINHASH_PERMUTATIONS = 64
# A text of more than twice this many words is also looked up by its opening words: a
# flash is the headline of the full post, and shares too small a part of it to be found by
# the whole text's shingles.
OPENING_WORDS = 20
# Below this many shingles (about eight words) containment proves little: a short
# text is "contained" in many longer ones.
MIN_SHINGLES_FOR_CONTAINMENT = 40
# Letters kept of each word: a cheap stemmer for Russian and Kazakh endings.
STEM_LENGTH = 4
_NUMBER = re.compile(r"\d+")

FEATURES = ("cosine", "char3_jaccard", "char5_jaccard", "stem_jaccard", "containment",
            "numbers_differ", "length_ratio")
PACKAGED_CALIBRATION = Path(__file__).resolve().parent.parent / "config" / "matching.json"


def shingles(text: str, size: int = SHINGLE_SIZE) -> np.ndarray:
    return _shingles_of(matching_text(text), size)


def _shingles_of(words: str, size: int) -> np.ndarray:
    """The text's character shingles, as their sorted hashes: a set of integers is an eighth
    of the memory of a set of strings and is intersected twice as fast."""
    if len(words) <= size:
        return _hashed([words] if words else [], size)
    codes = np.frombuffer(words.encode("utf-32-le"), dtype=np.uint32)
    return _hashed_rows(np.lib.stride_tricks.sliding_window_view(codes, size))


def _hashed(items: list[str] | set[str], length: int) -> np.ndarray:
    """Hashes of strings of at most LENGTH characters (shorter ones padded with NUL)."""
    codes = np.array(list(items), dtype=f"<U{length}").view(np.uint32)
    return _hashed_rows(codes.reshape(-1, length))


# A multiplicative hash over the code points, then splitmix64's finalizer.
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _hashed_rows(codes: np.ndarray) -> np.ndarray:
    """The sorted unique 64-bit hashes of rows of code points, the same in every process
    (Python's own string hash is salted per process, which made placements, through the
    LSH index, differ from one worker to the next), and mixed so that their low 32 bits,
    which MinHash takes, are as good as the rest."""
    hashes = np.zeros(len(codes), dtype=np.uint64)
    for column in codes.T.astype(np.uint64):
        hashes = (hashes ^ column) * _MULTIPLIER
    hashes ^= hashes >> np.uint64(30)
    hashes *= _MIX_1
    hashes ^= hashes >> np.uint64(27)
    hashes *= _MIX_2
    hashes ^= hashes >> np.uint64(31)
    return np.unique(hashes.view(np.int64))


def _overlaps(a: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """How many hashed shingles A shares with each of OTHERS (all sorted and unique): one
    search of them all in A, where a pair at a time cost a sort of both."""
    sizes = [other.size for other in others]
    if not a.size or not any(sizes):
        return np.zeros(len(others))
    flat = np.concatenate(others)
    found = a[np.searchsorted(a, flat).clip(max=a.size - 1)] == flat
    return np.bincount(np.repeat(np.arange(len(others)), sizes), weights=found, minlength=len(others))


def _jaccards(size: int, other_sizes: np.ndarray, shared: np.ndarray) -> np.ndarray:
    union = size + other_sizes - shared
    return np.divide(shared, union, out=np.zeros(len(shared)), where=(other_sizes > 0) & (size > 0))


def _containments(size: int, other_sizes: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """How much of the shorter text the longer one contains: a headline inside a full post.
    Below MIN_SHINGLES_FOR_CONTAINMENT shingles, nothing."""
    smaller = np.minimum(size, other_sizes)
    return np.divide(shared, smaller, out=np.zeros(len(shared)),
                     where=smaller >= MIN_SHINGLES_FOR_CONTAINMENT)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(_jaccards(a.size, np.array([b.size]), _overlaps(a, [b]))[0])


def containment(a: np.ndarray, b: np.ndarray) -> float:
    return float(_containments(a.size, np.array([b.size]), _overlaps(a, [b]))[0])


_PERMUTATIONS = MinHash(num_perm=MINHASH_PERMUTATIONS)


def minhash(text_shingles: np.ndarray) -> MinHash | None:
    """The MinHash of hashed shingles (their low 32 bits are hash enough for it); None for none."""
    if not text_shingles.size:
        return None
    signature = MinHash(num_perm=MINHASH_PERMUTATIONS, hashfunc=int, scheme=_PERMUTATIONS.scheme,
                        permutations=_PERMUTATIONS.permutations)
    signature.update_batch((text_shingles & 0xFFFFFFFF).tolist())
    return signature


def shingle_signatures(evidence: "TextEvidence") -> list[MinHash]:
    """The MinHashes a text is indexed and looked up by: its whole text's, and its opening's
    if it is long (none for a text without shingles)."""
    return [signature for signature in (minhash(evidence.char5), minhash(evidence.opening5)) if signature]


@dataclass(frozen=True, eq=False)  # arrays: compared by identity
class TextEvidence:
    """What one text brings to a comparison, computed once per text."""

    words: int
    char3: np.ndarray  # hashed shingles (see _shingles_of)
    char5: np.ndarray
    stems: np.ndarray  # hashed, likewise
    numbers: frozenset[str]
    opening5: np.ndarray  # shingles of the first OPENING_WORDS words of a long text; empty otherwise

    @classmethod
    def of(cls, text: str) -> "TextEvidence":
        words = matching_text(text)
        split = words.split()
        opening = " ".join(split[:OPENING_WORDS]) if len(split) > 2 * OPENING_WORDS else ""
        return cls(len(split), _shingles_of(words, 3), _shingles_of(words, SHINGLE_SIZE),
                   _hashed({word[:STEM_LENGTH] for word in split if len(word) > 2}, STEM_LENGTH),
                   frozenset(_NUMBER.findall(words)), _shingles_of(opening, SHINGLE_SIZE))


def pair_features(cosine: float, a: TextEvidence, b: TextEvidence) -> tuple[float, ...]:
    """The signals, in the order of FEATURES."""
    return tuple(features_against(np.array([cosine]), a, [b])[0].tolist())


def features_against(cosines: np.ndarray, a: TextEvidence, others: list[TextEvidence]) -> np.ndarray:
    """The signals of A paired with each of OTHERS (COSINES: A's with each), one row each."""
    def shared_and_sizes(name: str) -> tuple[int, np.ndarray, np.ndarray]:
        mine, theirs = getattr(a, name), [getattr(other, name) for other in others]
        return mine.size, np.array([each.size for each in theirs]), _overlaps(mine, theirs)

    char3, char5, stems = (shared_and_sizes(name) for name in ("char3", "char5", "stems"))
    numbers_differ = [1.0 if a.numbers and other.numbers and a.numbers != other.numbers else 0.0
                      for other in others]
    words = np.array([other.words for other in others], dtype=np.float64)
    length_ratio = np.minimum(a.words, words) / np.maximum(np.maximum(a.words, words), 1)
    return np.column_stack([cosines, _jaccards(*char3), _jaccards(*char5), _jaccards(*stems),
                            _containments(*char5), numbers_differ, length_ratio]).reshape(len(others), -1)


@dataclass(frozen=True)
class Weighing:
    """One logistic model over FEATURES and the probabilities it must reach."""

    weights: tuple[float, ...]
    bias: float
    threshold: float
    short_text_threshold: float  # for pairs whose shorter text is short; never below threshold

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Of each row of FEATURES."""
        return 1.0 / (1.0 + np.exp(-(features @ np.array(self.weights) + self.bias)))


def pair_kinds(language: str | None, shortest_words: int, longest_words: int,
               long_text_words: int) -> list[str]:
    """The weighings that may judge a pair, most specific first: its language and length,
    any language at its length, and "*" for anything. Two headlines and a flash against the
    full post it was cut from are judged apart: in the second, one text contained in the
    other is the telling sign, and headlines never show it."""
    length = "/long" if longest_words >= long_text_words else ""
    kinds = [f"{language}{length}"] if language else []
    return list(dict.fromkeys([*kinds, f"*{length}", "*"]))


@dataclass(frozen=True)
class Calibration:
    """The fitted same-claim rule: a weighing per kind of pair ("ru", "ru/long", ...) that
    had enough labelled pairs, and ones fitted on every pair ("*", "*/long") for the rest."""

    by_kind: dict[str, Weighing]
    short_text_words: int  # a pair whose shorter text has fewer words is "short"
    long_text_words: int  # a pair whose longer text has this many words is "long"
    model: str  # the embedding model whose cosines it was fitted on
    fitted_on: dict = field(default_factory=dict)  # files, pair counts: how to reproduce it

    def judge_many(self, features: np.ndarray, languages: list[str | None], shortest_words: np.ndarray,
                   longest_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each row of FEATURES, with its pair's language and word counts: the probability
        of the same claim, and the threshold it must reach."""
        probabilities, thresholds = np.zeros(len(features)), np.zeros(len(features))
        kinds = [next(kind for kind in pair_kinds(language, int(shortest), int(longest),
                                                  self.long_text_words) if kind in self.by_kind)
                 for language, shortest, longest in zip(languages, shortest_words, longest_words,
                                                        strict=True)]
        for kind in set(kinds):
            rows, weighing = np.array([each == kind for each in kinds]), self.by_kind[kind]
            probabilities[rows] = weighing.probabilities(features[rows])
            thresholds[rows] = np.where(shortest_words[rows] < self.short_text_words,
                                        weighing.short_text_threshold, weighing.threshold)
        return probabilities, thresholds

    def save(self, path: Path) -> None:
        data = {"features": list(FEATURES), **asdict(self)}
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path | str) -> "Calibration":
        return _load_calibration(str(path))


@cache
def _load_calibration(path: str) -> Calibration:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the matching calibration {path}: {error}") from error
    if not isinstance(data, dict) or data.get("features") != list(FEATURES):
        raise UserError(f"{path} was not fitted on the features this version computes; "
                        f"run `monitor calibrate` again")
    try:
        by_kind = {kind: Weighing(tuple(item["weights"]), item["bias"], item["threshold"],
                                  item["short_text_threshold"])
                   for kind, item in data["by_kind"].items()}
        if "*" not in by_kind:
            raise KeyError("by_kind.*")
        return Calibration(by_kind, data["short_text_words"], data["long_text_words"], data["model"],
                           data.get("fitted_on", {}))
    except (KeyError, TypeError, AttributeError) as error:
        raise UserError(f"{path} is incomplete ({error}): run `monitor calibrate` again") from error


def best_f1_threshold(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(threshold, f1) of the cut that gives the best F1 on these pairs."""
    order = np.argsort(-probabilities)
    ranked, hits = probabilities[order], labels[order].astype(float)
    true_positives = np.cumsum(hits)
    predicted = np.arange(1, len(ranked) + 1)
    f1 = 2 * true_positives / (predicted + hits.sum())
    # Cut only between distinct probabilities: all pairs with the same score fall together.
    last_of_run = np.append(ranked[1:] != ranked[:-1], True)
    best = int(np.argmax(np.where(last_of_run, f1, -1.0)))
    return float(ranked[best]), float(f1[best])


MIN_PAIRS_FOR_OWN_WEIGHING = 200
MIN_SHORT_PAIRS = 30


def _both_kinds(labels: np.ndarray, minimum: int) -> bool:
    return len(labels) >= minimum and 0 < labels.sum() < len(labels)


def _fit_weighing(features: np.ndarray, labels: np.ndarray, short: np.ndarray) -> Weighing:
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=1.0, max_iter=5000).fit(features, labels)
    weighing = Weighing(tuple(float(w) for w in fitted.coef_[0]), float(fitted.intercept_[0]), 0.0, 0.0)
    probabilities = weighing.probabilities(features)
    threshold = best_f1_threshold(probabilities, labels)[0]
    short_threshold = threshold
    if _both_kinds(labels[short], MIN_SHORT_PAIRS):
        short_threshold = max(threshold, best_f1_threshold(probabilities[short], labels[short])[0])
    return Weighing(weighing.weights, weighing.bias, threshold, short_threshold)


def fit_calibration(features: np.ndarray, labels: np.ndarray, languages: list[str | None],
                    shortest_words: np.ndarray, longest_words: np.ndarray, model: str,
                    short_text_words: int = 6, long_text_words: int = 16,
                    fitted_on: dict | None = None) -> Calibration:
    """Fit a weighing for each kind of pair that has MIN_PAIRS_FOR_OWN_WEIGHING labelled
    pairs of both labels, on the pairs of that kind only (a pair is of its language and
    length, and of any language at its length: the first two of pair_kinds). "*" always
    exists: fitted on the pairs that are not long, or on every pair if those are too few.
    Each threshold is the cut with the best F1 on its pairs; short pairs get the best cut
    among short pairs if that is stricter."""
    if not _both_kinds(labels, 2):
        raise UserError("calibration needs pairs labelled 1 (same claim) and 0 (different claims)")
    short = shortest_words < short_text_words
    kinds_of = [set(pair_kinds(language, int(shortest), int(longest), long_text_words)[:2]) - {"*"}
                for language, shortest, longest in zip(languages, shortest_words, longest_words, strict=True)]
    for kinds, longest in zip(kinds_of, longest_words, strict=True):
        if longest < long_text_words:
            kinds.add("*")
    by_kind = {}
    for kind in sorted(set().union(*kinds_of)):
        chosen = np.array([kind in kinds for kinds in kinds_of])
        if _both_kinds(labels[chosen], MIN_PAIRS_FOR_OWN_WEIGHING):
            by_kind[kind] = _fit_weighing(features[chosen], labels[chosen], short[chosen])
    if "*" not in by_kind:
        by_kind["*"] = _fit_weighing(features, labels, short)
    return Calibration(by_kind, short_text_words, long_text_words, model, fitted_on or {})


@dataclass(frozen=True)
class MatchRules:
    """When two posts carry the same claim: the calibration (MATCHING_CALIBRATION,
    by default config/matching.json) and how many nearest neighbours are compared."""

    calibration: Calibration
    neighbours: int

    @classmethod
    def from_settings(cls, settings) -> "MatchRules":
        return cls(Calibration.load(settings.matching_calibration or PACKAGED_CALIBRATION),
                   settings.cluster_neighbours)

    def judge(self, cosine: float, a: TextEvidence, b: TextEvidence, language: str | None,
              other_language: str | None) -> tuple[float, bool]:
        """(the same-claim probability, whether it passes the threshold) of two texts in their
        languages. Texts in two languages must pass the weighing of each: a weighing fitted on
        English trusts the embedding cosine, which an English model gives any two Russian
        texts on one topic, so a Russian post taken for English would join them all."""
        probabilities, same_claim = self.judge_many(np.array([cosine]), a, [b], language, [other_language])
        return float(probabilities[0]), bool(same_claim[0])

    def judge_many(self, cosines: np.ndarray, a: TextEvidence, others: list[TextEvidence],
                   language: str | None, other_languages: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """judge A against each of OTHERS at once: (probabilities, whether each passes)."""
        features = features_against(cosines, a, others)
        words = np.array([other.words for other in others])
        shortest, longest = np.minimum(a.words, words), np.maximum(a.words, words)
        # Every pair in the post's language, and in the others' languages unless all are the same.
        weighed_in = dict.fromkeys([(language,) * len(others), tuple(other_languages)])
        verdicts = [self.calibration.judge_many(features, list(languages), shortest, longest)
                    for languages in weighed_in]
        return (np.minimum.reduce([probabilities for probabilities, _ in verdicts]),
                np.logical_and.reduce([probability >= threshold for probability, threshold in verdicts]))
