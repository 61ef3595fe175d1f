"""Fetching a texter's picture or voice note from Twilio, and nothing else.

A MediaUrl comes in a signed webhook, but we still fetch only what is plainly Twilio's: a
URL on Twilio's API host (TWILIO_API_BASE_URL in tests) under our own account, with the
account's credentials. Twilio answers it with a redirect to where the file is; a redirect is
followed only to the API host again or to a place in TWILIO_MEDIA_HOSTS (Twilio's own CDN
hosts, and its bucket on Amazon S3, by default), and the credentials are sent to the API
host only. Anything else is refused before a connection is made, so no webhook can make the
worker call another server. Bodies are streamed and abandoned past MEDIA_MAX_BYTES or
MEDIA_TIMEOUT.

With SMS_BACKEND=console (no Twilio account) the same URLs are read from a local folder
instead (LocalMediaStore), which `flask sms simulate --media` and the Try-it page write to.
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3

TWILIO_API_BASE = "https://api.twilio.com"
#: Twilio redirects once, to the CDN; more hops than this is not Twilio.
MAX_REDIRECTS = 3
#: Twilio's API answers 404 for a moment after the webhook for media still on its way to
#: it (WhatsApp's, mostly): asked again after each of these waits, within MEDIA_TIMEOUT,
#: before a 404 counts.
NOT_YET_WAITS = (1.0, 3.0)
_CHUNK = 64 * 1024
_MEDIA_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>AC\w+)/Messages/(?P<message>\w+)/Media/(?P<media>ME\w+)"
)


#: The account the embedded mode files its media under when no Twilio account is set (the
#: simulator signs its messages as it too), so the URL rules stay the same without one.
LOCAL_ACCOUNT_SID = "AC" + "0" * 32


def account_sid(config) -> str:
    """The Twilio account whose media URLs we fetch."""
    return config.get("TWILIO_ACCOUNT_SID") or LOCAL_ACCOUNT_SID


class NotYet(Exception):
    """Twilio's API answered 404 for the media: perhaps not there yet (NOT_YET_WAITS)."""


class MediaFetchError(Exception):
    """The media could not be fetched; the message says why, in words staff can act on.
    `refused`: we would not fetch it (not Twilio's), as opposed to Twilio failing us.
    `unusable`: the file itself will not do (too large, not what Twilio said it is), so
    the same file sent again would fail again. `lasting`: Twilio refused our account's
    credentials, which fails every file until staff set them right."""

    def __init__(
        self, message: str, *, refused: bool = False, unusable: bool = False, lasting: bool = False
    ):
        super().__init__(message)
        self.refused = refused
        self.unusable = unusable
        self.lasting = lasting


def too_large(max_bytes: int) -> MediaFetchError:
    return MediaFetchError(f"larger than MEDIA_MAX_BYTES ({max_bytes} bytes)", unusable=True)


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str


#: No URL of Twilio's carries these, and parsers disagree about them: urllib reads
#: "http://elsewhere\\@api.twilio.com/..." as Twilio's host, the HTTP client that connects
#: as `elsewhere`.
_AMBIGUOUS = re.compile(r"[\\\x00-\x20\x7f]")


def origin(url: str) -> str:
    """scheme://host[:port] in lower case, the default port left out; "" (no origin we
    allow) for a URL with a user part, a backslash, whitespace or a control character, or
    one that does not parse (an unclosed "[")."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return ""
    if "@" in parts.netloc or _AMBIGUOUS.search(url):
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:
        return ""
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def api_origin(config) -> str:
    return origin(config.get("TWILIO_API_BASE_URL") or TWILIO_API_BASE)


@dataclass(frozen=True)
class MediaHost:
    """A place a redirect from Twilio's API host may lead to: an origin, and the path under
    which the file must be there ("/" for anywhere on a host of Twilio's own)."""

    origin: str
    path: str = "/"

    def holds(self, url: str) -> bool:
        """`url` is here, in the path as the HTTP client will send it: requests resolves "."
        and ".." segments, so ".../media.twiliocdn.com/../other-bucket/x" leaves the prefix."""
        if origin(url) != self.origin:  # first: "" for a URL that does not parse
            return False
        return (urllib3.util.parse_url(url).path or "/").startswith(self.path)


def media_hosts(config) -> set[MediaHost]:
    """TWILIO_MEDIA_HOSTS: host names (https) or exact origins (https://, or a stand-in's
    http://127.0.0.1:8080; config.py refuses any other), each optionally with a path the
    file must be under (`s3-external-1.amazonaws.com/media.twiliocdn.com/`: Twilio's bucket
    on a host that serves everyone's)."""
    found = set()
    for entry in (config.get("TWILIO_MEDIA_HOSTS") or "").split(","):
        entry = entry.strip()
        url = entry if "://" in entry else "https://" + entry
        path = urllib.parse.urlsplit(url).path
        if entry and origin(url):
            found.add(MediaHost(origin(url), path if path.endswith("/") else path + "/"))
    return found


def check_media_url(url: str, config) -> re.Match:
    """The parts of a media URL on Twilio's API host under our account; raises otherwise."""
    # origin() is "" for a URL that does not parse, so it is split only once it matched.
    parts = urllib.parse.urlsplit(url) if origin(url) == api_origin(config) else None
    if parts is None or parts.query or parts.fragment:
        raise MediaFetchError(
            f"not fetched: {origin(url) or 'no host'} is not Twilio's API host", refused=True
        )
    found = _MEDIA_PATH.fullmatch(parts.path)
    if found is None or found["account"] != account_sid(config):
        raise MediaFetchError("not fetched: not a media URL of this Twilio account", refused=True)
    return found


def _place(url: str) -> str:
    """Where a refused redirect led, for staff: its origin and first path segment (an S3
    bucket, say), not the signature a signed URL carries."""
    first = urllib.parse.urlsplit(url).path.lstrip("/").split("/", 1)[0]
    return f"{origin(url)}/{first}" if origin(url) else "no host"


class TwilioMedia:
    """Fetches over HTTPS from Twilio with the account's credentials."""

    name = "twilio"

    def __init__(self, config) -> None:
        self.config = config
        self.auth = (config.get("TWILIO_ACCOUNT_SID") or "", config.get("TWILIO_AUTH_TOKEN") or "")
        self.max_bytes = config["MEDIA_MAX_BYTES"]
        self.timeout = config["MEDIA_TIMEOUT"]

    def fetch(self, url: str) -> Fetched:
        check_media_url(url, self.config)
        deadline = time.monotonic() + self.timeout
        with requests.Session() as session:
            session.trust_env = False  # no proxy or .netrc from the environment
            waits = iter(NOT_YET_WAITS)
            while True:
                try:
                    return self._fetch(session, url, deadline)
                except NotYet as exc:
                    wait = next(waits, None)
                    if wait is None or time.monotonic() + wait >= deadline:
                        raise MediaFetchError("Twilio answered 404 for the media") from exc
                    time.sleep(wait)

    def _fetch(self, session, url: str, deadline: float) -> Fetched:
        api, cdn = api_origin(self.config), media_hosts(self.config)
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._get(session, url, api, deadline)
            with response:
                if response.status_code == 404 and origin(url) == api:
                    raise NotYet()
                if response.status_code in (401, 403) and origin(url) == api:
                    raise MediaFetchError(
                        f"Twilio answered {response.status_code} for the media: it refused "
                        "the account's credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)",
                        lasting=True,
                    )
                if not response.is_redirect:
                    return self._body(response, deadline)
                url = urllib.parse.urljoin(url, response.headers.get("Location", ""))
            if origin(url) != api and not any(host.holds(url) for host in cdn):
                raise MediaFetchError(
                    f"not fetched: Twilio redirected to {_place(url)}, "
                    "which is not in TWILIO_MEDIA_HOSTS",
                    refused=True,
                )
        raise MediaFetchError(f"not fetched: more than {MAX_REDIRECTS} redirects", refused=True)

    def _get(self, session, url: str, api: str, deadline: float) -> requests.Response:
        left = max(deadline - time.monotonic(), 0.1)
        try:
            return session.get(
                url,
                auth=self.auth if origin(url) == api else None,
                stream=True,
                allow_redirects=False,
                timeout=(left, left),
            )
        except requests.Timeout as exc:
            raise MediaFetchError(f"Twilio took longer than {self.timeout:g}s") from exc
        except requests.RequestException as exc:
            raise MediaFetchError(f"Twilio unreachable: {exc}") from exc
        except ValueError as exc:
            # requests reads a redirect's Location even when it does not follow it.
            raise MediaFetchError(
                f"not fetched: Twilio redirected to a Location that is no URL ({exc}), "
                "not a place in TWILIO_MEDIA_HOSTS",
                refused=True,
            ) from exc

    def _body(self, response: requests.Response, deadline: float) -> Fetched:
        if response.status_code != 200:
            raise MediaFetchError(f"Twilio answered {response.status_code} for the media")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large(self.max_bytes)
        data = bytearray()
        try:
            while chunk := self._next_chunk(response.raw, deadline):
                data += chunk
                if len(data) > self.max_bytes:
                    raise too_large(self.max_bytes)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise MediaFetchError(f"Twilio took longer than {self.timeout:g}s") from exc
            raise MediaFetchError(f"the media download broke off: {exc}") from exc
        return Fetched(bytes(data), response.headers.get("Content-Type", ""))

    def _next_chunk(self, raw: urllib3.HTTPResponse, deadline: float) -> bytes:
        """What one read of the socket brings, waiting no later than `deadline`. A read of a
        whole chunk would wait for all of it, so a body sent a byte at a time, each within
        the socket's timeout, would keep the worker past MEDIA_TIMEOUT for hours."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise MediaFetchError(f"Twilio took longer than {self.timeout:g}s")
        sock = getattr(raw.connection, "sock", None)
        if sock is not None:
            sock.settimeout(left)
        return raw.read1(_CHUNK, decode_content=True)


class LocalMediaStore:
    """The embedded mode's stand-in for Twilio's media storage: files in MEDIA_STORE_DIR,
    named by their media sid, addressed by the same URLs Twilio would use (so the host and
    account rules are the same as in production)."""

    name = "local"

    def __init__(self, config) -> None:
        self.config = config
        self.folder = Path(config["MEDIA_STORE_DIR"])
        self.max_bytes = config["MEDIA_MAX_BYTES"]

    def save(self, data: bytes, content_type: str) -> str:
        """Store a file as Twilio would for an inbound message; its media URL."""
        self.folder.mkdir(parents=True, exist_ok=True)
        message, media = "MM" + secrets.token_hex(16), "ME" + secrets.token_hex(16)
        (self.folder / media).write_bytes(data)
        (self.folder / f"{media}.type").write_text(content_type)
        path = f"/2010-04-01/Accounts/{account_sid(self.config)}/Messages/{message}/Media/{media}"
        return (self.config.get("TWILIO_API_BASE_URL") or TWILIO_API_BASE).rstrip("/") + path

    def fetch(self, url: str) -> Fetched:
        media = check_media_url(url, self.config)["media"]
        try:
            data = (self.folder / media).read_bytes()
            content_type = (self.folder / f"{media}.type").read_text().strip()
        except OSError as exc:
            raise MediaFetchError("not in the local media store") from exc
        if len(data) > self.max_bytes:
            raise too_large(self.max_bytes)
        return Fetched(data, content_type)

    def prune(self, saved_before: float) -> int:
        """Delete the files saved before `saved_before` (a Unix time); how many. Only the
        store's own (named by a media sid), never anything else kept in the folder."""
        removed = 0
        for path in self.folder.glob("ME*") if self.folder.is_dir() else ():
            try:
                if path.stat().st_mtime < saved_before:
                    path.unlink()
                    removed += path.suffix != ".type"
            except FileNotFoundError:  # another worker's run pruned it first
                continue
        return removed


def get_media_source(config) -> TwilioMedia | LocalMediaStore:
    """Twilio's storage when SMS go through Twilio; the local folder in the embedded mode."""
    return TwilioMedia(config) if config["SMS_BACKEND"] == "twilio" else LocalMediaStore(config)
