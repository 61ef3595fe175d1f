"""The web layer's security rules in one place: response headers, cookies, HTTPS, and
request data no view should have to think about, and the host names the app answers for.

Flask-Talisman sends the headers on every response: a Content-Security-Policy that allows
only this server's scripts, styles and images (inline scripts need the request's nonce),
no framing by anyone (frame-ancestors 'none' and X-Frame-Options DENY), nosniff, a
same-origin Referrer-Policy and, in production, HSTS. The cookie flags come from config.py.
What a signed-in staff member is shown is kept by no cache (Cache-Control: no-store).

A NUL character in a URL parameter or a form field is refused with a 400 before any view
runs (but in the admin's forms, which say so beside the field: `refuses_nul_itself`):
PostgreSQL can neither store nor compare text holding one (the query fails with a
DataError). The webhook is left to itself: Twilio's fields are checked there (sid and number
formats) and an SMS body or a media field keeps everything but the NUL, which becomes
U+FFFD.

A request for a host not in ALLOWED_HOSTS (with PUBLIC_BASE_URL's host, and this machine's
names in development: config.trusted_hosts) is refused with a 400 by Flask's own
TRUSTED_HOSTS check, before routing: the https redirect, the API's page links and the URL a
webhook's signature is checked against are built from the request's host (the forwarded one
with TRUSTED_PROXIES). Probes and Prometheus, which reach a process by its address and are
sent no URL, are let through.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading

from flask import Flask, Request, Response, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_talisman import DENY, Talisman
from itsdangerous import URLSafeTimedSerializer
from werkzeug.datastructures import Headers
from werkzeug.exceptions import BadRequest, SecurityError
from werkzeug.sansio.utils import host_is_trusted as host_is_valid

from config import host_and_port, is_loopback_host, public_development_secrets, trusted_hosts

from .current import this_request
from .ops.logs import Occasional

log = logging.getLogger("sms_agent.security")

#: Called by machines inside the deployment, often over plain HTTP (Twilio's signed webhooks
#: through the proxy, health checks, Prometheus): never redirected to https.
MACHINE_BLUEPRINTS = frozenset({"webhook", "health", "metrics"})

#: Reached by a process's own address (a load balancer's health check, a Prometheus target)
#: whatever ALLOWED_HOSTS says: they build no URL from it.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

#: Surfaces no browser uses, under a URL prefix of their own: no session is opened for them.
SESSIONLESS_BLUEPRINTS = ("webhook",)

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    # Swagger UI and Bootstrap draw a few icons from data: URLs.
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

#: Inline JavaScript in Flask-Admin's own templates, which cannot carry a nonce: event
#: handlers (onclick) and "javascript:void(0)" links. CSP lets exactly these run by their
#: hashes ('unsafe-hashes'); the bulk actions' handlers are added per action name.
FLASK_ADMIN_INLINE_JS = (
    "javascript:void(0)",
    "return false;",
    "return faHelpers.safeConfirm('Are you sure you want to delete this record?');",
)
FLASK_ADMIN_ACTION_JS = "return modelActions.execute('{}');"

FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


#: Views that take a picture upload (the Try-it page): their bodies may be as large as a
#: picture (MEDIA_MAX_BYTES) besides the usual MAX_CONTENT_LENGTH.
UPLOAD_ENDPOINTS = frozenset({"tryit.index"})


class SiteRequest(Request):
    """MAX_CONTENT_LENGTH for every request, except a picture upload where one is expected:
    from a signed-in staff member (the session's login mark; nobody else may upload, and a
    stranger's 5 MB would be read in full by the CSRF check before the login is asked for).
    Decided on the matched endpoint, before anything (CSRFProtect first) reads the body."""

    @property
    def max_content_length(self) -> int | None:
        limit = super().max_content_length
        if self.endpoint in UPLOAD_ENDPOINTS and limit is not None and "_user_id" in session:
            return limit + current_app.config["MEDIA_MAX_BYTES"]
        return limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        Request.max_content_length.fset(self, value)

    _trusted_hosts: list[str] | None = None

    @property
    def trusted_hosts(self) -> None:
        """Flask's TRUSTED_HOSTS, matched here for every path but the probes': werkzeug's
        own match takes no IPv6 address ([::1]), ignores the port and minds the case. A
        Host not allowed raises werkzeug's SecurityError, as its own match would; for any
        other werkzeug is given None, and checks only the Host's characters."""
        hosts = self._trusted_hosts
        if hosts and self.path not in PROBE_PATHS and not host_is_allowed(self._host_asked, hosts):
            raise SecurityError(f"Host {self.headers.get('Host', '')!r} is not trusted.")
        return None

    @trusted_hosts.setter
    def trusted_hosts(self, value: list[str] | None) -> None:
        self._trusted_hosts = value

    @property
    def _host_asked(self) -> tuple[str, int] | None:
        """The Host the request names (X-Forwarded-Host's, through ProxyFix) and its port,
        the scheme's own when it names none; None for one werkzeug cannot read (web_1),
        which it would take for no host at all, and build "https:///..." from."""
        raw = self.headers.get("Host") or ""
        asked = host_and_port(raw) if host_is_valid(raw) else None
        if asked is None:
            return None
        host, port = asked
        return host, port or (443 if self.scheme == "https" else 80)


def host_is_allowed(asked: tuple[str, int] | None, hosts: list[str]) -> bool:
    """Whether a host and port is one of `hosts` (config.env_hosts's forms): the same name
    or address, a subdomain of a ".example.com", on any port unless the entry names one."""
    if asked is None:
        return False
    name, port = asked
    for entry in hosts:
        allowed, allowed_port = host_and_port(entry) or ("", None)
        if allowed_port not in (None, port):
            continue
        subdomains = allowed.startswith(".")
        if name == allowed or subdomains and (name == allowed[1:] or name.endswith(allowed)):
            return True
    return False


class SiteSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the cookie's signer built once for each secret
    key instead of on every request: building one checks its serializer by encoding a
    sample, about 2% of a webhook's CPU, for a webhook that carries no cookie at all. A new
    SECRET_KEY or SECRET_KEY_FALLBACKS builds a new signer.

    Paths under `sessionless` (Twilio's webhooks) get Flask's null session: read as empty,
    never saved. Twilio keeps no cookie, and opening, reading and saving a session was
    about 2% of a webhook's instructions; its answer also said Vary: Cookie for nothing.
    The request is not routed yet when the session opens, hence paths, not blueprints."""

    def __init__(self, sessionless: tuple[str, ...] = ()) -> None:
        self._signer: tuple[tuple, URLSafeTimedSerializer | None] = ((), None)
        self._sessionless = sessionless

    def open_session(self, app: Flask, request: Request):
        if self._sessionless and request.path.startswith(self._sessionless):
            return None
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        built_for, signer = self._signer
        if built_for != keys:
            signer = super().get_signing_serializer(app)
            self._signer = (keys, signer)
        return signer


def init_app(app: Flask) -> None:
    """Register after the admin, whose bulk actions the policy must allow."""
    app.request_class = SiteRequest
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config)
    # The API's handler answers its own paths in JSON (api/errors.py wraps this one).
    untrusted_host, log_a_refused_host = refusing_other_hosts(app)
    app.register_error_handler(SecurityError, untrusted_host)
    app.after_request(log_a_refused_host)
    app.session_interface = SiteSessions(
        sessionless=tuple(f"{app.blueprints[name].url_prefix}/" for name in SESSIONLESS_BLUEPRINTS)
    )
    policy = dict(CONTENT_SECURITY_POLICY)
    policy["script-src"] += "".join(f" {source}" for source in _inline_js_sources(app))
    HeadersPolicy(
        app,
        content_security_policy=policy,
        content_security_policy_nonce_in=["script-src"],
        frame_options=DENY,
        referrer_policy="same-origin",
        force_https=app.config["FORCE_HTTPS"],
        strict_transport_security=app.config["HSTS_SECONDS"] > 0,
        strict_transport_security_max_age=app.config["HSTS_SECONDS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=app.config["SESSION_COOKIE_HTTPONLY"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )
    # Talisman's csp_nonce() is empty until its before_request ran; ours is made on first
    # use, so even a page rendered before that (by an earlier before_request) gets one.
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.before_request(refuse_nul_characters)
    app.after_request(kept_by_no_cache_for_staff)


#: The policy of a response that is not a page (TwiML, JSON, a script or style file): it
#: runs and loads nothing, and may not be framed.
DATA_POLICY = {"default-src": "'none'", "frame-ancestors": "'none'"}


class HeadersPolicy(Talisman):
    """Talisman, with three exceptions.

    The machine surfaces are never redirected to https: Twilio would not follow a redirect
    of its signed POST, nor a health check or Prometheus.

    A response that is not an HTML page gets DATA_POLICY, which allows nothing, instead of
    the pages' policy with its script hashes: 800 bytes of header on every webhook and API
    answer, rebuilt for each (6% of a webhook's CPU). Its headers are built once. A view
    with options of its own (a picture opened alone) keeps them.

    No CSP nonce is made for a response that runs no inline script: `csp_nonce` makes one
    when a page first asks for it."""

    #: DATA_POLICY's headers, and their names in lower case, built on first use.
    _data_headers: tuple[list[tuple[str, str]], frozenset[str]] | None = None

    def _force_https(self):
        if this_request().blueprint in MACHINE_BLUEPRINTS:
            return None
        return super()._force_https()

    def _make_nonce(self):
        return None

    def _set_response_headers(self, response):
        if response.mimetype == "text/html" or self._view_has_options():
            return super()._set_response_headers(response)
        if self._data_headers is None:
            built = self._headers_of_data()
            self._data_headers = built, frozenset(name.lower() for name, _ in built)
        data_headers, names = self._data_headers
        headers = response.headers
        if any(name.lower() in names for name, _ in headers):
            headers.update(data_headers)  # replaces the view's own, as Talisman does
        else:
            # Nothing to replace (every webhook): update looks for each name among the
            # answer's headers first, 37,000 instructions a webhook more than appending.
            headers.extend(data_headers)
        self._set_hsts_headers(headers)
        return response

    def _view_has_options(self) -> bool:
        view = current_app._get_current_object().view_functions.get(this_request().endpoint)
        return hasattr(view, "talisman_view_options")

    def _headers_of_data(self) -> list[tuple[str, str]]:
        """What Talisman itself sends with DATA_POLICY (HSTS aside: it depends on the
        request)."""
        options = {
            **self._get_local_options(),
            "content_security_policy": DATA_POLICY,
            "content_security_policy_nonce_in": [],
        }
        headers = Headers()
        self._set_feature_policy_headers(headers, options)
        self._set_permissions_policy_headers(headers, options)
        self._set_document_policy_headers(headers, options)
        self._set_frame_options_headers(headers, options)
        self._set_content_security_policy_headers(headers, options)
        self._set_referrer_policy_headers(headers)
        return list(headers.items())


def refusing_other_hosts(app: Flask):
    """The 400 for a host the app does not answer for, as a line of text (the API's handler
    answers its own paths in JSON), and the after_request hook that logs it whichever
    answered: a proxy that passes on its upstream's name (nginx without `proxy_set_header
    Host $host`) has every request refused so. The log names the host that came, once a
    minute (anyone can send one)."""
    said = Occasional(log)

    def untrusted_host(error: SecurityError) -> Response:
        return Response(f"{error.description}\n", status=400, mimetype="text/plain")

    def log_a_refused_host(response: Response) -> Response:
        # Flask checks the host as it routes; the refusal stays the routing exception.
        error = this_request().routing_exception
        if isinstance(error, SecurityError):
            said.warning(
                "refused a request: %s The app answers for %s (ALLOWED_HOSTS,"
                " PUBLIC_BASE_URL); a proxy must pass the public Host on, or"
                " X-Forwarded-Host with TRUSTED_PROXIES",
                error.description,
                ", ".join(app.config["TRUSTED_HOSTS"] or ()),
            )
        return response

    return untrusted_host, log_a_refused_host


def warn_of_any_host(app: Flask) -> None:
    """Production with neither ALLOWED_HOSTS nor PUBLIC_BASE_URL answers for any host name,
    as it did before the check: said once as it starts."""
    if app.config["APP_ENV"] == "production" and trusted_hosts(app.config) is None:
        log.warning(
            "neither ALLOWED_HOSTS nor PUBLIC_BASE_URL is set: the app answers requests for"
            " any host name and builds redirects and links from it; set ALLOWED_HOSTS to the"
            " names it is reached by (e.g. sms.example.com)"
        )


def warn_of_public_development_secrets(app: Flask) -> None:
    """Name the public development secrets a server reachable from other machines still
    uses: as it starts when WEB_HOST is a public address, else at the first request from
    another machine (`flask run --host 0.0.0.0`, a container's published port). Only a
    warning: a container's development server listens on 0.0.0.0 to be reached at all."""
    public = public_development_secrets(app.config)
    if not public:
        return
    if not is_loopback_host(app.config["WEB_HOST"]):
        _warn_of(public, f"listening on a public address (WEB_HOST={app.config['WEB_HOST']})")
        return
    warned = threading.Event()

    def warn_of_a_caller_from_another_machine() -> None:
        if warned.is_set() or is_loopback_host(request.remote_addr or "127.0.0.1"):
            return
        warned.set()
        _warn_of(public, f"reached from another machine ({request.remote_addr})")

    app.before_request(warn_of_a_caller_from_another_machine)


def _warn_of(public: list[str], where: str) -> None:
    log.warning(
        "%s with APP_ENV=development and the development %s, whose values are published"
        " with the code: anyone can forge %s. Set APP_ENV=production with your own secrets,"
        " or serve on 127.0.0.1 only",
        where,
        " and ".join(public),
        " and ".join(_FORGED_WITH[name] for name in public),
    )


#: What a stranger can forge with each public development secret.
_FORGED_WITH = {
    "SECRET_KEY": "a staff member's session cookie",
    "TWILIO_AUTH_TOKEN": "Twilio's webhooks",
}


def kept_by_no_cache_for_staff(response):
    """What a signed-in staff member is shown (texters' numbers and messages) is kept by no
    browser or proxy cache, or the browser shows it again from its cache after they logged
    out of a shared computer: no-store, unless the view said otherwise (a picture, a file).
    Read from the session's login mark alone, which costs a webhook nothing (Flask-Login's
    current_user would look for a user on every request)."""
    if "_user_id" in session:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def csp_nonce() -> str:
    """This request's CSP nonce, made on first use; Talisman adds it to the header."""
    if not getattr(request, "csp_nonce", None):
        request.csp_nonce = secrets.token_urlsafe(24)
    return request.csp_nonce


def _inline_js_sources(app: Flask) -> list[str]:
    handlers = set(FLASK_ADMIN_INLINE_JS)
    for admin in app.extensions.get("admin", []):
        for view in admin._views:
            for name, _text in getattr(view, "_actions", []):
                handlers.add(FLASK_ADMIN_ACTION_JS.format(name))
    return ["'unsafe-hashes'", *(_sha256_source(handler) for handler in sorted(handlers))]


def _sha256_source(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def _holds_nul(pairs) -> list[str]:
    """The names of the pairs holding a NUL (the name itself, shown escaped, if it does)."""
    return sorted({repr(k)[1:-1] for k, value in pairs if "\x00" in k or "\x00" in value})


def _refuse(names: list[str], what: str) -> None:
    """400 naming the parameters or fields (the API's error gives them as its details)."""
    if names:
        error = BadRequest(f"{what} may not contain NUL characters: {', '.join(names)}.")
        error.details = {name: ["May not contain NUL characters."] for name in names}
        raise error


def refuse_nul_characters() -> None:
    if this_request().blueprint == "webhook":
        return
    _refuse(_holds_nul(request.args.items(multi=True)), "URL parameters")
    if request.mimetype in FORM_TYPES and not _refuses_nul_itself():
        _refuse(_holds_nul(request.form.items(multi=True)), "Form fields")


def refuses_nul_itself(view):
    """Marks a view whose form says, as a field error, that a field holds a NUL (the admin's
    forms): a bare 400 page lost everything staff had typed on the form."""
    view.refuses_nul_itself = True
    return view


def _refuses_nul_itself() -> bool:
    view = current_app.view_functions.get(request.endpoint)
    return getattr(view, "refuses_nul_itself", False)
