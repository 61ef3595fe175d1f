"""A location the texter shared on WhatsApp (Latitude, Longitude, Address, Label), written as
words: such a message has no Body, and its place is all it says."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..clean_text import seen_name

#: A place's name and address are a line each in WhatsApp; longer is not a place.
_MAX_PART_CHARS = 200
#: A coordinate as phones and Twilio write one: degrees in decimal notation, in the digits
#: 0-9. float() would take "1e1", "4_8", "inf" and "٤٨" too, which no phone sends.
_DEGREES = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]+)?")


def location_text(form: Mapping[str, str]) -> str:
    """ "Shared location: Eiffel Tower, Champ de Mars, Paris (48.858370, 2.294481)", or "" when
    the form carries no location (or coordinates that are not one)."""
    latitude = _coordinate(form.get("Latitude"), 90)
    longitude = _coordinate(form.get("Longitude"), 180)
    if latitude is None or longitude is None:
        return ""
    # A name and an address staff and the model read on one line, as a profile's name is:
    # a line break, a bell or a direction override in one is nothing a place is called.
    parts = (seen_name(form.get(name) or "") for name in ("Label", "Address"))
    place = ", ".join(part[:_MAX_PART_CHARS] for part in parts if part)
    point = f"({latitude}, {longitude})"
    return f"Shared location: {place} {point}" if place else f"Shared location: {point}"


def _coordinate(raw: str | None, limit: int) -> str | None:
    """The coordinate within ±limit degrees, to six decimals (about 10 cm): an Android phone
    sends fifteen digits, which tell the model and staff nothing more."""
    value = (raw or "").strip()
    if not _DEGREES.fullmatch(value) or abs(float(value)) > limit:
        return None
    return f"{round(float(value), 6) + 0.0:.6f}"  # + 0.0: no "-0.000000"
