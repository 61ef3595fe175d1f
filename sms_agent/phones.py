"""Phone numbers: parse anything a person or Twilio sends into E.164, and mask for logs."""

from __future__ import annotations

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """The text is not a valid, dialable phone number."""


def to_e164(raw: str, default_region: str = "US") -> str:
    """'+1 (555) 123-0000' or '5551230000' -> '+15551230000'; raises InvalidPhoneNumber."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("a phone number is required")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{text!r} is not a phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber(f"{text!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def complete_number(raw: str, default_region: str = "US") -> str | None:
    """The E.164 form of a whole number, area code included, else None: "555-0045" is a
    possible local number to to_e164, but only part of one to someone searching."""
    try:
        parsed = phonenumbers.parse((raw or "").strip(), default_region)
    except phonenumbers.NumberParseException:
        return None
    complete = phonenumbers.is_possible_number_with_reason(parsed)
    if complete != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(phone: str | None) -> str:
    """Only the last four digits, so logs can be correlated without exposing who texted."""
    if not phone:
        return "-"
    return "***" + phone[-4:]
