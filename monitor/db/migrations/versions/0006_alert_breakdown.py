"""alert breakdown

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('breakdown', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('dismissed_post_count', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('dismissed_post_count')
        batch_op.drop_column('breakdown')

