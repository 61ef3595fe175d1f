"""Every JSON body the app writes (the API's, the admin's few), written by orjson.

Flask's provider writes them with the standard library's encoder, which sorts the keys of
every object and escapes every string in Python-level passes: a page of 20 users cost 1.6
million instructions to encode, as much as fetching it. orjson writes the same document
(keys sorted, compact, or indented where Flask indents) in a tenth of that.

Whatever orjson does not write the same way goes through Flask's own rules: dates and
datetimes (Flask writes them as HTTP dates), decimals, and whatever `default` knows. A
value orjson cannot write at all (an integer beyond 64 bits) gets Flask's provider for the
whole body, so no response differs from Flask's but in spelling (non-ASCII text is written
as UTF-8 rather than as \\u escapes, which JSON reads the same).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

#: Keys that are not text written as text, as json.dumps does; dates, datetimes and
#: dataclasses handed to Flask's `default`, as json.dumps would hand them.
_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """`obj` as JSON text: compact (`separators=(",", ":")`, as `response` asks unless
        debugging) or indented by two (`indent=2`); any other request is Flask's."""
        layout = _layout(kwargs)
        if layout is not None:
            option = _OPTIONS | layout | (orjson.OPT_SORT_KEYS if self.sort_keys else 0)
            try:
                return orjson.dumps(obj, default=self.default, option=option).decode()
            except TypeError:  # beyond orjson (a huge integer): Flask's provider writes it
                pass
        return super().dumps(obj, **kwargs)


def _layout(kwargs: dict[str, Any]) -> int | None:
    """orjson's option for the layout Flask asks for, or None when orjson has none like it."""
    if kwargs == {"separators": (",", ":")}:
        return 0
    if kwargs == {"indent": 2}:
        return orjson.OPT_INDENT_2
    return None
