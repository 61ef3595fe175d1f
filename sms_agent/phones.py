"""Phone numbers: parse anything a person or Twilio sends into E.164, and mask for logs."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from flask import current_app

#: The longest text phonenumbers reads as a number (it refuses anything longer, TOO_LONG).
MAX_INPUT_LENGTH = 250


class InvalidPhoneNumber(ValueError):
    """The text is not a valid, dialable phone number."""


#: Where phonenumbers starts reading the number: a label before it ("Tel: ") is skipped.
_NUMBER_START = re.compile(r"[+\uff0b\d]")


def to_e164(raw: str, default_region: str = "US") -> str:
    """'+1 (555) 123-0000' or '5551230000' -> '+15551230000'; raises InvalidPhoneNumber,
    for a local number without its area code too ("555-0045" names nobody: phonenumbers
    calls it possible, as dialled locally, and Twilio would refuse to text it), for one
    with an extension ("ext. 12"), and for one with letters or other digits than 0-9."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("a phone number is required")
    return _parsed_e164(text, default_region)


@lru_cache(maxsize=4096)
def _parsed_e164(text: str, default_region: str) -> str:
    """Every webhook parses its texter's number and ours, nearly always numbers seen
    before: phonenumbers' parse is about 4% of a webhook's CPU, a cached answer none. A
    refusal raises, and is not cached."""
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{text!r} is not a phone number") from exc
    if parsed.extension:
        # E.164 has no room for one: it was dropped without a word, naming the switchboard.
        raise InvalidPhoneNumber(f"{text!r} has an extension, which a text cannot reach")
    if why := _not_as_written(text):
        raise InvalidPhoneNumber(f"{text!r} {why}")
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise InvalidPhoneNumber(f"{text!r} lacks its area code")
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise InvalidPhoneNumber(f"{text!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _not_as_written(text: str) -> str | None:
    """Why phonenumbers' reading of `text` may not be the number a person sees in it, or
    None. It reads a keypad's letters as their digits ("+1 555 123 OOOO", zeros typed as
    letters, was +15551236666) or drops them, and every script's digits as 0-9, a mix too:
    the Bengali four in "12\u09ea" looks like an 8. Staff, Twilio and E.164 write 0-9."""
    if any(char.isdigit() and not char.isascii() for char in text):
        return "has digits other than 0-9: write the number in the digits 0-9"
    start = _NUMBER_START.search(text)
    if start and any(char.isalpha() for char in text[start.start() :]):
        return "has letters: write the number in digits (a letter is not read as a digit)"
    return None


def normalise_phone(text: str) -> str:
    """E.164 for a number in any common notation; local numbers are read in the service's
    own region (DEFAULT_PHONE_REGION), as the webhook reads them. Raises InvalidPhoneNumber."""
    return to_e164(text, current_app.config["DEFAULT_PHONE_REGION"])


def complete_number(raw: str, default_region: str = "US") -> str | None:
    """to_e164, or None for what is not a whole phone number."""
    try:
        return to_e164(raw, default_region)
    except InvalidPhoneNumber:
        return None


#: What a typed or pasted phone number looks like: "+1 (555) 123-0000", "5551230000".
_PHONE_LIKE = re.compile(r"\+?[\d\s().-]+")


def whole_phone_number(search: str) -> str | None:
    """The E.164 number a search box's `search` is (the admin's lists, the API's users
    `search`), read in DEFAULT_PHONE_REGION, or None when it is not a whole phone number
    (part of one, words)."""
    text = search.strip()
    if not _PHONE_LIKE.fullmatch(text):
        return None
    return complete_number(text, current_app.config["DEFAULT_PHONE_REGION"])


def mask(phone: str | None) -> str:
    """Only the last four digits, so logs can be correlated without exposing who texted."""
    if not phone:
        return "-"
    return "***" + phone[-4:]
