"""`monitor clusters show`: one cluster as a moderator sees it, from the command line."""

from __future__ import annotations

import json

import click

from cli.database import session_scope
from config import Settings


@click.group("clusters")
def clusters_group() -> None:
    """Clusters of near-duplicate claims."""


@clusters_group.command("show")
@click.argument("cluster_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def clusters_show(settings: Settings, cluster_id: int, as_json: bool) -> None:
    """CLUSTER_ID's posts (in publication order, with their source), its sources, the media
    its posts share and its alert."""
    from monitor.messages import NotFound
    from monitor.normalize import readable_text, visible
    from monitor.review.queries import get_cluster, source_name

    with session_scope(settings) as session:
        view = get_cluster(session, cluster_id)
        if view is None:
            raise NotFound(f"no cluster {cluster_id}")
        posts = [membership.post for membership in view.memberships]
        shown = {
            "id": cluster_id, "merged_into": view.cluster.merged_into_id,
            "posts": [{"id": post.id, "source": post.source.key, "source_title": source_name(post.source),
                       "external_id": post.external_id,
                       "published_at": post.published_at.isoformat() if post.published_at else None,
                       "language": post.language, "media_kind": post.media_kind, "url": post.url,
                       "text": readable_text(post.text)} for post in posts],
            "sources": sorted({post.source.key for post in posts}),
            "media": [{"kind": media.kind, "media_id": media.media_id, "posts_here": media.posts_here,
                       "posts_in_all": media.posts_in_all} for media in view.media],
            "alert": None if view.alert is None else {
                "id": view.alert.id, "status": view.alert.status.value, "score": view.alert.score,
                "reasons": view.alert.reasons, "label": view.label},
        }
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=False))
        return
    alert = shown["alert"]
    click.echo(f"cluster {cluster_id}: {len(shown['posts'])} posts from {len(shown['sources'])} sources"
               + (f"; merged into cluster {shown['merged_into']}" if shown["merged_into"] else ""))
    if alert:
        click.echo(f"alert #{alert['id']} ({alert['status']}, score {alert['score']:.1f})")
        for reason in alert["reasons"]:
            click.echo(f"  {reason}")
    for post in shown["posts"]:
        click.echo(f"- {post['published_at'] or 'undated'}  {visible(post['source_title'])} "
                   f"({visible(post['source'])}) #{post['external_id']}: {visible(post['text'][:160])}")
