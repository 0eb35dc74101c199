"""Alert rules: every rule looks at a cluster and gives points and a reason in words.

Rules (weights and thresholds in settings, ALERT_*):
- spread: coordinated sharing, as research on coordinated link sharing measures it: the
  busiest stretch of the cluster no longer than the coordination interval, with at least N
  posts from M sources, and how far it travelled by forwards; opens an alert. Outlets
  retelling one story over hours are coverage, not coordination: they do not open one;
- growth: posts in the last hour against the cluster's own earlier rate;
- reach: views and forwards the sources report;
- novelty: a claim not seen before (no known claim, all of it within the window);
- known claim: the cluster repeats a claim fact-checkers already debunked; opens an
  alert at once, whatever its size;
- impersonation: posts attribute a call to come out (gather, march, join: приходите,
  шығыңдар...) to a watched person (monitor/alerts/calls.py), more so the more channels
  carry it and with a video; opens an alert at once. The clusters of one such call wave
  are joined into one (monitor/alerts/waves.py), so it is one alert;
- topic: posts mention a watched topic or phrase.

One alert per cluster. Growth updates its score, reasons and history; nothing changed,
no event (no duplicate notification). A dismissed alert re-opens only once the cluster
has grown past ALERT_REOPEN_FACTOR times its size when dismissed.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import null, select
from sqlalchemy.orm import Session

from monitor.alerts.coordination import habitual_pairs, independent_sources
from monitor.alerts.known_claims import ClaimMatching, KnownClaimIndex
from monitor.alerts.watchlists import Reading, WatchHit, WatchPatterns
from monitor.alerts.waves import call_wave, join_wave
from monitor.db.alert_events import record_alert_event
from monitor.db.models import (
    Alert,
    AlertStatus,
    Cluster,
    ClusterLink,
    ClusterMembership,
    Post,
    Source,
    utcnow,
)
from monitor.wording import plural

DEBUNKED = ("deepfake", "impersonation", "false_claim", "misleading")


@dataclass(frozen=True)
class AlertPolicy:
    min_posts: int = 5
    min_sources: int = 3
    window: timedelta = timedelta(hours=24)
    coordination: timedelta = timedelta(minutes=60)
    habitual_coposts: int = 3  # co-posted that often before: one actor (0: every source counts)
    habit_window: timedelta = timedelta(days=30)
    growth_window: timedelta = timedelta(hours=1)
    growth_factor: float = 3.0
    reach_min_views: int = 50_000
    known_claim_min_overlap: float = 0.5
    reopen_factor: float = 2.0
    extra_calls_to_action: tuple[str, ...] = ()
    weights: dict[str, float] = field(default_factory=lambda: {
        "spread": 1.0, "growth": 2.0, "reach": 2.0, "novelty": 1.0, "known_claim": 20.0,
        "impersonation": 25.0, "topic": 3.0, "recycled_media": 10.0})
    claim_matching: ClaimMatching | None = None  # None: known claims by wording only

    @classmethod
    def from_settings(cls, settings) -> "AlertPolicy":
        return cls(
            settings.alert_min_posts, settings.alert_min_sources,
            timedelta(hours=settings.alert_window_hours),
            timedelta(minutes=settings.alert_coordination_minutes),
            settings.alert_habitual_coposts, timedelta(days=settings.alert_habit_days),
            timedelta(hours=settings.alert_growth_window_hours),
            settings.alert_growth_factor, settings.alert_reach_min_views,
            settings.alert_known_claim_min_overlap, settings.alert_reopen_factor,
            tuple(word.strip() for word in settings.alert_call_to_action_words.split(",") if word.strip()),
            {rule: getattr(settings, f"alert_weight_{rule}") for rule in
             ("spread", "growth", "reach", "novelty", "known_claim", "impersonation", "topic",
              "recycled_media")},
            ClaimMatching.from_settings(settings))


@dataclass(frozen=True)
class Signal:
    rule: str
    points: float
    reason: str
    opens: bool = False  # enough on its own to open an alert
    claim_id: int | None = None  # the known claim repeated (webhook payloads carry its ClaimReview)


@dataclass(frozen=True)
class Assessment:
    cluster_id: int
    signals: list[Signal]
    post_count: int
    source_count: int

    @property
    def score(self) -> float:
        return round(sum(signal.points for signal in self.signals), 2)

    @property
    def opens(self) -> bool:
        return any(signal.opens for signal in self.signals)

    @property
    def reasons(self) -> list[str]:
        return [signal.reason for signal in self.signals if signal.points > 0 or signal.opens]

    def breakdown(self) -> list[dict]:
        return [{"rule": s.rule, "points": round(s.points, 2), "opens": s.opens, "reason": s.reason}
                | ({"claim_id": s.claim_id} if s.claim_id is not None else {}) for s in self.signals]


@dataclass(frozen=True)
class Burst:
    """The busiest stretch of a cluster's timeline no longer than the rule's window."""

    posts: int
    sources: int
    start: datetime
    end: datetime
    source_ids: frozenset[int] = frozenset()

    def describe(self) -> str:
        hours = (self.end - self.start).total_seconds() / 3600
        return (f"{plural(self.posts, 'post')} from {plural(self.sources, 'source')} within {hours:.1f} h "
                f"({self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC)")


def busiest_window(timeline: list[tuple[datetime, int]], window: timedelta) -> Burst | None:
    """Sliding window over (published_at, source_id) pairs; the one with most sources, then posts."""
    timeline = sorted(timeline)
    best: Burst | None = None
    in_window: Counter[int] = Counter()
    left = 0
    for right, (published, source_id) in enumerate(timeline):
        in_window[source_id] += 1
        while published - timeline[left][0] > window:
            old_source = timeline[left][1]
            in_window[old_source] -= 1
            if not in_window[old_source]:
                del in_window[old_source]
            left += 1
        if best is None or (len(in_window), right - left + 1) > (best.sources, best.posts):
            best = Burst(right - left + 1, len(in_window), timeline[left][0], published, frozenset(in_window))
    return best


def forwarding_depth(edges: set[tuple[str, str]]) -> int:
    """The longest chain of forwards (origin → channel → channel ...), in hops."""
    following = defaultdict(set)
    for origin, channel in edges:
        if origin != channel:
            following[origin].add(channel)

    def depth(node: str, seen: frozenset) -> int:
        return max((1 + depth(nxt, seen | {nxt}) for nxt in following[node] if nxt not in seen), default=0)

    return max((depth(origin, frozenset([origin])) for origin in list(following)), default=0)


def assess(session: Session, cluster_id: int, policy: AlertPolicy, patterns: WatchPatterns,
           known_claims: KnownClaimIndex) -> Assessment:
    """Every rule's points and reason for one cluster, from what is stored now."""
    # The columns the rules read, not ORM rows: a wave's cluster holds thousands of posts.
    # Their texts only for the watchlists: with no one watched, they are not read at all.
    posts = session.execute(
        select(Post.published_at, Post.source_id, Post.forwarded_from_id, Post.views, Post.forwards,
               Post.media_kind, Post.text if patterns.watching else null().label("text"),
               Source.telegram_id, Source.key)
        .join(ClusterMembership, ClusterMembership.post_id == Post.id)
        .join(Source, Source.id == Post.source_id).where(ClusterMembership.cluster_id == cluster_id)
    ).all()
    timeline = sorted((post.published_at, post.source_id) for post in posts)
    weights, signals = policy.weights, []

    coordinated = busiest_window(timeline, policy.coordination)
    if coordinated is not None:
        # The reason opens with the cluster's spread over the window, then its coordinated part.
        minutes = policy.coordination.total_seconds() / 60
        coverage = busiest_window(timeline, policy.window)
        reason = coverage.describe()
        if (coverage.posts, coverage.sources) != (coordinated.posts, coordinated.sources):
            reason += (f"; {plural(coordinated.posts, 'post')} from {plural(coordinated.sources, 'source')} "
                       f"within {minutes:g} min")
        actors = coordinated.sources
        if coordinated.posts >= policy.min_posts and actors >= policy.min_sources and policy.habitual_coposts:
            pairs = habitual_pairs(session, set(coordinated.source_ids), cluster_id,
                                   coordinated.start - policy.habit_window, policy.coordination)
            actors = independent_sources(set(coordinated.source_ids), pairs, policy.habitual_coposts)
            if actors < coordinated.sources:
                reason += (f" ({actors} independent: channels that habitually repost each other "
                           "count once)")
        spreads = coordinated.posts >= policy.min_posts and actors >= policy.min_sources
        hops = forwarding_depth({(post.forwarded_from_id, _channel_id(post.telegram_id, post.key))
                                 for post in posts if post.forwarded_from_id})
        reason += f"; forwarded along {hops} hop{'s' if hops > 1 else ''}" if hops else ""
        points = weights["spread"] * actors * math.log2(1 + coordinated.posts) * (1 + 0.25 * hops)
        signals.append(Signal("spread", points if spreads else 0.0,
                              reason if spreads else f"{reason}: below {policy.min_posts} posts from "
                              f"{policy.min_sources} independent sources within {minutes:g} min",
                              opens=spreads))

    if growth := _growth(timeline, policy):
        signals.append(growth)

    views = sum(post.views or 0 for post in posts)
    forwards = sum(post.forwards or 0 for post in posts)
    if views >= policy.reach_min_views:
        signals.append(Signal("reach", weights["reach"] * math.log10(10 * views / policy.reach_min_views),
                              f"reach {views:,} views and {forwards:,} forwards"))

    repeated = known_claims.matches_cluster(session, session.get(Cluster, cluster_id),
                                            policy.known_claim_min_overlap)
    known = [match for match in repeated
             if match.claim.cluster_id != cluster_id and match.claim.label in DEBUNKED]
    for match in known[:1]:
        signals.append(Signal("known_claim", weights["known_claim"] * match.score,
                              _repeats(match.claim, match.how), opens=True, claim_id=match.claim.id))
    if timeline and not known and timeline[-1][0] - timeline[0][0] <= policy.window:
        signals.append(Signal("novelty", weights["novelty"],
                              f"a claim not seen before (first post {timeline[0][0]:%Y-%m-%d %H:%M} UTC)"))

    links = select(ClusterLink.kind, ClusterLink.reason).where(ClusterLink.cluster_id == cluster_id)
    for kind, reason in session.execute(links.order_by(ClusterLink.id)):
        signals.append(Signal("recycled_media", weights["recycled_media"], reason,
                              opens=kind == "recycled_video"))

    texts = [post.text for post in posts]
    for hit in patterns.hits(texts):
        if hit.kind == "person" and hit.calls_to_action:
            signals.append(_impersonation(hit, posts, [patterns.read(text) for text in texts], weights))
        elif hit.kind == "person":
            signals.append(Signal("topic", weights["topic"],
                                  f"mentions watched person {hit.name} in {hit.posts} posts"))
        else:
            signals.append(Signal("topic", weights["topic"],
                                  f"mentions watched topic {hit.name} in {hit.posts} posts"))
    return Assessment(cluster_id, signals, len(posts), len({post.source_id for post in posts}))


def _repeats(claim, how: str) -> str:
    """The known claim a cluster repeats: the fact-check, its rating and link where it has one."""
    label = claim.label.replace("_", " ")
    if claim.url is None:
        return f"repeats known claim {claim.id} ({label}, recorded by {claim.created_by}): {how}"
    checked = f"fact-checked by {claim.author}" if claim.author else f"recorded by {claim.created_by}"
    when = f", {claim.published_at:%Y-%m-%d}" if claim.published_at else ""
    rating = f"rated \u201c{claim.rating}\u201d ({label})" if claim.rating else label
    return f"repeats known claim {claim.id}, {checked} ({rating}{when}): {claim.url}; {how}"


def _impersonation(hit: WatchHit, posts, readings: list[Reading], weights: dict[str, float]) -> Signal:
    """More points the more channels carry the call; a video counts in the posts that carry it."""
    calling = [post for post, reading in zip(posts, readings, strict=True) if hit.entry_id in reading.calls]
    sources = len({post.source_id for post in calling})
    videos = sum(1 for post in calling if post.media_kind == "video")
    with_video = f"; video attached ({videos} post{'s' if videos > 1 else ''})" if videos else ""
    points = weights["impersonation"] * math.log2(1 + sources) * (1.5 if videos else 1.0)
    return Signal("impersonation", points,
                  f"attributes a call to come out to watched person {hit.name} in {len(calling)} "
                  f"post{'s' if len(calling) > 1 else ''} from {sources} source{'s' if sources > 1 else ''}"
                  f"{with_video}", opens=True)


def _growth(timeline: list[tuple[datetime, int]], policy: AlertPolicy) -> Signal | None:
    """Posts in the latest growth window against the cluster's own rate before it."""
    if len(timeline) < 3:
        return None
    recent_start = timeline[-1][0] - policy.growth_window
    recent = sum(1 for published, _ in timeline if published > recent_start)
    earlier = len(timeline) - recent
    if earlier == 0 or recent < 3:
        return None
    earlier_hours = max((recent_start - timeline[0][0]).total_seconds() / 3600, 1.0)
    window_hours = policy.growth_window.total_seconds() / 3600
    ratio = (recent / window_hours) / (earlier / earlier_hours)
    if ratio < policy.growth_factor:
        return None
    times = f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.1f}"
    before = f"{earlier_hours / 24:,.0f} days" if earlier_hours >= 48 else f"{earlier_hours:,.0f} h"
    return Signal("growth", policy.weights["growth"] * math.log2(ratio),
                  f"{plural(recent, 'post')} in the last {window_hours:g} h against "
                  f"{plural(earlier, 'post')} in the {before} before: {times}× its earlier rate")


def _channel_id(telegram_id: int | None, key: str) -> str:
    # Forwards name their origin by the marked channel id; a channel's own key may be its @username.
    return f"-100{telegram_id}" if telegram_id else key


def evaluate_alerts(session: Session, cluster_ids: list[int], policy: AlertPolicy) -> list[int]:
    """Open, update or re-open the alerts of the given clusters; return the ids of new alert events."""
    patterns = WatchPatterns.load(session, policy.extra_calls_to_action)
    known_claims = KnownClaimIndex.load(session, policy.claim_matching)
    merge_event_ids, events = [], []
    for cluster_id in dict.fromkeys(cluster_ids):
        if session.get(Cluster, cluster_id).merged_into_id is not None:
            continue  # joined a wave earlier in this round, and assessed with it
        wave = call_wave(session, cluster_id, patterns)
        if wave is not None:
            cluster_id, merged = join_wave(session, cluster_id, *wave, policy.window)
            merge_event_ids += merged
        assessment = assess(session, cluster_id, policy, patterns, known_claims)
        event = _open_or_update(session, assessment, policy)
        if event is not None:
            events.append(event)
        if wave is not None:
            _mark_wave(session, cluster_id, wave[0])
    session.flush()
    return merge_event_ids + [event.id for event in events]


def _mark_wave(session: Session, cluster_id: int, key: str) -> None:
    alert = session.scalar(select(Alert).where(Alert.cluster_id == cluster_id))
    if alert is not None and alert.wave_key is None:
        alert.wave_key = key
        session.flush()


def _open_or_update(session: Session, assessment: Assessment, policy: AlertPolicy):
    alert = session.scalar(select(Alert).where(Alert.cluster_id == assessment.cluster_id))
    now = utcnow()
    reasons = assessment.reasons
    if alert is None:
        if not assessment.opens:
            return None
        alert = Alert(cluster_id=assessment.cluster_id, opened_at=now)
        session.add(alert)
        kind = "alert.opened"
    elif alert.status is AlertStatus.merged:
        return None
    elif (alert.score, alert.reasons, alert.post_count) == (assessment.score, reasons, assessment.post_count):
        return None  # nothing new: no duplicate notification
    elif alert.status is AlertStatus.dismissed:
        dismissed_at = alert.dismissed_post_count or alert.post_count
        if assessment.post_count < policy.reopen_factor * dismissed_at:
            _store(alert, assessment, reasons, now)  # kept current, quietly
            return None
        alert.status, alert.dismissed_post_count = AlertStatus.open, None
        reasons = [f"re-opened: grew from {dismissed_at} to {assessment.post_count} posts since it was "
                   "dismissed", *reasons]
        kind = "alert.reopened"
    else:
        kind = "alert.updated"
    _store(alert, assessment, reasons, now)
    session.flush()
    return record_alert_event(session, alert, kind, now)


def _store(alert: Alert, assessment: Assessment, reasons: list[str], now: datetime) -> None:
    alert.score, alert.reasons, alert.breakdown = assessment.score, reasons, assessment.breakdown()
    alert.post_count, alert.source_count, alert.updated_at = (assessment.post_count, assessment.source_count,
                                                              now)
