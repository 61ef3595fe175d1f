"""The tokens and seconds a server reports it used, as counts the app can store and bill."""

from __future__ import annotations

import logging
import math

log = logging.getLogger("sms_agent.llm")


#: More tokens than any model reads or writes in one call. A count past it is a server's
#: garbage: stored, it would overflow its column (failing the task on PostgreSQL); billed,
#: it would trip the spend caps for every texter.
MOST_TOKENS = 10_000_000


def usage_number(usage, name: str, most: float = math.inf):
    """A number from a usage report (tokens or seconds), 0 when not reported or not a count
    a server could mean (negative, infinite, past `most`)."""
    value = getattr(usage, name, None)
    if isinstance(value, int | float) and 0 <= value <= most and value != math.inf:
        return value
    if value is not None:
        log.warning("the model server reported %s=%r; counted as 0", name, value)
    return 0


def tokens_of(usage, name: str) -> int:
    return int(usage_number(usage, name, MOST_TOKENS))


def chat_tokens(usage) -> tuple[int, int, int]:
    """(prompt, completion, total) tokens of a chat completion's usage. OpenAI-compatible
    servers leave counts out or send them as null (some report no total, some no usage at
    all): such a count is 0, and a missing total is the sum of the other two."""
    prompt, generated = tokens_of(usage, "prompt_tokens"), tokens_of(usage, "completion_tokens")
    return prompt, generated, tokens_of(usage, "total_tokens") or prompt + generated
