"""The tokens and seconds a server reports it used, as counts the app can store and bill."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from unicodedata import east_asian_width

log = logging.getLogger("sms_agent.llm")


#: More tokens than any model reads or writes in one call. A count past it is a server's
#: garbage: stored, it would overflow its column (failing the task on PostgreSQL); billed,
#: it would trip the spend caps for every texter.
MOST_TOKENS = 10_000_000


#: About how many characters of English one token holds (OpenAI's rule of thumb), for a
#: count a server did not report. A character of Chinese, Japanese or Korean (Unicode's
#: wide ones) is about a token of its own.
CHARS_PER_TOKEN = 4
_WIDE = frozenset("WF")

#: What one picture in a prompt is counted as when the server reports no usage: a
#: 1024x1024 picture read in detail by gpt-4o (85 + 4 tiles of 170).
IMAGE_TOKENS = 765

#: The fewest bytes a second of a voice note takes (AMR-NB, 12.2 kbit/s, the codec of MMS
#: voice): a recording's length, at most, when the server reports none.
AUDIO_BYTES_PER_SECOND = 1525

#: Audio tokens per second of speech for the transcription models billed by tokens
#: (gpt-4o-transcribe: USD 6 per 1M, about USD 0.006 a minute).
AUDIO_TOKENS_PER_SECOND = 17


def reported(usage, name: str, most: float = math.inf) -> int | float | None:
    """A number from a usage report (tokens or seconds), None when not reported or not a
    count a server could mean (negative, infinite, past `most`)."""
    value = getattr(usage, name, None)
    if isinstance(value, int | float) and 0 <= value <= most and value != math.inf:
        return value
    if value is not None:
        log.warning("the model server reported %s=%r; not counted", name, value)
    return None


def usage_number(usage, name: str, most: float = math.inf):
    """`reported`, 0 when it is not."""
    value = reported(usage, name, most)
    return 0 if value is None else value


def tokens_of(usage, name: str) -> int:
    return int(usage_number(usage, name, MOST_TOKENS))


def tokens_or_estimate(usage, name: str, estimate: Callable[[], int]) -> int:
    """The tokens the server reported as `name`, else `estimate()`, logged: a call is billed
    whether or not the server says what it used, and one counted as 0 tokens cost nothing
    in every report and never brought a texter nearer their spend cap. The estimate is
    made only when it is needed: most servers report both counts."""
    value = reported(usage, name, MOST_TOKENS)
    if value is not None:
        return int(value)
    estimated = estimate()
    log.warning("the model server reported no %s; estimated as %d", name, estimated)
    return estimated


def text_tokens(text: str) -> int:
    """About how many tokens `text` is, for a count the server did not report."""
    wide = sum(1 for char in text if east_asian_width(char) in _WIDE) if not text.isascii() else 0
    return wide + -(-(len(text) - wide) // CHARS_PER_TOKEN)


def prompt_tokens(messages: list[dict]) -> int:
    """About how many tokens a chat request's messages are: their text, and each picture."""
    total = 0
    for message in messages:
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"text": content or ""}]
        for part in parts:
            if part.get("type") == "image_url":
                total += IMAGE_TOKENS
            else:
                total += text_tokens(str(part.get("text") or ""))
        total += text_tokens(str(message.get("tool_calls") or ""))
    return total


def _none() -> int:
    return 0


def chat_tokens(
    usage, prompt_estimate: Callable[[], int] = _none, answer_estimate: Callable[[], int] = _none
) -> tuple[int, int, int]:
    """(prompt, completion, total) tokens of a chat completion's usage. OpenAI-compatible
    servers leave counts out or send them as null (some report no total, some no usage at
    all): such a count is estimated (by calling `prompt_estimate` or `answer_estimate`)
    from the request and the answer, and a missing total
    is the prompt and completion tokens' sum. A total beyond the prompt and completion
    tokens is the thinking a server counted there alone (Gemini's OpenAI-compatible usage,
    whose completion_tokens leave a thinking model's thoughts out): written, so billed as
    generated, as OpenAI's completion_tokens count them."""
    prompt = tokens_or_estimate(usage, "prompt_tokens", prompt_estimate)
    total = tokens_of(usage, "total_tokens")
    prompt_said = reported(usage, "prompt_tokens", MOST_TOKENS) is not None
    written = max(total - prompt, 0) if total and prompt_said else 0  # its own count
    generated = tokens_or_estimate(usage, "completion_tokens", lambda: written or answer_estimate())
    return prompt, max(generated, written), total or prompt + generated


def cached_tokens(usage, prompt: int) -> int:
    """Of a chat completion's `prompt` tokens, the ones read from the server's prompt cache
    (OpenAI's usage.prompt_tokens_details.cached_tokens), which cost less; 0 when not
    reported, and never more than the prompt."""
    details = getattr(usage, "prompt_tokens_details", None)
    return min(tokens_of(details, "cached_tokens"), prompt)


def transcription_usage(usage, size: int, transcript: str) -> tuple[int, int, float]:
    """(input tokens, output tokens, seconds) a transcription of `size` bytes was billed
    for. A server that reports none of them (whisper-1 behind an older proxy, LocalAI) is
    billed for the longest the recording can be, so a voice note is never free."""
    names = ("input_tokens", "output_tokens", "seconds")
    if any(reported(usage, name, MOST_TOKENS) is not None for name in names):
        return (
            tokens_of(usage, "input_tokens"),
            tokens_of(usage, "output_tokens"),
            usage_number(usage, "seconds"),
        )
    seconds = -(-size // AUDIO_BYTES_PER_SECOND)
    log.warning("the transcription server reported no usage; estimated as %d seconds", seconds)
    return seconds * AUDIO_TOKENS_PER_SECOND, text_tokens(transcript), float(seconds)
