"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from monitor.db.migrate import alembic_config, is_current, upgrade
from monitor.db.models import Base
from monitor.db.session import make_engine


def test_migrated_schema_matches_the_models(migrated_database):
    with migrated_database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrading_an_up_to_date_database_changes_nothing(migrated_database):
    assert is_current(migrated_database.engine)
    upgrade(migrated_database.url)
    assert is_current(migrated_database.engine)


def add_post(connection, post_id: int, stage: str, **columns) -> None:
    """A post row as the schema of an older revision holds it (SQL, not today's models)."""
    if post_id == 1:
        connection.execute(text(
            "INSERT INTO sources (id, kind, key, title, enabled, created_at, error_count) "
            "VALUES (1, 'telegram', '@channel', '', true, '2026-05-01 10:00:00+00:00', 0)"))
    columns = {"stage": stage, "stage_changed_at": f"2026-05-0{post_id} 12:00:00+00:00", **columns}
    connection.execute(text(
        f"INSERT INTO posts (id, source_id, external_id, text, text_origin, fetched_at, has_media, "
        f"{', '.join(columns)}) VALUES (:id, 1, :id, 'text', 'message', '2026-05-01 10:00:00+00:00', false, "
        f"{', '.join(':' + name for name in columns)})"), {"id": post_id, **columns})


def test_moving_the_stages_out_of_the_posts_keeps_each_posts_stage_claim_and_time_both_ways(
        empty_database_url):
    url = empty_database_url
    upgrade(url, "0009")
    engine = make_engine(url)
    with engine.begin() as connection:
        for post_id, stage, claim in [(1, "embedding", "task a"), (2, "clustered", None),
                                      (3, "stored", None)]:
            add_post(connection, post_id, stage, embed_claim=claim)
        before = connection.execute(text(
            "SELECT id, stage, stage_changed_at, embed_claim FROM posts ORDER BY id")).all()

    upgrade(url)
    with engine.begin() as connection:
        moved = connection.execute(text(
            "SELECT post_id, stage, changed_at, embed_claim FROM post_stages ORDER BY post_id")).all()
        # The posts table keeps its triggers (SQLite loses them when a table is rebuilt).
        revision = text("SELECT revision FROM placement_revision")
        unedited = connection.execute(revision).scalar()
        connection.execute(text("UPDATE posts SET text = 'edited' WHERE id = 2"))
        assert connection.execute(revision).scalar() > unedited
    command.downgrade(alembic_config(url), "0009")
    with engine.connect() as connection:
        back = connection.execute(text(
            "SELECT id, stage, stage_changed_at, embed_claim FROM posts ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in moved] == [tuple(row) for row in before] == [tuple(row) for row in back]
    assert [row[1] for row in before] == ["embedding", "clustered", "stored"]
