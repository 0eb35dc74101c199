"""media of posts: files by SHA-256 with their PDQ / vPDQ hashes, the hashes the media index
searches, each post's media and what became of it, and links between clusters (recycled media)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('media_files',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('sha256', sa.String(length=64), nullable=False),
                    sa.Column('kind', sa.String(length=8), nullable=False),
                    sa.Column('size', sa.BigInteger(), nullable=False),
                    sa.Column('frames', sa.JSON(), nullable=False),
                    sa.Column('stored_name', sa.String(length=96), nullable=True),
                    sa.Column('thumbnail_name', sa.String(length=96), nullable=True),
                    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('sha256'))
    op.create_table('media_hashes',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('media_file_id', sa.Integer(), nullable=False),
                    sa.Column('pdq', sa.String(length=64), nullable=False),
                    sa.Column('quality', sa.Integer(), nullable=False),
                    sa.Column('timestamp', sa.Float(), nullable=False),
                    sa.ForeignKeyConstraint(['media_file_id'], ['media_files.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_media_hashes_media_file_id', 'media_hashes', ['media_file_id'])
    op.create_table('post_media',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('post_id', sa.Integer(), nullable=False),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('kind', sa.String(length=16), nullable=True),
                    sa.Column('origin', sa.Text(), nullable=False),
                    sa.Column('media_file_id', sa.Integer(), nullable=True),
                    sa.Column('status', sa.String(length=8), nullable=False),
                    sa.Column('error', sa.Text(), nullable=True),
                    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=True),
                    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['media_file_id'], ['media_files.id']),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('post_id', 'position', name='uq_post_media_position'))
    op.create_index('ix_post_media_post_id', 'post_media', ['post_id'])
    op.create_index('ix_post_media_media_file_id', 'post_media', ['media_file_id'])
    op.create_table('cluster_links',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('cluster_id', sa.Integer(), nullable=False),
                    sa.Column('linked_cluster_id', sa.Integer(), nullable=False),
                    sa.Column('kind', sa.String(length=32), nullable=False),
                    sa.Column('reason', sa.Text(), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['linked_cluster_id'], ['clusters.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('cluster_id', 'linked_cluster_id', name='uq_cluster_links_pair'))
    op.create_index('ix_cluster_links_cluster_id', 'cluster_links', ['cluster_id'])


def downgrade() -> None:
    op.drop_table('cluster_links')
    op.drop_table('post_media')
    op.drop_table('media_hashes')
    op.drop_table('media_files')
