"""Which numbers staff may text the service as (the admin's Try it and `flask sms
simulate`): test numbers only.

A test number is one they made a texter of, marked as theirs (`TRY_IT_NUMBER`). A real
texter's number is refused: staff would act as that person, opting them in or out, spending
their quota, continuing their conversation and texting them answers they never asked for.
While replies are real SMS (SMS_BACKEND=twilio), a number must also reach nobody (one set
aside for fiction) or be listed in TEST_PHONE_NUMBERS (staff's own phones): any other may be
a stranger's, who never texted the service and would be texted its answers.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import User

#: The key in User.service_state of a test number's texter: who first wrote as it (a staff
#: member's username, or the command). No API
#: or admin form writes service_state.
TRY_IT_NUMBER = "try_it_number"

#: Numbers that ring no phone: +1 555 (no area code; the demo's numbers), any North
#: American 555-0100 to 555-0199 (set aside for fiction), Ofcom's 07700 900xxx (the same).
FICTIONAL = re.compile(r"\+1(555\d{7}|\d{3}55501\d\d)|\+447700900\d{3}")

#: FICTIONAL as LIKE patterns, for the database to match.
_FICTIONAL_LIKE = ("+1555_______", "+1___55501__", "+447700900___")


def fictional_in_sql(phone: sa.ColumnElement) -> sa.ColumnElement[bool]:
    """Whether `phone` is a FICTIONAL number, in SQL (stored numbers are E.164: digits)."""
    return sa.or_(*(phone.like(pattern) for pattern in _FICTIONAL_LIKE))


#: Any of them, for what staff are told.
EXAMPLE_NUMBER = "+15555550100"

REAL_TEXTER = (
    "This is a texter's number: writing as it would act as them (opt them in or out, use"
    " their quota, continue their conversation and text them the answer). Write as a test"
    f" number, such as {EXAMPLE_NUMBER}, or your own phone's if it never texted the service."
)

STRANGER = (
    "With Twilio configured the answer is a real SMS to this number, which may be a"
    " stranger's. Write as a number that reaches nobody, such as"
    f" {EXAMPLE_NUMBER}, or as one listed in TEST_PHONE_NUMBERS (your own phone's)."
)

OWN_NUMBER = (
    "This is the service's own number, the one texted: write as a texter's, a test number"
    f" such as {EXAMPLE_NUMBER}."
)


class NotATestNumber(ValueError):
    """Staff may not write as this number (the message says why)."""


def claim_test_number(phone: str, made_by: str) -> None:
    """Let staff (`made_by`) write as `phone`, or raise NotATestNumber. A number nobody
    texted from gets its texter now, as the webhook would make it, marked as a test number
    (made before the text, so a second click on Send finds it marked). A texter who texted
    the service, or whom staff or the API added, is a person. The service's own numbers
    are none: it would text itself."""
    config = current_app.config
    if phone in (config["TWILIO_PHONE_NUMBER"], config["TWILIO_WHATSAPP_NUMBER"]):
        raise NotATestNumber(OWN_NUMBER)
    if texts_a_stranger(phone):
        raise NotATestNumber(STRANGER)
    user = db.session.get(User, phone)
    if user is None:
        db.session.add(User(phone_number=phone, service_state={TRY_IT_NUMBER: made_by}))
        try:
            db.session.commit()
            return
        except IntegrityError:  # made meanwhile: by another Try it, or by a real text
            db.session.rollback()
            user = db.session.get(User, phone)
    if TRY_IT_NUMBER not in user.service_state:
        raise NotATestNumber(REAL_TEXTER)


def texts_a_stranger(phone: str) -> bool:
    """Whether an answer to `phone` would be a real SMS to someone who did not ask for it."""
    config = current_app.config
    if config["SMS_BACKEND"] != "twilio":
        return False  # it goes to the console's outbox
    return not FICTIONAL.fullmatch(phone) and phone not in config["TEST_PHONE_NUMBERS"]
