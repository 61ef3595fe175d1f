"""The admin home: the API's analytics numbers, charts of tasks and spend, the top spenders and
the newest open errors."""

from __future__ import annotations

from flask_admin import AdminIndexView, expose

from .. import analytics, costs
from ..extensions import db
from ..models import ErrorLog
from .access import StaffAccess
from .charts import breakdown_chart, daily_chart, spend_chart

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
        **spend_context(),
    }


def spend_context() -> dict:
    """The spend cards, the chart of spend per day and this month's top spenders."""
    return {
        "spend": costs.report.overview(),
        "spend_daily": spend_chart(costs.report.daily(days=30)),
    }


class DashboardView(StaffAccess, AdminIndexView):
    @expose("/")
    def index(self):
        return self.render("admin/dashboard.html", **dashboard_context())
