"""Contract mocks: Twilio's and OpenAI's published API specs served by Prism on loopback.

The mocks come from the shared contract folder beside the repository (../shared/contract in
CI). They start once per test session on free ports, in a state folder of their own, so they
never clash with a developer's mocks on the default ports, and are stopped at the end.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import openai
import pytest

from config import TestingConfig
from sms_agent.vendors import twilio as sms

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_DIR = REPO_ROOT.parent / "shared" / "contract"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _missing_requirement() -> str | None:
    if not (CONTRACT_DIR / "start-mocks.sh").is_file():
        return f"the shared contract folder is missing ({CONTRACT_DIR})"
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install nodejs npm)"
    return None


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


@pytest.fixture(scope="session")
def contract_mocks(tmp_path_factory):
    """{"TWILIO_API_BASE_URL": ..., "OPENAI_BASE_URL": ..., "logs": Path} of running mocks.

    Skipped with the reason when Node or the shared folder is missing, except on CI, where
    the contract tests must run and a missing requirement fails them."""
    problem = _missing_requirement()
    if problem:
        if TestingConfig.CI:
            pytest.fail(f"contract tests must run on CI, but {problem}")
        pytest.skip(problem)
    state = tmp_path_factory.mktemp("contract-mocks")
    # `env NAME=value` adds to the inherited environment without the tests reading it.
    settings = [
        f"CONTRACT_MOCKS_DIR={state}",
        f"TWILIO_MOCK_PORT={_free_port()}",
        f"OPENAI_MOCK_PORT={_free_port()}",
    ]
    started = subprocess.run(
        ["env", *settings, str(CONTRACT_DIR / "start-mocks.sh")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if started.returncode != 0:
        pytest.fail(f"the contract mocks did not start:\n{started.stderr[-3000:]}")
    try:
        yield {**_read_env(state / "mocks.env"), "logs": state / "logs"}
    finally:
        subprocess.run(
            ["env", settings[0], str(CONTRACT_DIR / "stop-mocks.sh")],
            capture_output=True,
            timeout=60,
        )


@pytest.fixture
def exchanges(monkeypatch):
    """(service, status, sl-violations header) of every response the SDKs got.

    A spy, not a mock: the real SDK clients make the real calls; this only watches."""
    seen: list[tuple[str, int, str | None]] = []
    send = sms.RedirectingHttpClient.request

    def watched_send(self, method, url, *args, **kwargs):
        response = send(self, method, url, *args, **kwargs)
        seen.append(("twilio", response.status_code, (response.headers or {}).get("sl-violations")))
        return response

    class WatchedOpenAI(openai.OpenAI):
        def __init__(self, *, http_client=None, **kwargs):
            def record(response):
                seen.append(("openai", response.status_code, response.headers.get("sl-violations")))

            http_client = http_client or openai.DefaultHttpxClient()
            hooks = http_client.event_hooks
            http_client.event_hooks = {**hooks, "response": [*hooks.get("response", []), record]}
            super().__init__(http_client=http_client, **kwargs)

    monkeypatch.setattr(sms.RedirectingHttpClient, "request", watched_send)
    monkeypatch.setattr(openai, "OpenAI", WatchedOpenAI)
    return seen
