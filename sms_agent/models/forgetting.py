"""What deleting a texter does to the rows that are keyed by their number but outlive them.

A texter's tasks, conversation, tokens and task rollups go with them (ON DELETE CASCADE).
The spend ledgers cannot: the SMS we sent them, the texts Twilio received from them and
the model calls made for them were paid for, and deleting those rows would take the money
out of the service's spend (the daily totals, the chart, the tasks' spend) as if it had
never been spent. So the ledger
rows stay, but are detached and anonymised: their number becomes NULL and the SMS's text
(which may quote the texter) is emptied. Nothing then ties them to whoever texts from the
same number next: that texter's thread, export, cost and spend cap start from nothing.
The spend rollups follow by their own triggers: the amounts stay in `spend_daily` and
leave the number's rows of `spend_monthly`, which only counts texters there are.

The database does it, in a BEFORE DELETE trigger on `users`, so every way of deleting a
texter obeys it: the API, the admin (one row or its bulk action), a CLI, raw SQL. BEFORE,
so it runs ahead of the foreign keys' own actions (error_logs' SET NULL would otherwise
hide which error logs were the texter's).
"""

from __future__ import annotations

import sqlalchemy as sa

from .triggers import installed_by_create_all

#: What stands for the number in the texts of the texter's error logs.
REDACTED = "[deleted texter]"


def _statements(row: str, inbound: bool) -> list[str]:
    phone = f"{row}.phone_number"
    charges = f"UPDATE inbound_charges SET user_phone = NULL WHERE user_phone = {phone}"
    return [
        "UPDATE outbound_messages SET to_number = NULL, body = '', error_message = NULL"
        f" WHERE to_number = {phone}",
        f"UPDATE model_calls SET user_phone = NULL WHERE user_phone = {phone}",
        *([charges] if inbound else []),
        # Twilio's errors name the number ("The 'To' number +1555... is not valid").
        f"UPDATE error_logs SET error_message = replace(error_message, {phone}, '{REDACTED}'),"
        f" stack_trace = replace(stack_trace, {phone}, '{REDACTED}') WHERE user_phone = {phone}",
        # Emptied by the two UPDATEs above (the spend triggers moved the amounts out).
        f"DELETE FROM spend_monthly WHERE phone = {phone}",
    ]


def create_triggers(connection: sa.Connection, *, inbound: bool = True) -> None:
    """`inbound` False: the schema before migration 0030, without inbound_charges."""
    body = "; ".join(_statements("OLD", inbound))
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION users_forget() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN {body}; RETURN OLD; END $$"
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER users_forget BEFORE DELETE ON users"
            " FOR EACH ROW EXECUTE FUNCTION users_forget()"
        )
    else:
        connection.exec_driver_sql(
            f"CREATE TRIGGER users_forget BEFORE DELETE ON users FOR EACH ROW BEGIN {body}; END"
        )


def drop_triggers(connection: sa.Connection, *, function: bool = False) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS users_forget ON users")
        if function:
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS users_forget()")
    else:
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS users_forget")


def forget_former_texters(connection: sa.Connection) -> None:
    """Anonymise the SMS of numbers that are no texter any more (deleted before the trigger
    existed), as the trigger would have."""
    connection.exec_driver_sql(
        "UPDATE outbound_messages SET to_number = NULL, body = '', error_message = NULL"
        " WHERE to_number IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM users WHERE phone_number = outbound_messages.to_number)"
    )


installed_by_create_all(create_triggers, drop_triggers)
