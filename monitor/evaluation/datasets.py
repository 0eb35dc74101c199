"""The evaluation file formats, read with a clear error for every bad line (the good
lines are kept), and the conversion of the development data in ../shared/data into them.

- pairs: TSV with the header ``text_a<TAB>text_b<TAB>label`` (1 = same claim, 0 = not);
  a backslash escapes a line break, tab or backslash inside a text (\\n, \\t, \\\\);
- claims: JSON lines with ``id`` and ``text``; queries: ``id<TAB>text``;
  qrels: TREC lines ``query_id 0 claim_id 1``;
- clusters: JSON lines with ``id``, ``text``, ``gold`` and optional ``lang`` and ``time``,
  in arrival order.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import re
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from monitor.ingest.records import ImportProblem
from monitor.messages import UserError
from monitor.normalize import matching_text, readable_text
from monitor.similarity import TextEvidence, jaccard

csv.field_size_limit(sys.maxsize)


@dataclass
class Loaded:
    items: list = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


@dataclass(frozen=True)
class LabelledPair:
    text_a: str
    text_b: str
    label: int


@dataclass(frozen=True)
class ClusterItem:
    id: str
    text: str
    gold: str
    language: str | None = None
    time: datetime | None = None


def _lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from error


def read_pairs(path: Path) -> Loaded:
    lines = _lines(path)
    if not lines or lines[0].split("\t") != ["text_a", "text_b", "label"]:
        raise UserError(f"{path}: the first line must be the header text_a<TAB>text_b<TAB>label")
    loaded = Loaded()
    for number, row in enumerate(csv.reader(lines[1:], delimiter="\t", quoting=csv.QUOTE_NONE), start=2):
        where = f"line {number}"
        if not row:
            continue
        if len(row) != 3:
            loaded.problems.append(ImportProblem(where, f"expected 3 tab-separated columns, not {len(row)}"))
        elif row[2].strip() not in ("0", "1"):
            loaded.problems.append(ImportProblem(where, f"label must be 0 or 1, not {row[2]!r}"))
        elif not row[0].strip() or not row[1].strip():
            loaded.problems.append(ImportProblem(where, "a text is empty"))
        else:
            loaded.items.append(LabelledPair(unescape(row[0]), unescape(row[1]), int(row[2])))
    return loaded


def read_claims(path: Path) -> Loaded:
    loaded = Loaded()
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            claim_id, text = str(item["id"]), item["text"]
        except (ValueError, KeyError, TypeError) as error:
            loaded.problems.append(ImportProblem(f"line {number}", f"expected JSON with id, text: {error}"))
            continue
        if not isinstance(text, str) or not text.strip():
            loaded.problems.append(ImportProblem(f"line {number}", "text must be a non-empty string"))
            continue
        loaded.items.append((claim_id, text))
    return loaded


def read_queries(path: Path) -> Loaded:
    loaded = Loaded()
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip() or (number == 1 and line.split("\t")[:2] == ["id", "text"]):
            continue
        query_id, tab, text = line.partition("\t")
        if not tab or not text.strip():
            loaded.problems.append(ImportProblem(f"line {number}", "expected id<TAB>text"))
            continue
        loaded.items.append((query_id.strip(), text))
    return loaded


def read_qrels(path: Path) -> Loaded:
    """{query id: {relevant claim ids}} in ``items[0]`` (no items when nothing is relevant)."""
    relevant: dict[str, set[str]] = defaultdict(set)
    loaded = Loaded()
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4 or not fields[3].lstrip("-").isdecimal():
            loaded.problems.append(ImportProblem(f"line {number}", "expected 'query_id 0 claim_id 1'"))
            continue
        if int(fields[3]) > 0:
            relevant[fields[0]].add(fields[2])
    if relevant:
        loaded.items.append(relevant)
    return loaded


def read_cluster_items(path: Path) -> Loaded:
    loaded = Loaded()
    for number, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            item = json.loads(line)
            when = item.get("time")
            parsed = ClusterItem(str(item["id"]), item["text"], str(item["gold"]), item.get("lang"),
                                 datetime.fromisoformat(when) if when else None)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            loaded.problems.append(ImportProblem(where, f"expected JSON with id, text, gold: {error}"))
            continue
        if not isinstance(parsed.text, str) or not parsed.text.strip():
            loaded.problems.append(ImportProblem(where, "text must be a non-empty string"))
            continue
        loaded.items.append(parsed)
    return loaded


# Conversion of ../shared/data

def paraphraser_pairs(path: Path) -> list[tuple[int, int, int, str, str, int]]:
    """(pair id, headline id 1, headline id 2, text 1, text 2, label) for the precise
    paraphrases (class 1, label 1) and the non-paraphrases (class -1, label 0); the loose
    paraphrases (class 0) are neither and are left out."""
    raw = Path(path).read_text(encoding="utf-8")
    # The file declares encoding 'UTF8', which ElementTree rejects.
    root = ElementTree.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", raw))
    pairs = []
    for element in root.iter("paraphrase"):
        value = {item.get("name"): item.text or "" for item in element.iter("value")}
        if value["class"] in ("1", "-1"):
            pairs.append((int(value["id"]), int(value["id_1"]), int(value["id_2"]), value["text_1"].strip(),
                          value["text_2"].strip(), 1 if value["class"] == "1" else 0))
    return pairs


def is_dev(pair_id: int) -> bool:
    """One pair in five is held out from calibration to measure on."""
    return pair_id % 5 == 0


def write_pairs(path: Path, pairs: list[tuple[str, str, int]]) -> None:
    path.write_text("text_a\ttext_b\tlabel\n" + "".join(
        f"{escape(a)}\t{escape(b)}\t{label}\n" for a, b, label in pairs), encoding="utf-8")


# A text's line breaks matter (a channel's signature is a line of its own), so a TSV cell
# keeps them escaped as PostgreSQL's text COPY format does: \n, \t, \\.
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_ESCAPED = re.compile(r"\\(.)")
_UNESCAPES = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in text)


def unescape(cell: str) -> str:
    return _ESCAPED.sub(lambda found: _UNESCAPES.get(found.group(1), found.group(0)), cell)


def paraphraser_clusters(pairs: list[tuple[int, int, int, str, str, int]]) -> list[dict]:
    """The headlines of these pairs, grouped by precise paraphrase (connected components),
    in the order of their ids (the corpus' own order of collection)."""
    texts = {}
    for _, first, second, text_1, text_2, _ in pairs:
        texts[first], texts[second] = text_1, text_2
    group = joined_groups([(node, node) for node in texts]
                          + [(first, second) for _, first, second, *_, label in pairs if label])
    return [{"id": str(node), "text": texts[node], "gold": f"g{group[node]}", "lang": "ru"}
            for node in sorted(texts)]


def joined_groups(edges: list[tuple[Hashable, Hashable]]) -> dict[Hashable, int]:
    """Each node of EDGES with the number of its group: the nodes that edges join, directly
    or through others (the graph's connected components)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    number: dict[Hashable, int] = {}
    for first, second in edges:
        number.setdefault(first, len(number))
        number.setdefault(second, len(number))
    graph = coo_matrix((np.ones(len(edges)), ([number[first] for first, _ in edges],
                                              [number[second] for _, second in edges])),
                       shape=(len(number), len(number)))
    labels = connected_components(graph, directed=False)[1]
    return {node: int(labels[position]) for node, position in number.items()}


def write_jsonl(path: Path, items: list[dict]) -> None:
    path.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")


CHECKTHAT = Path("claims") / "checkthat22-en"
# Wrong claims fitted on for each tweet: ten ranked the right claim higher than three
# (cross-validated MAP@5 0.891 against 0.881, docs/quality.md).
NEGATIVES_PER_QUERY = 10


def checkthat_claim_text(claim: dict) -> str:
    """A fact-check's title and its claim: both say what is being checked."""
    return f"{claim['title'].strip()}. {claim['vclaim'].strip()}"


def checkthat_claimreview_feed(vclaims: Path) -> dict:
    """The CheckThat! claims (Snopes fact-checks) as fact-checkers publish them: a Data Commons
    feed of ClaimReview, each claimReviewed the claim's title and text (as the evaluation
    files have it), rated False, dated in ISO 8601 where Snopes' date reads as one."""
    items = []
    for line in vclaims.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        claim = json.loads(line)
        try:
            published = datetime.strptime(claim.get("date") or "", "%d %B %Y").date().isoformat()
        except ValueError:
            published = None  # a few dates are bits of the article's text
        items.append({"@type": "DataFeedItem", "item": [{
            "@type": "ClaimReview", "url": f"https://www.snopes.com/fact-check/{claim['vclaim_id']}/",
            "claimReviewed": checkthat_claim_text(claim), "datePublished": published,
            "author": {"@type": "Organization", "name": "Snopes"},
            "reviewRating": {"@type": "Rating", "alternateName": "False"}}]})
    return {"@context": "https://schema.org", "@type": "DataFeed", "dataFeedElement": items}


def convert_shared_data(shared_data: Path, out: Path, encoder,
                        progress: Callable[[str, int, int], None] = lambda step, done, total: None
                        ) -> dict[str, int]:
    """Write every evaluation file into OUT; returns {file name: items written}. PROGRESS
    hears (step, done, total) as the texts are encoded, the step that takes minutes."""
    written: dict[str, int] = {}
    pairs = paraphraser_pairs(shared_data / "paraphrase" / "ru-paraphraser-train.xml")
    train = [pair for pair in pairs if not is_dev(pair[0])]
    dev = [pair for pair in pairs if is_dev(pair[0])]
    for name, chosen in (("paraphraser-train.tsv", train), ("paraphraser-dev.tsv", dev)):
        write_pairs(out / name, [(a, b, label) for *_, a, b, label in chosen])
        written[name] = len(chosen)
    clusters = paraphraser_clusters(dev)
    write_jsonl(out / "paraphraser-dev-clusters.jsonl", clusters)
    written["paraphraser-dev-clusters.jsonl"] = len(clusters)

    source = shared_data / CHECKTHAT
    claims = [json.loads(line) for line in (source / "vclaims.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    claim_texts = [checkthat_claim_text(claim) for claim in claims]
    write_jsonl(out / "checkthat-claims.jsonl", [{"id": claim["vclaim_id"], "text": text}
                                                 for claim, text in zip(claims, claim_texts, strict=True)])
    written["checkthat-claims.jsonl"] = len(claims)
    queries = read_queries(source / "train-dev-queries.tsv").items
    (out / "checkthat-queries.tsv").write_text("".join(f"{query_id}\t{' '.join(text.split())}\n"
                                                       for query_id, text in queries), encoding="utf-8")
    written["checkthat-queries.tsv"] = len(queries)
    for split in ("train", "dev"):
        lines = (source / f"{split}-qrels.tsv").read_text(encoding="utf-8")
        (out / f"checkthat-{split}-qrels.tsv").write_text(lines, encoding="utf-8")
        written[f"checkthat-{split}-qrels.tsv"] = len(lines.splitlines())

    relevant = read_qrels(source / "train-qrels.tsv").items[0]
    text_of = dict(queries)
    train_queries = [(query_id, text_of[query_id]) for query_id in relevant if query_id in text_of]
    claim_vectors = _encode(encoder, [readable_text(text) for text in claim_texts],
                            lambda done, total: progress("CheckThat! claims encoded", done, total))
    query_vectors = _encode(encoder, [readable_text(text) for _, text in train_queries],
                            lambda done, total: progress("CheckThat! tweets encoded", done, total))
    english = [pair for pairs in query_claim_pairs(
        train_queries, query_vectors, [claim["vclaim_id"] for claim in claims], claim_texts, claim_vectors,
        relevant) for pair in pairs]
    write_pairs(out / "checkthat-train-pairs.tsv", english)
    written["checkthat-train-pairs.tsv"] = len(english)

    reposts = telegram_repost_pairs(shared_data / "telegram" / "channels")
    write_pairs(out / "telegram-reposts-train.tsv", reposts)
    written["telegram-reposts-train.tsv"] = len(reposts)
    return {str(out / name): count for name, count in written.items()}


def query_claim_pairs(queries: list[tuple[str, str]], query_vectors: np.ndarray, claim_ids: list[str],
                      claim_texts: list[str], claim_vectors: np.ndarray, relevant: dict[str, set[str]]
                      ) -> list[list[tuple[str, str, int]]]:
    """For each of QUERIES (id, text): the query with each of its relevant claims (label 1),
    and with the NEGATIVES_PER_QUERY claims nearest by embedding that are not its own
    (label 0), the hard negatives a threshold has to separate."""
    position = {claim_id: n for n, claim_id in enumerate(claim_ids)}
    each = []
    for (query_id, text), vector in zip(queries, query_vectors, strict=True):
        mine = relevant.get(query_id, set())
        nearest = [n for n in (claim_vectors @ vector).argsort()[::-1][:NEGATIVES_PER_QUERY + 5]
                   if claim_ids[n] not in mine][:NEGATIVES_PER_QUERY]
        each.append([(text, claim_texts[position[claim_id]], 1) for claim_id in sorted(mine)
                     if claim_id in position] + [(text, claim_texts[n], 0) for n in nearest])
    return each


def _encode(encoder, texts: list[str], progress: Callable[[int, int], None], chunk: int = 512):
    vectors = []
    for start in range(0, len(texts), chunk):
        vectors.append(encoder.encode(texts[start : start + chunk]))
        progress(min(start + chunk, len(texts)), len(texts))
    return np.concatenate(vectors) if vectors else encoder.encode([])


# Posts from this day on are left to the tests (tests/test_worker_end_to_end.py).
TELEGRAM_HELD_OUT_FROM = "2024-12-01"
OPENING_CHARS = 50


def channel_posts(channels: Path) -> list[dict]:
    """Every post of the channel dumps in CHANNELS (``*_messages.json``: a JSON list of a
    channel's posts with ``sender_id``, ``channel``, ``message_id``, ``date``, ``text``)."""
    return [post for path in sorted(channels.glob("*_messages.json"))
            for post in json.loads(path.read_text(encoding="utf-8"))]


def telegram_repost_pairs(channels: Path, pairs_per_story: int = 3, negatives_per_positive: int = 3,
                          seed: int = 0) -> list[tuple[str, str, int]]:
    """Weakly labelled pairs of real channel posts, for the kind of pair headlines lack: a
    flash against the full post, a repost with the channel's additions.

    Same claim: two channels open with the same 50 letters and digits (five words or
    more). Not: two channels on the same day with different openings, at random, and,
    for each story, the post of another channel that day sharing most word stems with it
    (the same topic told apart: what keeps one event's coverage from becoming one
    cluster). Both labels are heuristics (a retold story opens differently, a shared
    opening can lead two stories), so these pairs calibrate, and the measured figures
    come from the labelled sets.
    """
    posts = [post for post in channel_posts(channels)
             if post["date"] < TELEGRAM_HELD_OUT_FROM and len(matching_text(post["text"]).split()) >= 5]
    opening = {id(post): matching_text(post["text"])[:OPENING_CHARS] for post in posts}
    by_opening, by_day = defaultdict(list), defaultdict(list)
    for post in posts:
        if len(opening[id(post)].split()) >= 5:
            by_opening[opening[id(post)]].append(post)
        by_day[post["date"][:10]].append(post)
    stems = {id(post): TextEvidence.of(post["text"]).stems for post in posts}
    same, same_topic = [], []
    for story in by_opening.values():
        same += [(a["text"], b["text"], 1) for a, b in itertools.combinations(story, 2)
                 if a["sender_id"] != b["sender_id"]][:pairs_per_story]
        first = story[0]
        others = [post for post in by_day[first["date"][:10]]
                  if post["sender_id"] != first["sender_id"] and opening[id(post)] != opening[id(first)]]
        if others and len({post["sender_id"] for post in story}) > 1:
            closest = max(others, key=lambda post: jaccard(stems[id(first)], stems[id(post)]))
            same_topic.append((first["text"], closest["text"], 0))
    chooser, different = random.Random(seed), []
    days = sorted(day for day, found in by_day.items() if len(found) > 1)
    while days and len(different) < negatives_per_positive * len(same):
        a, b = chooser.sample(by_day[chooser.choice(days)], 2)
        if a["sender_id"] != b["sender_id"] and opening[id(a)] != opening[id(b)]:
            different.append((a["text"], b["text"], 0))
    return same + same_topic + different
