"""The Twilio SDK's HTTP client, kept per worker thread (twilio.py): one requests session
that does once what requests would do again for every send to the same address."""

from __future__ import annotations

import logging
import urllib.parse

import requests
from twilio.http.http_client import TwilioHttpClient

#: Prepared requests a session keeps (one per method, address and headers): a send uses
#: one, a price lookup one per message, so the oldest goes first.
KEPT_REQUESTS = 16


class KeptSession(requests.Session):
    """A requests session that reads the proxy and CA-bundle settings from the environment
    once per host, not on every request: requests walks all of os.environ for them each
    time (a tenth of a send's Python calls), and the environment of a running process does
    not change. Settings passed by the caller are merged as usual.

    It also prepares the parts of a request that do not change from one send to the next
    (the address, the merged headers, the Basic auth header) once: a send only encodes its
    own form. A request with cookies, files, JSON, a query, hooks or other auth, or a
    session holding cookies, is prepared whole, as requests does."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str], dict] = {}
        self._prepared: dict[tuple, requests.PreparedRequest] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies or stream is not None or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        host = urllib.parse.urlsplit(url)[:2]
        if host not in self._environment:
            settings = super().merge_environment_settings(url, {}, None, None, None)
            self._environment[host] = settings
        settings = self._environment[host]
        return {**settings, "proxies": dict(settings["proxies"])}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if not self._keeps(request):
            return super().prepare_request(request)
        key = (request.method, request.url, tuple(request.headers.items()), request.auth)
        kept = self._prepared.get(key)
        if kept is None:
            bare = requests.Request(
                request.method, request.url, headers=request.headers, auth=request.auth
            )
            kept = super().prepare_request(bare)
            if len(self._prepared) >= KEPT_REQUESTS:
                del self._prepared[next(iter(self._prepared))]
            self._prepared[key] = kept
        prepared = kept.copy()
        _prepare_form(prepared, request.data or None)
        return prepared

    def _keeps(self, request: requests.Request) -> bool:
        return (
            isinstance(request.auth, tuple)
            and (not request.data or isinstance(request.data, dict))
            and not (request.cookies or request.files or request.json or request.params)
            and not any(request.hooks.values())
            and not (self.cookies or self.auth or self.params or any(self.hooks.values()))
        )


def _prepare_form(prepared: requests.PreparedRequest, data: dict | None) -> None:
    """`prepared.prepare_body(data, None)` for a form (a dict) or no body: the same body and
    headers, without requests first asking what kind of body it was given. For a dict it
    asks twice whether it is a file (isinstance against a typing Protocol, which Python 3.11
    checks attribute by attribute): with the rest of its generic path, about 0.35 M
    instructions a send."""
    if not data:
        prepared.prepare_body(None, None)  # no body: no Protocol is asked about
        return
    pairs = []
    for key, values in data.items():  # requests' _encode_params, for a dict
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        name = key.encode("utf-8") if isinstance(key, str) else key
        pairs.extend(
            (name, value.encode("utf-8") if isinstance(value, str) else value)
            for value in values
            if value is not None
        )
    body = urllib.parse.urlencode(pairs, doseq=True)
    prepared.prepare_content_length(body)
    if "content-type" not in prepared.headers:
        prepared.headers["Content-Type"] = "application/x-www-form-urlencoded"
    prepared.body = body


class KeptHttpClient(TwilioHttpClient):
    """The SDK's HTTP client on a KeptSession (with the SDK's pool settings).

    The SDK's lines about each request and response (at INFO, shown at LOG_LEVEL=DEBUG) are
    written as it writes them, but only built when they will be shown: it formatted the
    response's headers into a line on every send, for a logger that drops it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        session = KeptSession()
        session.adapters = self.session.adapters
        self.session = session

    def log_request(self, kwargs) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request(kwargs)

    def log_response(self, status_code, response) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_response(status_code, response)


class RedirectingHttpClient(KeptHttpClient):
    """Sends every Twilio REST call to another base URL (a local stand-in or contract mock);
    the SDK has no base-URL setting of its own."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        parts = urllib.parse.urlsplit(url)
        local = self.base_url + parts.path + ("?" + parts.query if parts.query else "")
        return super().request(method, local, *args, **kwargs)
