"""The admin home: analytics numbers, SVG charts and the newest unresolved errors."""

from __future__ import annotations

import re
from datetime import timedelta
from xml.etree import ElementTree

import pytest

from sms_agent.admin.charts import breakdown_chart, daily_chart, nice_ceiling
from sms_agent.analytics import daily_stats
from sms_agent.extensions import db
from sms_agent.models import OutboundMessage, utcnow
from tests.factories import make_error, make_task, make_user
from tests.standins import signed_post

SVG = re.compile(r"<svg.*?</svg>", re.S)


@pytest.fixture
def some_activity():
    premium = make_user(tier="premium")
    make_user(tier="enterprise", last_active=utcnow() - timedelta(days=3))
    for _ in range(3):
        make_task(
            user=premium, category="coding", success=True, status="completed", processing_time=2
        )
    make_task(user=premium, status="failed", created_at=utcnow() - timedelta(days=2))
    make_error(error_message="the newest unresolved problem")
    make_error(error_message="already fixed", resolved=True)


def test_dashboard_shows_the_analytics_numbers(admin_client, some_activity):
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "Welcome to SMS-to-AI Agent Administration" in page
    summary = re.search(r'data-testid="summary".*?data-testid="chart-daily"', page, re.S).group(0)
    values = re.findall(r'sms-card-value">([^<]+)<', summary)
    assert values == ["2", "1", "2", "4", "75.0 %", "2.00 s"]


def test_dashboard_draws_four_svg_charts(admin_client, some_activity):
    page = admin_client.get("/admin/").get_data(as_text=True)
    charts = SVG.findall(page)
    assert len(charts) == 4  # tasks per day, categories, tiers, spend per day
    trees = [ElementTree.fromstring(svg) for svg in charts]  # well-formed SVG
    ns = "{http://www.w3.org/2000/svg}"
    daily_bars = trees[0].findall(f"{ns}rect")
    assert {bar.get("class") for bar in daily_bars} == {"bar bar-ok", "bar bar-failed"}
    assert len(trees[1].findall(f"{ns}rect")) == 2  # coding and general have tasks
    assert len(trees[2].findall(f"{ns}rect")) == 2  # premium and enterprise
    assert "cdn" not in page.lower() and "https://" not in page


def test_dashboard_lists_only_unresolved_errors(admin_client, some_activity):
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "the newest unresolved problem" in page
    assert "already fixed" not in page


def test_a_reply_twilio_could_not_deliver_shows_among_the_errors(admin_client):
    """A delivery report of a failure is an error for staff (outbound/undelivered.py)."""
    task = make_task(status="completed", success=True)
    sid = "SM" + "d" * 32
    db.session.add(OutboundMessage(task=task, to_number=task.user_phone, body="hi", sid=sid))
    db.session.commit()
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert signed_post(admin_client, "/sms/status", form).status_code == 200
    meaning = "error 30003, the phone is unreachable"
    assert meaning in admin_client.get("/admin/").get_data(as_text=True)
    assert meaning in admin_client.get("/admin/errorlog/").get_data(as_text=True)


def test_empty_dashboard_still_renders(admin_client):
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "No unresolved errors." in page and "No data yet." in page


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (230, 500)]
)
def test_axis_ceiling(value, ceiling):
    assert nice_ceiling(value) == ceiling


def test_daily_bars_are_proportional_and_stacked(app):
    days = [
        {"date": "2026-01-01", "total": 10, "successful": 6, "failed": 4},
        {"date": "2026-01-02", "total": 5, "successful": 5, "failed": 0},
        {"date": "2026-01-03", "total": 0, "successful": 0, "failed": 0},
    ]
    chart = daily_chart(days, height=240)
    ok1, failed1, ok2 = chart.bars
    assert (ok1.kind, failed1.kind, ok2.kind) == ("ok", "failed", "ok")
    assert ok1.height == pytest.approx(ok2.height * 6 / 5)
    assert failed1.y + failed1.height == pytest.approx(ok1.y)  # failed sits on successful
    assert ok1.height + failed1.height == pytest.approx(240 - 28 - 10)  # 10 fills the plot


def test_daily_chart_has_thirty_days_from_analytics(app):
    assert len(daily_chart(daily_stats(days=30)).labels) >= 30 // 5


def test_breakdown_bars_scale_to_the_largest(app):
    chart = breakdown_chart("Users by tier", {"free": 10, "premium": 5, "enterprise": 0})
    free, premium = chart.bars
    assert premium.width == pytest.approx(free.width / 2)
    assert [label.text for label in chart.labels if label.anchor == "end"] == [
        "Free",
        "Premium",
        "Enterprise",
    ]


def test_large_counts_read_with_thousands_separators(app):
    chart = breakdown_chart("Tasks by category", {"general": 29932, "coding": 7})
    assert [label.text for label in chart.labels if label.anchor != "end"] == ["29,932", "7"]


def test_the_dashboard_charts_spend_per_day_and_lists_top_spenders(admin_client):
    from decimal import Decimal

    from sms_agent.extensions import db
    from sms_agent.models import ModelCall, OutboundMessage

    big, small = make_user(), make_user()
    db.session.add_all(
        [
            OutboundMessage(to_number=big.phone_number, body="a", price_usd=Decimal("0.25")),
            ModelCall(user_phone=big.phone_number, model="gpt-4o", cost_usd=Decimal("0.5")),
            OutboundMessage(to_number=small.phone_number, body="b", price_usd=Decimal("0.01")),
        ]
    )
    db.session.commit()
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-testid="chart-spend"' in page
    assert "SMS $0.260000" in page and "Model $0.500000" in page
    spenders = page[page.index('data-testid="top-spenders"') :]
    assert spenders.index(big.phone_number) < spenders.index(small.phone_number)
    assert "$0.750000" in spenders


def test_the_tasks_card_counts_the_last_24_hours_and_says_so(admin_client):
    """Regression: the Tasks card counted the last 24 hours and called them "today", so at
    05:40 UTC it read "302 today" beside a chart whose bar for the UTC day held 73."""
    texter = make_user()
    make_task(user=texter)
    make_task(user=texter, created_at=utcnow() - timedelta(hours=23))
    make_task(user=texter, created_at=utcnow() - timedelta(hours=25))
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert re.findall(r'sms-card-note">([^<]+)<', page) == ["2 in the last 24 h"]


def test_spend_of_a_fraction_of_a_cent_shows_as_the_api_gives_it(admin_client):
    """Regression: a texter who cost $0.0004 showed $0.00 today, this month and all time on
    the dashboard, and $0.0004 beside it in the top spenders; every amount is written to
    the millionth of a dollar, as the API writes it ("0.000400")."""
    from decimal import Decimal

    from sms_agent.extensions import db
    from sms_agent.models import ModelCall

    texter = make_user()
    db.session.add(ModelCall(user_phone=texter.phone_number, model="m", cost_usd=Decimal("0.0004")))
    db.session.commit()
    page = admin_client.get("/admin/").get_data(as_text=True)
    # Today, this month, all time, the top spender and the chart's day.
    assert page.count("$0.000400") == 5
    assert "<strong>$0.00<" not in page
    listed = admin_client.get("/admin/user/").get_data(as_text=True)
    assert "0.000400" in listed


def test_a_days_bar_names_its_amount_as_the_api_gives_it(app):
    """Its title writes the day's Decimal amount to the millionth, as every admin amount."""
    from decimal import Decimal

    from sms_agent.admin.charts import spend_chart

    amounts = {"sms_usd": Decimal(0), "model_usd": Decimal("0.00125")}
    chart = spend_chart([{"date": "2026-12-07", **amounts, "total_usd": Decimal("0.00125")}])
    [bar] = [shape for shape in chart.shapes if shape.kind == "model"]
    assert bar.title == "2026-12-07: Model $0.001250"
