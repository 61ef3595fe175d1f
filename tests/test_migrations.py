"""The committed migrations build exactly the schema the models describe."""

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
