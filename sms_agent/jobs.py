"""Celery jobs: they take ids, call the pipeline, and own only retry policy."""
