import logging
from logging.config import fileConfig

import click
import sqlalchemy as sa
from alembic import context
from flask import current_app

from sms_agent.models import write_marks
from sms_agent.ops.health import unreachable_database

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
# Keep the app's own loggers alive when migrations run inside a running process.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    conf_args.setdefault("include_object", write_marks.left_out_of_the_models)
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    try:
        connection = get_engine().connect()
    except sa.exc.SQLAlchemyError as exc:
        # One line and exit code 1, as every other command says it (README, "Command
        # line"), not the driver's traceback on every deploy's `flask db upgrade`.
        raise click.ClickException(unreachable_database(exc)) from None

    with connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)

        with context.begin_transaction():
            one_runner_at_a_time(connection)
            context.run_migrations()


#: The PostgreSQL advisory lock every run of the migrations takes first ("sms_migr").
MIGRATIONS_LOCK = 0x736D735F6D696772


def one_runner_at_a_time(connection):
    """Wait for any other run of the migrations to commit (every host of a deploy may run
    `flask db upgrade` at once), then read the version it left: the second run has nothing
    left to do. Without it, the second ran the same migrations beside the first and failed
    with a page of traceback (a duplicate key in pg_type). Released at commit."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATIONS_LOCK})


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
