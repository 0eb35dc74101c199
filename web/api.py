"""The JSON API under /api/v1: the UI's reads and actions for scripts and newsroom tools.

Bearer tokens only (scopes: read = viewer, review = moderator, admin). The OpenAPI
document at /api/v1/openapi.json is generated from the request and response models.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, g, request, url_for
from spectree import Response, SecurityScheme, SecuritySchemeData, SpecTree
from werkzeug.exceptions import HTTPException

from monitor.accounts.tokens import resolve_token
from monitor.accounts.users import active_user_named
from monitor.alerts.known_claims import ClaimMatching, add_known_claim, list_known_claims
from monitor.alerts.rules import AlertPolicy
from monitor.alerts.watchlists import add_entry, list_entries
from monitor.claims.export import alert_claimreview
from monitor.db.models import Alert, Role
from monitor.ingest.sources import list_sources
from monitor.news.sources import add_feed
from monitor.notify.delivery import list_deliveries, plan_test_delivery, redeliver
from monitor.notify.subscriptions import Filters, add_subscription, get_subscription, list_subscriptions
from monitor.review.clusters import add_note, merge_clusters, promote_to_known_claim, split_post
from monitor.review.decisions import assign, decide, latest_label, moderator
from monitor.review.queries import get_cluster, list_alerts, search_posts
from monitor.ssrf import TargetPolicy
from monitor.telegram.channels import add_channel
from web.access import actor_name, requires
from web.database import commit, current_settings, get_session
from web.schemas import (
    AlertList,
    AlertOut,
    AlertQuery,
    AssignIn,
    AuditOut,
    ChannelIn,
    ClaimReviewOut,
    ClusterOut,
    ClusterRef,
    DecisionIn,
    DeliveryList,
    DeliveryOut,
    DeliveryRef,
    ErrorOut,
    FeedIn,
    KnownClaimIn,
    KnownClaimList,
    KnownClaimMatchOut,
    KnownClaimOut,
    MediaFrameOut,
    MediaOut,
    MergeIn,
    NoteIn,
    NoteOut,
    PostList,
    PostOut,
    PromoteIn,
    RevisionOut,
    SearchQuery,
    SimilarIn,
    SimilarList,
    SimilarOut,
    SourceList,
    SourceOut,
    SplitIn,
    WatchlistEntryIn,
    WatchlistEntryOut,
    WatchlistOut,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from web.search import similar_posts
from workers.dispatch import deliver

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Not registered on the app: /openapi.json below serves the document, and spectree's own
# documentation pages would load scripts from CDNs.
spec = SpecTree(
    "flask", title="Claim monitor API", version="1", mode="strict",
    security_schemes=[SecurityScheme(name="token", data=SecuritySchemeData(type="http", scheme="bearer"))],
    security={"token": []},
)
ERRORS = {"HTTP_400": ErrorOut, "HTTP_401": ErrorOut, "HTTP_403": ErrorOut, "HTTP_404": ErrorOut}


def _responds(**models) -> Response:
    return Response(**models, **ERRORS)


@bp.get("/openapi.json")
def openapi():
    return spec.spec


@bp.before_request
def authenticate_token():
    if request.endpoint == "api.openapi":
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    holder = resolve_token(get_session(), secret.strip()) if scheme.lower() == "bearer" else None
    if holder is None:
        return {"error": "a valid API token is needed: Authorization: Bearer mon_..."}, 401, {
            "WWW-Authenticate": 'Bearer realm="monitor"'}
    get_session().commit()  # the token's last use
    g.api_holder = holder
    return None


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    return {"error": error.description}, error.code


# Reads (scope read)

@bp.get("/alerts")
@spec.validate(query=AlertQuery, resp=_responds(HTTP_200=AlertList), tags=["alerts"])
def alerts():
    query: AlertQuery = request.context.query
    result = list_alerts(get_session(), query.filters(), query.page)
    return AlertList(alerts=[_alert(row.alert, row.label, row.representative_text) for row in result.rows],
                     page=result.page, pages=result.pages, total=result.total)


@bp.get("/alerts/<int:alert_id>")
@spec.validate(resp=_responds(HTTP_200=AlertOut), tags=["alerts"])
def alert(alert_id: int):
    found = get_session().get(Alert, alert_id)
    if found is None:
        abort(404, f"no alert {alert_id}")
    return _alert(found)


@bp.get("/alerts/<int:alert_id>/claimreview")
@spec.validate(resp=_responds(HTTP_200=ClaimReviewOut, HTTP_409=ErrorOut), tags=["alerts"])
def claimreview(alert_id: int):
    """A confirmed alert with a fact-check link as schema.org ClaimReview (JSON-LD); 409 with
    the reason for one that is not confirmed or has no link."""
    document = alert_claimreview(get_session(), alert_id, current_settings().claimreview_publisher)
    return current_app.response_class(json.dumps(document, ensure_ascii=False),
                                      mimetype="application/ld+json")


@bp.get("/clusters/<int:cluster_id>")
@spec.validate(resp=_responds(HTTP_200=ClusterOut), tags=["clusters"])
def cluster(cluster_id: int):
    view = get_cluster(get_session(), cluster_id, ClaimMatching.from_settings(current_settings()))
    if view is None:
        abort(404, f"no cluster {cluster_id}")
    found = view.cluster
    return ClusterOut(
        id=found.id, claim=found.representative.text if found.representative else "",
        post_count=found.post_count, source_count=found.source_count, first_seen_at=found.first_seen_at,
        last_seen_at=found.last_seen_at, merged_into_id=found.merged_into_id,
        alert=_alert(view.alert, view.label) if view.alert else None,
        posts=[_post(membership.post, found.id) for membership in view.memberships],
        notes=[NoteOut.model_validate(note) for note in view.notes],
        known_claims=[KnownClaimMatchOut.model_validate(match) for match in view.known_claims],
        audit=[AuditOut.model_validate(entry) for entry in view.audit])


@bp.get("/posts/search")
@spec.validate(query=SearchQuery, resp=_responds(HTTP_200=PostList), tags=["search"])
def search():
    query: SearchQuery = request.context.query
    result = search_posts(get_session(), query.q, query.page)
    posts = [_post(post, post.membership.cluster_id if post.membership else None) for post in result.posts]
    return PostList(posts=posts, page=result.page, pages=result.pages, total=result.total)


@bp.post("/similar")
@spec.validate(json=SimilarIn, resp=_responds(HTTP_200=SimilarList), tags=["search"])
def similar():
    body: SimilarIn = request.context.json
    hits = similar_posts(current_settings(), body.text, body.limit)
    return SimilarList(results=[SimilarOut(post=_post(hit.post, hit.cluster_id), cluster_id=hit.cluster_id,
                                           score=hit.score, cosine=hit.cosine, jaccard=hit.jaccard,
                                           containment=hit.containment, same_claim=hit.same_claim)
                                for hit in hits])


@bp.get("/sources")
@spec.validate(resp=_responds(HTTP_200=SourceList), tags=["sources"])
def sources():
    found = list_sources(get_session())
    return SourceList(sources=[SourceOut.model_validate(source) for source in found])


@bp.get("/watchlist")
@spec.validate(resp=_responds(HTTP_200=WatchlistOut), tags=["watchlists"])
def watchlist():
    return WatchlistOut(entries=[WatchlistEntryOut.model_validate(e) for e in list_entries(get_session())])


@bp.get("/known-claims")
@spec.validate(resp=_responds(HTTP_200=KnownClaimList), tags=["known claims"])
def known_claims():
    return KnownClaimList(known_claims=[KnownClaimOut.model_validate(claim)
                                        for claim in list_known_claims(get_session())])


# Review actions (scope review)

@bp.post("/alerts/<int:alert_id>/decision")
@requires(Role.moderator)
@spec.validate(json=DecisionIn, resp=_responds(HTTP_200=AlertOut), tags=["alerts"])
def decision(alert_id: int):
    body = request.context.json.root
    event = decide(get_session(), alert_id, body.decision, actor_name(), label=getattr(body, "label", None),
                   note=body.note)
    commit([event.id])
    return _alert(get_session().get(Alert, alert_id))


@bp.post("/alerts/<int:alert_id>/assignee")
@requires(Role.moderator)
@spec.validate(json=AssignIn, resp=_responds(HTTP_200=AlertOut), tags=["alerts"])
def assignee(alert_id: int):
    body: AssignIn = request.context.json
    session = get_session()
    if session.get(Alert, alert_id) is None:
        abort(404, f"no alert {alert_id}")
    user = (None if body.user is None
            else moderator(active_user_named(session, body.user), f"named {body.user!r}"))
    found = assign(session, alert_id, user, actor_name())
    commit()
    return _alert(found)


@bp.post("/clusters/<int:cluster_id>/notes")
@requires(Role.moderator)
@spec.validate(json=NoteIn, resp=_responds(HTTP_201=NoteOut), tags=["clusters"])
def note(cluster_id: int):
    body: NoteIn = request.context.json
    added = add_note(get_session(), cluster_id, body.text, actor_name())
    commit()
    return NoteOut.model_validate(added), 201


@bp.post("/clusters/<int:cluster_id>/merge")
@requires(Role.moderator)
@spec.validate(json=MergeIn, resp=_responds(HTTP_200=ClusterRef), tags=["clusters"])
def merge(cluster_id: int):
    body: MergeIn = request.context.json
    outcome = merge_clusters(get_session(), cluster_id, body.other_cluster_id, actor_name(), body.reason,
                             AlertPolicy.from_settings(current_settings()))
    commit(outcome.event_ids)
    return ClusterRef(cluster_id=outcome.cluster_id)


@bp.post("/posts/<int:post_id>/split")
@requires(Role.moderator)
@spec.validate(json=SplitIn, resp=_responds(HTTP_200=ClusterRef), tags=["clusters"])
def split(post_id: int):
    body: SplitIn = request.context.json
    outcome = split_post(get_session(), post_id, actor_name(), body.reason,
                         AlertPolicy.from_settings(current_settings()))
    commit(outcome.event_ids)
    return ClusterRef(cluster_id=outcome.cluster_id)


@bp.post("/clusters/<int:cluster_id>/known-claim")
@requires(Role.moderator)
@spec.validate(json=PromoteIn, resp=_responds(HTTP_201=KnownClaimOut), tags=["clusters"])
def promote(cluster_id: int):
    body: PromoteIn = request.context.json
    claim = promote_to_known_claim(get_session(), cluster_id, body.label, actor_name(), text=body.text,
                                   url=body.url)
    commit()
    return KnownClaimOut.model_validate(claim), 201


@bp.post("/known-claims")
@requires(Role.moderator)
@spec.validate(json=KnownClaimIn, resp=_responds(HTTP_201=KnownClaimOut), tags=["known claims"])
def add_claim():
    body: KnownClaimIn = request.context.json
    claim = add_known_claim(get_session(), body.text, body.label, actor_name(), url=body.url)
    commit()
    return KnownClaimOut.model_validate(claim), 201


# Administration (scope admin)

@bp.post("/sources/feeds")
@requires(Role.admin)
@spec.validate(json=FeedIn, resp=_responds(HTTP_201=SourceOut), tags=["sources"])
def add_source():
    body: FeedIn = request.context.json
    source = add_feed(get_session(), body.url, body.interval_seconds, actor_name(), body.title)
    commit()
    return SourceOut.model_validate(source), 201


@bp.post("/sources/telegram")
@requires(Role.admin)
@spec.validate(json=ChannelIn, resp=_responds(HTTP_201=SourceOut), tags=["sources"])
def add_channel_source():
    body: ChannelIn = request.context.json
    source = add_channel(get_session(), body.channel, actor_name())
    commit()
    return SourceOut.model_validate(source), 201


@bp.post("/watchlist")
@requires(Role.admin)
@spec.validate(json=WatchlistEntryIn, resp=_responds(HTTP_201=WatchlistEntryOut), tags=["watchlists"])
def add_watchlist_entry():
    body: WatchlistEntryIn = request.context.json
    entry = add_entry(get_session(), body.kind, body.name, body.variants, actor_name(), body.note)
    commit()
    return WatchlistEntryOut.model_validate(entry), 201


@bp.get("/webhooks")
@requires(Role.admin)
@spec.validate(resp=_responds(HTTP_200=WebhookList), tags=["webhooks"])
def webhooks():
    found = list_subscriptions(get_session())
    return WebhookList(webhooks=[WebhookOut.model_validate(subscription) for subscription in found])


@bp.post("/webhooks")
@requires(Role.admin)
@spec.validate(json=WebhookIn, resp=_responds(HTTP_201=WebhookCreated), tags=["webhooks"])
def add_webhook():
    body: WebhookIn = request.context.json
    subscription = add_subscription(
        get_session(), body.url, body.events,
        Filters(body.min_score, body.labels, body.languages, body.source_ids),
        TargetPolicy.from_settings(current_settings()), actor_name())
    commit()
    return WebhookCreated.model_validate(subscription), 201


@bp.get("/webhooks/<int:subscription_id>/deliveries")
@requires(Role.admin)
@spec.validate(resp=_responds(HTTP_200=DeliveryList), tags=["webhooks"])
def deliveries(subscription_id: int):
    session = get_session()
    get_subscription(session, subscription_id)
    found = list_deliveries(session, subscription_id, 100)
    return DeliveryList(deliveries=[DeliveryOut.model_validate(delivery) for delivery in found])


@bp.post("/webhooks/<int:subscription_id>/test")
@requires(Role.admin)
@spec.validate(resp=_responds(HTTP_200=DeliveryRef), tags=["webhooks"])
def test_webhook(subscription_id: int):
    delivery_id = plan_test_delivery(get_session(), subscription_id)
    commit()
    return DeliveryRef(delivery_id=delivery_id, status=deliver(current_settings(), [delivery_id])[0])


@bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@requires(Role.admin)
@spec.validate(resp=_responds(HTTP_200=DeliveryRef), tags=["webhooks"])
def redeliver_one(delivery_id: int):
    redeliver(get_session(), delivery_id)
    commit()
    return DeliveryRef(delivery_id=delivery_id, status=deliver(current_settings(), [delivery_id])[0])


def _alert(found: Alert, label: str | None = None, claim: str | None = None) -> AlertOut:
    representative = found.cluster.representative
    return AlertOut(
        id=found.id, cluster_id=found.cluster_id, status=found.status,
        label=label if label is not None else latest_label(get_session(), found.id), score=found.score,
        reasons=found.reasons, breakdown=found.breakdown, post_count=found.post_count,
        source_count=found.source_count,
        opened_at=found.opened_at, updated_at=found.updated_at,
        assignee=found.assignee.name if found.assignee else None,
        claim=claim if claim is not None else (representative.text if representative else ""))


def _post(post, cluster_id: int | None) -> PostOut:
    fields = {name: getattr(post, name) for name in PostOut.model_fields
              if name not in ("source", "revisions", "cluster_id", "media")}
    return PostOut(**fields, source=post.source.title or post.source.key, cluster_id=cluster_id,
                   revisions=[RevisionOut.model_validate(revision) for revision in post.revisions],
                   media=[_media(attached) for attached in post.media])


def _media(attached) -> MediaOut:
    found = attached.media_file
    if found is None:
        return MediaOut(kind=attached.kind, status=attached.status, error=attached.error)
    image = found.kind == "image" and found.frames
    return MediaOut(
        kind=found.kind, status=attached.status, sha256=found.sha256,
        pdq=found.frames[0]["pdq"] if image else None, quality=found.frames[0]["quality"] if image else None,
        vpdq=[MediaFrameOut(**frame) for frame in found.frames] if found.kind == "video" else None,
        url=url_for("media.original", sha256=found.sha256) if found.stored_name else None,
        thumbnail_url=url_for("media.thumbnail", sha256=found.sha256) if found.thumbnail_name else None)
