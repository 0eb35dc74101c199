"""posts' stages in a narrow table of their own: moving a post between stages no longer rewrites its row

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_STAGE = sa.Enum('stored', 'embedding', 'embedded', 'clustered', 'skipped', name='stage',
                 native_enum=False, length=32)


# Dropped and added in place (SQLite has done both since 3.35), not by rebuilding the posts
# table as a batch migration does on SQLite: a rebuild loses the table's triggers (0009's),
# and its DROP TABLE, with foreign keys enforced, deletes the rows that refer to the posts.
_COLUMNS = ('stage', 'stage_changed_at', 'embed_claim')


def upgrade() -> None:
    op.create_table('post_stages',
                    sa.Column('post_id', sa.Integer(), nullable=False),
                    sa.Column('stage', _STAGE, nullable=False),
                    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('embed_claim', sa.String(length=64), nullable=True),
                    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('post_id'))
    op.create_index('ix_post_stages_stage_post_id', 'post_stages', ['stage', 'post_id'], unique=False)
    op.execute("INSERT INTO post_stages (post_id, stage, changed_at, embed_claim) "
               "SELECT id, stage, stage_changed_at, embed_claim FROM posts")
    op.drop_index('ix_posts_stage_id', table_name='posts')
    for column in _COLUMNS:
        op.execute(f"ALTER TABLE posts DROP COLUMN {column}")


def downgrade() -> None:
    # NOT NULL columns added to rows that exist need a default; the UPDATE sets the real values.
    op.add_column('posts', sa.Column('stage', _STAGE, nullable=False, server_default='stored'))
    op.add_column('posts', sa.Column('stage_changed_at', sa.DateTime(timezone=True), nullable=False,
                                     server_default='1970-01-01 00:00:00+00:00'))
    op.add_column('posts', sa.Column('embed_claim', sa.String(length=64), nullable=True))
    op.execute("UPDATE posts SET stage = s.stage, stage_changed_at = s.changed_at, embed_claim = s.embed_claim "
               "FROM post_stages AS s WHERE s.post_id = posts.id")
    op.create_index('ix_posts_stage_id', 'posts', ['stage', 'id'], unique=False)
    op.drop_index('ix_post_stages_stage_post_id', table_name='post_stages')
    op.drop_table('post_stages')
