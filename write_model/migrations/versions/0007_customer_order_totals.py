"""customers keep their order count and total: an order no longer counts all of its customer's orders

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_count', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('total_spent_minor', sa.BigInteger(), server_default='0', nullable=False))
    op.execute(
        "UPDATE customers SET "
        "order_count = (SELECT count(*) FROM orders "
        "WHERE orders.customer_id = customers.id AND orders.status != 'CANCELLED'), "
        "total_spent_minor = (SELECT coalesce(sum(orders.total_minor), 0) FROM orders "
        "WHERE orders.customer_id = customers.id AND orders.status != 'CANCELLED')"
    )


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('total_spent_minor')
        batch_op.drop_column('order_count')
