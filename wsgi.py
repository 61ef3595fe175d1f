"""Entry point for gunicorn (wsgi:app), Celery (wsgi:celery_app) and the flask command.

A setting the service cannot run with stops the process with one line naming it (exit 1),
not a traceback: config.py reads every setting as it is imported, create_app checks how
they go together."""

import sys

try:
    from config import SettingError, config_for

    settings = config_for()  # APP_ENV names it
except ValueError as exc:  # config.py's SettingError, raised while it read the settings
    sys.exit(f"refusing to start: {exc}")

from sms_agent import create_app

try:
    app = create_app(settings)
except SettingError as exc:  # startup_refusal's words, which say "refusing to start" already
    sys.exit(str(exc))
celery_app = app.extensions["celery"]
