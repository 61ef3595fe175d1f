"""Twilio's webhooks: inbound SMS and delivery status callbacks, both signed by Twilio."""

from __future__ import annotations

import base64
import hmac
import logging

from flask import Blueprint, Request, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from . import inbound, jobs, outbound
from .current import app_config, this_request
from .extensions import DATABASE_BUSY, db
from .ops.logs import Occasional
from .ops.metrics import BAD_SIGNATURES
from .vendors.twilio import CALLBACK_REFERENCE

log = logging.getLogger("sms_agent.webhook")
#: Anyone can post a badly signed webhook: said once a minute, counted every time.
bad_signature_log = Occasional(log)

bp = Blueprint("webhook", __name__, url_prefix="/sms")


def signed_url(req: Request, public: str | None) -> str:
    """The URL Twilio called and signed: the configured public URL when there is one (a TLS
    proxy makes request.url differ), else what the request says (ProxyFix applied). The
    query string is taken as it came: Twilio signs its escapes as written, and request.url
    decodes them ("caf%C3%A9" becomes "café")."""
    base = public.rstrip("/") + req.path if public else req.base_url
    # Twilio calls URLs it was given as text: bytes that are not UTF-8 were never signed.
    query = req.query_string.decode(errors="replace")
    return base + ("?" + query if query else "")


def verify_signature() -> None:
    config, req = app_config(), this_request()
    if not config["TWILIO_VALIDATE_SIGNATURE"]:
        return
    token = config.get("TWILIO_AUTH_TOKEN") or ""
    signature = req.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        BAD_SIGNATURES.labels(path=req.path).inc()
        abort(403, "missing Twilio signature")
    url = signed_url(req, config.get("PUBLIC_BASE_URL"))
    if not is_signed_by_twilio(token, url, req.form, signature):
        BAD_SIGNATURES.labels(path=req.path).inc()
        bad_signature_log.warning("rejected %s: bad Twilio signature for %s", req.path, url)
        abort(403, "invalid Twilio signature")


def is_signed_by_twilio(token: str, url: str, params, signature: str) -> bool:
    """The SDK's own check, which accepts the URL with or without its port, since Twilio's
    signing is not consistent about it. It parses the URL and computes both signatures on
    every call, about 4% of a webhook's CPU; the URL as Twilio called it is what Twilio
    signs nearly always, so that one is tried first and the full check runs only when it
    does not match."""
    if hmac.compare_digest(_signature(token, url, params), signature.encode()):
        return True
    return RequestValidator(token).validate(url, params, signature)


def _signature(token: str, url: str, form) -> bytes:
    """Twilio's signature of `url` and the `form` (a werkzeug MultiDict), as the SDK's
    compute_signature makes it: HMAC-SHA1 of the URL followed by each field's name and
    value, the fields in order of name, each distinct value once, in order. Made here from
    the form's pairs because the SDK asks the form for a `getall` werkzeug's MultiDict
    lacks, and pays a raised and caught AttributeError for every field: 160,000
    instructions a webhook where this takes 70,000. A mistake here could only refuse a
    signature, which the SDK's full check then accepts."""
    pairs = sorted(set(form.items(multi=True)))
    signed = url + "".join(name + value for name, value in pairs)
    return base64.b64encode(hmac.digest(token.encode(), signed.encode(), "sha1"))


#: Built once: the SDK's XML builder is about 3% of a webhook's CPU, for the same bytes.
_EMPTY_TWIML = str(MessagingResponse())


def empty_twiml() -> Response:
    return Response(_EMPTY_TWIML, status=200, content_type="text/xml")


def _fields() -> dict[str, str]:
    """Twilio's fields, each its first value as request.form.get gives it, in a plain dict:
    werkzeug's form raises and catches an exception for every field asked for and absent."""
    return this_request().form.to_dict()


@bp.post("/inbound")
def inbound_sms():
    """Store the SMS and answer Twilio at once; the worker replies later."""
    verify_signature()
    try:
        received = inbound.receive_and_commit(_fields())
    except inbound.BadInbound as exc:
        abort(400, str(exc))
    except inbound.ConcurrentDeliveries as exc:
        abort(409, str(exc))
    except DATABASE_BUSY as exc:
        return _kept_for_a_worker(exc, "inbound", lambda: jobs.receive_later(_fields()))
    jobs.follow_up(received)
    return empty_twiml()


def _kept_for_a_worker(exc: Exception, what: str, keep) -> Response:
    """The database could not take a webhook (down, restarting, out of connections):
    `keep()` hands it to the broker for a worker to apply once it is back, and Twilio is
    answered as usual, since it sends no webhook again after an error. Only with the broker
    away too is it an error (a 500, as before)."""
    db.session.rollback()
    if not keep():
        raise exc
    log.warning(
        "%s %s kept for a worker, the database unavailable (%s)",
        what,
        request.form.get("MessageSid") or request.form.get("SmsSid"),
        type(exc).__name__,
    )
    return empty_twiml()


@bp.post("/status")
def delivery_status():
    """Record Twilio's delivery report on the message we sent, which our StatusCallback URL
    names (its query string is part of what Twilio signed)."""
    verify_signature()
    form = _fields()
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    if not inbound.is_message_sid(sid):
        abort(400, "MessageSid is missing or malformed")
    report = {
        "sid": sid,
        "twilio_status": status,
        "error_code": form.get("ErrorCode"),
        "reference": request.args.get(CALLBACK_REFERENCE),
    }
    try:
        outbound.record_delivery_status(**report)
        db.session.commit()
    except DATABASE_BUSY as exc:
        return _kept_for_a_worker(exc, "status of", lambda: jobs.record_status_later(report))
    return empty_twiml()


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(409)
@bp.errorhandler(413)
def plain_error(error):
    """Twilio shows our answer in its debugger: keep it a short line of text, not a page."""
    response = Response(
        f"{error.code} {error.name}: {error.description}\n",
        status=error.code,
        content_type="text/plain",
    )
    if getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return response


@bp.app_errorhandler(405)
def wrong_method(error):
    """A GET of a webhook is refused by routing, before any blueprint is chosen, so the
    blueprint's handlers never see it: this one is the app's, and answers like them under
    /sms/ only (other paths keep their own 405)."""
    if request.path.startswith(f"{bp.url_prefix}/"):
        return plain_error(error)
    return error
