"""privacy: funder delegations, desk registrations, audit entries with funder, reason, detail

Revision ID: 0009_privacy
Revises: 0008_sessions_mfa
Create Date: 2026-12-04 20:10:00

"""
from alembic import op
import sqlalchemy as sa

import marketplace.models.base


# revision identifiers, used by Alembic.
revision = '0009_privacy'
down_revision = '0008_sessions_mfa'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('funder_delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('funder_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', marketplace.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', marketplace.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('territory_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['funder_id'], ['funder.id'], name=op.f('fk_funder_delegation_funder_id_funder'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['granted_by_id'], ['user_account.id'], name=op.f('fk_funder_delegation_granted_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['user_account.id'], name=op.f('fk_funder_delegation_revoked_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['territory_id'], ['territory.id'], name=op.f('fk_funder_delegation_territory_id_territory'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funder_delegation'))
    )
    with op.batch_alter_table('funder_delegation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funder_delegation_funder_id'), ['funder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_funder_delegation_territory_id'), ['territory_id'], unique=False)

    op.create_table('desk_registration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('registered_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', marketplace.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('territory_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['registered_by_id'], ['user_account.id'], name=op.f('fk_desk_registration_registered_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['territory_id'], ['territory.id'], name=op.f('fk_desk_registration_territory_id_territory'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_desk_registration_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_registration')),
    sa.UniqueConstraint('territory_id', 'user_id', name='uq_desk_registration_user')
    )
    with op.batch_alter_table('desk_registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desk_registration_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_desk_registration_phone'), ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_desk_registration_territory_id'), ['territory_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_desk_registration_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('funder_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('detail', sa.String(length=255), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_audit_entry_funder_id'), ['funder_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_audit_entry_funder_id_funder'), 'funder', ['funder_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_entry_funder_id_funder'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_audit_entry_funder_id'))
        batch_op.drop_column('detail')
        batch_op.drop_column('reason')
        batch_op.drop_column('funder_id')

    with op.batch_alter_table('desk_registration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desk_registration_user_id'))
        batch_op.drop_index(batch_op.f('ix_desk_registration_territory_id'))
        batch_op.drop_index(batch_op.f('ix_desk_registration_phone'))
        batch_op.drop_index(batch_op.f('ix_desk_registration_email'))
    op.drop_table('desk_registration')

    with op.batch_alter_table('funder_delegation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funder_delegation_territory_id'))
        batch_op.drop_index(batch_op.f('ix_funder_delegation_funder_id'))
    op.drop_table('funder_delegation')
