"""The language a texter writes in, as far as the few words our own lines need it: French or
Spanish (what HELP, STOP and START are answered in too), else English. Read from the short
words every sentence has, which a question of a few words already holds (pure)."""

from __future__ import annotations

import re

#: Short words of each language that the others rarely write ("la", "de", "que", "en", "un"
#: are French and Spanish alike, and "a", "me", "son" English too, so none of them counts).
_WORDS = {
    "fr": frozenset(
        "le les des du au aux est sont une pour qui dans avec pas vous je moi toi ce cette "
        "il elle nous sur mon ma mes ton ta tes très où quoi quel quelle quels quelles "
        "comment pourquoi combien peux peut faire fait bonjour merci ça mais donc aussi "
        "oui stp svp beaucoup salut".split()
    ),
    "es": frozenset(
        "el los las es está están una para por con cómo qué del mi yo lo al cuál cuáles "
        "dónde cuándo cuando puedo puedes hay muy pero y porque hola gracias quién su sus "
        "este esta estos eso esto tengo tiene hacer sobre también más sí ser muchas "
        "muchos porfa".split()
    ),
    "en": frozenset(
        "the is are what how why of to and you i it this that for with in on do does can "
        "my your be was an which who where when please".split()
    ),
}
#: The languages each of those words counts for: a word is looked up once, not in each list.
_LANGUAGES_OF = {
    word: tuple(code for code, known in _WORDS.items() if word in known)
    for word in frozenset().union(*_WORDS.values())
}
#: Letters only one of the two writes: a word with one counts once more.
_SIGNS = {"fr": re.compile(r"[èêàçùûôîœ]"), "es": re.compile(r"[ñáíóú]")}
# The marks only Spanish writes, opening a question or an exclamation ("¿", "¡"), count once
# each (text_language).
_WORD = re.compile(r"[^\W\d_]+")
#: French elision: a word of one letter (or "qu") before an apostrophe and a word, "c'est",
#: "l'eau", "qu'il". English's "'s" and "'d" come after one ("here's", "I'd"), no French.
_ELISION = re.compile(r"(?<![^\W\d_])(?:[cdjlmnst]|qu)['\u2019](?=[^\W\d_])")
#: Accented Latin letters (beside the basic 26), and those French or Spanish write: a text
#: with any other (Vietnamese đ, ư and its tones, Portuguese ã, Polish ł) is in another
#: language, though it has "là" or "ô" as French does.
_ACCENTED_LATIN = re.compile(r"[\u00c0-\u024f\u1e00-\u1eff]")
_FRENCH_OR_SPANISH = frozenset("àâæçéèêëîïôœùûüÿáíñóú")


def written_language(text: str | None) -> str | None:
    """ "fr" or "es" when `text` reads as French or Spanish: two of its words or signs at
    least, and more than it has of English or of the other; None for English and for
    anything that says too little to tell ("DNS?", "OK")."""
    language = text_language(text)
    return None if language == "en" else language


def language_for(text: str | None, known: str | None, otherwise: str | None = None) -> str | None:
    """What a line answering `text` is written in: "fr" or "es" as `text` reads, else the
    texter's `known` one (User.help_language) when `text` says too little to tell ("merci",
    "DNS?"), else as `otherwise` reads (an answer; read only then); None for English."""
    language = text_language(text) or known
    if not language and otherwise is not None:
        language = text_language(otherwise)
    return None if language == "en" else language


def text_language(text: str | None) -> str | None:
    """ "en", "fr" or "es", as `written_language` tells them (English by two of its words
    too, more than of either other); None when `text` says too little to tell.

    Read on every text a webhook stores: a text all in ASCII, as most are, has no accented
    letter, elision or sign to look for (a word folds to part of the folded text)."""
    text = text or ""
    folded = text.casefold()
    plain = folded.isascii()
    if not plain and any(
        c.isalpha() and c not in _FRENCH_OR_SPANISH for c in _ACCENTED_LATIN.findall(folded)
    ):
        return None
    found = _WORD.findall(text)
    if not text.isupper():
        # Capitals in a text in lower case are a name or a unit ("AU", "EST", "DES", "LA"),
        # not the French or Spanish word they spell; a text all in capitals is read as words.
        found = [word for word in found if len(word) < 2 or not word.isupper()]
    words = [word.casefold() for word in found]
    scores = dict.fromkeys(_WORDS, 0)
    for word in words:
        for code in _LANGUAGES_OF.get(word, ()):
            scores[code] += 1
    if "'" in folded or "\u2019" in folded:
        scores["fr"] += len(_ELISION.findall(folded))
    scores["es"] += text.count("¿") + text.count("¡")
    if not plain:
        for code, sign in _SIGNS.items():
            scores[code] += len(list(filter(None, map(sign.search, words))))
    best = max(scores, key=scores.__getitem__)
    others = max(score for code, score in scores.items() if code != best)
    return best if scores[best] >= 2 and scores[best] > others else None
