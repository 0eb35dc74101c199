"""Storage: the SQLAlchemy data model, sessions and Alembic migrations."""
