"""posts claimed by an embed task; posts indexed by stage and id, for the waiting ones oldest first

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('embed_claim', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_posts_stage_id', ['stage', 'id'], unique=False)
        batch_op.drop_index('ix_posts_stage')


def downgrade() -> None:
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.create_index('ix_posts_stage', ['stage'], unique=False)
        batch_op.drop_index('ix_posts_stage_id')
        batch_op.drop_column('embed_claim')
