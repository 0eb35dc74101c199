"""The whole pipeline in eager mode (as `monitor demo` runs it) on SQLite and PostgreSQL."""

import json
from importlib import resources
from pathlib import Path

from sqlalchemy import func, select

from cli.ingest import import_file
from monitor.db.models import Alert, AlertEvent, Cluster, ClusterMembership, Post, PostStage, Source, Stage
from workers.tasks import cluster_posts_task, embed_posts_task

SAMPLE = Path(str(resources.files("monitor") / "sample_data" / "demo_posts.jsonl"))
RU_WAVE = "Ерлан Сапаров призвал всех"


def clusters_by_text(database) -> dict[int, list[str]]:
    with database.session() as session:
        rows = session.execute(
            select(ClusterMembership.cluster_id, Post.text)
            .join(Post, Post.id == ClusterMembership.post_id)
        ).all()
    clusters: dict[int, list[str]] = {}
    for cluster_id, text in rows:
        clusters.setdefault(cluster_id, []).append(text)
    return clusters


def count(database, model) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_sample_wave_becomes_one_cluster_per_language_and_everyday_news_stays_apart(
        database, eager_pipeline):
    imported = import_file(eager_pipeline.conf.monitor_settings, SAMPLE)
    sent, problems = imported.sent, imported.problems
    assert (sent, problems) == (26, [])

    clusters = sorted(clusters_by_text(database).values(), key=len, reverse=True)
    sizes = [len(texts) for texts in clusters]
    assert sizes == [8, 4, 2] + [1] * 12
    assert all("Сапаров" in text for text in clusters[0])
    assert all("Сапаров" in text and "шеруіне" in text for text in clusters[1])
    assert all("Saparov" in text for text in clusters[2])
    with database.session() as session:
        assert set(session.scalars(select(PostStage.stage))) == {Stage.clustered}


def test_a_cluster_spreading_across_sources_opens_one_alert_with_its_reasons(
        database, eager_pipeline):
    import_file(eager_pipeline.conf.monitor_settings, SAMPLE)
    with database.session() as session:
        alert = session.scalars(select(Alert)).one()
        cluster = session.get(Cluster, alert.cluster_id)
        assert RU_WAVE in cluster.representative.text
        assert (alert.post_count, alert.source_count) == (8, 7)
        assert alert.reasons[0].startswith("8 posts from 7 sources within 1.6 h")
        assert [event.kind for event in alert.events] == ["alert.opened"]
        assert alert.events[0].notified_at is not None


def test_redelivered_tasks_and_a_second_import_duplicate_nothing(database, eager_pipeline):
    settings = eager_pipeline.conf.monitor_settings
    import_file(settings, SAMPLE)
    before = {model: count(database, model)
              for model in (Source, Post, Cluster, ClusterMembership, Alert, AlertEvent)}
    with database.session() as session:
        post_ids = list(session.scalars(select(Post.id)))

    import_file(settings, SAMPLE)
    embed_posts_task(post_ids)  # as if the broker delivered both stages again
    cluster_posts_task(post_ids)

    after = {model: count(database, model) for model in before}
    assert after == before


def test_a_growing_cluster_updates_its_alert_instead_of_opening_another(
        database, eager_pipeline, tmp_path):
    settings = eager_pipeline.conf.monitor_settings
    import_file(settings, SAMPLE)
    wave = [json.loads(line) for line in SAMPLE.read_text().splitlines()][0]
    more = tmp_path / "more.jsonl"
    more.write_text("\n".join(json.dumps({**wave, "source": f"@late_channel_{n}", "id": "1",
                                          "date": "2025-05-06T08:50:00+00:00"}) for n in range(3)))
    imported = import_file(settings, more)
    sent, problems = imported.sent, imported.problems
    assert (sent, problems) == (3, [])

    with database.session() as session:
        alert = session.scalars(select(Alert)).one()
        assert (alert.post_count, alert.source_count) == (11, 10)
        assert [event.kind for event in alert.events] == ["alert.opened", "alert.updated"]
        assert alert.events[-1].payload["post_count"] == 11
