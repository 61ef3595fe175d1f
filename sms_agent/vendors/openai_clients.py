"""The openai SDK's clients, one kept per worker thread (and so its connection) from one job
to the next. The SDK's own retries are switched off (max_retries=0): the job retries with
backoff instead, so a slow model never holds a worker thread through several hidden
attempts, and every attempt is visible in the logs.

The timeout bounds the whole call, not only each wait for the next bytes (httpx's own
timeouts): a server that sends a space every few seconds while its model works (oMLX's
keep-alive; others send blank lines) never lets a read time out, and would hold the worker
thread for as long as the model takes, past the sweeper's STALE_TASK_SECONDS, which then
hands the task to a second run that asks the model again."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

import httpx2
import openai

from .per_thread import PerThread

#: Paths a client keeps the address of (the app asks for two: chat and transcription).
KEPT_URLS = 8

#: Where a request keeps the moment it was sent.
_SENT = "sms_agent.sent"


def _build_client(api_key: str, base_url: str | None, timeout: float) -> openai.OpenAI:
    hooks = {"request": [_note_sent], "response": [_within(timeout)]}
    http = _HttpClient(verify=_tls_context(), event_hooks=hooks)
    client = openai.OpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0, http_client=http
    )
    _keep_urls(client)
    return client


def _keep_urls(client: openai.OpenAI) -> None:
    """The client's address of each path, made once per base URL: the SDK parses the path
    and joins it to the base URL again for every request (about 0.5% of a job's
    instructions), and an httpx URL is immutable, so one serves every request."""
    prepare, kept = client._prepare_url, {}

    def prepare_url(url: str) -> httpx2.URL:
        base = client.base_url
        found = kept.get(url)
        if found is None or found[0] is not base:
            if len(kept) >= KEPT_URLS:
                kept.clear()
            found = kept[url] = (base, prepare(url))
        return found[1]

    client._prepare_url = prepare_url


class _HttpClient(openai.DefaultHttpxClient):
    """The SDK's httpx client, whose merge of a request's headers with its own is one pass.

    httpx merges them by asking, for each of the request's headers, whether the client's
    have it (a lookup that walks the list and raises KeyError when it is not there): about
    2% of a job's instructions for the SDK's dozen and a half headers. Names are ASCII here
    (the SDK's and httpx's own), so the same headers in the same order, with the same
    encoding noted, come from one pass; anything else is merged by httpx."""

    def _merge_headers(self, headers=None):
        own = self.headers._list
        if headers is None or not b"".join([raw + value for raw, _, value in own]).isascii():
            return super()._merge_headers(headers)
        given = httpx2.Headers(headers)
        names = {name for _raw, name, _value in given._list}
        if not b"".join(names).isascii():
            return super()._merge_headers(headers)
        merged = httpx2.Headers()
        merged._list = [item for item in own if item[1] not in names] + given._list
        if names:  # httpx's merge noted the client's encoding as it looked the names up
            merged._encoding = "ascii"
        return merged


def _note_sent(request: httpx2.Request) -> None:
    request.extensions[_SENT] = time.monotonic()


def _within(timeout: float):
    """A response hook: the body is read until `timeout` seconds after the request was
    sent, and a timeout raised past that, as httpx raises one for a read that waits too
    long (the SDK reports both as APITimeoutError)."""

    def hook(response: httpx2.Response) -> None:
        request = response.request
        deadline = request.extensions.get(_SENT, time.monotonic()) + timeout
        response.stream = _Deadline(response.stream, deadline, request, timeout)

    return hook


class _Deadline(httpx2.SyncByteStream):
    """A response body that times out at `deadline`, however steadily its bytes come."""

    def __init__(self, stream, deadline: float, request: httpx2.Request, timeout: float):
        self.stream, self.deadline = stream, deadline
        self.request, self.timeout = request, timeout

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.stream:
            if time.monotonic() > self.deadline:
                said = f"the model server sent no whole answer within {self.timeout:g}s"
                raise httpx2.ReadTimeout(said, request=self.request)
            yield chunk

    def close(self) -> None:
        self.stream.close()


clients = PerThread(_build_client, close=lambda client: client.close())


def forget_clients() -> None:
    """Close this thread's kept client, so the next call builds one from the current config."""
    clients.forget()


@functools.cache
def _tls_context():
    """The SDK's default TLS settings, built once per process: loading the CA bundle costs
    ~50 ms of CPU, which each thread's new client would otherwise pay again."""
    return httpx2.create_ssl_context()
