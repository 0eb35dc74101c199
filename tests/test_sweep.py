"""Work lost between stages (the broker forgot a task) is found in the database and done."""

from datetime import timedelta

from sqlalchemy import func, select, update

from monitor.db.models import AlertEvent, PostStage, Stage, utcnow
from monitor.embed.stage import claim_pending
from monitor.ingest.records import PostRecord
from monitor.ingest.store import store_posts
from monitor.sweep import find_stalled
from workers.tasks import sweep_stalled_task

TEXTS = [f"Видео: аким призывает всех выйти на шествие 9 мая, канал номер {n} распространяет"
         for n in range(6)]


def store_without_enqueueing(database) -> list[int]:
    records = [PostRecord(source_kind="telegram", source_key=f"@ch{n}", external_id=str(n), text=text)
               for n, text in enumerate(TEXTS)]
    with database.session() as session:
        ids = store_posts(session, records).new_post_ids
        # As if stored an hour ago and the embed task was lost with the broker's queue.
        session.execute(update(PostStage).values(changed_at=utcnow() - timedelta(hours=1)))
    return ids


def test_only_work_older_than_the_cutoff_counts_as_stalled(database):
    ids = store_without_enqueueing(database)
    with database.session() as session:
        assert find_stalled(session, timedelta(minutes=10)).to_embed == ids
        assert len(find_stalled(session, timedelta(hours=2))) == 0


def test_sweeping_finishes_posts_whose_tasks_were_lost(database, eager_pipeline):
    store_without_enqueueing(database)
    counts = sweep_stalled_task(older_than_seconds=600)
    assert counts == {"embed": 6, "cluster": 0, "notify": 0, "media_hash": 0, "media_place": 0}
    with database.session() as session:
        assert set(session.scalars(select(PostStage.stage))) == {Stage.clustered}
        assert session.scalar(select(func.count()).select_from(AlertEvent)) == 1
    assert sweep_stalled_task(older_than_seconds=600) == {"embed": 0, "cluster": 0, "notify": 0,
                                                           "media_hash": 0, "media_place": 0}


def test_posts_claimed_by_an_embed_task_that_died_are_swept_and_finished(database, eager_pipeline):
    ids = store_without_enqueueing(database)
    with database.session() as session:  # claimed an hour ago by a worker that never came back
        claim_pending(session, ids, "a lost task", now=utcnow() - timedelta(hours=1))
    assert sweep_stalled_task(older_than_seconds=600)["embed"] == len(ids)
    with database.session() as session:
        assert set(session.scalars(select(PostStage.stage))) == {Stage.clustered}
