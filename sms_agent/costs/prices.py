"""The price tables: USD per SMS segment by destination country, and USD per million tokens
by model. The defaults below are examples (list prices as published in 2025, before
carrier fees and discounts); set SMS_PRICES, SMS_PRICE_PER_SEGMENT and MODEL_PRICES to your
own. A configured entry replaces the example of the same name; the rest stay."""

from __future__ import annotations

import functools
import logging
import re
from decimal import Decimal
from typing import TypeVar

import phonenumbers
from flask import current_app

from ..current import app_config
from ..models.types import MICRODOLLAR
from ..vendors.usage import AUDIO_BYTES_PER_SECOND, AUDIO_TOKENS_PER_SECOND, IMAGE_TOKENS

log = logging.getLogger("sms_agent.costs")

#: USD per outbound segment by ISO 3166 country; "*" prices every other country.
DEFAULT_SMS_PRICES: dict[str, Decimal] = {
    "US": Decimal("0.0083"),
    "CA": Decimal("0.0083"),
    "GB": Decimal("0.0524"),
    "DE": Decimal("0.0936"),
    "FR": Decimal("0.0859"),
    "AU": Decimal("0.0515"),
    "IN": Decimal("0.0832"),
    "*": Decimal("0.1000"),
}

#: USD per WhatsApp message, whatever its length: Twilio's fee (2025). Meta bills nothing
#: for a reply within WhatsApp's 24-hour window, the only messages the service sends there.
DEFAULT_WHATSAPP_PRICE = Decimal("0.005")

#: USD Twilio bills for each message it receives for us (2025, a US long code): an SMS per
#: segment, an MMS (a text with pictures or a voice note) per message, a WhatsApp message per
#: message. Texts refused or never answered were received all the same, and cost the same.
DEFAULT_SMS_INBOUND_PRICE = Decimal("0.0083")
DEFAULT_MMS_INBOUND_PRICE = Decimal("0.0220")
DEFAULT_WHATSAPP_INBOUND_PRICE = Decimal("0.005")


def _tokens(input_: str, cached_input: str, output: str) -> dict[str, Decimal]:
    return {
        "input": Decimal(input_),
        "cached_input": Decimal(cached_input),
        "output": Decimal(output),
    }


#: USD per 1M tokens (input, cached_input: the prompt tokens read from the server's prompt
#: cache, output), and per minute of audio transcribed (audio_minute); image (per image
#: read) is a placeholder: a chat model bills pictures as input tokens.
DEFAULT_MODEL_PRICES: dict[str, dict[str, Decimal]] = {
    "gpt-4o-mini": _tokens("0.15", "0.075", "0.60"),
    "gpt-4o": _tokens("2.50", "1.25", "10.00"),
    "gpt-4.1": _tokens("2.00", "0.50", "8.00"),
    "gpt-4.1-mini": _tokens("0.40", "0.10", "1.60"),
    "gpt-4.1-nano": _tokens("0.10", "0.025", "0.40"),
    "whisper-1": {"audio_minute": Decimal("0.006")},
    # Transcription by tokens: input is the recording's audio tokens.
    "gpt-4o-mini-transcribe": {"input": Decimal("3.00"), "output": Decimal("5.00")},
    "gpt-4o-transcribe": {"input": Decimal("6.00"), "output": Decimal("10.00")},
}

MILLION = Decimal(1_000_000)


def money(value) -> Decimal:
    """Any amount (Decimal, int, a config string) as Decimal to the millionth of a dollar."""
    return Decimal(str(value)).quantize(MICRODOLLAR)


def sms_prices() -> dict[str, Decimal]:
    config = app_config()
    table = {**DEFAULT_SMS_PRICES, **(config.get("SMS_PRICES") or {})}
    if config.get("SMS_PRICE_PER_SEGMENT") is not None:
        table["*"] = Decimal(str(config["SMS_PRICE_PER_SEGMENT"]))
    return table


def model_prices() -> dict[str, dict[str, Decimal]]:
    return {**DEFAULT_MODEL_PRICES, **(app_config().get("MODEL_PRICES") or {})}


@functools.lru_cache(maxsize=4096)
def country_of(phone: str) -> str | None:
    """The ISO country of an E.164 number. Numbers that parse but are not assigned (the
    +1555 test range) get their calling code's main country: US for +1. Kept per number:
    answering one text asks about its texter and our own number five times."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    if region and region != "ZZ":
        return region
    main = phonenumbers.region_code_for_country_code(parsed.country_code)
    return None if main == "ZZ" else main


def segment_price(phone: str) -> Decimal:
    table = sms_prices()
    return table.get(country_of(phone) or "*", table["*"])


def whatsapp_price() -> Decimal:
    return _configured("WHATSAPP_PRICE", DEFAULT_WHATSAPP_PRICE)


def _configured(name: str, default: Decimal) -> Decimal:
    configured = app_config().get(name)
    return default if configured is None else configured


def inbound_price(whatsapp: bool, num_media: int, segments: int) -> Decimal:
    """What Twilio bills for one message received: on WhatsApp WHATSAPP_INBOUND_PRICE, with
    attachments (an MMS) MMS_INBOUND_PRICE, else SMS_INBOUND_PRICE per segment."""
    if whatsapp:
        return money(_configured("WHATSAPP_INBOUND_PRICE", DEFAULT_WHATSAPP_INBOUND_PRICE))
    if num_media:
        return money(_configured("MMS_INBOUND_PRICE", DEFAULT_MMS_INBOUND_PRICE))
    per_segment = _configured("SMS_INBOUND_PRICE", DEFAULT_SMS_INBOUND_PRICE)
    return money(per_segment * max(1, segments))


def estimate_sms(phone: str, segments: int, whatsapp: bool = False) -> Decimal:
    """What an SMS of `segments` segments to `phone` will cost, before Twilio says; on
    WhatsApp, one message at WHATSAPP_PRICE (Twilio bills it per message, not per segment
    of the texter's country)."""
    if whatsapp:
        return money(whatsapp_price())
    return money(segment_price(phone) * max(1, segments))


#: What a table by model name holds: prices (MODEL_PRICES), or tokens (PICTURE_TOKENS).
Entry = TypeVar("Entry")

#: A model's dated snapshot: gpt-4o-mini-2024-07-18 of the family gpt-4o-mini.
_SNAPSHOT = re.compile(r"(?P<family>.+)-\d{4}-\d{2}-\d{2}")


def _model_entry(model: str, asked: str = "") -> dict[str, Decimal] | None:
    """The entry for `model`: its own, else its family's when it is a dated version (such as
    gpt-4o-mini-2024-07-18, priced as gpt-4o-mini), else that of the name after a router's
    provider prefix (OpenRouter's and LiteLLM's openai/gpt-4o-mini, which bill the
    provider's list price, cost nothing), else that of the model `asked` when the answer
    names another (Completion.asked), else "*". Another model whose name only
    starts like one in the table (gpt-4o-mini-transcribe, gpt-4o-audio-preview) is not
    priced as it: it bills otherwise, and with no price it is logged."""
    table = model_prices()
    return _own_entry(table, model) or (asked and _own_entry(table, asked)) or table.get("*")


def _entry_in(table: dict, model: str) -> dict[str, Decimal] | None:
    return _own_entry(table, model) or table.get("*")


def _own_entry(table: dict[str, Entry], model: str) -> Entry | None:
    _prefix, routed, name = model.rpartition("/")
    return _named_entry(table, model) or (routed and _named_entry(table, name)) or None


def _named_entry(table: dict[str, Entry], model: str) -> Entry | None:
    if model in table:
        return table[model]
    snapshot = _SNAPSHOT.fullmatch(model)
    return table.get(snapshot["family"]) if snapshot else None


def warn_of_unpriced_models(config) -> None:
    """Name, as the app starts, the models it is set to call that no price table prices:
    their calls cost 0 USD in every report and no spend cap sees them, which a line in the
    log at each call, among thousands, told an operator too late (from the bill). A model
    of one's own that is free is priced 0 in MODEL_PRICES, and nothing is said."""
    if config.get("LLM_BACKEND") != "openai":
        return  # the offline backend calls no model
    table = {**DEFAULT_MODEL_PRICES, **(config.get("MODEL_PRICES") or {})}
    models = dict.fromkeys((config["OPENAI_MODEL"], config["OPENAI_TRANSCRIBE_MODEL"]))
    unpriced = [model for model in models if _entry_in(table, model) is None]
    if unpriced:
        log.warning(
            "no price in MODEL_PRICES for %s: each call counts as 0 USD in the spend reports "
            'and the spend caps until it is priced there (or by a "*" entry)',
            ", ".join(repr(model) for model in unpriced),
        )


def model_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    audio_seconds: float = 0,
    asked: str = "",
    cached_tokens: int = 0,
) -> Decimal | None:
    """USD for one call from the usage it reported; None when the model has no price (nor
    the model `asked`, when the answer named another). Of the prompt tokens, the
    `cached_tokens` read from the server's prompt cache cost `cached_input` when the entry
    has it (OpenAI bills them at a quarter or a tenth of the input), else the input price."""
    entry = _model_entry(model, asked)
    if entry is None:
        return None
    read = entry.get("input", Decimal(0))
    cached = min(cached_tokens, prompt_tokens)
    cost = (
        read * (prompt_tokens - cached)
        + entry.get("cached_input", read) * cached
        + entry.get("output", Decimal(0)) * completion_tokens
    ) / MILLION
    cost += entry.get("audio_minute", Decimal(0)) * Decimal(str(audio_seconds)) / 60
    return money(cost)


#: The tokens of a question with its instructions and recent thread, for an answer priced
#: before it is asked (estimate_answer).
PROMPT_TOKENS_ESTIMATE = 2000


def estimate_answer(
    phone: str, segments: int, answer_tokens: int, whatsapp: bool = False
) -> Decimal:
    """What answering one request for `phone` may cost before it is asked: its SMS at the
    most `segments` its answer may take (on WhatsApp one message), and a call to
    OPENAI_MODEL writing `answer_tokens` (0 for a model with no price). The caps hold by
    this figure, so it errs high where it can: the whole prompt is priced as input, since
    the prompt cache promises nothing (a prefix of 1,024 tokens asked again within minutes,
    evicted when the server is busy). The call's own cost, cached tokens cheaper, replaces
    it once it answers."""
    model = current_app.config["OPENAI_MODEL"]
    call = model_cost(model, PROMPT_TOKENS_ESTIMATE, answer_tokens) or Decimal(0)
    return estimate_sms(phone, segments, whatsapp) + call


#: About how many tokens a second of speech's transcript is (150 words a minute, generously
#: counted): what a voice note adds to its question, and what a transcription writes.
SPEECH_TOKENS_PER_SECOND = 4


#: The prompt tokens a picture read in detail (a phone's photo: four 512px tiles, or as many
#: 32px patches as a model takes) is billed as, by model; IMAGE_TOKENS (gpt-4o's and
#: gpt-4.1's 765) for any other. OpenAI prices gpt-4o-mini's pictures as gpt-4o's in
#: dollars, so it counts each as 2,833 + 5,667 a tile; gpt-4.1-mini and gpt-4.1-nano count
#: their patches (at most 1,536) times 1.62 and 2.46.
PICTURE_TOKENS = {"gpt-4o-mini": 25_501, "gpt-4.1-mini": 2_489, "gpt-4.1-nano": 3_779}


def picture_tokens(model: str) -> int:
    """What one picture adds to `model`'s prompt (a dated or routed name as its model's)."""
    return _own_entry(PICTURE_TOKENS, model) or IMAGE_TOKENS


def estimate_attachments(pictures: int, voice_notes: int) -> Decimal:
    """What reading a request's attachments may cost before they are read: each picture
    `picture_tokens` more of OPENAI_MODEL's prompt, each voice note the longest recording
    VOICE_NOTE_MAX_BYTES can hold, transcribed by OPENAI_TRANSCRIBE_MODEL (by the minute or
    by its audio tokens) and read by OPENAI_MODEL as its transcript."""
    if not pictures and not voice_notes:
        return Decimal(0)
    config = current_app.config
    seconds = -(-config["VOICE_NOTE_MAX_BYTES"] // AUDIO_BYTES_PER_SECOND)
    words = seconds * SPEECH_TOKENS_PER_SECOND
    audio = seconds * AUDIO_TOKENS_PER_SECOND
    transcribed = model_cost(config["OPENAI_TRANSCRIBE_MODEL"], audio, words, seconds)
    model = config["OPENAI_MODEL"]
    read = model_cost(model, pictures * picture_tokens(model) + voice_notes * words, 0)
    return (transcribed or Decimal(0)) * voice_notes + (read or Decimal(0))
