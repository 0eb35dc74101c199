"""`monitor alerts ...`: the queue, decisions and each rule's reasons, from the command line."""

from __future__ import annotations

import json

import click

from cli.database import session_scope
from config import Settings
from monitor.db.models import LABELS


@click.group("alerts")
def alerts_group() -> None:
    """Review alerts from the command line."""


@alerts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--with-posts", is_flag=True, help="With each alert's posts as {source, id} (JSON).")
@click.option("--status", type=click.Choice(["open", "confirmed", "dismissed"]), default=None,
              help="Only alerts in this state [default: all but merged ones].")
@click.pass_obj
def alerts_list(settings: Settings, as_json: bool, with_posts: bool, status: str | None) -> None:
    """The alert queue in the UI's order: score, counts, each rule's points and the reasons."""
    from monitor.db.models import AlertStatus
    from monitor.review.queries import alert_queue
    from monitor.wording import plural

    with session_scope(settings) as session:
        queue = alert_queue(session, AlertStatus(status) if status else None, with_posts)
    if as_json:
        click.echo(json.dumps(queue, ensure_ascii=False))
        return
    for alert in queue:
        rules = ", ".join(f"{rule['rule']} {rule['points']:g}" for rule in alert["rules"])
        click.echo(f"#{alert['id']:<5} {alert['score']:>7.1f}  {alert['status']:<9} "
                   f"{plural(alert['post_count'], 'post')}, {plural(alert['sources'], 'source')}, "
                   f"{plural(alert['clusters'], 'cluster')}  [{rules}]")
        for reason in alert["reasons"]:
            click.echo(f"        {reason}")


@alerts_group.command("decide")
@click.argument("alert_id", type=int)
@click.argument("decision", type=click.Choice(["confirm", "dismiss"]))
@click.option("--label", type=click.Choice(LABELS), help="Required to confirm.")
@click.option("--note", default="", help="Why: kept in the review log and the audit trail.")
@click.option("--actor", required=True, help="Who takes the decision.")
@click.pass_obj
def alerts_decide(settings: Settings, alert_id: int, decision: str, label: str | None,
                  note: str, actor: str) -> None:
    """Confirm (with a label) or dismiss ALERT_ID."""
    from monitor.review.decisions import decide
    from workers.dispatch import notify

    with session_scope(settings) as session:
        event = decide(session, alert_id, decision, actor, label=label, note=note)
    notify(settings, [event.id])
    click.echo(f"alert {alert_id}: {decision} recorded")


@alerts_group.command("explain")
@click.argument("cluster_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def alerts_explain(settings: Settings, cluster_id: int, as_json: bool) -> None:
    """Every alert rule's points and reason for CLUSTER_ID, as they stand now."""
    from monitor.alerts.known_claims import KnownClaimIndex
    from monitor.alerts.rules import AlertPolicy, assess
    from monitor.alerts.watchlists import WatchPatterns
    from monitor.db.models import Cluster
    from monitor.messages import NotFound
    from monitor.review.queries import alert_status

    policy = AlertPolicy.from_settings(settings)
    with session_scope(settings) as session:
        if session.get(Cluster, cluster_id) is None:
            raise NotFound(f"no cluster {cluster_id}")
        assessment = assess(session, cluster_id, policy,
                            WatchPatterns.load(session, policy.extra_calls_to_action),
                            KnownClaimIndex.load(session))
        status = alert_status(session, cluster_id)
        status = status.value if status else None
    if as_json:
        click.echo(json.dumps({"cluster_id": cluster_id, "score": assessment.score, "opens": assessment.opens,
                               "alert_status": status, "rules": assessment.breakdown()}, ensure_ascii=False))
        return
    click.echo(f"cluster {cluster_id}: score {assessment.score:.1f}, "
               + ("an alert opens" if assessment.opens else "no rule opens an alert")
               + (f" (alert {status})" if status else ""))
    for signal in assessment.signals:
        click.echo(f"  {signal.rule:<14}{signal.points:>7.1f}  {'opens  ' if signal.opens else '       '}"
                   f"{signal.reason}")
