"""accounts: balance + reserved at most 2^53 - 1 (issue 16: an overflowing top-up turned a SQLite balance
into REAL, and every read of the account failed from then on)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

PostgreSQL gets the CHECK constraint `ck_accounts_credits_at_most_max` (as `store/tables.py` declares it).

SQLite cannot add a CHECK to an existing table without rebuilding it, and `accounts` is the parent of
`api_keys`, `tasks` and `ledger` on connections that enforce foreign keys: dropping the old table
inside the migration's transaction fails the foreign keys at commit (`PRAGMA foreign_keys=OFF` is a
no-op inside a transaction, and `defer_foreign_keys` still counts the rows the drop orphaned). So on
SQLite the same rule is two triggers, `BEFORE INSERT` and `BEFORE UPDATE OF balance, reserved`, that
abort the statement exactly where the CHECK would (`RAISE(ABORT)` is SQLITE_CONSTRAINT, an
`IntegrityError`, like a failed CHECK), created and dropped in the migration's transaction.

An account whose credits already break the rule (only the overflow this fixes can have put them there)
stops the upgrade with a message naming it: there is no right value to guess for it, so the operator
sets one (the `balance` and `reserved` columns of that row) and starts again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: mediagate.domain.safety.MAX_CREDITS when this revision was written (a migration never changes)
MAX_CREDITS = 2**53 - 1
CHECK = f"balance + reserved <= {MAX_CREDITS}"
NAME = "ck_accounts_credits_at_most_max"
SQLITE_TRIGGERS = {
    f"{NAME}_insert": "BEFORE INSERT ON accounts",
    f"{NAME}_update": "BEFORE UPDATE OF balance, reserved ON accounts",
}


def _refuse_overflowed_accounts() -> None:
    bind = op.get_bind()
    where = "NOT (balance + reserved <= :bound)"
    if bind.dialect.name == "sqlite":  # (an overflowed SQLite balance is REAL)
        where += " OR typeof(balance) <> 'integer' OR typeof(reserved) <> 'integer'"
    rows = bind.execute(
        sa.text(f"SELECT id FROM accounts WHERE {where} ORDER BY id LIMIT 20"),  # noqa: S608 - constant text
        {"bound": MAX_CREDITS},
    ).all()
    if rows:
        ids = ", ".join(str(r[0]) for r in rows)
        raise RuntimeError(
            f"accounts {ids} hold more than {MAX_CREDITS} credits (balance + reserved), or a balance that "
            "is not an integer: the result of a balance overflow (issue 16). Set the balance and reserved "
            "columns of these rows to the right integers and start mediagate again to finish the upgrade."
        )


def upgrade() -> None:
    _refuse_overflowed_accounts()
    if op.get_bind().dialect.name == "sqlite":
        for name, when in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} "
                f"WHEN NOT (NEW.balance + NEW.reserved <= {MAX_CREDITS}) "
                f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {NAME}'); END"
            )
    else:
        op.create_check_constraint(op.f(NAME), "accounts", CHECK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.drop_constraint(op.f(NAME), "accounts", type_="check")
