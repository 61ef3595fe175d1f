"""The committed migrations build exactly the schema the models describe."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from sms_agent.models import ErrorLog, StaffUser, Task, User, write_marks
from sms_agent.models.staff import find_staff
from sms_agent.models.types import UTCDateTime
from tests.conftest import fresh_database
from tests.factories import make_user_of_an_older_revision


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                options = {
                    "compare_type": True,
                    "include_object": write_marks.left_out_of_the_models,
                }
                context = MigrationContext.configure(connection, opts=options)
                assert compare_metadata(context, db.metadata) == []
            downgrade(revision="base")
            with db.engine.connect() as connection:
                assert db.inspect(connection).get_table_names() == ["alembic_version"]
            db.engine.dispose()


def test_two_hosts_upgrading_at_once_both_succeed_and_migrate_once(tmp_path):
    """Regression: every host of a deploy runs `flask db upgrade`; two at once on an empty
    PostgreSQL database ran the same migrations side by side, and one failed with a page of
    traceback (duplicate key in pg_type), failing its deploy. Now the second waits for the
    first and finds nothing left to do."""
    if sa.make_url(TestingConfig.SQLALCHEMY_DATABASE_URI).get_backend_name() == "sqlite":
        pytest.skip("PostgreSQL only (several hosts share one database server)")
    with fresh_database(tmp_path) as url:
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": url, "FLASK_APP": "wsgi"}
        command = [sys.executable, "-m", "flask", "db", "upgrade"]
        runs = [
            subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)
        ]
        said = [run.communicate(timeout=300)[1] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], said
        assert sum(text.count("-> 0001_initial") for text in said) == 1
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert len(version.all()) == 1
        engine.dispose()


def test_service_bookkeeping_moves_out_of_a_texters_preferences_and_back(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0001_initial")
            old = {"language": "fr", "handled_sids": ["SM1"], "quota_notice_window": "2027-01"}
            # More texters than one batch of the migration, every other one with bookkeeping.
            texters = {f"+1555{n:07d}": old if n % 2 else {"language": "fr"} for n in range(2500)}
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO users (phone_number, tier, full_name, last_active,"
                        " total_requests, monthly_requests, rate_limit_reset, timezone,"
                        " preferences, is_active, created_at, updated_at) VALUES (:phone,"
                        " 'free', '', :now, 0, 0, :now, 'UTC', :prefs, true, :now, :now)"
                    ).bindparams(sa.bindparam("prefs", type_=sa.JSON)),
                    [
                        {"phone": phone, "now": datetime.now(UTC), "prefs": prefs}
                        for phone, prefs in texters.items()
                    ],
                )

            upgrade()
            with db.engine.connect() as connection:
                rows = connection.execute(
                    sa.text("SELECT phone_number, preferences, service_state FROM users")
                ).all()
                handled = connection.execute(sa.text("SELECT message_sid FROM handled_messages"))
                assert handled.scalars().all() == ["SM1"]  # still known as handled (0023)
            moved = {"handled_sids": ["SM1"], "quota_notice_window": "2027-01"}
            assert len(rows) == len(texters)
            for phone, preferences, state in rows:
                assert _json(preferences) == {"language": "fr"}
                assert _json(state) == (moved if texters[phone] == old else {})

            downgrade(revision="0001_initial")
            with db.engine.connect() as connection:
                rows = connection.execute(sa.text("SELECT phone_number, preferences FROM users"))
                assert {phone: _json(preferences) for phone, preferences in rows} == texters
            db.engine.dispose()


def _json(value):
    """SQLite hands JSON columns back as text to a raw query; PostgreSQL as objects."""
    return json.loads(value) if isinstance(value, str) else value


def _stored_values(postgresql: bool) -> dict[str, object]:
    """JSON text as an old release (or hand-written SQL) may have stored it, and what 0003
    makes of it."""
    values = {
        '{"language": "fr"}': {"language": "fr"},
        "{}": {},
        "[1, 2]": {"_repaired": [1, 2]},
        '"text"': {"_repaired": "text"},
        "7": {"_repaired": 7},
        "null": {},
    }
    if not postgresql:  # jsonb refuses these; SQLite's JSON is text and kept them
        values['{"a": NaN, "b": [Infinity, 1]}'] = {"a": None, "b": [None, 1]}
        values["not json"] = {"_repaired": "not json"}
    return values


def _insert_rows_with_every_stored_value(connection, stored: list[str]) -> None:
    now = datetime.now(UTC)
    json_value = "CAST(:value AS jsonb)" if connection.dialect.name == "postgresql" else ":value"
    uuid_ = sa.bindparam("id", type_=sa.Uuid)
    # More rows than one batch of the migration, every stored value in each batch.
    users = [{"phone": f"+1555{n:07d}", "value": stored[n % len(stored)]} for n in range(1200)]
    connection.execute(
        sa.text(
            "INSERT INTO users (phone_number, tier, full_name, last_active, total_requests,"
            " monthly_requests, rate_limit_reset, timezone, preferences, service_state,"
            f" is_active, created_at, updated_at) VALUES (:phone, 'free', '', :now, 0, 0, :now,"
            f" 'UTC', {json_value}, {json_value}, true, :now, :now)"
        ),
        [{**user, "now": now} for user in users],
    )
    tasks = [{"id": uuid.uuid4(), "value": stored[n % len(stored)]} for n in range(1200)]
    connection.execute(
        sa.text(
            "INSERT INTO tasks (id, user_phone, sms_content, category, status, success, metadata,"
            f" created_at, updated_at) VALUES (:id, :phone, 'hi', 'general', 'queued', false,"
            f" {json_value}, :now, :now)"
        ).bindparams(uuid_),
        [{**task, "phone": users[0]["phone"], "now": now} for task in tasks],
    )
    connection.execute(
        sa.text(
            "INSERT INTO error_logs (id, error_type, error_message, stack_trace, timestamp,"
            f" resolved, resolution_notes, metadata) VALUES (:id, 'system_error', 'x', '', :now,"
            f" false, '', {json_value})"
        ).bindparams(uuid_),
        [{"id": uuid.uuid4(), "value": value, "now": now} for value in stored],
    )


def _stored_json(connection) -> dict[str, list]:
    """Every repaired column's values, sorted so that they compare whatever the row order."""
    queries = {
        "users.preferences": "SELECT preferences FROM users",
        "users.service_state": "SELECT service_state FROM users",
        "tasks.metadata": "SELECT metadata FROM tasks",
        "error_logs.metadata": "SELECT metadata FROM error_logs",
    }
    return {
        name: sorted((_json(value) for (value,) in connection.execute(sa.text(sql))), key=repr)
        for name, sql in queries.items()
    }


def test_stored_json_that_is_not_an_object_is_repaired_and_kept(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0002_user_service_state")
            values = _stored_values(db.engine.dialect.name == "postgresql")
            stored = list(values)
            with db.engine.begin() as connection:
                _insert_rows_with_every_stored_value(connection, stored)
            expected = {
                "users.preferences": [values[stored[n % len(stored)]] for n in range(1200)],
                "users.service_state": [values[stored[n % len(stored)]] for n in range(1200)],
                "tasks.metadata": [values[stored[n % len(stored)]] for n in range(1200)],
                "error_logs.metadata": list(values.values()),
            }
            expected = {name: sorted(rows, key=repr) for name, rows in expected.items()}

            upgrade(revision="0003")
            with db.engine.connect() as connection:
                assert _stored_json(connection) == expected

            # The downgrade keeps the repairs, and running the upgrade again changes nothing.
            downgrade(revision="0002_user_service_state")
            upgrade()
            with db.engine.connect() as connection:
                assert _stored_json(connection) == expected
            db.engine.dispose()


def test_every_existing_staff_account_gets_its_own_session_token(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0002_user_service_state")
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO staff_users (username, password_hash, is_admin, is_active,"
                        " created_at) VALUES (:name, 'x', false, true, :now)"
                    ),
                    [{"name": f"staff{n}", "now": datetime.now(UTC)} for n in range(3)],
                )

            upgrade()
            with db.engine.connect() as connection:
                tokens = connection.execute(sa.text("SELECT session_token FROM staff_users"))
                tokens = tokens.scalars().all()
            assert len(tokens) == 3 and len(set(tokens)) == 3
            assert all(len(token) >= 32 for token in tokens)

            downgrade(revision="0002_user_service_state")
            with db.engine.connect() as connection:
                columns = {
                    column["name"] for column in db.inspect(connection).get_columns("staff_users")
                }
            assert "session_token" not in columns
            db.engine.dispose()


def test_refused_texts_become_failed_tasks_with_their_reason_on_downgrade(tmp_path):
    from sms_agent.models import Task, User

    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            user = User(phone_number="+15551230000")
            db.session.add_all(
                [
                    user,
                    Task(
                        user=user, sms_content="over", status="refused", refusal_reason="over_quota"
                    ),
                    Task(user=user, sms_content="fine", status="completed"),
                ]
            )
            db.session.commit()
            db.session.remove()
            downgrade(revision="0005_task_quota_window")
            with db.engine.connect() as connection:
                rows = connection.execute(
                    sa.text("SELECT sms_content, status, error_message FROM tasks ORDER BY 1")
                ).all()
            assert [tuple(row) for row in rows] == [
                ("fine", "completed", None),
                ("over", "failed", "refused: over_quota"),
            ]
            db.engine.dispose()


def test_0015_anonymises_the_sms_of_texters_deleted_before_it(tmp_path):
    from decimal import Decimal

    from sms_agent.costs import report
    from sms_agent.models import OutboundMessage

    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0014_task_cost_by_triggers")
            with db.engine.begin() as connection:
                _insert_texter(connection, "+15551230001", datetime.now(UTC))
            db.session.add_all(
                OutboundMessage(to_number=phone, body="Your answer", price_usd=Decimal("0.01"))
                for phone in ("+15551230001", "+15551230002")  # the second texter was deleted
            )
            db.session.commit()

            upgrade()
            rows = db.session.execute(sa.select(OutboundMessage.to_number, OutboundMessage.body))
            assert sorted(rows, key=str) == [("+15551230001", "Your answer"), (None, "")]
            assert report.by_texter(["+15551230002"])["+15551230002"]["all_time_usd"] == 0
            assert report.totals()["sms_usd"] == Decimal("0.02")
            db.session.remove()
            db.engine.dispose()


def _insert_texter(connection, phone: str, reset: datetime, monthly_requests: int = 0) -> None:
    """A texter as the revisions before 0016 stored them (the model has columns since)."""
    connection.execute(
        sa.text(
            "INSERT INTO users (phone_number, tier, full_name, last_active, total_requests,"
            " monthly_requests, rate_limit_reset, timezone, preferences, is_active, created_at,"
            " updated_at) VALUES (:phone, 'free', '', :reset, :count, :count, :reset, 'UTC', '{}',"
            " true, :reset, :reset)"
        ).bindparams(sa.bindparam("reset", type_=UTCDateTime)),
        {"phone": phone, "reset": reset, "count": monthly_requests},
    )


def test_0016_keeps_the_requests_of_the_running_window_returnable(tmp_path):
    """Tasks counted in a texter's running window still give their request back after the
    upgrade (they move to the window's start); those of an ended window keep matching none."""
    from sms_agent import quota
    from sms_agent.models import Task, User

    reset, ended = datetime(2027, 2, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0015_keep_deleted_texters_spend")
            with db.engine.begin() as connection:
                _insert_texter(connection, "+15551230001", reset, monthly_requests=5)
                connection.execute(
                    sa.text(
                        "INSERT INTO tasks (id, user_phone, sms_content, category, status,"
                        " success, metadata, quota_window, created_at, updated_at) VALUES (:id,"
                        " '+15551230001', :text, 'general', 'queued', false, '{}', :window,"
                        " :window, :window)"
                    ).bindparams(
                        sa.bindparam("id", type_=sa.Uuid), sa.bindparam("window", type_=UTCDateTime)
                    ),
                    [
                        {"id": uuid.uuid4(), "text": "running", "window": reset},
                        {"id": uuid.uuid4(), "text": "ended", "window": ended},
                    ],
                )

            upgrade()
            user = db.session.get(User, "+15551230001")
            tasks = {t.sms_content: t for t in db.session.scalars(sa.select(Task))}
            assert tasks["running"].quota_window == user.window_started_at
            assert tasks["ended"].quota_window == ended
            db.session.remove()

            downgrade(revision="0015_keep_deleted_texters_spend")
            with db.engine.connect() as connection:
                windows = connection.execute(
                    sa.text("SELECT sms_content, quota_window FROM tasks ORDER BY 1")
                ).all()
            back = UTCDateTime().process_result_value  # SQLite reads back a string
            assert [back(_datetime(w), None) for _, w in windows] == [ended, reset]

            upgrade()
            for task in db.session.scalars(sa.select(Task)):
                quota.give_back(task)
            db.session.commit()
            user = db.session.get(User, "+15551230001")
            assert (user.monthly_requests, user.total_requests) == (4, 3)
            db.session.remove()
            db.engine.dispose()


def _datetime(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def test_0019_keeps_accounts_that_differ_only_in_case_able_to_log_in(tmp_path):
    """Accounts made before usernames were told apart regardless of case: none is renamed or
    locked out, and no new one may join them."""
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0018_task_rollup_costs")
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO staff_users (username, password_hash, is_admin, is_active,"
                        " created_at, session_token) VALUES (:name, 'x', false, true, :now, :name)"
                    ),
                    [{"name": name, "now": datetime.now(UTC)} for name in ("Ann", "ann", "Bob")],
                )

            upgrade()
            assert [find_staff(typed).username for typed in ("Ann", "ann", "ANN", "bob")] == [
                "Ann",
                "ann",
                "Ann",
                "Bob",
            ]
            db.session.add(StaffUser(username="BOB", password_hash="x"))
            with pytest.raises(sa.exc.IntegrityError):
                db.session.commit()
            db.session.rollback()

            downgrade(revision="0018_task_rollup_costs")
            with db.engine.connect() as connection:
                columns = db.inspect(connection).get_columns("staff_users")
            assert "username_key" not in {column["name"] for column in columns}
            db.session.remove()
            db.engine.dispose()


def test_0022_gives_no_message_the_rowid_of_a_deleted_newest_one(tmp_path):
    """A message cursor on SQLite is each table's highest rowid: a message that took the
    rowid of a deleted newest one sorted before a cursor that had seen it (PostgreSQL's
    cursors are transactions: nothing changes there)."""
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            user = User(phone_number="+15550001111")
            db.session.add(Task(user=user, sms_content="kept"))
            db.session.commit()
            newest = Task(user=user, sms_content="deleted")
            db.session.add(newest)
            db.session.commit()
            seen = write_marks.current()
            db.session.delete(newest)
            db.session.commit()
            db.session.add(Task(user=user, sms_content="new"))
            db.session.commit()
            written = write_marks.written_between("tasks", seen, write_marks.current())
            fresh = sa.select(Task.sms_content).where(written)
            assert db.session.scalars(fresh).all() == ["new"]
            db.session.remove()
            downgrade(revision="0021_count_of_sms_kept")
            with db.engine.connect() as connection:
                assert write_marks.USED_ROWIDS not in db.inspect(connection).get_table_names()
            db.engine.dispose()


def test_0024_counts_the_users_and_errors_there_are_and_keeps_counting(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0023_handled_messages")
            for n in range(3):
                make_user_of_an_older_revision(f"+1555000111{n}")
            db.session.add(ErrorLog(error_type="openai_error", error_message="down"))
            db.session.commit()
            upgrade()
            db.session.add(User(phone_number="+15550001119"))
            db.session.commit()
            kept = db.session.execute(sa.text("SELECT table_name, rows FROM row_counts"))
            assert dict(kept.all()) == {"users": 4, "error_logs": 1}
            db.session.remove()
            downgrade(revision="0023_handled_messages")
            with db.engine.connect() as connection:
                assert "row_counts" not in db.inspect(connection).get_table_names()
            db.engine.dispose()


def test_0028_keeps_the_keys_texters_lists_held_so_their_retries_send_nothing(tmp_path):
    from sms_agent import handoff

    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0027_pending_notices")
            kept = {"staff_submissions": ["form-1", "api:1:retry-me"]}
            make_user_of_an_older_revision("+15550001111", service_state=kept)
            db.session.commit()
            upgrade()
            user = db.session.get(User, "+15550001111")
            assert handoff.was_sent(user, "api:1:retry-me") and handoff.was_sent(user, "form-1")
            assert not handoff.was_sent(user, "api:1:new")
            db.session.remove()
            downgrade(revision="0027_pending_notices")
            with db.engine.connect() as connection:
                assert "sent_submissions" not in db.inspect(connection).get_table_names()
            db.engine.dispose()


def test_0030_prices_the_texts_received_before_it_and_counts_them_in_the_spend(tmp_path):
    from decimal import Decimal

    from sms_agent.costs import report

    with fresh_database(tmp_path) as url:
        app = create_app(
            TestingConfig,
            SQLALCHEMY_DATABASE_URI=url,
            SMS_INBOUND_PRICE=Decimal("0.01"),
            MMS_INBOUND_PRICE=Decimal("0.03"),
            WHATSAPP_INBOUND_PRICE=Decimal("0.005"),
        )
        with app.app_context():
            upgrade(revision="0029_key_fingerprints")
            make_user_of_an_older_revision("+15550001111")
            db.session.commit()
            now = datetime.now(UTC)
            texts = [
                ("SM" + "1" * 32, "hello", {}),  # one segment
                ("SM" + "2" * 32, "x" * 200, {}),  # two
                ("MM" + "3" * 32, "look", {"num_media": 1}),
                ("SM" + "4" * 32, "hola", {"our_number": "whatsapp:+15005550006"}),
                (None, "made by the API", {}),  # never received from Twilio
            ]
            rows = [
                {"id": uuid.uuid4(), "user_phone": "+15550001111", "sms_content": body,
                 "message_sid": sid, "metadata": metadata, "created_at": now,
                 "updated_at": now, "category": "general", "status": "queued",
                 "success": False, "cost_usd": 0, "sms_cost_usd": 0}
                for sid, body, metadata in texts
            ]  # fmt: skip
            # The table as revision 0029 left it: the model's has columns added since.
            tasks = sa.table("tasks", *(sa.column(n, Task.__table__.c[n].type) for n in rows[0]))
            db.session.execute(sa.insert(tasks), rows)
            db.session.commit()
            upgrade()
            expected = Decimal("0.01") + Decimal("0.02") + Decimal("0.03") + Decimal("0.005")
            assert report.totals()["total_usd"] == expected
            assert report.by_texter(["+15550001111"])["+15550001111"]["all_time_usd"] == expected
            assert report.spent_by("+15550001111") == expected
            costs = db.session.scalars(sa.select(Task.cost_usd).order_by(Task.sms_content))
            # hello, hola, look, made by the API, x * 200
            assert costs.all() == [Decimal(n) for n in ("0.01", "0.005", "0.03", "0", "0.02")]
            db.session.remove()
            downgrade(revision="0029_key_fingerprints")
            with db.engine.connect() as connection:
                assert "inbound_charges" not in db.inspect(connection).get_table_names()
                spent = connection.execute(sa.text("SELECT sum(cost_usd) FROM tasks")).scalar()
                assert Decimal(spent or 0) == 0
                rollup = connection.execute(sa.text("SELECT count(*) FROM spend_daily")).scalar()
                assert rollup == 0
            db.engine.dispose()


def test_0035_lets_a_texter_who_never_texted_have_no_last_active_and_keeps_the_rest(tmp_path):
    """Rows stored before keep their last_active; texters made after have none until they
    text; the users table keeps its rows, its tasks and its row count (SQLite edits the
    table's definition rather than rebuilding it, which would cascade to the tasks). The
    downgrade gives those who never texted their creation time, as before."""
    texted = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="0034_cost23_cached_tokens")
            make_user_of_an_older_revision("+15550001111", last_active=texted)
            db.session.add(Task(user_phone="+15550001111", sms_content="kept"))
            db.session.commit()
            upgrade()
            db.session.add(User(phone_number="+15550001112"))
            db.session.commit()
            stored = db.session.execute(sa.select(User.phone_number, User.last_active))
            assert sorted(stored.all()) == [("+15550001111", texted), ("+15550001112", None)]
            assert db.session.scalar(sa.select(sa.func.count(Task.id))) == 1
            kept = db.session.execute(
                sa.text("SELECT rows FROM row_counts WHERE table_name = 'users'")
            )
            assert kept.scalar() == 2
            created = db.session.get(User, "+15550001112").created_at
            db.session.remove()
            downgrade(revision="0034_cost23_cached_tokens")
            with db.engine.connect() as connection:
                columns = {c["name"]: c for c in db.inspect(connection).get_columns("users")}
                assert columns["last_active"]["nullable"] is False
                back = connection.execute(sa.text("SELECT count(*) FROM tasks")).scalar()
                assert back == 1
            again = db.session.execute(sa.select(User.phone_number, User.last_active))
            assert sorted(again.all()) == [("+15550001111", texted), ("+15550001112", created)]
            db.session.remove()
            db.engine.dispose()
