"""The API's one JSON error shape: {"error": "...", "details": {...}}."""

from __future__ import annotations

from flask import Flask


def register_api_errors(app: Flask) -> None:
    """Filled in by the REST API issue."""
