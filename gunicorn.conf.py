"""gunicorn settings, taken from config.py so the environment is still read in one place.

Run with `gunicorn -c gunicorn.conf.py wsgi:app` (the Procfile's web process).
"""

import sys

try:
    from config import config_for, settings_of, startup_refusal

    _settings = config_for()
except ValueError as exc:  # config.py's SettingError, raised while it read the settings
    sys.exit(f"refusing to start: {exc}")
# Checked here too, so gunicorn itself stops: a worker that fails to build the app is
# started again and again.
if _refusal := startup_refusal(settings_of(_settings)):
    sys.exit(_refusal)

# An IPv6 address is bracketed, or gunicorn reads its last group as the port.
_host = _settings.WEB_HOST
bind = f"[{_host}]:{_settings.PORT}" if ":" in _host else f"{_host}:{_settings.PORT}"
workers = _settings.WEB_CONCURRENCY
# The app is loaded once, in the master, and each worker forks from it ready: loading it in
# each worker (the openai SDK's import alone is half of it) took 4 workers 35 s on a loaded
# 2-core host, against 11 s, and a worker started again after a crash or a timeout several
# seconds. create_app opens no connection and starts no thread, so nothing is shared by
# the fork: each worker's own are made in post_worker_init. A new release is loaded by
# restarting gunicorn, not by its HUP, which forks new workers from the same loaded code.
preload_app = True
# Threads let one worker keep answering webhooks while another request waits on the database.
threads = _settings.WEB_THREADS
# gunicorn's gthread or sync worker, answering the requests gunicorn refuses itself (URL or
# headers over the limits below, a garbled request line) in the API's JSON error shape.
worker_class = "sms_agent.web_server." + (
    "JsonErrorsThreaded" if threads > 1 else "JsonErrorsSingleThread"
)
timeout = _settings.WEB_TIMEOUT
graceful_timeout = _settings.WEB_TIMEOUT
keepalive = 5
# gunicorn's control socket sits at one fixed path per user, so a second server on the same
# host (a benchmark, a test) would take it over; nothing here uses it.
control_socket_disable = True
# gunicorn believes no forwarded header from anyone: the app's ProxyFix alone reads
# X-Forwarded-*, for exactly TRUSTED_PROXIES hops (none by default). An empty allow list trusts
# no address; the empty scheme and forwarder lists cover peers on a unix socket, which gunicorn
# trusts whatever the list says.
forwarded_allow_ips = ""
secure_scheme_headers = {}
forwarder_headers = ""
# gunicorn's defaults, named because the JSON refusals above report them to clients.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# gunicorn's logger, masking the phone numbers in the URLs of its access lines.
logger_class = "sms_agent.ops.logs.GunicornLogger"
accesslog = "-"
errorlog = "-"
loglevel = str(_settings.LOG_LEVEL).lower()
# The request id ties an access line to the app's own log lines for the same request.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
if _settings.LOG_FORMAT == "json":
    # gunicorn's own lines become JSON objects like the app's (message = the line above).
    logconfig_dict = {
        "loggers": {
            "gunicorn.error": {
                "level": loglevel.upper(),
                "handlers": ["error_console"],
                "propagate": False,
            },
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
            # The app's lines have a handler of their own (sms_agent/ops/logs.py); through
            # the root's console handler below as well, each would be written twice.
            "sms_agent": {"propagate": False},
        },
        "formatters": {
            "generic": {
                "()": "sms_agent.ops.logs.JsonLines",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level"},
            }
        },
    }


def post_worker_init(worker):
    """Warm the new worker's database and broker connections before it takes requests."""
    from sms_agent.ops.health import warm_up

    if "celery" not in getattr(worker.wsgi, "extensions", {}):
        return  # not our app (the benchmark's bare ceiling app runs with this file too)
    problems = {name: problem for name, problem in warm_up(worker.wsgi).items() if problem}
    if problems:
        worker.log.warning("worker %s started without %s", worker.pid, problems)
    from sms_agent.ops.collector import tune_collector

    tune_collector(worker.wsgi.config)


def child_exit(server, worker):
    """A dead worker's live values must leave the multiprocess metrics directory."""
    if _settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, _settings.PROMETHEUS_MULTIPROC_DIR)
