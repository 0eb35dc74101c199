"""Moderators' actions on clusters: each changes what it says, leaves an audit entry,
and keeps the alerts consistent."""

import re

import pytest
from sqlalchemy import func, select

from cli.ingest import import_file
from monitor.accounts.users import create_user
from monitor.alerts.rules import AlertPolicy
from monitor.db.models import (
    Alert,
    AlertEvent,
    AlertStatus,
    AuditEntry,
    Cluster,
    ClusterMembership,
    KnownClaim,
    Post,
    Role,
)
from monitor.messages import NotFound, UserError
from monitor.review.clusters import (
    ClusterActionError,
    add_note,
    merge_clusters,
    promote_to_known_claim,
    split_post,
)
from monitor.review.decisions import assign
from monitor.review.queries import AlertFilters, get_cluster, list_alerts
from tests.test_pipeline import SAMPLE


@pytest.fixture
def sample(database, eager_pipeline):
    """The sample posts clustered; returns (ru wave cluster, kk wave cluster, settings)."""
    settings = eager_pipeline.conf.monitor_settings
    import_file(settings, SAMPLE)
    with database.session() as session:
        sizes = session.execute(select(ClusterMembership.cluster_id, func.count())
                                .group_by(ClusterMembership.cluster_id)
                                .order_by(func.count().desc())).all()
    return sizes[0][0], sizes[1][0], AlertPolicy.from_settings(settings)


def members(database, cluster_id: int) -> set[int]:
    with database.session() as session:
        return set(session.scalars(select(ClusterMembership.post_id)
                                   .where(ClusterMembership.cluster_id == cluster_id)))


def test_merging_moves_every_post_and_the_alert_grows_with_them(database, sample):
    ru, kk, rule = sample
    before = members(database, ru) | members(database, kk)
    with database.session() as session:
        outcome = merge_clusters(session, ru, kk, "aigerim", "the Kazakh posts carry the same video", rule)
    assert outcome.cluster_id == ru and members(database, ru) == before and members(database, kk) == set()
    with database.session() as session:
        merged, absorbed = session.get(Cluster, ru), session.get(Cluster, kk)
        assert (merged.post_count, absorbed.merged_into_id, absorbed.post_count) == (12, ru, 0)
        alert = session.scalar(select(Alert).where(Alert.cluster_id == ru))
        assert alert.post_count == 12
        assert [event.kind for event in alert.events][-1] == "alert.updated"
        assert outcome.event_ids == [alert.events[-1].id]
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "cluster.merge")).one()
        assert (audit.actor, audit.object_id) == ("aigerim", str(ru))
        assert audit.details == {"absorbed_cluster_id": kk, "posts_moved": 4,
                                 "reason": "the Kazakh posts carry the same video"}


def test_merging_two_alerted_clusters_closes_the_absorbed_alert_as_merged(database, sample):
    ru, kk, rule = sample
    with database.session() as session:
        kept = session.scalar(select(Alert.id).where(Alert.cluster_id == ru))
        # The Kazakh cluster got its own alert too (a lower threshold, say).
        session.add(Alert(cluster_id=kk, score=1.0, reasons=["test"], post_count=4, source_count=4))
    with database.session() as session:
        outcome = merge_clusters(session, kk, ru, "aigerim", "same claim", rule)
    with database.session() as session:
        closed = session.get(Alert, kept)
        assert closed.status is AlertStatus.merged
        assert session.scalar(select(AlertEvent.kind).where(AlertEvent.id == outcome.event_ids[0])) \
            == "alert.merged"


@pytest.mark.parametrize("target, absorbed, error, message", [
    ("ru", "ru", ClusterActionError, "into itself"),
    ("ru", 999999, NotFound, "no cluster 999999"),
])
def test_a_merge_that_cannot_be_done_changes_nothing(database, sample, target, absorbed, error, message):
    ids = {"ru": sample[0]}
    with pytest.raises(error, match=message):
        with database.session() as session:
            merge_clusters(session, ids.get(target, target), ids.get(absorbed, absorbed), "aigerim", "why",
                           sample[2])
    with database.session() as session:
        assert session.scalars(select(AuditEntry)).all() == []


def test_a_merge_needs_a_reason(database, sample):
    ru, kk, rule = sample
    with pytest.raises(UserError, match="say why"):
        with database.session() as session:
            merge_clusters(session, ru, kk, "aigerim", "  ", rule)


def test_splitting_a_post_out_gives_it_a_cluster_of_its_own(database, sample):
    ru, _, rule = sample
    post_id = max(members(database, ru))
    with database.session() as session:
        outcome = split_post(session, post_id, "aigerim", "a satire account quoting the fake", rule)
    assert members(database, outcome.cluster_id) == {post_id}
    assert post_id not in members(database, ru)
    with database.session() as session:
        assert session.get(Cluster, ru).post_count == 7
        assert session.scalar(select(Alert.post_count).where(Alert.cluster_id == ru)) == 7
        membership = session.scalar(select(ClusterMembership).where(ClusterMembership.post_id == post_id))
        assert membership.method == "split"
    with pytest.raises(ClusterActionError, match="only post"):
        with database.session() as session:
            split_post(session, post_id, "aigerim", "again", rule)


def test_promoting_a_cluster_records_a_known_claim_with_its_text(database, sample):
    ru, _, _ = sample
    with database.session() as session:
        claim = promote_to_known_claim(session, ru, "deepfake", "aigerim",
                                       url="https://factcheck.kz/saparov-video")
    with database.session() as session:
        stored = session.get(KnownClaim, claim.id)
        assert "Сапаров" in stored.text and stored.cluster_id == ru and stored.label == "deepfake"
        assert session.scalar(select(AuditEntry.action)) == "known_claim.add"
    with pytest.raises(Exception, match="needs a label"):
        with database.session() as session:
            promote_to_known_claim(session, ru, "fake news", "aigerim")


def test_notes_and_assignments_show_on_the_cluster_and_in_the_queue(database, sample):
    ru, _, _ = sample
    with database.session() as session:
        moderator = create_user(session, "aigerim", "correct horse battery", Role.moderator, "setup")
        alert_id = session.scalar(select(Alert.id).where(Alert.cluster_id == ru))
        assign(session, alert_id, moderator, "aigerim")
        add_note(session, ru, "Asked the akimat's press office", "aigerim")
    with database.session() as session:
        view = get_cluster(session, ru)
        assert [note.text for note in view.notes] == ["Asked the akimat's press office"]
        assert [entry.action for entry in view.audit] == ["alert.assign", "cluster.note"]
        mine = list_alerts(session, AlertFilters(assignee_id=moderator.id))
        assert [row.alert.id for row in mine.rows] == [alert_id]
        assert list_alerts(session, AlertFilters(assignee_id=moderator.id + 1)).total == 0


def test_the_queue_filters_by_language_source_label_and_time(database, sample):
    from datetime import datetime, timezone

    from monitor.review.decisions import decide

    ru, _, _ = sample
    with database.session() as session:
        source_id = session.scalar(select(Post.source_id).join(ClusterMembership,
                                   ClusterMembership.post_id == Post.id)
                                   .where(ClusterMembership.cluster_id == ru).limit(1))
        assert list_alerts(session, AlertFilters(language="ru")).total == 1
        assert list_alerts(session, AlertFilters(language="en")).total == 0
        assert list_alerts(session, AlertFilters(source_id=source_id)).total == 1
        future = datetime(2100, 1, 1, tzinfo=timezone.utc)
        assert list_alerts(session, AlertFilters(since=future)).total == 0
        assert list_alerts(session, AlertFilters(until=future)).total == 1
        alert_id = session.scalar(select(Alert.id))
        decide(session, alert_id, "confirm", "aigerim", label="deepfake")
    with database.session() as session:
        assert list_alerts(session, AlertFilters(status=None, label="deepfake")).rows[0].label == "deepfake"
        assert list_alerts(session, AlertFilters(status=None, label="satire")).total == 0
        assert list_alerts(session, AlertFilters()).total == 0  # no longer open


def test_the_cluster_shows_known_claims_it_repeats_with_their_scores(database, sample):
    from monitor.alerts.known_claims import add_known_claim

    ru, kk, _ = sample
    with database.session() as session:
        add_known_claim(session, "Аким Алматы Ерлан Сапаров призвал всех жителей выйти 9 мая на шествие "
                        "Бессмертного полка у Вечного огня", "deepfake", "aigerim",
                        url="https://factcheck.kz/saparov")
        add_known_claim(session, "В Астане открыли новый мост через Ишим", "not_disinformation", "aigerim")
        promote_to_known_claim(session, kk, "deepfake", "aigerim")
    with database.session() as session:
        matches = get_cluster(session, ru).known_claims
        assert len(matches) == 1 and matches[0].claim.url == "https://factcheck.kz/saparov"
        assert matches[0].score >= 0.3
        assert re.fullmatch(r"post \d+ shares \d+% of its wording", matches[0].how)
        promoted = get_cluster(session, kk).known_claims
        assert (promoted[0].score, promoted[0].how) == (1.0, "promoted from this cluster")
