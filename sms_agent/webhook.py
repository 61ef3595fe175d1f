"""Twilio's webhooks: inbound SMS and delivery status callbacks."""

from flask import Blueprint

bp = Blueprint("webhook", __name__, url_prefix="/sms")
