"""How staff's pages and commands say how many: "1 user", "2 users", "12,345 users"."""


def counted(count: int, noun: str) -> str:
    """`count`, its thousands marked, and the regular `noun` ("user", "error"), in the
    singular for one alone: each page and command that wrote its own plural sooner or later
    said "1 users". A Jinja filter too (`{{ count|counted("conversation") }}`)."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
