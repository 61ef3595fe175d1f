"""The staff admin UI under /admin (Flask-Admin behind Flask-Login)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Builds a fresh Admin per app; filled in by the admin issue."""
