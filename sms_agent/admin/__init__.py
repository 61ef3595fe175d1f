"""The staff admin UI under /admin (Flask-Admin behind Flask-Login).

A fresh Admin and fresh views are built for every app: Flask-Admin views hold their
blueprints, so sharing them between apps (tests build many) would break.
"""

from __future__ import annotations

import flask_admin.helpers
from flask import Blueprint, Flask, redirect, send_from_directory, url_for
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from ..extensions import db
from ..plural import counted

SITE_HEADER = "SMS-to-AI Agent Administration"
SITE_TITLE = "SMS-to-AI Agent Admin"
INDEX_TITLE = "Welcome to SMS-to-AI Agent Administration"

assets = Blueprint(
    "admin_assets", __name__, static_folder="static", static_url_path="/admin-assets"
)


#: How long a browser keeps the icon before asking again: it never changes between releases.
FAVICON_MAX_AGE = 7 * 24 * 3600


@assets.route("/favicon.ico")
def favicon():
    """The site's icon, where every browser asks for it: without it each admin page's
    console showed a 404 (the CSP's img-src 'self' allows it)."""
    return send_from_directory(assets.static_folder, "favicon.ico", max_age=FAVICON_MAX_AGE)


@assets.route("/")
def home():
    """The site's root, where `make run` says the web is: the admin, not a bare 404."""
    return redirect(url_for("admin.index"))


class SiteAdmin(Admin):
    """Flask-Admin's Admin with the page title and home heading our templates show."""

    site_title = SITE_TITLE
    index_title = INDEX_TITLE


def init_app(app: Flask) -> Admin:
    from ..security import csp_nonce
    from .auth import AuthView, init_login, is_return_url
    from .base import shown, usd
    from .dashboard import DashboardView
    from .errors import init_app as init_error_pages
    from .idle import end_idle_session
    from .inbox import InboxView, MenuLabel
    from .media import MediaView
    from .tryit import TryItView

    init_login()
    app.before_request(end_idle_session)
    # Every Flask-Admin view reads its return address through this one function.
    flask_admin.helpers.is_safe_url = is_return_url
    app.register_blueprint(assets)
    app.jinja_env.filters["shown"] = shown
    app.jinja_env.filters["counted"] = counted
    app.jinja_env.filters["usd"] = usd
    admin = SiteAdmin(
        app,
        name=SITE_HEADER,
        index_view=DashboardView(name="Dashboard", url="/admin"),
        # Fluid: the lists are tables of many columns, and a laptop's window has room for them.
        theme=Bootstrap4Theme(base_template="admin/sms_base.html", fluid=True),
        # Flask-Admin's inline scripts carry the request's CSP nonce (sms_agent.security).
        csp_nonce_generator=csp_nonce,
    )
    admin.add_view(AuthView(name="Log in", endpoint="auth", url="/admin/auth"))
    admin.add_view(InboxView(name=MenuLabel("Inbox"), endpoint="inbox", url="/admin/inbox"))
    admin.add_views(*_model_views())
    admin.add_view(TryItView(name="Try it", endpoint="tryit", url="/admin/try-it"))
    admin.add_view(MediaView(name="Media", endpoint="media", url="/admin/media"))
    init_error_pages(app, admin)
    return admin


def _model_views() -> list:
    from ..models import ApiToken, ErrorLog, OutboundMessage, StaffUser, Task, User
    from .messages import OutboundMessageView
    from .staff import StaffUserView
    from .tasks import ErrorLogView, TaskView
    from .tokens import ApiTokenView
    from .users import UserView

    return [
        UserView(User, db, name="Users"),
        TaskView(Task, db, name="Tasks"),
        ErrorLogView(ErrorLog, db, name="Error logs"),
        OutboundMessageView(OutboundMessage, db, name="Outbound messages"),
        StaffUserView(StaffUser, db, name="Staff users", category="Access"),
        ApiTokenView(ApiToken, db, name="API tokens", category="Access"),
    ]
