"""What the service spends, in US dollars: the price tables (prices.py), pricing each SMS
and model call as it happens and adopting Twilio's real prices later (ledger.py), and the
totals per task, texter, tier and day (report.py)."""

from . import report
from .ledger import (
    failed_sms_pricing,
    fetch_prices,
    keep_paid_calls,
    record_model_call,
    refresh_task_cost,
    refresh_task_costs,
)
from .prices import country_of, estimate_sms, model_cost, money

__all__ = [
    "country_of",
    "estimate_sms",
    "failed_sms_pricing",
    "fetch_prices",
    "keep_paid_calls",
    "model_cost",
    "money",
    "record_model_call",
    "refresh_task_cost",
    "refresh_task_costs",
    "report",
]
