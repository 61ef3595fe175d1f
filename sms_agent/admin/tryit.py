"""The Try it page: staff text the service as any number through the real pipeline.

The message is signed as Twilio signs it and posted to our own /sms/inbound view
(sms_agent.simulator), so it meets the same checks, quotas and worker as a real SMS.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from ..models import TaskStatus, utcnow
from ..phones import InvalidPhoneNumber, to_e164
from ..simulator import SimulationRejected, simulate_inbound
from .access import StaffAccess
from .conversation import Bubble, awaiting_reply, thread_for

DEFAULT_NUMBER = "+15555550100"


class TryItForm(FlaskForm):
    from_number = StringField("From number", validators=[InputRequired(), Length(max=32)])
    message = TextAreaField("Message", validators=[InputRequired(), Length(max=1600)])


class TryItView(StaffAccess, BaseView):
    """Admin only: it sends real SMS replies when Twilio is configured."""

    admin_only = True

    @expose("/", methods=("GET", "POST"))
    def index(self):
        phone = request.args.get("phone", "")
        form = TryItForm(from_number=phone or DEFAULT_NUMBER)
        if form.validate_on_submit():
            return self._send(form)
        status = 400 if request.method == "POST" else 200
        return self._page(form, phone), status

    @expose("/thread/")
    def thread(self):
        """Just the thread, for the page's poll while a reply is on its way."""
        thread = thread_for(request.args.get("phone", ""))
        return self.render("admin/_thread.html", thread=thread, waiting=reply_pending(thread))

    def _send(self, form: TryItForm):
        sent = utcnow()
        try:
            phone = to_e164(form.from_number.data, current_app.config["DEFAULT_PHONE_REGION"])
            simulate_inbound(phone, form.message.data)
        except (InvalidPhoneNumber, SimulationRejected) as exc:
            flash(f"Not sent: {exc}", "error")
            return self._page(form, ""), 400
        return redirect(url_for(".index", phone=phone, sent=sent.isoformat()))

    def _page(self, form: TryItForm, phone: str) -> str:
        thread = thread_for(phone) if phone else []
        return self.render(
            "admin/tryit.html", form=form, phone=phone, thread=thread, waiting=reply_pending(thread)
        )


def reply_pending(thread: list[Bubble]) -> bool:
    """Still waiting: the texter had the last word, or nothing came back since the message
    was sent (keywords such as HELP leave no task, only our reply). A refused text waits
    for nothing: the page labels it instead."""
    if thread and thread[-1].inbound and thread[-1].status == TaskStatus.REFUSED:
        return False
    if awaiting_reply(thread):
        return True
    try:
        sent = datetime.fromisoformat(request.args.get("sent", ""))
    except ValueError:
        return False
    sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
    return not any(not bubble.inbound and bubble.at >= sent for bubble in thread)
