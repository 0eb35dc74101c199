"""cluster separations (moderators' cannot-link constraints); known claims' vectors

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cluster_separations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cluster_id', sa.Integer(), nullable=False),
        sa.Column('other_cluster_id', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['other_cluster_id'], ['clusters.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('cluster_id', 'other_cluster_id', name='uq_cluster_separations_pair'),
    )
    with op.batch_alter_table('cluster_separations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cluster_separations_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cluster_separations_other_cluster_id'), ['other_cluster_id'],
                              unique=False)
    with op.batch_alter_table('known_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vector', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('vector_model', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('known_claims', schema=None) as batch_op:
        batch_op.drop_column('vector_model')
        batch_op.drop_column('vector')
    op.drop_table('cluster_separations')
