"""The list pages' search box, when what staff paste is a whole phone number or Twilio SID.

Flask-Admin searches every searchable column with ILIKE '%term%', which no index answers:
at 1,000,000 tasks on PostgreSQL, looking up one texter's tasks by their number read every
row (1.7 s), and a SID in the outbound messages 3.6 s. A search that is a whole number or
SID says which column it means, so it is matched there exactly, through that column's
index. Anything else (part of a number, words) is searched in the text columns, each word
as written.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import flash

from ..phones import whole_phone_number

#: The most different words a search looks for, each a condition on every text column:
#: SQLite refused about a thousand with a server error ("Expression tree is too large").
MOST_WORDS = 500
#: A Twilio SID: two letters and 32 hex digits (SM…, MM…).
_TWILIO_SID = re.compile(r"[A-Z]{2}[0-9a-f]{32}")


def twilio_sid(search: str) -> str | None:
    text = search.strip()
    return text if _TWILIO_SID.fullmatch(text) else None


class ExactSearch:
    """A model view mixin: `exact_search` names the view's phone and SID columns
    (`{"phone": "user_phone", "sid": "message_sid"}`); a search that is one of those is a
    condition on that column alone."""

    exact_search: dict[str, str] = {}

    def exact_condition(self, search: str) -> sa.ColumnElement[bool] | None:
        for kind, parse in (("phone", whole_phone_number), ("sid", twilio_sid)):
            column = self.exact_search.get(kind)
            value = parse(search) if column else None
            if value is not None:
                return getattr(self.model, column) == value
        return None

    def text_condition(self, search: str) -> sa.ColumnElement[bool] | None:
        """Every word of `search` in one of the searchable columns, as written: "%" and "_"
        are matched as themselves, as the API's search matches them. Flask-Admin's own
        search took them for LIKE wildcards: "%" or "_" alone listed every row, "50%" any
        text with 50 in it."""
        # Said twice, a word is looked for once (case aside, as icontains matches it).
        words = list({word.casefold(): word for word in search.split()}.values())
        if not words:
            return None
        if len(words) > MOST_WORDS:
            flash(
                f"A search takes at most {MOST_WORDS} different words; this one has "
                f"{len(words):,}. Search for a few words of it.",
                "error",
            )
            return sa.false()
        columns = [column for column, path in self._search_fields if not path]
        return sa.and_(
            *(
                sa.or_(*(sa.cast(c, sa.Unicode).icontains(word, autoescape=True) for c in columns))
                for word in words
            )
        )

    def _apply_search(self, query, count_query, joins, count_joins, search):
        condition = self.exact_condition(search)
        if condition is None:
            condition = self.text_condition(search)
        if condition is None:
            return query, count_query, joins, count_joins
        if count_query is not None:
            count_query = count_query.filter(condition)
        return query.filter(condition), count_query, joins, count_joins
