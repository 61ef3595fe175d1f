"""Every setting the service reads, and the only place that reads the environment.

The defaults run the embedded mode: SQLite files under instance/, a SQLite Celery broker,
SMS printed to the console and an offline AI notice, so a fresh clone runs with no accounts.
Production sets the same names to PostgreSQL, Redis, Twilio and OpenAI.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import json
import math
import os
import re
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

# A developer's .env fills in what the shell did not set; real environment variables win.
load_dotenv(BASE_DIR / ".env", override=False)


class SettingError(ValueError):
    """A setting the service cannot run with, in words naming the variable (never a secret
    it holds). The entry points (wsgi.py, gunicorn.conf.py) print just these words and exit
    1: an operator's typo is not a bug, and a traceback above it hid the one line that says
    what to fix."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str | None = None) -> str | None:
    """A string setting; an empty value counts as unset."""
    value = os.environ.get(name, "").strip()
    return value or default


#: The words read_bool takes, as a message names them.
BOOL_WORDS = "true/false, 1/0, yes/no, on/off"


def read_bool(text: str) -> bool | None:
    """`text` as a boolean, one of BOOL_WORDS in any letter case (a setting, an API query's
    filter), or None: anything else is no clear yes or no."""
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def env_bool(name: str, default: bool) -> bool:
    """A boolean setting. Anything but a clear yes/no raises, so a typo never flips a switch."""
    raw = env_str(name)
    if raw is None:
        return default
    value = read_bool(raw)
    if value is None:
        raise SettingError(f"{name}={raw!r} is not a boolean (use {BOOL_WORDS})")
    return value


def env_int(name: str, default: int, minimum: int | None = 0, maximum: int | None = None) -> int:
    """A whole-number setting that raises on garbage or on a value outside `minimum`..`maximum`."""
    raw = env_str(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name}={value} must be at most {maximum}")
    return value


def env_float(
    name: str, default: float, minimum: float = 0.0, maximum: float | None = None
) -> float:
    """A decimal setting that raises on garbage or on a value outside `minimum`..`maximum`.
    `nan` and `inf` are garbage too: nan passes every comparison (TWILIO_MPS=nan paced sends
    by a NaN interval) and no setting here means "forever" by infinity."""
    raw = env_str(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise SettingError(f"{name}={raw!r} is not a finite number")
    if value < minimum:
        raise SettingError(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name}={value} must be at most {maximum}")
    return value


def env_choice(name: str, default: str | None, choices: tuple[str, ...]) -> str | None:
    """One of a fixed list of words (any case); anything else raises rather than guess.
    A `default` of None leaves the setting unset when the variable is."""
    value = env_str(name) or default
    if value is None:
        return None
    value = value.lower()
    if value not in choices:
        raise SettingError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


#: The largest amount of US dollars the database's money columns hold (NUMERIC(12, 6)):
#: a price, a cap or a raised cap above it could be neither stored nor rounded to the
#: millionth, and every text compared with it would fail.
LARGEST_USD = Decimal("999999.999999")
#: The smallest amount above 0 those columns hold: a price or cap below it rounded to 0
#: wherever it was used (texts priced nothing, a cap of 0), so it is refused instead.
SMALLEST_USD = Decimal("0.000001")

#: HANDOFF_ACK_TEXT unset: sent in the texter's French or Spanish too (notice_wording.py).
HANDOFF_ACK_DEFAULT = "Thanks. A person from our team will reply to you here."


def parse_money(name: str, raw) -> Decimal:
    """A finite amount of US dollars, 0 or from SMALLEST_USD to LARGEST_USD; anything else
    raises."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise SettingError(f"{name}={raw!r} is not an amount in USD")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise SettingError(f"{name}={raw!r} is not an amount in USD") from None
    if not value.is_finite() or value < 0:
        raise SettingError(f"{name}={raw!r} must be a finite amount of at least 0")
    if value > LARGEST_USD:
        raise SettingError(f"{name}={raw!r} is more than {LARGEST_USD} USD")
    if 0 < value < SMALLEST_USD:
        per = " (MODEL_PRICES are per 1M tokens)" if name.startswith("MODEL_PRICES") else ""
        raise SettingError(
            f"{name}={raw!r} is less than {SMALLEST_USD} USD, the smallest amount a money "
            f"column keeps, and would count as 0{per}"
        )
    # "-0" is at least 0, as Decimal's negative zero: read as it, every estimate and report
    # made of it said "-0.000000".
    return value.copy_abs()


def env_money(name: str) -> Decimal | None:
    """An amount in USD (e.g. 25 or 0.0083); unset means none."""
    raw = env_str(name)
    return None if raw is None else parse_money(name, raw)


def env_json_object(name: str) -> dict | None:
    """A JSON object setting; unset means none, anything but an object raises. Numbers are
    read as Decimal, so prices keep every digit written."""
    raw = env_str(name)
    if raw is None:
        return None
    try:
        value = json.loads(raw, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        raise SettingError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SettingError(f"{name} must be a JSON object, not {type(value).__name__}")
    return value


def is_country(code: str) -> bool:
    """Whether a number can be in country `code`: one of phonenumbers' regions, the codes
    the service reads numbers' countries as (ISO 3166: "GB", never "UK"). Two letters only
    were checked: ALLOWED_COUNTRIES=US,UK started, and every British texter's texts were
    stored and never answered; SMS_PRICES {"UK": ...} priced nobody."""
    import phonenumbers

    return code in phonenumbers.SUPPORTED_REGIONS


#: Said with a refused country code, since "UK" is the one people write.
COUNTRY_HINT = "(ISO 3166 codes: the United Kingdom is GB)"
#: The prices a model entry may carry: per 1M input and output tokens, per minute of audio
#: transcribed, per image read (a placeholder: chat models bill pictures as input tokens).
MODEL_PRICE_KEYS = ("input", "cached_input", "output", "audio_minute", "image")


def sms_price_table(name: str, table: dict | None) -> dict[str, Decimal] | None:
    """{"US": 0.0083, "GB": 0.0463, "*": 0.05}: USD per segment by destination country
    (ISO 3166 code), "*" for any other country."""
    if table is None:
        return None
    prices = {}
    for country, price in table.items():
        if country != "*" and not is_country(country):
            raise SettingError(
                f"{name}: {country!r} is not a two-letter country code or '*' {COUNTRY_HINT}"
            )
        prices[country] = parse_money(f"{name}[{country}]", price)
    return prices


def model_price_table(name: str, table: dict | None) -> dict[str, dict[str, Decimal]] | None:
    """{"gpt-4o-mini": {"input": 0.15, "output": 0.60}}: USD per 1M tokens by model name
    (a name also prices its dated versions, e.g. gpt-4o-mini-2024-07-18), "*" for others."""
    if table is None:
        return None
    prices = {}
    for model, entry in table.items():
        if not isinstance(entry, dict) or not entry:
            raise SettingError(f"{name}[{model}] must be an object such as {{'input': 0.15}}")
        unknown = set(entry) - set(MODEL_PRICE_KEYS)
        if unknown:
            raise SettingError(
                f"{name}[{model}]: unknown price {sorted(unknown)}; use {MODEL_PRICE_KEYS}"
            )
        prices[model] = {k: parse_money(f"{name}[{model}][{k}]", v) for k, v in entry.items()}
    return prices


def env_rate(name: str, default: str | None = None) -> str | None:
    """Rate limits such as "10/minute;200/day" (the `limits` notation); garbage raises.
    Flask-Limiter itself skips a limit it cannot parse: a typo would turn a throttle off.
    A rate of 0 raises too: it allows nothing, so SENDER_RATE=0/minute, meant as "no
    limit", refused every text as rate_limited, and LOGIN_RATE=0/minute every login."""
    from limits import parse_many

    raw = env_str(name)
    if raw is None:
        return default
    try:
        rates = parse_many(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a rate such as 10/minute;200/day") from None
    if any(rate.amount < 1 for rate in rates):
        raise SettingError(
            f"{name}={raw!r} allows nothing (a rate of 0): every request would be refused;"
            " leave it unset for the default, or no limit where there is none"
        )
    return raw


def env_countries(name: str) -> tuple[str, ...] | None:
    """Comma-separated ISO 3166 country codes ("US,CA"); unset means none given."""
    raw = env_str(name)
    if raw is None:
        return None
    codes = tuple(code.strip().upper() for code in raw.split(",") if code.strip())
    bad = [code for code in codes if not is_country(code)]
    if bad or not codes:
        raise SettingError(
            f"{name}={raw!r}: use two-letter country codes such as US,CA {COUNTRY_HINT}"
        )
    return codes


def _not_http(raw: str, example: str = "https://sms.example.com") -> str | None:
    """What is wrong with `raw` as an address to call over HTTP(S), or None."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"is not an http:// or https:// address such as {example}"
    return None


def env_http_url(name: str, example: str = "https://hooks.example.com/alerts") -> str | None:
    """An http:// or https:// URL the service calls (ALERT_WEBHOOK_URL, OPENAI_BASE_URL,
    TWILIO_API_BASE_URL); unset means none. Unchecked, ALERT_WEBHOOK_URL=hooks.example.com
    started, and the first alert, when it mattered, died in its thread (urllib knows no
    such URL) and paged no one; OPENAI_BASE_URL=localhost:8080/v1 answered every text with
    the apology. The value is not shown: a chat webhook's URL is its password."""
    raw = env_str(name)
    problem = _not_http(raw, example) if raw is not None else None
    if problem:
        raise SettingError(f"{name} {problem}")
    return raw


def env_public_url(name: str) -> str | None:
    """The service's public address, http(s)://host[:port][/prefix] (a trailing slash is
    fine); unset means none. Twilio's signature covers the whole URL it called, rebuilt from
    this one, so "sms.example.com" (no scheme) or the webhook's own URL pasted here would
    have every inbound text refused as badly signed, with only a warning per text."""
    raw = env_str(name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    problem = _not_http(raw)
    if not problem and (parts.query or parts.fragment or raw.endswith(("?", "#"))):
        problem = "must have no ?query or #fragment"
    if not problem and parts.path.rstrip("/").endswith(("/sms/inbound", "/sms/status")):
        problem = "is the site's address, without the webhook's path (/sms/inbound)"
    if problem:
        raise SettingError(f"{name}={raw!r} {problem}")
    return raw


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IP address `text` names, an IPv4 one written as IPv6 (::ffff:127.0.0.1, as a
    dual-stack server sees its IPv4 callers) being that IPv4 address; raises ValueError for
    anything else. Read as IPv6, ::ffff:127.0.0.1 is neither loopback nor private."""
    address = ipaddress.ip_address(text)
    return getattr(address, "ipv4_mapped", None) or address


def is_loopback_host(host: str) -> bool:
    """Whether a host (WEB_HOST, a media host, a caller's address) is this machine
    (127.0.0.0/8, ::1, localhost), in any notation."""
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def env_media_hosts(name: str, default: str) -> str:
    """TWILIO_MEDIA_HOSTS: host names (https), each optionally with a path, or https://
    origins, comma-separated; http:// only to this machine. Unchecked, http://cdn.example
    was fetched in the clear, and an entry such as ftp://cdn.example or cdn.example?x was
    dropped without a word, every picture redirected there then refused."""
    raw = env_str(name, default)
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        parts = urlsplit(entry if "://" in entry else "https://" + entry)
        try:
            parts.port  # noqa: B018 (a port that is no number raises)
        except ValueError:
            parts = parts._replace(scheme="")
        # Over plain http:// only a stand-in on this machine (the tests'), never a host
        # across a network, where the picture could be read or swapped on its way.
        local = parts.scheme == "http" and is_loopback_host(parts.hostname or "")
        if (
            not (parts.scheme == "https" or local)
            or not parts.hostname
            or "@" in parts.netloc
            or parts.query
            or parts.fragment
            or entry.endswith(("?", "#"))
        ):
            shown = repr(entry) if "@" not in entry else "with a user part"
            raise SettingError(
                f"{name}: the entry {shown} is not a host such as mms.twiliocdn.com[/path] or"
                " an https:// origin (http:// only to 127.0.0.1 or localhost, a stand-in)"
            )
    return raw


#: A host name or IPv4 address as ALLOWED_HOSTS takes it: a leading dot allows subdomains too.
_ALLOWED_HOST = re.compile(r"\.?[a-z0-9_]([a-z0-9_.-]*[a-z0-9])?")
#: A host as a Host header or ALLOWED_HOSTS writes it: a name, an IPv4 address or an IPv6
#: one (in brackets, or bare without a port), and maybe a port.
_HOST_AND_PORT = re.compile(r"(?:\[([^\]]*)\]|([^:\[\]]*)|([0-9a-fA-F:.]*))(?::([0-9]{1,5}))?")
#: The names a development server is reached by: `make run`'s http://127.0.0.1:5000.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@functools.lru_cache(maxsize=256)
def host_and_port(text: str) -> tuple[str, int | None] | None:
    """A host, lower case, an IPv6 address in its short form in brackets ("[2001:db8::1]",
    as a Host header writes it), and its port (None if none); None for anything else."""
    match = _HOST_AND_PORT.fullmatch(text.strip().lower())
    if match is None:
        return None
    bracketed, name, bare, port = match.groups()
    if bare is not None and port is not None:
        bare, port = f"{bare}:{port}", None  # 2001:db8::1:8000 is one address
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    if name is not None:
        return (name, port and int(port)) if _ALLOWED_HOST.fullmatch(name) else None
    try:
        address = ipaddress.IPv6Address(bracketed if bracketed is not None else bare)
    except ValueError:
        return None
    return f"[{address.compressed}]", port and int(port)


def env_hosts(name: str) -> tuple[str, ...] | None:
    """ALLOWED_HOSTS: host names or IP addresses, comma-separated, any case, each without
    scheme or path (".example.com" takes its subdomains too; an IPv6 address with or without
    its brackets; with a port, only that port); unset means none. A URL pasted here would
    match no request, and every page would be a 400."""
    raw = env_str(name)
    if raw is None:
        return None
    hosts = []
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        parsed = host_and_port(entry)
        if parsed is None:
            raise SettingError(
                f"{name}: {entry!r} is not a host such as sms.example.com, .example.com,"
                " 2001:db8::1 or [2001:db8::1]:8000 (no scheme or path)"
            )
        host, port = parsed
        hosts.append(host if port is None else f"{host}:{port}")
    return tuple(hosts) or None


def trusted_hosts(settings) -> list[str] | None:
    """Flask's TRUSTED_HOSTS: ALLOWED_HOSTS and PUBLIC_BASE_URL's host, and outside
    production this machine's names too; None (any host) when that leaves none, which
    production warns of, and in testing unless a test sets ALLOWED_HOSTS. Matched by
    security.SiteRequest, which reads IPv6 addresses and ports (Flask's own check cannot)."""
    env = settings.get("APP_ENV")
    if env == "testing" and not settings.get("ALLOWED_HOSTS"):
        return None
    hosts = list(settings.get("ALLOWED_HOSTS") or ())
    if settings.get("PUBLIC_BASE_URL"):
        public = host_and_port(urlsplit(settings["PUBLIC_BASE_URL"]).netloc.rpartition("@")[2])
        if public is not None:
            hosts.append(public[0])
    if env != "production":
        hosts += LOCAL_HOSTS
    return hosts or None


def env_listen_host(name: str, default: str) -> str:
    """The address gunicorn listens on: a host name or an IPv4 or IPv6 address, without a
    port (that is PORT). Unchecked, WEB_HOST=0.0.0.0:8000 listened on 8000 whatever PORT
    said (gunicorn took the host's port and dropped PORT's), and WEB_HOST=:: (every IPv6
    address) stopped gunicorn with a traceback about an empty port."""
    raw = env_str(name, default)
    host = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        if re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9])?", host):
            return host
    raise SettingError(
        f"{name}={raw!r} is not a host name or an IP address such as 0.0.0.0 or ::"
        " (without a port: that is PORT)"
    )


def env_region(name: str, default: str) -> str:
    """A region code phone numbers are read in ("US", "gb"); anything else raises. Unchecked,
    DEFAULT_PHONE_REGION=us started, and every number typed without its country code was
    refused, in the admin, the API and the CLI alike."""
    import phonenumbers

    region = (env_str(name) or default).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingError(f"{name}={region!r} is not a region code such as US or GB")
    return region


def env_phone_number(name: str, default: str | None, region: str) -> str | None:
    """One of our own numbers, as E.164 ("+15551230000"; another notation is read in
    `region`, and a WhatsApp sender may keep its "whatsapp:"); garbage raises. Unchecked,
    TWILIO_PHONE_NUMBER=(202) 555-0143 started, and no SMS was ever sent: its country, the
    default ALLOWED_COUNTRIES, was none."""
    raw = env_str(name, default)
    return None if raw is None else phone_number(name, raw, raw, region)


def phone_number(name: str, text: str, raw: str, region: str) -> str:
    """`text`, a number set in `name` (whose whole value is `raw`), as E.164."""
    import phonenumbers

    number = text.removeprefix("whatsapp:").strip()
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise SettingError(f"{name}={raw!r} is not a phone number such as +15551230000")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def env_phone_numbers(name: str, region: str) -> tuple[str, ...]:
    """Comma-separated phone numbers, as E.164; unset is none, garbage raises."""
    raw = env_str(name) or ""
    return tuple(phone_number(name, text, raw, region) for text in raw.split(",") if text.strip())


def database_url(url: str) -> str:
    """Accept the postgres:// URLs hosting providers hand out, and use psycopg 3 for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def env_database_url(name: str, default: str) -> str:
    """A database URL SQLAlchemy can connect with (database_url's spelling); anything else
    raises naming the variable, never its text, which may hold a password. Unchecked, a typo
    stopped the app with SQLAlchemy's words alone ("Can't load plugin:
    sqlalchemy.dialects:postgress"), naming no setting."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = project_sqlite_url(database_url(env_str(name, default)))
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise SettingError(_not_a_database_url(name, exc)) from None
    # The driver too: DATABASE_URL=mysql://... passed the check above, then every gunicorn
    # worker died importing MySQLdb, a traceback each, and gunicorn gave up (exit code 3).
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        problem = f"no driver for {parsed.get_backend_name()} installed: {exc}"
        raise SettingError(_not_a_database_url(name, problem)) from None
    return url


def project_sqlite_url(url: str) -> str:
    """A relative SQLite path read from the project folder, as the defaults' instance/ is.
    Flask-SQLAlchemy read DATABASE_URL's inside instance/ and kombu the broker's from the
    working directory, so sqlite:///instance/sms_agent.sqlite, the default written out,
    named instance/instance/sms_agent.sqlite."""
    scheme, found, path = url.partition("sqlite:///")
    if not found or scheme not in ("", "sqla+") or path.startswith(("/", ":memory:")):
        return url
    return f"{scheme}sqlite:///{BASE_DIR / path}" if path else url


def _not_a_database_url(name: str, problem) -> str:
    return (
        f"{name} is not a database URL such as postgresql://user:password@host:5432/"
        f"sms_agent or sqlite:///path/to/file.sqlite ({problem})"
    )


def env_broker_url(name: str, default: str) -> str:
    """A Celery broker URL of a transport Celery knows (redis://, rediss://, sqla+sqlite://,
    memory://...). Unchecked, CELERY_BROKER_URL=redis//host (no colon) started the web
    processes, whose texts then waited for a broker that was never there."""
    from kombu import Connection

    url = project_sqlite_url(env_str(name, default))
    try:
        if "://" not in url:
            raise KeyError("no scheme")
        Connection(url).transport_cls  # noqa: B018 (resolving the transport is the check)
        redis_database_check(url)
    except (KeyError, ValueError) as exc:
        raise SettingError(
            f"{name} is not a broker URL such as redis://host:6379/0 ({exc.args[0]})"
        ) from None
    return url


def env_counter_storage_url(name: str, default: str | None) -> str | None:
    """A store the `limits` library keeps counters in (memory://, redis://, rediss://,
    memcached://...). Unchecked, RATELIMIT_STORAGE_URI=redis//host stopped the app with that
    library's traceback, naming no setting and showing the URL with its password, and
    SENDER_RATE_STORAGE_URI alike started and counted no text. The value is not shown."""
    from limits.storage import SCHEMES

    url = env_str(name, default)
    if url is None:
        return None
    scheme = url.partition("://")[0] if "://" in url else None
    if scheme not in SCHEMES:
        problem = f"unknown scheme {scheme}" if scheme else "no scheme"
        raise SettingError(
            f"{name} is not a counter store URL such as redis://host:6379/0 or memory://"
            f" ({problem})"
        )
    return url


def env_redis_url(name: str, default: str | None) -> str | None:
    """A Redis URL (redis://, rediss://, unix://) redis-py can connect with; garbage raises
    naming the variable, never its text. Unchecked, PACING_REDIS_URL=redis//host started,
    and every paced reply then failed in the worker."""
    from redis.connection import parse_url

    url = env_str(name, default)
    if url is None:
        return None
    try:
        parse_url(url)
        redis_database_check(url)
    except ValueError as exc:
        raise SettingError(
            f"{name} is not a Redis URL such as redis://host:6379/0 ({exc})"
        ) from None
    return url


def redis_database_check(url: str) -> None:
    """Raise ValueError when a redis:// or rediss:// URL's path is not a database number.
    Unchecked, CELERY_BROKER_URL=redis://host:6379/O (a letter) started the web, whose texts
    then waited for ever: every Celery worker stopped at once with kombu's traceback, and
    redis-py took PACING_REDIS_URL's alike for database 0."""
    scheme, _, rest = url.partition("://")
    database = rest.partition("?")[0].partition("/")[2].strip("/")
    if scheme in ("redis", "rediss") and database and not database.isdigit():
        raise ValueError(f"database {database!r} is no number")


def env_directory(name: str, unset_blank: bool = False) -> str | None:
    """An existing directory this process can write in; unset means none. Unchecked,
    PROMETHEUS_MULTIPROC_DIR naming none, or one the service's user may not write in (made
    by root at boot, say), stopped every process with prometheus_client's FileNotFoundError
    or PermissionError about a file inside it, naming no setting. Tried by making a file
    there, which also holds for root, whom permission bits do not stop.

    `unset_blank` takes a blank variable out of the environment, for a library that reads
    it itself: prometheus_client took a blank PROMETHEUS_MULTIPROC_DIR for multiprocess
    mode in the working directory, which the service then never read."""
    raw = env_str(name)
    if raw is None:
        if unset_blank:
            os.environ.pop(name, None)
        return None
    if not Path(raw).is_dir():
        raise SettingError(f"{name}={raw!r} is not a directory (create it before starting)")
    try:
        with tempfile.TemporaryFile(dir=raw):
            pass
    except OSError as exc:
        raise SettingError(
            f"{name}={raw!r} cannot be written in ({exc.strerror}): every process keeps its"
            " figures there, so the service's user must be able to write in it"
        ) from None
    return raw


def _sqlite_url(filename: str) -> str:
    return f"sqlite:///{INSTANCE_DIR / filename}"


def shared_redis_url(broker_url: str) -> str | None:
    """The broker's URL when it is Redis, for state every process must share."""
    return broker_url if broker_url.startswith(("redis://", "rediss://")) else None


def shared_ratelimit_storage(broker_url: str) -> str:
    """Throttling counters live in the broker's Redis when there is one, so every web process
    counts against the same limits; otherwise in each process's memory."""
    return broker_url if broker_url.startswith(("redis://", "rediss://")) else "memory://"


#: The default DB_POOL_SIZE of a process with more threads than this, with no overflow:
#: enough for a worker of 256 threads, whose transactions last milliseconds. More is slower:
#: every thread holding a connection runs Python under the process's one GIL, so with 32
#: connections most of them sat idle in open transactions, holding row locks, while their
#: threads waited for the GIL, and the event loop handing out jobs waited behind them all
#: (`make bench-e2e`: 72-87% of the ideal with 16 + 16 connections, 90-91% with 8; bench/README.md).
POOL_SIZE_CAP = 8

#: The development default; production refuses to start with it (or with no key at all).
INSECURE_SECRET_KEY = "dev-insecure-secret-key"
#: With no Twilio account, the development webhooks' signing key: public, like the one above.
DEV_TWILIO_AUTH_TOKEN = "dev-local-auth-token"
#: Shorter keys are guessable; `python -c "import secrets; print(secrets.token_hex(32))"`.
MIN_SECRET_KEY_LENGTH = 32


#: The settings that name one of a few things are read with env_choice, in any letter case:
#: a value outside them (LOG_FORMAT=JSON once gave text lines, SMS_BACKEND=twillio started
#: and failed every send) stops the app at start, naming the variable.
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
SMS_BACKENDS = ("twilio", "console")
LLM_BACKENDS = ("openai", "offline")
#: `reasoning_effort` as OpenAI's API spec lists it, and Groq's "default": a word the model's
#: server does not know fails every call with a 400, so it is refused at start-up instead.
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max", "default")
#: Celery's pools this service runs on (README, "Deployment": gevent is not supported).
WORKER_POOLS = ("threads", "prefork", "processes", "solo")


class Config:
    """Base settings shared by every environment; defaults run the embedded mode."""

    # app
    APP_ENV = env_str("APP_ENV", "development")
    SECRET_KEY = env_str("SECRET_KEY", INSECURE_SECRET_KEY)
    PUBLIC_BASE_URL = env_public_url("PUBLIC_BASE_URL")
    TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
    # Host names the app answers for besides PUBLIC_BASE_URL's (config.trusted_hosts)
    ALLOWED_HOSTS = env_hosts("ALLOWED_HOSTS")
    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 64 * 1024, minimum=1024)
    LOG_LEVEL = env_choice("LOG_LEVEL", "info", LOG_LEVELS)
    LOG_FORMAT = env_choice("LOG_FORMAT", "text", LOG_FORMATS)
    DEFAULT_PHONE_REGION = env_region("DEFAULT_PHONE_REGION", "US")
    ALERT_WEBHOOK_URL = env_http_url("ALERT_WEBHOOK_URL")

    # security (sms_agent/security.py): cookies, HTTPS, headers
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # production only: development runs on http://127.0.0.1
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    FORCE_HTTPS = False
    HSTS_SECONDS = 0  # no Strict-Transport-Security header

    # web server (gunicorn.conf.py)
    WEB_HOST = env_listen_host("WEB_HOST", "127.0.0.1")
    PORT = env_int("PORT", 5000, minimum=1, maximum=65535)
    WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 2, minimum=1)
    WEB_THREADS = env_int("WEB_THREADS", 4, minimum=1)
    WEB_TIMEOUT = env_int("WEB_TIMEOUT", 30, minimum=1)
    # Set for several web or worker processes on one host: each writes its metrics there and
    # /metrics adds them up (prometheus_client's multiprocess mode reads the same variable).
    PROMETHEUS_MULTIPROC_DIR = env_directory("PROMETHEUS_MULTIPROC_DIR", unset_blank=True)
    # When set, /metrics answers only a scrape that sends it as a bearer token.
    METRICS_TOKEN = env_str("METRICS_TOKEN")
    # Seconds /readyz keeps its answer (ops/health.py): anyone may call it, and each probe
    # connects to the database and the broker.
    READYZ_CACHE_SECONDS = 1.0
    # A young garbage collection every this many new objects in web and worker processes
    # (ops/collector.py; Python's default is 700); 0 leaves Python's settings alone.
    GC_GEN0_THRESHOLD = env_int("GC_GEN0_THRESHOLD", 50_000)

    # database
    SQLALCHEMY_DATABASE_URI = env_database_url("DATABASE_URL", _sqlite_url("sms_agent.sqlite"))
    # No pre-ping round trip per checkout: a connection the server closed is found by
    # polling its socket instead (extensions.drop_closed_connection). A failed statement's
    # error text leaves out its parameters (texters' numbers and words): that text goes to
    # the error log, the log lines and ALERT_WEBHOOK_URL.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": False, "hide_parameters": True}

    # celery
    CELERY_BROKER_URL = env_broker_url("CELERY_BROKER_URL", "sqla+" + _sqlite_url("broker.sqlite"))
    CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
    WORKER_POOL = env_choice("WORKER_POOL", "threads", WORKER_POOLS)
    WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 8, minimum=1)
    STALE_TASK_SECONDS = env_int("STALE_TASK_SECONDS", 300, minimum=10)
    SWEEP_INTERVAL_SECONDS = env_float("SWEEP_INTERVAL_SECONDS", 60.0, minimum=1.0)
    # Publishing a job gives up after this many seconds (to connect, and for each reply), so a
    # broker outage or a hung broker never holds up a webhook; the sweeper enqueues the
    # stored task again once the broker is back. Counting the sender's rate
    # (SENDER_RATE_STORAGE_URI, often the same Redis) gives up as soon.
    BROKER_PUBLISH_TIMEOUT = env_float("BROKER_PUBLISH_TIMEOUT", 1.0, minimum=0.1)
    # The worker's and beat's own broker connections (taking jobs, acks, publishing retries
    # and deferred jobs) wait this long: nobody waits on them, and a Redis slow for a moment
    # must not stop the worker taking and acking jobs or lose a deferred notice.
    WORKER_BROKER_TIMEOUT = env_float("WORKER_BROKER_TIMEOUT", 10.0, minimum=0.1)

    # database connections per process: the pool kept open, the overflow opened at peaks and
    # closed after, and how long a thread waits for one. A thread holds a connection only
    # while it talks to the database, never during a model call, a send or a pacing wait,
    # so hundreds of worker threads share a few (README, "Deployment").
    DB_POOL_SIZE = env_int(
        "DB_POOL_SIZE", min(max(WEB_THREADS, WORKER_CONCURRENCY), POOL_SIZE_CAP), minimum=1
    )
    DB_MAX_OVERFLOW = env_int("DB_MAX_OVERFLOW", 0)
    DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 30.0, minimum=0.1)
    # PostgreSQL: how long opening a connection may take (libpq's connect_timeout, whole
    # seconds, at least 2), and a query sent on an open one may go unacknowledged by the host
    # (tcp_user_timeout); without them a host that drops packets holds each caller for the
    # operating system's own TCP timeout, minutes
    DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 10, minimum=2)

    # twilio
    TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
    TWILIO_PHONE_NUMBER = env_phone_number(
        "TWILIO_PHONE_NUMBER", "+15005550006", DEFAULT_PHONE_REGION
    )
    TWILIO_API_BASE_URL = env_http_url("TWILIO_API_BASE_URL", "https://api.twilio.com")
    TWILIO_VALIDATE_SIGNATURE = env_bool("TWILIO_VALIDATE_SIGNATURE", True)
    TWILIO_TIMEOUT = env_float("TWILIO_TIMEOUT", 10.0, minimum=0.1)
    TWILIO_MAX_RETRIES = env_int("TWILIO_MAX_RETRIES", 3)
    # Messages per second the sending number may send (1 for a long code; 0: no pacing).
    TWILIO_MPS = env_float("TWILIO_MPS", 1.0, minimum=0.0)
    # The same for a WhatsApp sender, whose messages Twilio takes at 80 a second by default.
    WHATSAPP_MPS = env_float("WHATSAPP_MPS", 80.0, minimum=0.0)
    # Where the pacing slots are shared by every worker process (a Redis broker by default).
    PACING_REDIS_URL = env_redis_url("PACING_REDIS_URL", shared_redis_url(CELERY_BROKER_URL))
    # The longest a worker thread sleeps for a sending slot; a job whose slot is further off
    # goes back to the queue until shortly before it (outbound/slots.py).
    PACING_MAX_SLEEP_SECONDS = env_float("PACING_MAX_SLEEP_SECONDS", 1.0)
    # The share of TWILIO_MPS that notices sent to many texters at once (tier changes, idle
    # conversations handed back) may use: they are spread out at that rate and leave the
    # rest to answers and confirmations (outbound/slots.py).
    BULK_NOTICE_SHARE = env_float("BULK_NOTICE_SHARE", 0.5, minimum=0.01, maximum=1.0)
    SMS_BACKEND = env_choice(
        "SMS_BACKEND",
        "twilio" if TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN else "console",
        SMS_BACKENDS,
    )
    HELP_REPLY_ENABLED = env_bool("HELP_REPLY_ENABLED", True)
    # With Twilio's Advanced Opt-Out on, Twilio itself confirms STOP and START; not we as well.
    TWILIO_ADVANCED_OPT_OUT = env_bool("TWILIO_ADVANCED_OPT_OUT", False)
    # WhatsApp (same webhook, "whatsapp:" numbers); unset: replies come from TWILIO_PHONE_NUMBER
    TWILIO_WHATSAPP_NUMBER = env_phone_number("TWILIO_WHATSAPP_NUMBER", None, DEFAULT_PHONE_REGION)
    WHATSAPP_WINDOW_HOURS = env_int("WHATSAPP_WINDOW_HOURS", 24, minimum=1)
    # Numbers the admin's Try it may write as while replies are real SMS (SMS_BACKEND=twilio)
    # besides those that reach nobody: staff's own phones (sms_agent/simulated_senders.py)
    TEST_PHONE_NUMBERS = env_phone_numbers("TEST_PHONE_NUMBERS", DEFAULT_PHONE_REGION)

    # media: pictures and voice notes (sms_agent/media/), fetched only from Twilio's API
    # host and, on its redirect, from these Twilio-owned hosts (or exact origins, for tests),
    # or under a path on a shared host: Twilio's bucket on S3, where media goes unless the
    # account enforces HTTP auth on media URLs
    TWILIO_MEDIA_HOSTS = env_media_hosts(
        "TWILIO_MEDIA_HOSTS",
        "mms.twiliocdn.com,media.twiliocdn.com,s3-external-1.amazonaws.com/media.twiliocdn.com/",
    )
    MEDIA_MAX_BYTES = env_int("MEDIA_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
    # all of one text's attachments together (up to ten of MEDIA_MAX_BYTES): what a worker
    # holds at once, and sends the model as one request
    MEDIA_TOTAL_MAX_BYTES = env_int(
        "MEDIA_TOTAL_MAX_BYTES", max(10 * 1024 * 1024, MEDIA_MAX_BYTES), minimum=MEDIA_MAX_BYTES
    )
    # transcription is billed per minute: 1 MB is about 11 minutes of MMS voice (AMR)
    VOICE_NOTE_MAX_BYTES = env_int("VOICE_NOTE_MAX_BYTES", 1024 * 1024, minimum=1024)
    MEDIA_TIMEOUT = env_float("MEDIA_TIMEOUT", 10.0, minimum=0.1)
    # SMS_BACKEND=console reads media from this folder, written by `flask sms simulate
    # --media` and the Try-it page, instead of fetching it from Twilio
    MEDIA_STORE_DIR = env_str("MEDIA_STORE_DIR", str(INSTANCE_DIR / "media"))
    # a picture's bytes are kept this many days for staff's thumbnail, then dropped (its
    # type, size and sha256 stay), as are MEDIA_STORE_DIR's files; 0 keeps them for as long
    # as the task
    MEDIA_RETENTION_DAYS = env_int("MEDIA_RETENTION_DAYS", 30, minimum=0)
    # the MessageSids of texts handled without a task (keywords, deleted tasks), kept so a
    # retried or replayed webhook is not acted on twice, are forgotten after this many days
    # (inbound/store.py); 0, the default, keeps them for ever: a signed webhook carries no
    # date, so the replay of a forgotten one cannot be told from a new text
    HANDLED_MESSAGES_RETENTION_DAYS = env_int("HANDLED_MESSAGES_RETENTION_DAYS", 0, minimum=0)

    # what texters are told (notices.py); carriers require the name, a support contact and
    # the rates line in HELP, and a program notice on first contact
    SERVICE_NAME = env_str("SERVICE_NAME", "SMS-to-AI Agent")
    SUPPORT_CONTACT = env_str("SUPPORT_CONTACT")  # unset: "<SERVICE_NAME> support"
    # unset: notices.default_program_notice; named in a WARNING at start-up when it is longer
    # than one SMS or lacks HELP or STOP
    PROGRAM_NOTICE = env_str("PROGRAM_NOTICE")
    TIER_CHANGE_SMS = env_choice("TIER_CHANGE_SMS", "upgrades", ("upgrades", "all", "off"))

    # staff inbox (handoff.py): a texter who asks for a person gets this text (with
    # STAFF_HOURS after it when set); with no staff reply for HANDOFF_IDLE_MINUTES, the AI
    # answers again and the texter is told so once
    HANDOFF_ACK_TEXT = env_str("HANDOFF_ACK_TEXT", HANDOFF_ACK_DEFAULT)
    STAFF_HOURS = env_str("STAFF_HOURS")
    HANDOFF_IDLE_MINUTES = env_int("HANDOFF_IDLE_MINUTES", 60, minimum=1)

    # llm
    OPENAI_API_KEY = env_str("OPENAI_API_KEY")
    OPENAI_BASE_URL = env_http_url("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-4o-mini")
    OPENAI_TIMEOUT = env_float("OPENAI_TIMEOUT", 20.0, minimum=0.1)
    OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2)
    OPENAI_TRANSCRIBE_MODEL = env_str("OPENAI_TRANSCRIBE_MODEL", "whisper-1")
    # A reasoning model (o-series, gpt-5, DeepSeek-R1, Qwen3 thinking) spends tokens thinking
    # before it answers, within the same max_completion_tokens that keeps answers SMS-sized:
    # these tokens are added to every call's cap for that, and the effort (sent as
    # reasoning_effort, e.g. minimal, low) keeps the thinking short. Unset: neither is sent.
    OPENAI_REASONING_TOKENS = env_int("OPENAI_REASONING_TOKENS", 0)
    OPENAI_REASONING_EFFORT = env_choice("OPENAI_REASONING_EFFORT", None, REASONING_EFFORTS)
    # A failed AI call or send is retried by the job after RETRY_BACKOFF_SECONDS * 2**attempt.
    RETRY_BACKOFF_SECONDS = env_float("RETRY_BACKOFF_SECONDS", 2.0)
    LLM_BACKEND = env_choice(
        "LLM_BACKEND", "openai" if OPENAI_API_KEY or OPENAI_BASE_URL else "offline", LLM_BACKENDS
    )
    CONTEXT_TURNS = env_int("CONTEXT_TURNS", 5)
    CONTEXT_HOURS = env_int("CONTEXT_HOURS", 24)

    # quotas
    QUOTA_FREE = env_int("QUOTA_FREE", 100)
    QUOTA_PREMIUM = env_int("QUOTA_PREMIUM", 1000)
    QUOTA_ENTERPRISE = env_int("QUOTA_ENTERPRISE", 10000)
    SEGMENTS_FREE = env_int("SEGMENTS_FREE", 3, minimum=1)
    SEGMENTS_PREMIUM = env_int("SEGMENTS_PREMIUM", 10, minimum=1)
    SEGMENTS_ENTERPRISE = env_int("SEGMENTS_ENTERPRISE", 20, minimum=1)

    # costs (sms_agent/costs/): USD price tables; what is set here replaces the examples in
    # costs/prices.py entry by entry
    SMS_PRICES = sms_price_table("SMS_PRICES", env_json_object("SMS_PRICES"))
    SMS_PRICE_PER_SEGMENT = env_money("SMS_PRICE_PER_SEGMENT")  # countries not in the table
    WHATSAPP_PRICE = env_money("WHATSAPP_PRICE")  # per WhatsApp message, whatever its length
    MODEL_PRICES = model_price_table("MODEL_PRICES", env_json_object("MODEL_PRICES"))
    # what Twilio bills for each message it receives, refused ones too
    SMS_INBOUND_PRICE = env_money("SMS_INBOUND_PRICE")  # per segment
    MMS_INBOUND_PRICE = env_money("MMS_INBOUND_PRICE")  # per message with attachments
    WHATSAPP_INBOUND_PRICE = env_money("WHATSAPP_INBOUND_PRICE")  # per WhatsApp message
    # Twilio's real prices are fetched in batches once a message is final
    PRICE_FETCH_INTERVAL_SECONDS = env_float("PRICE_FETCH_INTERVAL_SECONDS", 60.0, minimum=1.0)
    PRICE_FETCH_BATCH = env_int("PRICE_FETCH_BATCH", 100, minimum=1)
    PRICE_FETCH_MAX_CHECKS = env_int("PRICE_FETCH_MAX_CHECKS", 5, minimum=1)

    # limits (sms_agent/limits.py); unset means no limit
    SPEND_CAP_FREE = env_money("SPEND_CAP_FREE")
    SPEND_CAP_PREMIUM = env_money("SPEND_CAP_PREMIUM")
    SPEND_CAP_ENTERPRISE = env_money("SPEND_CAP_ENTERPRISE")
    DAILY_SPEND_CAP = env_money("DAILY_SPEND_CAP")
    SENDER_RATE = env_rate("SENDER_RATE")
    # unset: only the country of TWILIO_PHONE_NUMBER
    ALLOWED_COUNTRIES = env_countries("ALLOWED_COUNTRIES")

    # api
    RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = env_counter_storage_url(
        "RATELIMIT_STORAGE_URI", shared_ratelimit_storage(CELERY_BROKER_URL)
    )
    # While that Redis cannot be reached, each process counts in its own memory (Flask-
    # Limiter logs a warning and checks Redis again, with backoff): every API call and admin
    # login was a 500 meanwhile, and staff could not get in during the outage.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # the per-sender counters of SENDER_RATE are kept with the API's
    SENDER_RATE_STORAGE_URI = env_counter_storage_url(
        "SENDER_RATE_STORAGE_URI", RATELIMIT_STORAGE_URI
    )
    API_RATE_ANONYMOUS = env_rate("API_RATE_ANONYMOUS", "100/hour")
    API_RATE_AUTHENTICATED = env_rate("API_RATE_AUTHENTICATED", "1000/hour")
    # An API token stops working this many days after it was made; 0: only revoking does.
    # At most a century: a billion days was a 500 on every request with a token.
    API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 0, maximum=36_500)
    API_PAGE_SIZE = env_int("API_PAGE_SIZE", 20, minimum=1)
    API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 100, minimum=1)

    # admin
    LOGIN_RATE = env_rate("LOGIN_RATE", "10/minute")
    # failed logins per account, from anywhere but the browsers it logged in from before
    LOGIN_ACCOUNT_RATE = env_rate("LOGIN_ACCOUNT_RATE", "100/hour")
    # A staff session nobody used for this long ends (admin/idle.py); 0: only a logout does.
    ADMIN_IDLE_MINUTES = env_int("ADMIN_IDLE_MINUTES", 30, minimum=0)
    WTF_CSRF_ENABLED = True
    # A form's CSRF token lasts as long as the staff member's session (a browser session,
    # bound to the account's session token), not Flask-WTF's hour: the conversation page is
    # kept open for a shift, and a reply typed there after an hour was refused with a bare 400.
    WTF_CSRF_TIME_LIMIT = None


class DevelopmentConfig(Config):
    APP_ENV = "development"
    # With no Twilio account, webhooks still need a signing key so that `flask sms simulate`
    # goes through the same signature check as production; this one only works locally.
    TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", DEV_TWILIO_AUTH_TOKEN)


class TestingConfig(Config):
    """Tests run on SQLite unless TEST_DATABASE_URL names another database: never on
    DATABASE_URL, the service's own, whose every table each test empties."""

    APP_ENV = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key"
    SQLALCHEMY_DATABASE_URI = database_url(env_str("TEST_DATABASE_URL", "sqlite://"))
    TEST_REDIS_URL = env_str("TEST_REDIS_URL")
    # On CI the contract and browser tests must run: a missing Node or Chromium fails them
    # instead of skipping them.
    CI = env_bool("CI", False)
    RETRY_BACKOFF_SECONDS = 0.0
    READYZ_CACHE_SECONDS = 0.0  # tests that keep the answer say so
    CELERY_BROKER_URL = "memory://"
    TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    TWILIO_AUTH_TOKEN = "test-auth-token"
    TWILIO_PHONE_NUMBER = "+15005550006"
    SMS_BACKEND = "console"
    LLM_BACKEND = "offline"
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    TWILIO_MPS = 0.0  # tests that pace say so
    PACING_REDIS_URL = None
    SENDER_RATE_STORAGE_URI = "memory://"
    ALERT_WEBHOOK_URL = None
    # The tests' spend figures are their SMS and model calls; tests of what receiving a
    # text costs set these.
    SMS_INBOUND_PRICE = MMS_INBOUND_PRICE = WHATSAPP_INBOUND_PRICE = Decimal(0)
    ALLOWED_HOSTS = None  # any host; tests of the check set it


class ProductionConfig(Config):
    APP_ENV = "production"
    LOG_FORMAT = env_choice("LOG_FORMAT", "json", LOG_FORMATS)
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    # Browsers are sent from http:// to https:// (not Twilio, probes or metrics); turn off
    # only if the TLS proxy does not send X-Forwarded-Proto.
    FORCE_HTTPS = env_bool("FORCE_HTTPS", True)
    HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 24 * 3600)


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(app_env: str | None = None) -> type[Config]:
    """The config class named by APP_ENV (default development)."""
    name = (app_env or env_str("APP_ENV", "development")).lower()
    if name not in CONFIGS:
        raise SettingError(f"APP_ENV={name!r} is not one of {', '.join(CONFIGS)}")
    return CONFIGS[name]


def backend_problems(settings) -> list[str]:
    """What stops any app from starting: a backend named without what it needs to work.
    SMS_BACKEND=twilio with no account sent every reply to Accounts/None and failed it;
    LLM_BACKEND=openai with no key and no server answered every text with the apology."""
    problems = []
    if settings.get("SMS_BACKEND") == "twilio":
        missing = [
            name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not settings.get(name)
        ]
        if missing:
            problems.append(f"SMS_BACKEND=twilio needs {' and '.join(missing)}")
    if settings.get("LLM_BACKEND") == "openai" and not (
        settings.get("OPENAI_API_KEY") or settings.get("OPENAI_BASE_URL")
    ):
        problems.append(
            "LLM_BACKEND=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL for a server without keys"
        )
    return problems


def media_store_problems(settings) -> list[str]:
    """A local media store (SMS_BACKEND=console) the process cannot write in. Unchecked,
    MEDIA_STORE_DIR=/proc/media started, and `flask sms simulate --media` stopped with
    pathlib's traceback (Try it's upload with a 500), naming no setting. The folder is made
    on first use, so the nearest part of the path that exists is tried, by making a file
    there (permission bits do not stop root)."""
    if settings.get("SMS_BACKEND") != "console" or not settings.get("MEDIA_STORE_DIR"):
        return []
    raw = settings["MEDIA_STORE_DIR"]
    path = Path(raw)
    existing = next((part for part in (path, *path.parents) if part.exists()), None)
    try:
        if existing is None or not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return [
            f"MEDIA_STORE_DIR={raw!r} cannot be written in ({exc.strerror}): with"
            " SMS_BACKEND=console, pictures and voice notes sent by `flask sms simulate"
            " --media` and Try it are kept there"
        ]
    return []


def timing_problems(settings) -> list[str]:
    """Timeouts that defeat each other. A task is taken for one a dead worker left once it
    has not changed for STALE_TASK_SECONDS; a run waiting longer than that for the model
    (OPENAI_TIMEOUT=600 for a slow local model, say) had its task handed to a second run by
    the sweeper, which asked the model again and paid twice."""
    stale, model = settings.get("STALE_TASK_SECONDS"), settings.get("OPENAI_TIMEOUT")
    if stale is None or model is None or stale > model:
        return []
    return [
        f"STALE_TASK_SECONDS={stale} must be more than OPENAI_TIMEOUT={model:g}: the sweeper"
        " would hand a task still waiting for the model to a second run, which asks it again"
    ]


def pagination_problems(settings) -> list[str]:
    """A default page larger than the largest one a client may ask for: every list was
    cut to API_MAX_PAGE_SIZE without a word, so the setting was not what clients got."""
    default, largest = settings.get("API_PAGE_SIZE"), settings.get("API_MAX_PAGE_SIZE")
    if default is None or largest is None or default <= largest:
        return []
    return [
        f"API_PAGE_SIZE={default} must be at most API_MAX_PAGE_SIZE={largest}: raise"
        " API_MAX_PAGE_SIZE too, or lower API_PAGE_SIZE"
    ]


def is_guessable_secret_key(settings) -> bool:
    secret = settings.get("SECRET_KEY") or ""
    return secret == INSECURE_SECRET_KEY or len(secret) < MIN_SECRET_KEY_LENGTH


def public_development_secrets(settings) -> list[str]:
    """The settings of a development server still holding a value printed in this file:
    with the default SECRET_KEY anyone who reaches it can forge a staff member's session
    cookie, with the development Twilio token sign webhooks. Production refuses the first
    (production_problems) and has no second; the tests' app is reached by no one."""
    if settings.get("APP_ENV") != "development":
        return []
    public = []
    if is_guessable_secret_key(settings):
        public.append("SECRET_KEY")
    if settings.get("TWILIO_AUTH_TOKEN") == DEV_TWILIO_AUTH_TOKEN:
        public.append("TWILIO_AUTH_TOKEN")
    return public


def production_problems(settings) -> list[str]:
    """What stops a production app from starting: settings that would make it insecure."""
    if settings.get("APP_ENV") != "production":
        return []
    problems = []
    if is_guessable_secret_key(settings):
        problems.append(
            f"SECRET_KEY must be set to a random value of {MIN_SECRET_KEY_LENGTH}+ characters"
        )
    if not settings.get("TWILIO_AUTH_TOKEN"):
        problems.append("TWILIO_AUTH_TOKEN must be set so inbound webhooks can be verified")
    if not settings.get("TWILIO_VALIDATE_SIGNATURE"):
        problems.append("TWILIO_VALIDATE_SIGNATURE cannot be turned off in production")
    processes = settings.get("WEB_CONCURRENCY") or 1
    storage = settings.get("RATELIMIT_STORAGE_URI") or "memory://"
    if settings.get("RATELIMIT_ENABLED") and storage.startswith("memory://") and processes > 1:
        problems.append(
            f"RATELIMIT_STORAGE_URI=memory:// with WEB_CONCURRENCY={processes}: each web process"
            f" would count failed logins and API calls alone, allowing {processes} times"
            " LOGIN_RATE; set RATELIMIT_STORAGE_URI=redis://... (a Redis CELERY_BROKER_URL is"
            " used by default) or WEB_CONCURRENCY=1"
        )
    sender_storage = settings.get("SENDER_RATE_STORAGE_URI") or "memory://"
    if settings.get("SENDER_RATE") and sender_storage.startswith("memory://") and processes > 1:
        problems.append(
            f"SENDER_RATE with SENDER_RATE_STORAGE_URI=memory:// and WEB_CONCURRENCY={processes}:"
            f" each web process would count a sender alone, allowing {processes} times"
            " SENDER_RATE; set SENDER_RATE_STORAGE_URI=redis://... or WEB_CONCURRENCY=1"
        )
    return problems


def startup_refusal(settings) -> str | None:
    """Why an app must not start (production_problems first, then backend_problems), or
    None."""
    problems = production_problems(settings)
    if problems:
        return "refusing to start in production: " + "; ".join(problems)
    problems = backend_problems(settings) + timing_problems(settings)
    problems += pagination_problems(settings) + media_store_problems(settings)
    if problems:
        return "refusing to start: " + "; ".join(problems)
    return None


def settings_of(config: type[Config]) -> dict:
    """A config class's settings as the mapping the checks above read (app.config's shape)."""
    return {name: getattr(config, name) for name in dir(config) if name.isupper()}
