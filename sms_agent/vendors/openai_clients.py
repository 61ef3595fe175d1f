"""The openai SDK's clients, one kept per worker thread (and so its connection) from one job
to the next. The SDK's own retries are switched off (max_retries=0): the job retries with
backoff instead, so a slow model never holds a worker thread through several hidden
attempts, and every attempt is visible in the logs."""

from __future__ import annotations

import functools

import httpx2
import openai

from .per_thread import PerThread


def _build_client(api_key: str, base_url: str | None, timeout: float) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(verify=_tls_context())
    return openai.OpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0, http_client=http
    )


clients = PerThread(_build_client, close=lambda client: client.close())


def forget_clients() -> None:
    """Close this thread's kept client, so the next call builds one from the current config."""
    clients.forget()


@functools.cache
def _tls_context():
    """The SDK's default TLS settings, built once per process: loading the CA bundle costs
    ~50 ms of CPU, which each thread's new client would otherwise pay again."""
    return httpx2.create_ssl_context()
