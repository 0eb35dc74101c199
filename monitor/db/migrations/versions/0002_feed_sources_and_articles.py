"""feed sources and articles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fetch_domains',
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('next_allowed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('domain')
    )
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('canonical_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('title', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('text_origin', sa.String(length=16), nullable=False, server_default='message'))
        batch_op.create_unique_constraint('uq_posts_canonical_url', ['canonical_url'])

    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fetch_interval_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('next_fetch_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_fetched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('etag', sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column('last_modified', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('error_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('paused_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('paused_reason')
        batch_op.drop_column('last_error')
        batch_op.drop_column('error_count')
        batch_op.drop_column('last_modified')
        batch_op.drop_column('etag')
        batch_op.drop_column('last_success_at')
        batch_op.drop_column('last_fetched_at')
        batch_op.drop_column('next_fetch_at')
        batch_op.drop_column('fetch_interval_seconds')

    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_posts_canonical_url', type_='unique')
        batch_op.drop_column('text_origin')
        batch_op.drop_column('title')
        batch_op.drop_column('canonical_url')

    op.drop_table('fetch_domains')
