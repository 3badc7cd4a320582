"""API tokens can carry an expiry date

Revision ID: 0010_api_token_expiry
Revises: 0009_privacy
Create Date: 2026-12-04 20:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_api_token_expiry'
down_revision = '0009_privacy'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: tokens made before this have no expiry (and keep working until revoked).
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_on', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('expires_on')
