"""The admin home: the API's analytics numbers, three charts and the newest open errors."""

from __future__ import annotations

from flask_admin import AdminIndexView, expose

from .. import analytics
from ..extensions import db
from ..models import ErrorLog
from .access import StaffAccess
from .charts import breakdown_chart, daily_chart

LATEST_ERRORS = 10


def dashboard_context() -> dict:
    """Everything the dashboard shows, from the same functions the API's analytics use."""
    summary = analytics.overview()
    return {
        "summary": summary,
        "daily": daily_chart(analytics.daily_stats(days=30)),
        "categories": breakdown_chart("Tasks by category", analytics.category_counts()),
        "tiers": breakdown_chart("Users by tier", summary["tier_distribution"]),
        "errors": db.session.scalars(ErrorLog.unresolved().limit(LATEST_ERRORS)).all(),
    }


class DashboardView(StaffAccess, AdminIndexView):
    @expose("/")
    def index(self):
        return self.render("admin/dashboard.html", **dashboard_context())
