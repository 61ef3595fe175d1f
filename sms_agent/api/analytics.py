"""/api/analytics/: the service at a glance (the design document's AnalyticsSerializer)."""

from __future__ import annotations

from .. import costs
from ..analytics import overview
from . import bp
from .auth import staff_only
from .operations import operation
from .schemas import AnalyticsOut, kept


@bp.get("/analytics/")
@operation("analytics", response=AnalyticsOut)
@staff_only
def analytics():
    """Users, activity, tasks, success rate, tiers, top categories and spend (USD: in all,
    today, this month, by tier, the month's top spenders), across the service."""
    return kept(AnalyticsOut).dump({**overview(), "spend": costs.report.overview()})
