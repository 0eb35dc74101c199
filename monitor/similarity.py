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
from types import ModuleType
from typing import NamedTuple

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
# Letters kept of each word: a cheap stemmer for Russian and Kazakh endings. Words of two
# letters or fewer (prepositions, conjunctions) have no stem.
STEM_LENGTH = 4
_SHORTEST_STEMMED = 3
_NUMBER = re.compile(r"\d+")

FEATURES = ("cosine", "char3_jaccard", "char5_jaccard", "stem_jaccard", "containment",
            "numbers_differ", "length_ratio")
PACKAGED_CALIBRATION = Path(__file__).resolve().parent.parent / "config" / "matching.json"


@cache
def _kernels() -> ModuleType:
    """The compiled loops (monitor/shingle_kernels.py), imported when first used: numba and
    LLVM add about 90 MB to a process, which the workers that never compare texts (ingest,
    embed, notify) need not hold."""
    from monitor import shingle_kernels

    return shingle_kernels


def load_compiled_loops() -> None:
    """Load the compiled loops now (from numba's cache, or compiled if it has none) by
    running each once: otherwise the first post a process compares waits for them."""
    evidence = TextEvidence.of("Аким призвал выйти 9 мая на шествие")
    shingle_signatures(evidence)
    features_of_pairs(np.zeros(1), Pairs.of([evidence], [[evidence]]))


def _code_points(words: str) -> np.ndarray:
    return np.frombuffer(words.encode("utf-32-le"), dtype=np.uint32)


def _shared(a: np.ndarray, b: np.ndarray) -> int:
    """How many hashed shingles two arrays of them share."""
    first = np.zeros(1, dtype=np.int64)
    return int(_kernels().shared_shingles(a, np.array([a.size]), b, np.array([[b.size]]), first, first)[0, 0])


def _jaccards(size: np.ndarray, other_sizes: np.ndarray, shared: np.ndarray) -> np.ndarray:
    union = size + other_sizes - shared
    return np.divide(shared, union, out=np.zeros(shared.shape), where=(other_sizes > 0) & (size > 0))


def _containments(size: np.ndarray, other_sizes: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """How much of the shorter text the longer one contains: a headline inside a full post.
    Below MIN_SHINGLES_FOR_CONTAINMENT shingles, nothing."""
    smaller = np.minimum(size, other_sizes)
    return np.divide(shared, smaller, out=np.zeros(shared.shape),
                     where=smaller >= MIN_SHINGLES_FOR_CONTAINMENT)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(_jaccards(a.size, np.array([b.size]), np.array([_shared(a, b)]))[0])


def containment(a: np.ndarray, b: np.ndarray) -> float:
    return float(_containments(a.size, np.array([b.size]), np.array([_shared(a, b)]))[0])


_PERMUTATIONS = MinHash(num_perm=MINHASH_PERMUTATIONS)  # datasketch's own (affine32 scheme)


def minhash(text_shingles: np.ndarray) -> np.ndarray | None:
    """The MinHash values (uint32) of hashed shingles, their low 32 bits being hash enough
    for it; None for none.

    What datasketch's ``MinHash.update_batch`` computes, in one compiled loop: it calls a
    Python hash function once a value (tests/test_clustering.py checks that the two agree)."""
    if not text_shingles.size:
        return None
    return _kernels().affine32_minimums(text_shingles, *_PERMUTATIONS.permutations)


def shingle_signatures(evidence: "TextEvidence") -> list[np.ndarray]:
    """The MinHash signatures a text is indexed and looked up by: its whole text's, and its
    opening's if it is long (none for a text without shingles)."""
    return [signature for signature in (minhash(evidence.char5), minhash(evidence.opening5))
            if signature is not None]


# The kinds of shingles a text is compared by, each hash tagged with its kind in bits 61-62
# (MinHash takes the low 32 bits, which the tag leaves as they are): one array then
# holds all three, and a text is compared with its candidates in one pass.
SHINGLE_KINDS = ("char3", "char5", "stems")
_CHARACTER_SHINGLES = (3, SHINGLE_SIZE)  # the sizes of the first two kinds


@dataclass(frozen=True, eq=False)  # arrays: compared by identity
class TextEvidence:
    """What one text brings to a comparison, computed once per text."""

    words: int
    shingles: np.ndarray  # hashed shingles of each of SHINGLE_KINDS, tagged (see text_shingles)
    counts: np.ndarray  # how many of each kind
    numbers: frozenset[str]
    opening5: np.ndarray  # shingles of the first OPENING_WORDS words of a long text; empty otherwise

    @classmethod
    def of(cls, text: str) -> "TextEvidence":
        words = matching_text(text)  # words with one space between them
        split = words.split()
        # The opening words are the first characters of WORDS, and their shingles the first of its shingles.
        opening = len(" ".join(split[:OPENING_WORDS])) if len(split) > 2 * OPENING_WORDS else 0
        tagged, counts, opening5 = _kernels().text_shingles(
            _code_points(words), _CHARACTER_SHINGLES, STEM_LENGTH, _SHORTEST_STEMMED,
            max(opening - SHINGLE_SIZE + 1, 0))
        return cls(len(split), tagged, counts, frozenset(_NUMBER.findall(words)), opening5)

    def _kind(self, position: int) -> np.ndarray:
        start = self.counts[:position].sum()
        return self.shingles[start : start + self.counts[position]]

    @property
    def char5(self) -> np.ndarray:
        return self._kind(1)

    @property
    def stems(self) -> np.ndarray:
        return self._kind(2)

    @staticmethod
    def to_arrays(evidences: list["TextEvidence"]) -> dict[str, np.ndarray]:
        """EVIDENCES as a few flat arrays (kept in an index snapshot); from_arrays reads them back."""
        return {"words": np.array([each.words for each in evidences], dtype=np.int64),
                "counts": np.array([each.counts for each in evidences],
                                   dtype=np.int64).reshape(-1, len(SHINGLE_KINDS)),
                "shingles": _joined([each.shingles for each in evidences]),
                "opening_counts": np.array([len(each.opening5) for each in evidences], dtype=np.int64),
                "openings": _joined([each.opening5 for each in evidences]),
                "numbers": np.array([" ".join(sorted(each.numbers)) for each in evidences], dtype=str)}

    @classmethod
    def from_arrays(cls, arrays) -> list["TextEvidence"]:
        """The evidences to_arrays wrote; ValueError if the arrays do not fit together."""
        counts, opening_counts = arrays["counts"], arrays["opening_counts"]
        if not len(counts):
            return []
        if (counts.sum() != len(arrays["shingles"]) or opening_counts.sum() != len(arrays["openings"])
                or not len(counts) == len(opening_counts) == len(arrays["words"]) == len(arrays["numbers"])):
            raise ValueError("the evidence arrays do not fit together")
        # Copies: a view would keep the whole file's array alive while any one entry is cached.
        shingles = [part.copy() for part in np.split(arrays["shingles"], np.cumsum(counts.sum(axis=1))[:-1])]
        openings = [part.copy() for part in np.split(arrays["openings"], np.cumsum(opening_counts)[:-1])]
        return [cls(int(words), text_shingles, text_counts.copy(), frozenset(numbers.split()), opening)
                for words, text_shingles, text_counts, numbers, opening
                in zip(arrays["words"], shingles, counts, arrays["numbers"].tolist(), openings, strict=True)]


class Pairs(NamedTuple):
    """Texts paired with other texts: pair k is ``texts[first[k]]`` with ``others[second[k]]``.

    A batch's posts share most of their candidates (a cluster task of 64 posts judged about
    1,800 pairs among 600 candidates): each other text is given once, and what is read of
    it (its counts, words, numbers) is read once, then gathered for its pairs by NumPy."""

    texts: list[TextEvidence]
    others: list[TextEvidence]
    first: np.ndarray  # int64, one a pair
    second: np.ndarray

    @classmethod
    def of(cls, texts: list[TextEvidence], others_of_each: list[list[TextEvidence]]) -> "Pairs":
        """Each of TEXTS with each of its OTHERS_OF_EACH, in that order."""
        distinct = {id(other): other for others in others_of_each for other in others}
        position_of = {key: position for position, key in enumerate(distinct)}
        return cls(texts, list(distinct.values()),
                   np.repeat(np.arange(len(texts), dtype=np.int64), [len(each) for each in others_of_each]),
                   np.array([position_of[id(other)] for each in others_of_each for other in each],
                            dtype=np.int64))

    def words(self) -> tuple[np.ndarray, np.ndarray]:
        """The words of the shorter and of the longer text of each pair."""
        mine = np.array([text.words for text in self.texts], dtype=np.float64)[self.first]
        theirs = np.array([other.words for other in self.others], dtype=np.float64)[self.second]
        return np.minimum(mine, theirs), np.maximum(mine, theirs)

    def numbers_differ(self) -> np.ndarray:
        """1.0 for each pair whose texts both have numbers, not the same ones; else 0.0."""
        number_sets: dict[frozenset[str], int] = {}  # each set of numbers met, numbered
        mine, theirs = ([number_sets.setdefault(text.numbers, len(number_sets)) for text in texts]
                        for texts in (self.texts, self.others))
        mine = np.array(mine, dtype=np.int64)[self.first]
        theirs = np.array(theirs, dtype=np.int64)[self.second]
        none = number_sets.get(frozenset(), -1)
        return ((mine != none) & (theirs != none) & (mine != theirs)).astype(np.float64)


def pair_features(cosine: float, a: TextEvidence, b: TextEvidence) -> tuple[float, ...]:
    """The signals, in the order of FEATURES."""
    return tuple(features_of_pairs(np.array([cosine]), Pairs.of([a], [[b]]))[0].tolist())


def features_of_pairs(cosines: np.ndarray, pairs: Pairs) -> np.ndarray:
    """The signals of each of PAIRS, one row a pair, in their order (COSINES: of those
    pairs). The shingles they share are counted in one compiled pass; the rest is computed
    for all pairs at once."""
    text_counts, other_counts = (np.array([text.counts for text in texts], dtype=np.int64)
                                 .reshape(-1, len(SHINGLE_KINDS)) for texts in (pairs.texts, pairs.others))
    shared = _kernels().shared_shingles(
        _joined([text.shingles for text in pairs.texts]),
        np.cumsum([text.shingles.size for text in pairs.texts], dtype=np.int64),
        _joined([other.shingles for other in pairs.others]),
        np.cumsum(other_counts, dtype=np.int64).reshape(other_counts.shape), pairs.first, pairs.second)
    first_counts, counts = text_counts[pairs.first], other_counts[pairs.second]
    shortest, longest = pairs.words()
    return np.column_stack([cosines, _jaccards(first_counts, counts, shared),
                            _containments(first_counts[:, 1], counts[:, 1], shared[:, 1]),
                            pairs.numbers_differ(), shortest / np.maximum(longest, 1)]
                           ).reshape(len(pairs.first), len(FEATURES))


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)


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


def pair_kinds(language: str | None, long: bool) -> list[str]:
    """The weighings that may judge a pair, most specific first: its language and length
    (LONG: its longer text is long), any language at its length, and "*" for anything. Two
    headlines and a flash against the full post it was cut from are judged apart: in the
    second, one text contained in the other is the telling sign, and headlines never show it."""
    length = "/long" if long else ""
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

    def judge_many(self, features: np.ndarray, languages: list[str | None] | np.ndarray,
                   shortest_words: np.ndarray, longest_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each row of FEATURES, with its pair's language and word counts: the probability
        of the same claim, and the threshold it must reach."""
        probabilities, thresholds = np.zeros(len(features)), np.zeros(len(features))
        long = longest_words >= self.long_text_words
        each_language = np.array(languages, dtype=object)
        for language in set(languages):
            in_language = each_language == language
            for rows, kinds in ((in_language & ~long, pair_kinds(language, False)),
                                (in_language & long, pair_kinds(language, True))):
                if rows.any():
                    weighing = self.by_kind[next(kind for kind in kinds if kind in self.by_kind)]
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
    kinds_of = [set(pair_kinds(language, longest >= long_text_words)[:2]) - {"*"}
                for language, longest in zip(languages, longest_words.tolist(), strict=True)]
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
        """(the same-claim probability, whether it passes the threshold) of two texts in their languages."""
        probabilities, same_claim = self.judge_pairs(np.array([cosine]), Pairs.of([a], [[b]]), [language],
                                                     [other_language])
        return float(probabilities[0]), bool(same_claim[0])

    def judge_pairs(self, cosines: np.ndarray, pairs: Pairs, languages: list[str | None],
                    other_languages: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Judge PAIRS (COSINES: of each), their texts in LANGUAGES and their other texts in
        OTHER_LANGUAGES, all at once: (probabilities, whether each passes), one a pair.

        Texts in two languages must pass the weighing of each: a weighing fitted on English
        trusts the embedding cosine, which an English model gives any two Russian texts on
        one topic, so a Russian post taken for English would join them all."""
        features = features_of_pairs(cosines, pairs)
        shortest, longest = pairs.words()
        firsts = np.array(languages, dtype=object)[pairs.first]
        seconds = np.array(other_languages, dtype=object)[pairs.second]
        probabilities, thresholds = self.calibration.judge_many(features, firsts, shortest, longest)
        same_claim = probabilities >= thresholds
        if (differ := np.flatnonzero(firsts != seconds)).size:
            theirs, their_thresholds = self.calibration.judge_many(
                features[differ], seconds[differ], shortest[differ], longest[differ])
            probabilities[differ] = np.minimum(probabilities[differ], theirs)
            same_claim[differ] &= theirs >= their_thresholds
        return probabilities, same_claim
