"""API tokens can carry an expiry date

Revision ID: 0013_leaks
Revises: 0008_sessions_mfa
Create Date: 2026-12-04 20:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_leaks'
down_revision = '0008_sessions_mfa'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: tokens made before this have no expiry (and keep working until revoked).
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_on', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('expires_on')
