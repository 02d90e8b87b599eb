"""personal data sealed per customer: keys, keyed email hashes, erasure, and the sealing's progress

The data itself (a key per customer, their email hashes, the log's personal fields sealed) is
written by write_model/sealing.py right after the upgrade, batch by batch and resumable: it needs
the server's email secret, and the log may be too long for one transaction.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customer_keys',
    sa.Column('customer_id', sa.String(), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id')
    )
    op.create_table('sealing_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customers_done', sa.Boolean(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('until', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute("INSERT INTO sealing_progress (id, customers_done, position, until) "
               "SELECT 1, false, 0, position FROM outbox_head")
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('email', existing_type=sa.String(), nullable=True)
        batch_op.alter_column('email_key', existing_type=sa.String(), nullable=True)
    # The lower-cased emails were kept in clear; the sealing step writes their keyed hashes.
    op.execute("UPDATE customers SET email_key = NULL")


def downgrade() -> None:
    # Erased customers and sealed events cannot be restored: their personal data is gone.
    raise NotImplementedError("personal data sealed per customer cannot be unsealed by a downgrade")
