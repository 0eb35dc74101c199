"""`monitor eval alerts`: the alert queue a stream of posts produces, and how labelled call
waves hidden in it fare.

The stream's posts and the waves' posts are replayed together in publication order
through the whole pipeline (the caller's PUSH stores a batch and runs every stage on it).
A batch ends after each wave post, so that "opened by its Nth post" is read right after
that post. The report says, for the ordinary stream, how many alerts open per 1,000 posts
and by which rule; for each wave, whether exactly one alert holds its posts, how many it
holds, after how many of its posts it opened and its rank in the queue.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.db.models import Alert, AlertStatus, Cluster, ClusterMembership, Post, Source
from monitor.db.session import unit_of_work
from monitor.evaluation.datasets import Loaded
from monitor.ingest.jsonl import JsonlPost
from monitor.ingest.records import ImportProblem, PostRecord
from monitor.review.queries import alert_queue

BATCH = 64
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class WavePost:
    record: PostRecord
    wave: str | None  # the labelled wave it belongs to; None: a hard negative


def read_wave_posts(path: Path) -> Loaded:
    """JSON lines in the import schema (docs/import-format.md) with a ``wave`` field: the
    wave's name, or null for a post that must not alert (a hard negative)."""
    loaded = Loaded()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, got {type(data).__name__}")
            wave = data.get("wave")
            if wave is not None and not isinstance(wave, str):
                raise ValueError("field 'wave': a name (string) or null")
            loaded.items.append(WavePost(JsonlPost.model_validate(data).to_record(), wave))
        except ValueError as error:  # JSONDecodeError and pydantic's ValidationError are ValueErrors
            loaded.problems.append(ImportProblem(f"line {number}", str(error).splitlines()[0]))
    return loaded


def _key(record: PostRecord) -> tuple[str, str]:
    return record.source_key, record.external_id


def replay(stream: list[PostRecord], waves: list[WavePost], push: Callable[[list[PostRecord]], None],
           sessions: sessionmaker[Session], progress: Callable[[int, int], None] = lambda done, total: None
           ) -> dict:
    """Replay STREAM and WAVES in publication order through PUSH; return the report."""
    wave_of = {_key(post.record): post.wave for post in waves}
    posts = sorted([*stream, *(post.record for post in waves)],
                   key=lambda record: record.published_at or EPOCH)
    seen_in_wave: Counter[str] = Counter()
    opened_after: dict[str, int] = {}
    batch: list[PostRecord] = []
    for done, record in enumerate(posts, start=1):
        batch.append(record)
        wave = wave_of.get(_key(record))
        if wave is None and len(batch) < BATCH and done < len(posts):
            continue
        push(batch)
        batch = []
        progress(done, len(posts))
        if wave is not None:
            seen_in_wave[wave] += 1
            if wave not in opened_after and _alerts_holding(sessions, [_key(record)]):
                opened_after[wave] = seen_in_wave[wave]
    return _report(sessions, len(stream), waves, opened_after)


def _alerts_holding(sessions: sessionmaker[Session],
                    keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The alert id each post (source key, external id) is in, for the posts in one."""
    wanted = set(keys)
    with unit_of_work(sessions) as session:
        rows = session.execute(
            select(Source.key, Post.external_id, Alert.id)
            .join(Post, Post.source_id == Source.id)
            .join(ClusterMembership, ClusterMembership.post_id == Post.id)
            .join(Alert, Alert.cluster_id == ClusterMembership.cluster_id)
            .where(Alert.status != AlertStatus.merged,
                   Post.external_id.in_({external_id for _, external_id in wanted}))).all()
    return {(source, external_id): alert_id for source, external_id, alert_id in rows
            if (source, external_id) in wanted}


def _report(sessions: sessionmaker[Session], stream_posts: int, waves: list[WavePost],
            opened_after: dict[str, int]) -> dict:
    holding = _alerts_holding(sessions, [_key(post.record) for post in waves])
    with unit_of_work(sessions) as session:
        alerts = alert_queue(session)
        clusters = session.scalar(select(func.count()).select_from(Cluster)
                                  .where(Cluster.merged_into_id.is_(None)))
    rules = {alert["id"]: [rule["rule"] for rule in alert["rules"] if rule["opens"]] for alert in alerts}
    score = {alert["id"]: alert["score"] for alert in alerts}
    rank = {alert["id"]: position for position, alert in enumerate(alerts, start=1)}
    by_wave: dict[str, list[WavePost]] = defaultdict(list)
    for post in waves:
        by_wave[post.wave].append(post)
    wave_of = {_key(post.record): post.wave for post in waves}
    wave_alerts = {alert_id for key, alert_id in holding.items() if wave_of[key] is not None}
    negative_alerts = {holding[key] for key, wave in wave_of.items() if wave is None and key in holding}
    ordinary = [alert_id for alert_id in rank if alert_id not in wave_alerts | negative_alerts]
    best_ordinary = min((rank[alert_id] for alert_id in ordinary), default=None)
    report = {
        "posts": stream_posts + len(waves), "stream_posts": stream_posts, "clusters": clusters,
        "alerts": len(alerts),
        "stream_alerts": len(ordinary),
        "stream_alerts_per_1000": _per_thousand(len(ordinary), stream_posts),
        "stream_alerts_per_1000_by_rule": _by_rule([rules[a] for a in ordinary], stream_posts),
        "hard_negatives": len(by_wave.get(None, [])),
        "hard_negative_alerts": len(negative_alerts),
        "waves": {},
    }
    for name, posts in sorted((name, posts) for name, posts in by_wave.items() if name is not None):
        held = Counter(holding[_key(post.record)] for post in posts if _key(post.record) in holding)
        main, in_main = held.most_common(1)[0] if held else (None, 0)
        report["waves"][name] = {
            "posts": len(posts), "sources": len({post.record.source_key for post in posts}),
            "alerts": len(held), "one_alert": len(held) == 1, "posts_in_alert": in_main,
            "opened_after_posts": opened_after.get(name),
            "rank": rank.get(main), "score": score.get(main),
            "above_every_stream_alert": main is not None and (best_ordinary is None
                                                              or rank[main] < best_ordinary),
        }
    return report


def _per_thousand(count: int, posts: int) -> float:
    return round(1000 * count / posts, 2) if posts else 0.0


def _by_rule(opened_by: list[list[str]], posts: int) -> dict[str, float]:
    counts = Counter(rule for rules in opened_by for rule in set(rules))
    return {rule: _per_thousand(count, posts) for rule, count in sorted(counts.items())}
