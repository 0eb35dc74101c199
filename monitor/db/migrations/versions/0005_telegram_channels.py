"""telegram channels, revisions, deletions, media

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('post_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('post_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_post_revisions_post_id'), ['post_id'], unique=False)

    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forwarded_message_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('forwarded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('media_kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('media_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('replies', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_posts_media_id'), ['media_id'], unique=False)

    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.add_column(sa.Column('telegram_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('access_hash', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('cursor', sa.BigInteger(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('cursor')
        batch_op.drop_column('access_hash')
        batch_op.drop_column('telegram_id')

    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_posts_media_id'))
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('edited_at')
        batch_op.drop_column('replies')
        batch_op.drop_column('media_id')
        batch_op.drop_column('media_kind')
        batch_op.drop_column('forwarded_at')
        batch_op.drop_column('forwarded_message_id')

    with op.batch_alter_table('post_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_post_revisions_post_id'))

    op.drop_table('post_revisions')
