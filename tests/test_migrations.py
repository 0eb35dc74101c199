"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor.db.migrate import is_current, upgrade
from monitor.db.models import Base


def test_migrated_schema_matches_the_models(migrated_database):
    with migrated_database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrading_an_up_to_date_database_changes_nothing(migrated_database):
    assert is_current(migrated_database.engine)
    upgrade(migrated_database.url)
    assert is_current(migrated_database.engine)
