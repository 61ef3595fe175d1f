"""How a typed phone number is read: in any common notation, but never as another number
than the one written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sms_agent.extensions import db
from sms_agent.models import ApiToken, User
from sms_agent.phones import InvalidPhoneNumber, to_e164
from tests.factories import make_staff, make_token, make_user

#: Read by phonenumbers as the digits under the letters on a keypad, or with the letters
#: dropped: a letter O typed for a zero was another texter's number.
WITH_LETTERS = ["+1 555 123 OOOO", "+1 800 FLOWERS", "+1 555 123 0000 OK"]
#: Other scripts' digits, and a mix: the Bengali four "৪" looks like an 8.
OTHER_DIGITS = ["+٩٧١٥٠١٢٣٤٥٦٧", "+１ ５５５ １２３ ００００", "+1 555 12৪ 0000"]


@pytest.mark.parametrize("typed", WITH_LETTERS)
def test_a_letter_in_a_number_is_refused_not_read_as_a_keypad_digit(typed):
    with pytest.raises(InvalidPhoneNumber, match="has letters"):
        to_e164(typed)


@pytest.mark.parametrize("typed", OTHER_DIGITS)
def test_digits_other_than_0_to_9_are_refused_saying_so(typed):
    with pytest.raises(InvalidPhoneNumber, match="the digits 0-9"):
        to_e164(typed)


@pytest.mark.parametrize(
    "typed",
    ["Tel: +1 555 123 0000", "＋1 (555) 123-0000", "+1\u00a0555\u00a0123\u00a00000", "5551230000"],
)
def test_common_notations_still_read_as_the_number(typed):
    assert to_e164(typed) == "+15551230000"


def test_the_api_refuses_a_number_with_letters_with_a_field_error(client):
    headers = {"Authorization": f"Token {make_token(make_staff('ops', is_admin=True))}"}
    response = client.post("/api/users/", json={"phone_number": "+1 555 123 OOOO"}, headers=headers)

    assert response.status_code == 400
    assert "has letters" in str(response.get_json()["details"]["phone_number"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_a_texters_token_is_not_made_for_the_number_a_typo_spells(runner):
    """Regression: "+1 555 123 OOOO" (letters O for zeros) was read as +15551236666, and a
    token was made for that texter, not the one meant."""
    make_user("+15551236666")

    result = runner.invoke(args=["token", "create-for-user", "+1 555 123 OOOO"])

    assert result.exit_code == 2 and "has letters" in result.output
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_fullwidth_plus_in_a_url_names_the_texter_as_in_a_body(client):
    """One rule for every door: the fullwidth plus a Chinese or Japanese keyboard types is
    the same sign as "+" (to_e164 reads it so in a body, the admin and the webhook), so a
    URL written with it names the same texter, and its digits are still held to 0-9."""
    headers = {"Authorization": f"Token {make_token(make_staff('ops', is_admin=True))}"}
    make_user("+15551230000")

    found = client.get("/api/users/%EF%BC%8B15551230000/", headers=headers)
    fullwidth_digit = client.get("/api/users/%EF%BC%8B%EF%BC%9115551230000/", headers=headers)

    assert found.status_code == 200 and found.get_json()["phone_number"] == "+15551230000"
    assert fullwidth_digit.status_code == 400
