"""Carrier keywords (STOP, START, HELP) and our own commands (RESET, USAGE, MORE, AGENT) in
a whole SMS."""

from __future__ import annotations

import enum
import re
import unicodedata

from ..clean_text import BLANK_FILLERS, CONTROLS, shows_nothing


class Keyword(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    RESET = "reset"
    USAGE = "usage"
    MORE = "more"
    AGENT = "agent"


#: The carriers' opt-out words: Twilio's standard six, and REVOKE and OPTOUT, which the
#: FCC's 2025 consent rule added ("OPT OUT" and "opt-out" fold into OPTOUT, since spaces
#: and punctuation are ignored).
OPT_OUT_WORDS = (
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
)

#: The same in French and Spanish, which Twilio's default handling does not match (its
#: Advanced Opt-Out may): ARRET (ARRÊTE), which Canadian carriers require beside STOP, and
#: BAJA ("darme de baja"), PARAR and CANCELAR. We obey and confirm them ourselves, as we do
#: our English phrasings.
FRENCH_OPT_OUT = (
    *("arret", "arrêt", "arrete", "arrête", "arretez", "arrêtez", "arreter", "arrêter"),
    *(f"{d}{word}" for d in ("des", "dés") for word in ("abonner", "abonnezmoi", "inscrire")),
)
SPANISH_OPT_OUT = ("baja", "darmedebaja", "parar", "cancelar", "nomasmensajes", "nomásmensajes")
SPANISH_OPT_IN = ("alta", "darmedealta")
#: "Réabonner", as the French opt-out confirmation's "pour vous réabonner" is answered.
FRENCH_OPT_IN = tuple(f"{re}{word}" for re in ("re", "ré") for word in ("abonner", "abonnezmoi"))
#: STOPP, as German texters write STOP (no carrier list holds it, but it means nothing
#: else). We write no German notices, so it is confirmed in English (`language`). Italian
#: and Portuguese texters' words are matched already: STOP, PARAR, CANCELAR.
GERMAN_OPT_OUT = ("stopp",)
#: STOP as texters write it in other scripts, each a whole message that means nothing but
#: "stop sending" (a word asked about comes with its question: "停止是什么意思"): Russian,
#: Ukrainian and Bulgarian СТОП and ОТПИСАТЬСЯ, Chinese 停止 and 退订 (China's SMS opt-out
#: word), Japanese 配信停止 and ストップ, Korean 수신거부 and 중지, Arabic إيقاف and توقف,
#: Hebrew הסר (Israel's opt-out word) and עצור. Confirmed in English, as STOPP is; stored
#: as `_folded` reads them (Cyrillic с, т, о fold to c, t, o).
OTHER_SCRIPTS_OPT_OUT = (
    "стоп",
    "отписаться",
    "停止",
    "退订",
    "退訂",
    "配信停止",
    "ストップ",
    "수신거부",
    "중지",
    "إيقاف",
    "ايقاف",
    "توقف",
    "הסר",
    "עצור",
)
OTHER_LANGUAGES_OPT_OUT = (*FRENCH_OPT_OUT, *SPANISH_OPT_OUT, *GERMAN_OPT_OUT)

#: "Unsubscribe" as it is most often misspelt in a hurry: no carrier word, but plainly one.
UNSUBSCRIBE_MISSPELT = ("unsuscribe", "unsubcribe", "unsubscibe", "unsubsribe")

#: Whole messages that plainly ask us to stop, in a few more words than a keyword: the FCC's
#: 2025 consent rule has an opt-out made "by any reasonable means" obeyed, and carriers
#: expect "please stop texting me" to be. Written without spaces, as HUMAN_WORDS are; only
#: whole messages count ("stop sending me jokes" is a question for the AI).
_STOP_ASKING = (
    *(
        f"{stop}{verb}{me}{again}"
        for stop in ("stop", "quit")
        for verb in ("texting", "messaging", "msging", "contacting")
        for me in ("", "me")
        for again in ("", "again")
    ),
    *(
        f"stop{sending}{these}{texts}"
        for sending in ("", "sending", "sendingme")
        for these in ("", "the", "these", "your", "all", "allthe", "allthese", "allyour")
        for texts in ("texts", "messages", "msgs", "sms")
    ),
    "stopsending",
    "stopsendingme",
    "stopit",
    "stopthis",
    *(
        f"{dont}{verb}me{again}"
        for dont in ("dont", "donot", "never")
        for verb in ("text", "message", "contact")
        for again in ("", "again", "everagain")
    ),
    "leavemealone",
    *UNSUBSCRIBE_MISSPELT,
    *(f"{word}me" for word in ("unsubscribe", *UNSUBSCRIBE_MISSPELT, "remove", "optout")),
    "optmeout",
    *(
        f"{take}me{off}{your}list"
        for take in ("take", "remove")
        for off in ("off", "from")
        for your in ("your", "ur", "this", "the")
    ),
    "takemeoff",
    # the number rather than the texter: "delete my number", "take my number off your list"
    *(
        f"{delete}mynumber{rest}"
        for delete in ("delete", "remove", "erase")
        for rest in ("", *(f"from{your}list" for your in ("your", "ur", "this", "the")))
    ),
    *(f"takemynumberoff{your}" for your in ("", "yourlist", "urlist", "thislist", "thelist")),
    *(f"cancel{my}subscription" for my in ("", "my")),
    "nomoretexts",
    "nomoremessages",
    # STOPALL, Twilio's, said with the other opt-out words ("Cancel all")
    *(f"{word}all" for word in ("cancel", "quit", "unsubscribe", "optout", "revoke")),
    "unsub",
    "unsubme",
    *(
        f"{want}{word}"
        for want in ("iwantto", "idliketo", "iwouldliketo", "iwishto")
        for word in ("unsubscribe", "optout", *UNSUBSCRIBE_MISSPELT)
    ),
    # from this (list), not from Netflix: that one asks the model how
    *(
        f"unsubscribe{me}from{this}"
        for me in ("", "me")
        for this in ("this", "thislist", "these", "thesetexts", "thesemessages", "yourlist")
    ),
    *(f"{end}{my}subscription" for end in ("end", "stop") for my in ("", "my")),
)
_PLEASE = ("please", "pls", "plz")
#: "Please" and "thanks" in French, Spanish and German, after any opt-out word ("BAJA por
#: favor", "STOP SVP", "arrêt merci", "STOPP bitte"), and "por favor" before one too.
FRENCH_PLEASE = ("svp", "silvousplait", "silvousplaît", "merci")
SPANISH_PLEASE = ("porfavor", "porfa", "gracias")
GERMAN_PLEASE = ("bitte", "danke")
OPT_OUT_PHRASES = tuple(
    f"{please}{words}{after}"
    for words in (*OPT_OUT_WORDS, *_STOP_ASKING, *OTHER_LANGUAGES_OPT_OUT)
    for please in ("", *_PLEASE, "porfavor")
    for after in (
        *("", *_PLEASE, "anymore", "now", "thanks", "thankyou"),
        *(*FRENCH_PLEASE, *SPANISH_PLEASE, *GERMAN_PLEASE),
    )
    if please or after or words in _STOP_ASKING
)


def _politely(words) -> tuple[str, ...]:
    """`words` asked politely: "more please", "pls help", "AGENT please"."""
    return tuple(
        phrase
        for word in words
        for please in _PLEASE
        for phrase in (f"{word}{please}", f"{please}{word}")
    )


#: MORE asked politely, as "(Reply MORE)" under a cut answer is often answered.
MORE_PHRASES = _politely(["more"])

#: Whole messages that ask for a person, written without spaces ("talk to a person" is
#: matched as "talktoaperson"). Only whole messages count: "is a human heart big?" is a
#: question for the AI.
HUMAN_WORDS = (
    "agent",
    "human",
    "operator",
    "representative",
    "liveagent",
    "realperson",
    "arealperson",
    "customerservice",
    "customersupport",
    *(
        f"{verb}to{who}"
        for verb in ("talk", "speak", "chat")
        for who in ("aperson", "ahuman", "anagent", "arealperson", "ahumanbeing", "someone")
    ),
    *(
        f"{verb}to{who}"
        for verb in ("talk", "speak", "chat")
        for who in ("human", "agent", "person", "someonereal", "arepresentative")
    ),
    "iwantaperson",
    "iwantahuman",
    "iwanttotalktoaperson",
    "iwanttotalktoahuman",
    "iwanttospeaktoaperson",
    "iwanttospeaktoahuman",
)

#: Asking to subscribe again, as the opt-out confirmation's "Reply START to resubscribe" is
#: often answered ("resubscribe", "subscribe me again", "opt in"; Spanish "alta"), written
#: without spaces as HUMAN_WORDS are.
RESUBSCRIBE_WORDS = (
    *(
        f"{word}{me}{again}"
        for word in ("subscribe", "resubscribe")
        for me in ("", "me")
        for again in ("", "again")
    ),
    *(f"opt{me}{back}in" for me in ("", "me") for back in ("", "back")),
    *SPANISH_OPT_IN,
    *FRENCH_OPT_IN,
)

#: Asking to come back in a few more words: an opt-in word with please or thanks around it
#: ("START please", "yes pls", "ALTA por favor", "START SVP"), or "start (texting me)
#: again". Only from a texter who opted out (ANSWER_WORDS): to anyone else they are
#: everyday answers, and an opted-out texter's question is never answered, so without
#: these they stayed opted out without a word.
_START_AGAIN = tuple(
    f"start{verb}{me}again" for verb in ("", "texting", "messaging") for me in ("", "me")
)
OPT_IN_PHRASES = tuple(
    f"{please}{words}{after}"
    for words in ("start", "unstop", "yes", *RESUBSCRIBE_WORDS, *_START_AGAIN)
    for please in ("", *_PLEASE, "porfavor")
    for after in ("", *_PLEASE, "thanks", "thankyou", *FRENCH_PLEASE, *SPANISH_PLEASE)
    if please or after or words in _START_AGAIN
)

#: HELP in French and Spanish: AIDE, which Canadian carriers require beside HELP as they do
#: ARRET beside STOP, and AYUDA; asked with please in those languages too ("aide svp").
OTHER_LANGUAGES_HELP = (
    *(f"aide{after}" for after in ("", *FRENCH_PLEASE)),
    *(f"ayuda{after}" for after in ("", *SPANISH_PLEASE)),
    "porfavorayuda",
)

#: Asking what is left of the quota, which only USAGE knows: the model asked "How many
#: texts do I have left?" cannot say, and the question took one off the quota. A thing
#: counted must be named ("How many left?" may be about anything).
USAGE_PHRASES = (
    "quota",
    "myquota",
    "myusage",
    *(
        f"{how}{things}{have}left"
        for how in ("howmany", "")
        for things in ("texts", "messages", "msgs", "requests", "questions")
        for have in ("", "doihave", "ihave", "arethere")
    ),
)

#: The same asked in French and Spanish ("combien de messages il me reste ?", "¿cuántos
#: mensajes me quedan?"), answered in that language (`language`).
FRENCH_USAGE = (
    "monquota",
    *(
        f"combien{of}{things}{left}"
        for of in ("de", "d")
        for things in ("messages", "textos", "sms", "questions", "demandes", "requetes")
        for left in ("", "ilmereste", "merestetil", "merestent", "merestentils", "ilreste")
    ),
)
SPANISH_USAGE = (
    "micuota",
    *(
        f"{how}{things}{left}"
        for how in ("cuantos", "cuántos", "cuantas", "cuántas")
        for things in ("mensajes", "textos", "sms", "preguntas", "consultas", "solicitudes")
        for left in ("", "mequedan", "quedan", "tengo", "mequedanestemes")
    ),
)

#: Asking for a fresh start ("new chat", "start over") in words that answer nothing the
#: model might ask. "Start over" asks for a new conversation, not to subscribe (START).
RESET_PHRASES = [
    "newchat",
    "newconversation",
    "newtopic",
    *(f"{lets}start{over}" for lets in ("", "lets") for over in ("over", "fresh", "anew")),
    "forgeteverything",
    "forgetourconversation",
    "clearchat",
    "clearconversation",
    "clearourconversation",
]

#: MORE and HELP as thumbs in a hurry write them ("Moreee", "mroe", "Helpp"): nothing else.
MISTYPED = {
    **dict.fromkeys(("mroe", "moer", "moree", "moreee", "moreeee"), "more"),
    **dict.fromkeys(("helpp", "helppp", "hepl"), "help"),
}

#: HELP in a few more words that ask nothing else: "help me", "I need help" (with what,
#: "help me with my homework", is a question for the model).
HELP_PHRASES = ["helpme", "ineedhelp"]

#: Asking an answer to go on ("continue", "go on"; in Spanish, French and German "más",
#: "sigue", "la suite", "plus", "weiter", as texters answer "(Responde MORE)"): MORE while
#: the latest answer has a rest to send (more.has_rest), else a message for the model
#: ("continue" the story).
_GO_ON = ("continue", "next", "goon", "keepgoing")
_OTHER_LANGUAGES_GO_ON = {
    "es": ("más", "mas", "sigue", "continua", "continúa", "continuar"),
    "fr": ("plus", "suite", "lasuite", "continue", "continuer", "encore"),
    "de": ("mehr", "weiter"),
}
_COURTESIES_BY_LANGUAGE = {"es": SPANISH_PLEASE, "fr": FRENCH_PLEASE, "de": GERMAN_PLEASE}
GO_ON_WORDS = frozenset(
    {
        *_GO_ON,
        *_politely(_GO_ON),
        *(
            f"{word}{after}"
            for code, words in _OTHER_LANGUAGES_GO_ON.items()
            for word in words
            for after in ("", *_COURTESIES_BY_LANGUAGE[code])
        ),
    }
)


def word_of(body: str | None) -> str:
    """The message as one word, as `parse` reads it: folded once per text by routing, which
    reads it as a keyword (keyword_in) and as asking an answer to go on (GO_ON_WORDS)."""
    return _once(_folded(body))


#: A thank-you and nothing else ("thanks", "ok thx", "Thank you so much!", "merci"), which
#: asks nothing: routed as a tapback is, stored and neither answered nor counted. Not "ok"
#: or "got it" alone, which may answer the model's question ("Shall I go on?" "ok").
_THANKS = (
    *("thanks", "thankyou", "thanku", "thx", "thnx", "thanx", "tnx", "ty", "tysm", "tyvm", "thks"),
    *("merci", "mercibeaucoup", "gracias", "muchasgracias", "danke", "dankeschön", "vielendank"),
    *("manythanks", "muchappreciated", "appreciateit", "iappreciateit", "cheers"),
)
THANKS_WORDS = frozenset(
    f"{before}{thanks}{after}"
    for before in ("", "ok", "okay", "k", "great", "cool", "perfect", "awesome", "gotit", "oh")
    for thanks in _THANKS
    for after in ("", "again", "somuch", "alot", "verymuch", "agian", "x", "bye", "byebye")
)


#: The emoji a thank-you is sent as, alone ("👍", "🙏🏽"): a thumbs-down or "🍕?" is answered.
_THANKS_EMOJI = frozenset("👍🙏👌❤♥🙂😊👏✅💯🤝😀😃😁🥰😍🫶")
#: What may come with them: spaces, variation selectors, skin tones.
_WITH_EMOJI = frozenset({" ", "\ufe0f", "\ufe0e", *map(chr, range(0x1F3FB, 0x1F400))})


def says_thanks(word: str, body: str) -> bool:
    """Whether a message folded into `word` (word_of) is a thank-you alone: THANKS_WORDS, or
    emoji that say it and nothing else, which fold into no word at all."""
    if word:
        return word in THANKS_WORDS
    kept = set(body.strip()) - _WITH_EMOJI
    return bool(kept) and kept <= _THANKS_EMOJI


#: Every word a texter may send, mapped to what it means. STOP/START/HELP follow the
#: carriers' (and Twilio's) standard opt-out, opt-in and help keywords.
WORDS: dict[str, Keyword] = {
    **dict.fromkeys(OPT_OUT_WORDS, Keyword.STOP),
    **dict.fromkeys(OPT_OUT_PHRASES, Keyword.STOP),
    **dict.fromkeys(OTHER_LANGUAGES_OPT_OUT, Keyword.STOP),
    **dict.fromkeys(["start", "yes", "unstop", *RESUBSCRIBE_WORDS], Keyword.START),
    **dict.fromkeys(OPT_IN_PHRASES, Keyword.START),
    **dict.fromkeys(
        ["help", "info", *HELP_PHRASES, *_politely(["help", "info", *HELP_PHRASES])],
        Keyword.HELP,
    ),
    **dict.fromkeys(OTHER_LANGUAGES_HELP, Keyword.HELP),
    # Not "new" alone: it is an everyday answer ("New or used?" "New"), which forgot the
    # conversation the texter was answering.
    **dict.fromkeys(
        ["reset", *RESET_PHRASES, *_politely(["reset", *RESET_PHRASES])], Keyword.RESET
    ),
    **dict.fromkeys(
        ["usage", *_politely(["usage"]), *USAGE_PHRASES, *FRENCH_USAGE, *SPANISH_USAGE],
        Keyword.USAGE,
    ),
    **dict.fromkeys(["more", *MORE_PHRASES], Keyword.MORE),
    **{typo: Keyword.MORE if word == "more" else Keyword.HELP for typo, word in MISTYPED.items()},
    **dict.fromkeys([*HUMAN_WORDS, *_politely(HUMAN_WORDS)], Keyword.AGENT),
}

#: Opt-in words that are also everyday answers ("Want the details?" "Yes"), or questions
#: ("subscribe"): they opt back in a texter who opted out; from anyone else they are a
#: message like any other.
ANSWER_WORDS = {"yes", *RESUBSCRIBE_WORDS, *OPT_IN_PHRASES}

#: Twilio's Advanced Opt-Out names the keyword group a message matched in OptOutType: its
#: own keywords, which a Messaging Service may extend in any language ("ARRET", "BAJA").
TWILIO_OPT_OUT_TYPES = {"STOP": Keyword.STOP, "START": Keyword.START, "HELP": Keyword.HELP}

#: A message longer than this is a question, whatever spaces and marks pad a keyword in it:
#: four times the longest word, so a texter's 1,600 characters are not read letter by letter.
_LONGEST_MESSAGE = 4 * max(map(len, WORDS))


def _visible(char: str) -> bool:
    """Not what clean_text draws as nothing: a space, a control character (a NUL, BEL or
    ESC a phone or gateway left beside a word), a format character (the zero-width spaces
    and joiners, byte-order marks and soft hyphens pasted from other apps, and the direction
    marks an Arabic or Hebrew keyboard puts around Latin words), a variation selector or a
    blank filler (a Hangul filler an app sends as a space): a text of them alone is empty,
    and a keyword beside them is the keyword."""
    return not shows_nothing(char)


def _is_punctuation(char: str) -> bool:
    """Punctuation, or an emoji or other symbol with its variation selectors, skin tones and
    keycap: what a texter puts around a word ("STOP 🛑", "Stop 😡", "yes 👍🏽") without
    changing it."""
    category = unicodedata.category(char)
    return category[0] == "P" or category in ("So", "Sk") or char in _EMOJI_PARTS


#: The variation selectors (U+FE0E text, U+FE0F emoji style), which a phone puts after
#: a boxed letter too ("🅾️"): unseen inside a word as around it.
_STYLES = {"\ufe0e", "\ufe0f"}
#: The variation selectors and the keycap that follow an emoji's base character.
_EMOJI_PARTS = {*_STYLES, "\u20e3"}

#: Letters drawn like a Latin one that are not it: Cyrillic and Greek ("ЅТОР" is Cyrillic
#: through and through, "SТOP" hides a Cyrillic Т), and what "fancy text" generators write
#: and NFKC leaves as it is (small capitals "ꜱᴛᴏᴘ", boxed "🆂🆃🅾🅿", which would otherwise
#: be dropped as emoji around a word). A STOP so written is still a STOP, which carriers
#: oblige us to obey. Each maps to the letter it looks like (Unicode's confusables, UTS #39;
#: the Cyrillic small capitals т, н, в, к, м too), by case, since a lower-case letter can
#: look like another one than its capital does (Greek Η is H, η is n). Used only to match
#: keywords: a message for the model keeps its letters.
_LATIN_LOOKALIKES = {
    **str.maketrans(
        "АВСЕНІЈКМОРЅТХУҮԚԜҺӀасеһіјорѕхуүԁԛԝӏтнвкм", "ABCEHIJKMOPSTXYYQWHIacehijopsxyydqwlthbkm"
    ),
    **str.maketrans("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαιονρυχηκϲϳ", "ABEZHIKMNOPTYXaiovpuxnkcj"),
    **str.maketrans("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "ABCDEFGHIJKLMNOPRSTUVWYZ"),
    # the minus sign a keyboard may write for the hyphen in "opt-out" (a symbol, not
    # punctuation, so not ignored with the dashes)
    0x2212: ord("-"),
    # a zero for the O ("ST0P"): no keyword holds a digit, so it changes no other
    0x30: ord("o"),
    # A-Z in black circles (🅐, U+1F150) and in black squares (🅰, U+1F170)
    **{first + offset: ord("A") + offset for first in (0x1F150, 0x1F170) for offset in range(26)},
}


def parse(body: str | None, *, opted_out: bool = True) -> Keyword | None:
    """The keyword a message consists of, or None when it is anything else.

    Only a whole message counts, so "stop sending me jokes" is a question for the AI, not
    an opt-out; and "yes" (ANSWER_WORDS) is one only from a texter who has `opted_out`.
    Case, spaces (also inside: "STOP ALL"), invisible characters and punctuation or emoji
    anywhere (autocorrect's full stop, "!", quotes, "。", "Don't text me", "Stop, thanks")
    are ignored, and compatibility forms such as full-width letters and Cyrillic or Greek
    look-alikes ("ЅТОР") are folded.
    """
    return keyword_in(word_of(body), opted_out=opted_out)


def keyword_in(word: str, *, opted_out: bool = True) -> Keyword | None:
    """`parse` for a message already folded into one word (word_of)."""
    if word in ANSWER_WORDS and not opted_out:
        return None
    return WORDS.get(word) or WORDS.get(_unstretched(word))


#: STOP with letters held down or doubled ("Stopppp", "STOOOP", "sstop"), which means
#: nothing else: but "stoop", a word of its own.
_STRETCHED_STOP = re.compile(r"s+t+o+p+")


def _unstretched(word: str) -> str:
    """`word` with a stretched STOP at its start written once ("stopppp please" is
    "stopplease"); any other word as it is. Read only for a word that is no keyword."""
    stretched = _STRETCHED_STOP.match(word)
    if stretched is None or stretched[0] == "stoop":
        return word
    return "stop" + word[stretched.end() :]


#: Twilio's default opt-in keywords, which its opt-out handling answers itself.
OPT_IN_WORDS = ("start", "yes", "unstop")


def is_carrier_opt_out(body: str | None) -> bool:
    """Whether the message is one of the carriers' opt-out words (OPT_OUT_WORDS) said once,
    which Twilio's own opt-out handling matches and confirms too; our phrasings ("please
    stop texting me") and a word said twice are no keyword of Twilio's: Twilio neither
    blocks the number for them nor confirms, so we must. Nor does Twilio read look-alike
    letters as Latin ones: "ЅТОР" in Cyrillic is ours to confirm."""
    return _as_twilio_reads(body) in OPT_OUT_WORDS


def is_carrier_opt_in(body: str | None) -> bool:
    """Whether the message is one of Twilio's opt-in words (OPT_IN_WORDS) said once, as
    is_carrier_opt_out reads an opt-out: Twilio answers those itself ("RESUBSCRIBE" and
    "ALTA" are ours to confirm)."""
    return _as_twilio_reads(body) in OPT_IN_WORDS


#: A control character but a line break or tab, the U+FFFD a NUL is stored as
#: (clean_text.storable), or a blank filler.
_CONTROL = re.compile(f"[{CONTROLS}\ufffd{BLANK_FILLERS}]")


def _as_twilio_reads(body: str | None) -> str:
    """The message as `_folded` reads it without look-alikes, or "" when it holds a control
    character or a blank filler: Twilio trims spaces, but a "STOP" with a NUL, an ESC or a
    Hangul filler beside it may be no keyword of Twilio's, so we confirm it ourselves (if
    Twilio did block the number, our confirmation is refused, not sent twice)."""
    return "" if not body or _CONTROL.search(body) else _folded(body, look_alikes=False)


def _folded(body: str | None, look_alikes: bool = True) -> str:
    """The message as one lower-case word, as `parse` reads it ("" when too long), with
    `look_alikes` and compatibility forms read as the letters they look like."""
    if not body or len(body) > _LONGEST_MESSAGE:
        return ""
    if body.isascii():  # nearly every text: one pass folds and drops the rest
        table = _ASCII_LOOKALIKES if look_alikes else None
        return body.encode().translate(table, _ASCII_DROPPED).decode().casefold()
    if look_alikes:
        body = unicodedata.normalize("NFKC", body).translate(_LATIN_LOOKALIKES)
    letters = (char for char in body if _visible(char) and not _is_punctuation(char))
    return "".join(letters).casefold()


#: The ASCII characters `_folded` drops (spaces, punctuation, ^ and `), as bytes: a texter's
#: ASCII message is read in one call of bytes.translate, not a character at a time (the
#: look-alikes and NFKC leave ASCII as it is). str.translate, given a table of them, asks
#: it for every character and raises and catches a KeyError for each one kept.
_ASCII_DROPPED = bytes(
    code for code in range(128) if not _visible(chr(code)) or _is_punctuation(chr(code))
)


#: The ASCII look-alikes of _LATIN_LOOKALIKES (the zero), as a bytes.translate table.
_ASCII_LOOKALIKES = bytes(_LATIN_LOOKALIKES.get(code, code) for code in range(256))

WORDS.update(dict.fromkeys(map(_folded, OTHER_SCRIPTS_OPT_OUT), Keyword.STOP))


def _once(word: str) -> str:
    """A keyword said twice or more ("STOP STOP", "stop stop stop") is said once."""
    for length in range(1, len(word) // 2 + 1):
        if word[:length] in WORDS and word == word[:length] * (len(word) // length):
            return word[:length]
    return word


#: The French and Spanish words of an opt-out, opt-in, HELP or USAGE, and the courtesies
#: around one, by the language whose notice answers them (notices.py).
_LANGUAGE_WORDS = {
    "fr": (*FRENCH_OPT_OUT, *FRENCH_OPT_IN, "aide", *FRENCH_PLEASE, *FRENCH_USAGE),
    "es": (*SPANISH_OPT_OUT, *SPANISH_OPT_IN, "ayuda", *SPANISH_PLEASE, *SPANISH_USAGE),
}


def language(body: str | None) -> str | None:
    """The language of an opt-out, opt-in, HELP or USAGE said in French or Spanish words
    ("ARRÊT", "BAJA", "STOP SVP", "ALTA", "AIDE", "combien de messages il me reste"): "fr"
    or "es"; None for English ones and anything else."""
    word = _once(_folded(body))
    if WORDS.get(word) not in (Keyword.STOP, Keyword.START, Keyword.HELP, Keyword.USAGE):
        return None
    return next(
        (code for code, parts in _LANGUAGE_WORDS.items() if any(p in word for p in parts)), None
    )


def matched_by_twilio(opt_out_type: str | None) -> Keyword | None:
    """The keyword Twilio's Advanced Opt-Out matched (OptOutType), or None. Twilio has
    blocked or unblocked the number already and answered the texter itself."""
    return TWILIO_OPT_OUT_TYPES.get((opt_out_type or "").strip().upper())
