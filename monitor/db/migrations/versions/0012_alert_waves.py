"""alerts' wave key: the watched person whose call a wave carries, so that the clusters of one
wave (reworded, in Russian and Kazakh) are joined under one alert

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('wave_key', sa.String(length=128), nullable=True))
    op.create_index('ix_alerts_wave_key', 'alerts', ['wave_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_alerts_wave_key', table_name='alerts')
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('wave_key')
