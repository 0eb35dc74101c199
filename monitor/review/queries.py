"""Read models for the review UI and API: plain dataclasses, no web framework."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from monitor.alerts.known_claims import ClaimMatch, ClaimMatching, KnownClaimIndex
from monitor.db.expressions import fold_for_search, search_fold
from monitor.db.models import (
    Alert,
    AlertStatus,
    AuditEntry,
    Cluster,
    ClusterLink,
    ClusterMembership,
    ClusterNote,
    MediaFile,
    Post,
    PostMedia,
    ReviewDecision,
    Role,
    Source,
    User,
)
from monitor.normalize import readable_text
from monitor.review.decisions import latest_decision


@dataclass(frozen=True)
class AlertFilters:
    status: AlertStatus | None = AlertStatus.open
    label: str | None = None  # the label of the newest review decision
    language: str | None = None  # some post of the cluster is in this language
    source_id: int | None = None  # some post of the cluster comes from this source
    since: datetime | None = None  # updated at or after
    until: datetime | None = None  # updated before
    assignee_id: int | None = None
    unassigned: bool = False


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    representative_text: str
    label: str | None
    media: MediaFile | None = None  # the photo or video its posts carry most
    decision: ReviewDecision | None = None  # the newest: who decided, when and why


@dataclass(frozen=True)
class AlertPage:
    rows: list[AlertRow]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class ForwardEdge:
    origin: str  # the channel the posts were forwarded from
    source: str  # the channel that forwarded them
    posts: int


@dataclass(frozen=True)
class SharedMedia:
    kind: str
    media_id: str
    posts_here: int
    posts_in_all: int  # across the whole store: the same file reposted elsewhere


@dataclass(frozen=True)
class ChannelFirst:
    source: str
    first_posted_at: datetime | None


@dataclass(frozen=True)
class ClusterMedia:
    """A photo or video the cluster's posts carry (the same file, or one matched by its
    hashes: each post's own), which of them carry it, and when each channel first posted it."""

    media: MediaFile
    post_ids: list[int]
    channels: list[ChannelFirst]
    posts_in_all: int  # across the whole store


@dataclass(frozen=True)
class ClusterView:
    cluster: Cluster
    alert: Alert | None
    memberships: list[ClusterMembership]
    label: str | None = None
    decision: ReviewDecision | None = None  # the alert's newest: who decided, when and why
    # (hour, {source: posts}) for every hour from the first post to the last.
    timeline: list[tuple[datetime, dict[str, int]]] = field(default_factory=list)
    forwards: list[ForwardEdge] = field(default_factory=list)
    posts_with_media: int = 0
    media: list[SharedMedia] = field(default_factory=list)
    media_files: list[ClusterMedia] = field(default_factory=list)
    failed_media: dict[int, list[str]] = field(default_factory=dict)  # post id: why its media failed
    links: list[ClusterLink] = field(default_factory=list)  # recycled media: the earlier clusters
    notes: list[ClusterNote] = field(default_factory=list)
    known_claims: list[ClaimMatch] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)


@dataclass(frozen=True)
class PostPage:
    posts: list[Post]
    page: int
    pages: int
    total: int


def _latest_label():
    # The same as decisions.latest_label, as a correlated subquery for filtering the queue.
    return (select(ReviewDecision.label).where(ReviewDecision.alert_id == Alert.id)
            .order_by(ReviewDecision.id.desc()).limit(1).correlate(Alert).scalar_subquery())


def list_alerts(session: Session, filters: AlertFilters = AlertFilters(), page: int = 1,
                per_page: int = 50) -> AlertPage:
    """Alerts by score, highest first, narrowed by FILTERS."""
    label = _latest_label()
    conditions = []
    if filters.status is not None:
        conditions.append(Alert.status == filters.status)
    if filters.label is not None:
        conditions.append(label == filters.label)
    if filters.language is not None or filters.source_id is not None:
        post_matches = [ClusterMembership.cluster_id == Alert.cluster_id]
        if filters.language is not None:
            post_matches.append(Post.language == filters.language)
        if filters.source_id is not None:
            post_matches.append(Post.source_id == filters.source_id)
        conditions.append(exists(select(Post.id).join(ClusterMembership, ClusterMembership.post_id == Post.id)
                                 .where(*post_matches)))
    if filters.since is not None:
        conditions.append(Alert.updated_at >= filters.since)
    if filters.until is not None:
        conditions.append(Alert.updated_at < filters.until)
    if filters.assignee_id is not None:
        conditions.append(Alert.assignee_id == filters.assignee_id)
    if filters.unassigned:
        conditions.append(Alert.assignee_id.is_(None))

    total = session.scalar(select(func.count()).select_from(Alert).where(*conditions)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.execute(
        select(Alert, label)
        .options(joinedload(Alert.cluster).joinedload(Cluster.representative), joinedload(Alert.assignee))
        .where(*conditions)
        .order_by(Alert.score.desc(), Alert.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    media = most_carried_media(session, [alert.cluster_id for alert, _ in rows])
    decisions = latest_decisions(session, [alert.id for alert, _ in rows])
    return AlertPage([AlertRow(alert, _summary(alert.cluster.representative), alert_label,
                               media.get(alert.cluster_id), decisions.get(alert.id))
                      for alert, alert_label in rows], page, pages, total)


def latest_decisions(session: Session, alert_ids: list[int]) -> dict[int, ReviewDecision]:
    """Each of ALERT_IDS' newest review decision, for those that have one (one query for all)."""
    if not alert_ids:
        return {}
    newest = (select(func.max(ReviewDecision.id)).where(ReviewDecision.alert_id.in_(alert_ids))
              .group_by(ReviewDecision.alert_id))
    return {decision.alert_id: decision
            for decision in session.scalars(select(ReviewDecision).where(ReviewDecision.id.in_(newest)))}


def next_alert(session: Session, filters: AlertFilters, after_alert_id: int) -> Alert | None:
    """The first alert of the queue FILTERS make, AFTER_ALERT_ID aside: where a moderator
    goes once they have decided that one."""
    page = list_alerts(session, filters, 1, per_page=2)
    return next((row.alert for row in page.rows if row.alert.id != after_alert_id), None)


def most_carried_media(session: Session, cluster_ids: list[int]) -> dict[int, MediaFile]:
    """For each of CLUSTER_IDS with media, the file its posts carry most (one query for all)."""
    if not cluster_ids:
        return {}
    carried = session.execute(
        select(ClusterMembership.cluster_id, PostMedia.media_file_id, func.count())
        .join(PostMedia, PostMedia.post_id == ClusterMembership.post_id)
        .where(ClusterMembership.cluster_id.in_(cluster_ids), PostMedia.media_file_id.is_not(None))
        .group_by(ClusterMembership.cluster_id, PostMedia.media_file_id)).all()
    best: dict[int, tuple[int, int]] = {}
    for cluster_id, media_id, posts in carried:
        if cluster_id not in best or (posts, -media_id) > (best[cluster_id][1], -best[cluster_id][0]):
            best[cluster_id] = (media_id, posts)
    files = {media.id: media for media in session.scalars(
        select(MediaFile).where(MediaFile.id.in_([media_id for media_id, _ in best.values()])))}
    return {cluster_id: files[media_id] for cluster_id, (media_id, _) in best.items()}


def get_cluster(session: Session, cluster_id: int,
                claim_matching: ClaimMatching | None = None) -> ClusterView | None:
    cluster = session.get(Cluster, cluster_id, options=[joinedload(Cluster.representative),
                                                         joinedload(Cluster.alert)])
    if cluster is None:
        return None
    memberships = list(session.scalars(
        select(ClusterMembership)
        .join(Post, Post.id == ClusterMembership.post_id)
        .options(joinedload(ClusterMembership.post).joinedload(Post.source),
                 joinedload(ClusterMembership.post).selectinload(Post.revisions),
                 joinedload(ClusterMembership.post).selectinload(Post.media).joinedload(PostMedia.media_file))
        .where(ClusterMembership.cluster_id == cluster_id)
        .order_by(Post.published_at, Post.id)
    ).all())
    posts = [membership.post for membership in memberships]
    alert = cluster.alert
    decision = latest_decision(session, alert.id) if alert else None
    audit_objects = [("cluster", str(cluster_id))] + ([("alert", str(alert.id))] if alert else [])
    return ClusterView(
        cluster, alert, memberships,
        label=decision.label if decision else None,
        decision=decision,
        timeline=hourly_timeline(posts),
        forwards=forwarding_edges(posts, _channel_names(session, posts)),
        posts_with_media=sum(post.has_media for post in posts),
        media=shared_media(session, posts),
        media_files=cluster_media(session, posts),
        failed_media=failed_media(session, [post.id for post in posts]),
        links=list(session.scalars(select(ClusterLink).where(ClusterLink.cluster_id == cluster_id)
                                   .order_by(ClusterLink.id))),
        notes=list(session.scalars(select(ClusterNote).where(ClusterNote.cluster_id == cluster_id)
                                   .order_by(ClusterNote.id))),
        known_claims=KnownClaimIndex.load(session, claim_matching).matches_cluster(session, cluster),
        audit=list(session.scalars(
            select(AuditEntry).where(or_(*[(AuditEntry.object_type == kind) & (AuditEntry.object_id == key)
                                          for kind, key in audit_objects]))
            .order_by(AuditEntry.id))),
    )


def source_name(source: Source) -> str:
    return source.title or source.key


def hourly_timeline(posts: list[Post]) -> list[tuple[datetime, dict[str, int]]]:
    """Posts per hour by source, with the empty hours in between (a burst shows as a burst)."""
    counts: dict[datetime, Counter[str]] = defaultdict(Counter)
    for post in posts:
        if post.published_at is not None:
            hour = post.published_at.replace(minute=0, second=0, microsecond=0)
            counts[hour][source_name(post.source)] += 1
    if not counts:
        return []
    first, last = min(counts), max(counts)
    hours = int((last - first).total_seconds() // 3600) + 1
    if hours > 24 * 14:  # a long-lived cluster: show the hours that have posts only
        return [(hour, dict(counts[hour])) for hour in sorted(counts)]
    return [(first + timedelta(hours=n), dict(counts.get(first + timedelta(hours=n), {})))
            for n in range(hours)]


def forwarding_edges(posts: list[Post], names: dict[str, str] | None = None) -> list[ForwardEdge]:
    """Which channel took the claim from which, by the posts' forwarded-from headers.

    NAMES gives the titles of origins known as sources (a forward names its origin by id)."""
    names = names or {}
    edges = Counter((names.get(post.forwarded_from_id or "", post.forwarded_from), source_name(post.source))
                    for post in posts if post.forwarded_from)
    return [ForwardEdge(origin, source, n) for (origin, source), n in edges.most_common()]


def _channel_names(session: Session, posts: list[Post]) -> dict[str, str]:
    ids = {int(post.forwarded_from_id[4:]) for post in posts
           if post.forwarded_from_id and post.forwarded_from_id.startswith("-100")
           and post.forwarded_from_id[4:].isdecimal()}
    if not ids:
        return {}
    return {f"-100{source.telegram_id}": source_name(source)
            for source in session.scalars(select(Source).where(Source.telegram_id.in_(ids)))}


def shared_media(session: Session, posts: list[Post]) -> list[SharedMedia]:
    """Files (by their platform id) carried by the cluster's posts, with how often they occur."""
    here = Counter((post.media_kind, post.media_id) for post in posts if post.media_id)
    if not here:
        return []
    in_all = dict(session.execute(select(Post.media_id, func.count()).where(
        Post.media_id.in_([media_id for _, media_id in here])).group_by(Post.media_id)).all())
    return [SharedMedia(kind or "file", media_id, n, in_all.get(media_id, n))
            for (kind, media_id), n in here.most_common()]


def cluster_media(session: Session, posts: list[Post]) -> list[ClusterMedia]:
    """The media files of POSTS (in publication order), most carried first."""
    by_id = {post.id: post for post in posts}
    rows = session.execute(select(PostMedia.post_id, PostMedia.media_file_id).where(
        PostMedia.post_id.in_(list(by_id)), PostMedia.media_file_id.is_not(None))).all()
    carriers: dict[int, list[int]] = defaultdict(list)
    for post_id, media_id in rows:
        carriers[media_id].append(post_id)
    if not carriers:
        return []
    files = {media.id: media
             for media in session.scalars(select(MediaFile).where(MediaFile.id.in_(list(carriers))))}
    in_all = dict(session.execute(select(PostMedia.media_file_id, func.count()).where(
        PostMedia.media_file_id.in_(list(carriers))).group_by(PostMedia.media_file_id)).all())
    found = []
    for media_id, post_ids in carriers.items():
        ordered = sorted(post_ids, key=lambda post_id: (by_id[post_id].published_at, post_id))
        first: dict[str, datetime | None] = {}
        for post_id in ordered:
            first.setdefault(source_name(by_id[post_id].source), by_id[post_id].published_at)
        found.append(ClusterMedia(files[media_id], ordered, [ChannelFirst(*item) for item in first.items()],
                                  in_all.get(media_id, len(post_ids))))
    return sorted(found, key=lambda item: (-len(item.post_ids), item.media.id))


def failed_media(session: Session, post_ids: list[int]) -> dict[int, list[str]]:
    failed: dict[int, list[str]] = defaultdict(list)
    for post_id, error in session.execute(select(PostMedia.post_id, PostMedia.error).where(
            PostMedia.post_id.in_(post_ids), PostMedia.status == "failed").order_by(PostMedia.position)):
        failed[post_id].append(error)
    return dict(failed)


def search_posts(session: Session, query: str, page: int = 1, per_page: int = 50) -> PostPage:
    """Posts whose text or title contains QUERY, newest first: case-insensitive in every
    script (Cyrillic and Kazakh letters too, on SQLite as on PostgreSQL), and blind to
    invisible characters inside a word."""
    wanted = fold_for_search(query)
    condition = or_(search_fold(Post.text).contains(wanted, autoescape=True),
                    search_fold(Post.title).contains(wanted, autoescape=True))
    total = session.scalar(select(func.count()).select_from(Post).where(condition)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    posts = session.scalars(
        select(Post)
        .options(joinedload(Post.source), joinedload(Post.membership), selectinload(Post.revisions))
        .where(condition).order_by(Post.published_at.desc(), Post.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    return PostPage(list(posts), page, pages, total)


def audit_page(session: Session, page: int, per_page: int) -> tuple[list[AuditEntry], int, int]:
    """One page of the audit trail, newest first: its entries, the page shown (PAGE kept within
    the trail) and the number of pages."""
    total = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return list(entries), page, pages


def media_file(session: Session, sha256: str) -> MediaFile | None:
    return session.scalar(select(MediaFile).where(MediaFile.sha256 == sha256))


def alert_status(session: Session, cluster_id: int) -> AlertStatus | None:
    """The state of CLUSTER_ID's alert; None when it has none."""
    return session.scalar(select(Alert.status).where(Alert.cluster_id == cluster_id))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def list_moderators(session: Session) -> list[User]:
    """Active accounts that may review (moderators and admins): whom an alert can be given to."""
    return [user for user in session.scalars(select(User).where(User.active.is_(True)).order_by(User.name))
            if user.role.allows(Role.moderator)]


def _summary(post: Post | None, length: int = 280) -> str:
    if post is None:
        return ""
    text = readable_text(post.text)
    return text if len(text) <= length else text[: length - 1] + "…"


def alert_queue(session: Session, status: AlertStatus | None = None, with_posts: bool = False) -> list[dict]:
    """The alert queue as the UI orders it (score, highest first), each alert with its counts
    (``posts`` and ``post_count``), every rule's points and its reasons; WITH_POSTS, ``posts`` is
    the list of its posts as {source, id} instead. The clusters of an alert are its own and
    those merged into it (a call wave's)."""
    query = select(Alert).where(Alert.status != AlertStatus.merged).order_by(Alert.score.desc(), Alert.id)
    if status is not None:
        query = query.where(Alert.status == status)
    merged_into = dict(session.execute(select(Cluster.id, Cluster.merged_into_id)
                                       .where(Cluster.merged_into_id.is_not(None))).all())
    absorbed: Counter[int] = Counter()
    for cluster_id in merged_into:
        while cluster_id in merged_into:
            cluster_id = merged_into[cluster_id]
        absorbed[cluster_id] += 1
    queue = []
    for alert in session.scalars(query):
        entry = {"id": alert.id, "cluster_id": alert.cluster_id, "score": alert.score,
                 "status": alert.status.value, "clusters": 1 + absorbed[alert.cluster_id],
                 "posts": alert.post_count, "post_count": alert.post_count, "sources": alert.source_count,
                 "opened_at": alert.opened_at.isoformat(), "updated_at": alert.updated_at.isoformat(),
                 "rules": [{"rule": signal["rule"], "points": signal["points"], "opens": signal["opens"]}
                           for signal in alert.breakdown if signal["points"] or signal["opens"]],
                 "reasons": alert.reasons}
        if with_posts:
            rows = session.execute(
                select(Source.key, Post.external_id).join(Post, Post.source_id == Source.id)
                .join(ClusterMembership, ClusterMembership.post_id == Post.id)
                .where(ClusterMembership.cluster_id == alert.cluster_id).order_by(Post.published_at, Post.id))
            entry["posts"] = [{"source": key, "id": external_id} for key, external_id in rows]
        queue.append(entry)
    return queue
