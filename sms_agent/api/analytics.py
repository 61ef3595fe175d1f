"""/api/analytics/: the service at a glance (the design document's AnalyticsSerializer)."""

from __future__ import annotations

from ..analytics import overview
from . import bp
from .auth import staff_only
from .operations import operation
from .schemas import AnalyticsOut


@bp.get("/analytics/")
@operation("analytics", response=AnalyticsOut)
@staff_only
def analytics():
    """Users, activity, tasks, success rate, tiers and top categories, across the service."""
    return AnalyticsOut().dump(overview())
