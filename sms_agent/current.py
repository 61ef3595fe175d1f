"""The current app's config, request and `g` as the objects themselves, for code every
webhook runs. Each attribute asked of one of Flask's proxies (`current_app.config`,
`request.form`, `g.get`) is first looked for on the proxy, which on Python 3.11 raises and
catches an AttributeError before the proxy finds it on the object: about 8,000
instructions each, some twenty-five times a webhook. `_get_current_object` is werkzeug's
documented way from a proxy to its object."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Config, Request, current_app, g, request

if TYPE_CHECKING:
    from flask.ctx import _AppCtxGlobals


def app_config() -> Config:
    return current_app._get_current_object().config


def this_request() -> Request:
    return request._get_current_object()


def app_globals() -> _AppCtxGlobals:
    return g._get_current_object()
