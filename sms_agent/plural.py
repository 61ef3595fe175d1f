"""How many, in words: "1 user", "2 users", "12,345 users" on staff's pages and commands, and
"1 request", "0 demande", "2 solicitudes" in the notices a texter reads."""

#: The counts a language says in the singular: English and Spanish one alone, French none
#: and one ("0 demande").
_SINGULAR = {None: (1,), "fr": (0, 1), "es": (1,)}


def counted(
    count: int,
    noun: str,
    plural: str | None = None,
    *,
    language: str | None = None,
    marked: bool = True,
) -> str:
    """`count` and `noun` ("user", "error"), in the singular where `language` (English under
    None) says one so, else `plural` (the noun with an s unless given: "solicitudes"): each
    page, command and notice that wrote its own plural sooner or later said "1 users".
    Thousands are marked as staff read them (12,345) unless not `marked`: a notice keeps
    its figures bare, as its one-segment budget counts them. A Jinja filter too
    (`{{ count|counted("conversation") }}`)."""
    number = f"{count:,}" if marked else str(count)
    word = noun if count in _SINGULAR.get(language, (1,)) else plural or f"{noun}s"
    return f"{number} {word}"
