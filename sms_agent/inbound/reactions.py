"""Tapback reactions that reach us as texts: an iPhone reacting to an SMS from a phone that
is not one sends the reaction as words in its own language ("Liked “What is 2+2?”", "Le
gustó “…”", "A aimé « … »"), and Google Messages does likewise ("👍 to “What is 2+2?”").
They answer nothing and ask nothing (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: iOS's tapbacks in its English wording (both spellings of "Emphasized"), and their undoing.
_ENGLISH = r"Liked|Loved|Disliked|Laughed at|Emphasi[sz]ed|Questioned"
_REMOVED = r"Removed an? (?:like|heart|dislike|laugh|exclamation|question mark) from"
#: The same tapbacks from a phone set to Spanish, French, German or Portuguese. Confirmed in
#: apps that read them from real phones: Spanish "Le gustó", "Le encantó", "Le dio risa",
#: "Exclamó por", "Dudó sobre", "Reaccionó con 🫡 a"; French "A aimé", "A adoré", "N'a pas
#: aimé", "A ri de", "A mis en évidence", "A réagi avec 😂 à", "A retiré un J'aime de";
#: German "Gefällt". The rest are their translations by other apps, unconfirmed: harmless
#: all the same, as a text is a reaction only when it quotes a message of its thread.
_SPANISH = r"Le gustó|Le encantó|No le gustó|Le disgustó|Le dio risa|Se ri[oó] de|Exclamó por"
_SPANISH += r"|Enfatizó|Dudó sobre|Cuestionó"
_FRENCH = r"A aimé|A adoré|N[’']a pas aimé|A ri de|A mis en évidence|A souligné"
_FRENCH += r"|A posé une question sur|S[’']est interrogée? sur"
_FRENCH_REMOVED = r"A retiré (?:un J[’']aime|un cœur|un rire) de"
_GERMAN = r"Gefällt|Gefällt nicht|Geliebt|Gelacht über|Hervorgehoben|Hinterfragt"
_PORTUGUESE = r"Curtiu|Amou|Não curtiu|Riu de|Enfatizou|Questionou"
_VERBS = "|".join([_ENGLISH, _SPANISH, _FRENCH, _GERMAN, _PORTUGUESE])
#: One emoji with its skin tone, variation selector or joined parts: no ASCII, no letter, no
#: digit, no space, so "How to “rebase”" stays a question.
_EMOJI = r"[^\x00-\x7f\w\s“”„«»]{1,16}"
#: iOS 18's any-emoji reactions ("Reacted 👍 to", "Removed 👍 from", in Spanish "Reaccionó
#: con 👍 a", in French "A réagi avec 👍 à") and Google Messages'.
_EMOJI_FORMS = (
    rf"(?:Reacted )?{_EMOJI} to|Removed (?:an? )?{_EMOJI} from|Reaccionó con {_EMOJI} a"
    rf"|A réagi avec {_EMOJI} à|A retiré {_EMOJI} de"
)
#: What the reaction is about: the text, quoted (straight or curly quotes, German „…“ and
#: »…«, French « … » with the spaces inside, cut short with "…" when long, on as many lines
#: as it had), or an attachment named by its kind.
_QUOTED = r"[\"“„«»](?P<quoted>.*)[\"”“»«]"
_ATTACHMENT = (
    r"an? (?:image|photo|movie|video|attachment|audio message|sticker|GIF)"
    r"|una (?:imagen|foto)|un (?:video|archivo adjunto)|une (?:image|photo|vidéo)"
    r"|ein (?:Bild|Foto|Video)|uma (?:imagem|foto)|um vídeo"
)
#: Anchored and case-sensitive, as the phones write it: a text that only starts like one
#: ("Liked “Dune”. What should I read next?") is a question. Most texts fail at their first
#: character, so the check costs well under a microsecond on every webhook.
_REACTION = re.compile(
    rf"\s*+(?:(?:{_VERBS}) (?:{_ATTACHMENT})"
    rf"|(?:{_VERBS}|{_REMOVED}|{_FRENCH_REMOVED}|{_EMOJI_FORMS}) {_QUOTED})\s*",
    re.DOTALL,
)
#: How a phone marks a long message it quotes only the start of.
_CUT = ("…", "...")


def quoted_text(body: str) -> str | None:
    """What a text shaped like a reaction reacts to: the quoted message (without the "…"
    a long one is cut with), "" for an attachment; None for a text of any other shape."""
    match = _REACTION.fullmatch(body)
    if match is None:
        return None
    quoted = _words(match.group("quoted") or "")
    for cut in _CUT:
        quoted = quoted.removesuffix(cut).rstrip()
    return quoted


def is_about(quoted: str, thread: Iterable[str]) -> bool:
    """Whether a reaction quotes a message of its thread (ours or the texter's, as a phone
    shows it: the start of it when it was cut). 'Loved "Dune"' to a service that never
    wrote about Dune is a remark for the model, not a tapback."""
    if not quoted:
        return True  # an attachment: we send none, so it is one of the texter's own
    return any(_words(message).startswith(quoted) for message in thread)


def _words(text: str) -> str:
    return " ".join(text.split())
