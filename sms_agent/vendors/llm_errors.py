"""When the model gives no usable answer: the error the job records and retries by.

What the openai SDK raises (timeouts, lost connections, every status a server answers with)
is read here into an LLMError: whether asking again later may work, and a message a person
can read in the error log.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time

import openai

#: The longest a job waits before asking a model server again that said to wait (429 or
#: 503 with Retry-After). A server that asks for longer (a daily limit, "try again in an
#: hour") will not answer while the texter still waits for an answer: no retry is made.
MAX_SERVER_WAIT_SECONDS = 60.0


class LLMError(Exception):
    """The model gave no usable answer. `error_type` is the ErrorLog type to record;
    `retryable` says whether asking again later may work."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        retryable: bool,
        request_id=None,
        status=None,
        context_too_long: bool = False,
        image_rejected: bool = False,
        no_vision: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.request_id = request_id
        #: The server's HTTP status, when it answered (a 400 to an image: no vision).
        self.status = status
        #: The server refused the request as longer than the model's context window.
        self.context_too_long = context_too_long
        #: The server refused a picture itself (broken, or a kind it does not take), not
        #: pictures as such.
        self.image_rejected = image_rejected
        #: The server said the model reads no pictures, whatever its status said.
        self.no_vision = no_vision
        #: The seconds the server said to wait before asking again (its Retry-After).
        self.retry_after = retry_after
        #: The call a 200 without an answer was still billed for (its usage said so), to
        #: record; None for any other failure.
        self.billed = None

    @property
    def waits_too_long(self) -> bool:
        """Whether the server said to wait past MAX_SERVER_WAIT_SECONDS: no retry of the job
        will find it answering, so what its last try would do is done now."""
        return (self.retry_after or 0.0) > MAX_SERVER_WAIT_SECONDS


def not_a_completion(what: str) -> LLMError:
    """A 200 that is no answer: mostly a proxy or gateway before the model server, whose
    fault passes, as a 502's does; so it is retried like one, with a message a person can
    read instead of the parser's traceback."""
    return LLMError(
        f"AI error: the model server answered 200 with {what}",
        error_type="openai_error",
        retryable=True,
    )


def excerpt(value, length: int = 120) -> str:
    """The start of a body, as a person would read it: an HTML page without its tags."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    words = " ".join(re.sub(r"<[^>]*>", " ", text).split())
    return repr(words if len(words) <= length else words[: length - 3] + "...")


#: The codes of a 400 that refuses the question itself, whatever is asked of it: Azure
#: OpenAI's content filter on the prompt, OpenAI's usage policy check of reasoning models.
PROMPT_FILTERED = frozenset({"content_filter", "invalid_prompt"})


#: Statuses the SDK itself would retry besides 429 and 5xx: a request timeout (what a proxy
#: such as LiteLLM answers when the model behind it is too slow) and a lock timeout.
_PASSING_STATUSES = {408: "openai_timeout", 409: "openai_error"}


#: How servers say a request is longer than the model's context window: OpenAI's code,
#: vLLM's "maximum context length is 4096 tokens", llama.cpp's "exceeds the available
#: context size".
_CONTEXT_WORDS = re.compile(r"context[ _](?:length|size|window)", re.IGNORECASE)


def about_context(exc: openai.APIStatusError) -> bool:
    return exc.code == "context_length_exceeded" or bool(_CONTEXT_WORDS.search(exc.message))


#: How OpenAI says a picture itself will not do (a broken file, an animated GIF, a format
#: it does not take), where a model that reads no pictures names image_url instead; and how
#: llama.cpp's server, Ollama and LM Studio say it (400, or 500 from some llama.cpp builds:
#: "Failed to load image or audio file"), as they do for every WebP, so every WhatsApp sticker.
_IMAGE_CODES = frozenset({"invalid_image", "invalid_image_format", "image_parse_error"})
_IMAGE_WORDS = re.compile(
    r"\b(?:invalid|unsupported) image\b|\bfailed to load image\b", re.IGNORECASE
)
#: The statuses a refusal of the picture itself comes with.
_IMAGE_STATUSES = (400, 500)


def about_image(exc: openai.APIStatusError) -> bool:
    return exc.code in _IMAGE_CODES or bool(_IMAGE_WORDS.search(exc.message))


#: How servers say the model reads no pictures at all, whatever status they answer with:
#: llama.cpp's server started without its vision projector (500, "image input is not
#: supported"), OpenRouter (404, "No endpoints found that support image input"), others'
#: "does not support images". Asked again, it would refuse again.
_NO_VISION_WORDS = re.compile(
    r"image input is not supported|supports? image input|"
    r"(?:does not|doesn't) support images?\b|not a multimodal model",
    re.IGNORECASE,
)


def about_no_vision(exc: openai.APIStatusError) -> bool:
    return bool(_NO_VISION_WORDS.search(exc.message))


def _readable_message(exc: openai.APIStatusError) -> str:
    """The SDK's message, with the start of the body when the SDK found no message string
    in it ("Error code: 422" alone: Mistral's list of refused fields, FastAPI's "detail",
    a proxy's HTML page), so that the error log says what the server said."""
    if exc.message != f"Error code: {exc.status_code}" or exc.body is None:
        return exc.message
    return f"{exc.message} - {excerpt(exc.body, 300)}"


def translate_error(exc: openai.OpenAIError) -> LLMError:
    """Which failures are worth a retry: timeouts (a proxy's 408 too), lost connections,
    409, 429 and 5xx, but not a 429 that says the account's credit is used up (that needs a
    human, not a retry)."""
    request_id = getattr(exc, "request_id", None)
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"AI timeout: {exc}", error_type="openai_timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError(f"AI unreachable: {exc}", error_type="openai_error", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        exhausted = status == 429 and exc.code == "insufficient_quota"
        passing = status in _PASSING_STATUSES or status >= 500
        no_vision = about_no_vision(exc)
        image_rejected = status in _IMAGE_STATUSES and about_image(exc)
        # Asked again, the same picture or model is refused the same way.
        lasting = no_vision or image_rejected
        retryable = ((status == 429 and not exhausted) or passing) and not lasting
        text = f"AI error {status} ({exc.code or 'no code'}): {_readable_message(exc)}"
        return LLMError(
            text,
            error_type=_PASSING_STATUSES.get(status, "openai_error"),
            retryable=retryable,
            request_id=request_id,
            status=status,
            context_too_long=status == 400 and about_context(exc),
            image_rejected=image_rejected,
            no_vision=no_vision,
            retry_after=_retry_after(exc.response.headers) or _loading_time(exc.response),
        )
    return LLMError(f"AI error: {exc}", error_type="openai_error", retryable=False)


def _retry_after(headers) -> float | None:
    """The seconds a server asked us to wait before the next request, None when it did not
    say: OpenAI's retry-after-ms, or Retry-After as seconds (OpenAI, Groq, Together, Azure,
    LiteLLM) or as an HTTP date."""
    said = headers.get("retry-after-ms")
    if said is not None:
        seconds = _number(said)
        return seconds / 1000 if seconds is not None else None
    said = headers.get("retry-after")
    if said is None:
        return None
    seconds = _number(said)
    if seconds is None:
        try:
            seconds = email.utils.parsedate_to_datetime(said).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    return max(seconds, 0.0)


def _loading_time(response) -> float | None:
    """The seconds a model still loading will take, as Hugging Face's TGI and Inference API
    say it in their 503's body ("estimated_time"), where no header says it; None without."""
    try:
        said = response.json()
    except ValueError:  # no JSON: a proxy's page
        return None
    seconds = said.get("estimated_time") if isinstance(said, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return _number(str(seconds))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
