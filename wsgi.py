"""Entry point for gunicorn (wsgi:app), Celery (wsgi:celery_app) and the flask command."""

from sms_agent import create_app

app = create_app()
celery_app = app.extensions["celery"]
