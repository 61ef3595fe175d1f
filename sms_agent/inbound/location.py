"""A location the texter shared on WhatsApp (Latitude, Longitude, Address, Label), written as
words: such a message has no Body, and its place is all it says."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..clean_text import storable

#: A place's name and address are a line each in WhatsApp; longer is not a place.
_MAX_PART_CHARS = 200


def location_text(form: Mapping[str, str]) -> str:
    """ "Shared location: Eiffel Tower, Champ de Mars, Paris (48.8584, 2.2945)", or "" when the
    form carries no location (or coordinates that are not one)."""
    latitude = _coordinate(form.get("Latitude"), 90)
    longitude = _coordinate(form.get("Longitude"), 180)
    if latitude is None or longitude is None:
        return ""
    parts = (storable(form.get(name) or "").strip() for name in ("Label", "Address"))
    place = ", ".join(part[:_MAX_PART_CHARS] for part in parts if part)
    point = f"({latitude}, {longitude})"
    return f"Shared location: {place} {point}" if place else f"Shared location: {point}"


def _coordinate(raw: str | None, limit: int) -> str | None:
    """The coordinate as Twilio wrote it, when it is a number within ±limit degrees."""
    value = (raw or "").strip()
    if not value:  # every SMS: float() would raise (and word) a ValueError to say so
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return value if math.isfinite(number) and abs(number) <= limit else None
