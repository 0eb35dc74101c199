"""a placement revision that triggers raise when placed posts change under the cluster stage

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Recreated if missing (an emptied table), then raised.
_BUMP = ("INSERT INTO placement_revision (id, revision) VALUES (1, 0) ON CONFLICT (id) DO NOTHING; "
         "UPDATE placement_revision SET revision = revision + 1 WHERE id = 1;")
# What placing posts reads of a placed post, by table (see models.PlacementRevision).
_WATCHED = {
    "cluster_memberships": ("post_id", "cluster_id"),
    "clusters": ("representative_post_id", "merged_into_id"),
    "posts": ("text", "fingerprint", "language"),
}


def upgrade() -> None:
    op.create_table('placement_revision',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('revision', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.execute("INSERT INTO placement_revision (id, revision) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE FUNCTION raise_placement_revision() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN {_BUMP} RETURN NULL; END $$")
        for table, columns in _WATCHED.items():
            # Once a statement: a merge moves every post of a cluster in one.
            op.execute(f"CREATE TRIGGER {table}_placement_revision AFTER UPDATE OF {', '.join(columns)} "
                       f"OR DELETE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION raise_placement_revision()")
    else:  # SQLite has row triggers only
        for table, columns in _WATCHED.items():
            for event in (f"UPDATE OF {', '.join(columns)}", "DELETE"):
                name = f"{table}_placement_revision_{event.split()[0].lower()}"
                op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {_BUMP} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _WATCHED:
            op.execute(f"DROP TRIGGER {table}_placement_revision ON {table}")
        op.execute("DROP FUNCTION raise_placement_revision()")
    else:
        for table in _WATCHED:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_placement_revision_{event}")
    op.drop_table('placement_revision')
