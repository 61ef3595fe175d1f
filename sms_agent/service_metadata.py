"""The keys of a task's metadata the service writes and reads back, and the rule that keeps
them as the service stored them, whoever edits the metadata (the API's PATCH, the admin's
form): replaced, `replying_to` as text broke the texter's thread, and another `our_number`
sent replies from a number that is not ours."""

from __future__ import annotations

from .answering.ask import DECLINED
from .answering.history import QUOTED
from .answering.pipeline import SLOTS_KEY
from .models.tasks import CATEGORY_GIVEN
from .models.types import as_json_object
from .outbound.sender import OUR_NUMBER

#: What a texter's token reads of its tasks' metadata: what they were sent and what MORE
#: sends next, the text they replied to, whether they chose the category. The rest (which
#: backend and model answered, the model server's request id, timings, their pictures'
#: Twilio URLs, which name our account) is the service's record, for staff.
TEXTER_METADATA = frozenset({"sent", "more", QUOTED, CATEGORY_GIVEN})
#: The metadata the service reads back: what it sent and what MORE sends next (on which
#: channel), the number of ours the text came to (replies go out from it), the message it
#: replied to, its pictures and the question asked of them, how the answer was made.
SERVICE_METADATA = TEXTER_METADATA | {
    "more_channel",
    OUR_NUMBER,
    "media",
    "question",
    "offline",
    "llm_seconds",
    "handoff",
    DECLINED,
    SLOTS_KEY,
}
#: Why a change of one of them is refused.
KEPT_BY_THE_SERVICE = "This key is kept by the service: leave it out, or send it unchanged."


def changed_service_keys(stored, given: dict) -> list[str]:
    """The service's keys `given` would change (sent back unchanged, as a client or form
    that read the task sends them, they pass)."""
    stored = as_json_object(stored)
    return sorted(key for key in SERVICE_METADATA & given.keys() if given[key] != stored.get(key))


def with_service_metadata(stored, given: dict) -> dict:
    """`given`, with the service's own keys as stored (those left out come back)."""
    stored = as_json_object(stored)
    ours = {key: value for key, value in given.items() if key not in SERVICE_METADATA}
    return {**ours, **{key: value for key, value in stored.items() if key in SERVICE_METADATA}}
