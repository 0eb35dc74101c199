"""known claims imported from fact-checkers' ClaimReview: the review's key, rating, author,
date, language and the URLs where the claim appeared

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('known_claims') as batch:
        batch.add_column(sa.Column('review_key', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('rating', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('author', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('language', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('appearances', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint('uq_known_claims_review_key', ['review_key'])


def downgrade() -> None:
    with op.batch_alter_table('known_claims') as batch:
        batch.drop_constraint('uq_known_claims_review_key', type_='unique')
        for column in ('updated_at', 'appearances', 'language', 'published_at', 'author', 'rating',
                       'review_key'):
            batch.drop_column(column)
