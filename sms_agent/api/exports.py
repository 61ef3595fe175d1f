"""/api/users/<phone>/export/: a texter's whole conversation with its costs, as JSON or CSV."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, request

from ..export import conversations
from ..export.download import CSV_TYPE, JSON_TYPE, csv_download, json_download
from ..export.rows import Conversation
from . import bp
from .auth import sees_staff_details
from .filters import ExportQuery
from .operations import operation
from .requests import load_query
from .schemas import ExportOut, kept
from .users import USER_PATH, get_user_or_404


@bp.get(USER_PATH + "export/")
@operation(
    "users",
    query=ExportQuery,
    response=ExportOut,
    other_media_types=(CSV_TYPE,),
    streamed=True,
)
def export_conversation(phone_number: str):
    """Export a texter's whole conversation with its costs (`format` json or csv).

    Every text they sent (refused ones with their `refusal_reason`), every message we sent
    them (`price_usd`, `price_estimated` until Twilio's price arrives) and every model call
    made for them (`model_cost_usd`, tokens), oldest first; each text has its task's
    `task_cost_usd`, each entry `cost_usd` (what it cost itself), and `totals` add them up.
    CSV has the same columns and a last row with direction `total`; it comes as an
    attachment. A CSV text cell starting with = + - @, a tab, a carriage return or ' (the
    phone number's + too) has one ' added, so a spreadsheet runs no formula: remove one
    leading ' from each cell that has one to read the value. Streamed as it is read. A
    texter's token exports its own conversation, where staff messages are by "staff".
    Without `format`, the media type Accept prefers, as the document offers both."""
    user = get_user_or_404(phone_number)
    query = load_query(kept(ExportQuery))
    # Read as the response is written, not here.
    texter = conversations([user.phone_number], for_staff=sees_staff_details())
    if "format" in query:
        return _download(texter, user.phone_number, query["format"])
    response = _download(texter, user.phone_number, _accepted())
    response.vary.add("Accept")  # RFC 9110 12.5.5: Accept chose it
    return response


def _download(texter: Iterable[Conversation], phone_number: str, format: str) -> Response:
    if format == "csv":
        return csv_download(texter, f"conversation-{phone_number.lstrip('+')}.csv")
    return json_download(texter)


def _accepted() -> str:
    """The format an Accept header asks for (a client generated from the OpenAPI document
    asks so): csv when it prefers text/csv, else json, the default, ties included."""
    offered = [JSON_TYPE, "text/csv", CSV_TYPE]  # the document names CSV with its charset
    best = request.accept_mimetypes.best_match(offered, default=JSON_TYPE)
    return "json" if best == JSON_TYPE else "csv"
