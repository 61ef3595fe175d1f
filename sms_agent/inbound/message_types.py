"""What a WhatsApp message with no Body says, by Twilio's MessageType: the words of a
quick-reply button or a list's item the texter tapped (ButtonText, ListTitle), a reaction,
which asks nothing, or a kind of message we cannot read (a poll, an edit: "unsupported")."""

from __future__ import annotations

from collections.abc import Mapping

from ..clean_text import seen_name

#: Twilio's MessageType of a WhatsApp reaction (a 👍 on our answer), passed on without its
#: emoji. Webhooks of old carried no MessageType: a message with nothing in it was one too.
REACTION = "reaction"
#: Twilio's MessageType of a text: one with nothing visible in it is an empty text.
TEXT = "text"
#: The words of what the texter tapped: a quick-reply button's, a list item's. (A button's
#: ButtonPayload is the sender's code for it, no words of the texter's.) Checked against
#: Twilio's webhooks as integrations record them: MessageType (lower case: text, button,
#: interactive, reaction, unsupported...) and ButtonText/ButtonPayload are Twilio's names;
#: a Body with words, when one comes beside them, is read first. ListId/ListTitle, a list
#: item's, could not be confirmed in the sources at hand: an item whose words come in Body
#: is read all the same, and neither name is ever read as anything else.
_TAPPED = ("ButtonText", "ListTitle")
#: A button's words are a line on the phone's screen; longer is no button.
_MAX_TAPPED_CHARS = 200


def tapped_words(form: Mapping[str, str]) -> str:
    """The words of the button or list item the texter tapped, on one line; "" for none."""
    for name in _TAPPED:
        words = seen_name(form.get(name) or "")[:_MAX_TAPPED_CHARS]
        if words:
            return words
    return ""


def message_type(form: Mapping[str, str]) -> str:
    """Twilio's MessageType ("text", "button", "reaction", "unsupported"...), lower case;
    "" when the webhook names none (an SMS, a WhatsApp webhook of old)."""
    return (form.get("MessageType") or "").strip().lower()


def is_a_reaction(kind: str) -> bool:
    """Whether a WhatsApp message with nothing in it is a reaction, by its MessageType: a
    message of another kind carried something we cannot read, and its texter is told so."""
    return kind in ("", REACTION)
