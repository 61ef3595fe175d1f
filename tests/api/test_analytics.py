"""/api/analytics/: the design document's AnalyticsSerializer keys, staff only."""

from __future__ import annotations

from datetime import timedelta

from sms_agent.models import utcnow
from tests.factories import make_task, make_user

KEYS = {
    "total_users",
    "active_users_24h",
    "active_users_7d",
    "total_tasks",
    "tasks_24h",
    "refused_tasks",
    "success_rate",
    "avg_response_time",
    "tier_distribution",
    "top_categories",
    "spend",
}


def test_analytics_has_the_documents_keys(client, admin_headers):
    user = make_user(tier="premium")
    make_user(last_active=utcnow() - timedelta(days=3))
    make_task(user, success=True, processing_time=1.5, category="coding")
    make_task(user, success=False, processing_time=2.5, category="coding")

    response = client.get("/api/analytics/", headers=admin_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == KEYS
    assert body["total_users"] == 2 and body["total_tasks"] == 2
    assert body["success_rate"] == 50.0 and body["avg_response_time"] == 2.0
    assert body["tier_distribution"] == {"free": 1, "premium": 1, "enterprise": 0}
    assert body["top_categories"] == [{"category": "coding", "count": 2}]


def test_read_only_staff_may_read_analytics(client, reader_headers):
    assert client.get("/api/analytics/", headers=reader_headers).status_code == 200


def test_texters_may_not_read_global_analytics(client, texter_headers):
    response = client.get("/api/analytics/", headers=texter_headers)
    assert response.status_code == 403
    assert response.get_json()["error"] == "This endpoint is for staff only."


def test_analytics_take_the_same_queries_for_few_or_many_rows(client, admin_headers, count_queries):
    def queries() -> int:
        with count_queries() as counter:
            client.get("/api/analytics/", headers=admin_headers)
        return counter.count

    client.get("/api/analytics/", headers=admin_headers)
    make_task(make_user())
    few = queries()
    for index in range(30):
        make_task(make_user(tier="premium"), category="design", success=index % 3 == 0)
    assert queries() == few
