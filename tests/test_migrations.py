"""The committed migrations build exactly the schema the models describe."""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from config import TestingConfig
from sms_agent import create_app
from sms_agent.extensions import db
from tests.conftest import fresh_database


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, db.metadata) == []
            downgrade(revision="base")
            with db.engine.connect() as connection:
                assert db.inspect(connection).get_table_names() == ["alembic_version"]
            db.engine.dispose()


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
