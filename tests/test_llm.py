"""The LLM backends: the real openai SDK against a local server, error translation, offline."""

from __future__ import annotations

import time

import pytest
from openai._base_client import BaseClient

from sms_agent.answering.tools import TOOLS
from sms_agent.vendors.openai import (
    OFFLINE_NOTICE,
    LLMError,
    OfflineBackend,
    OpenAIBackend,
    get_llm_backend,
)
from sms_agent.vendors.openai_clients import clients
from tests.standins import (
    NOT_COMPLETIONS,
    KeepAliveServer,
    Raw,
    SilentServer,
    chat_completion,
    extra_forbidden,
    openai_error,
    openai_standin,
    refusal_completion,
    tool_call_completion,
    unused_port,
)

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_openai_backend_returns_text_usage_and_request_id(app, openai_server):
    completion = get_llm_backend().complete(QUESTION, max_tokens=100)
    assert completion.text == "Paris is the capital of France."
    assert (completion.model, completion.finish_reason) == ("standin-model", "stop")
    assert (completion.request_id, completion.tokens_used) == ("req_standin", 42)
    assert completion.offline is False
    [(method, path, body)] = openai_server.requests
    assert (method, path) == ("POST", "/v1/chat/completions")
    assert body["model"] == app.config["OPENAI_MODEL"]
    assert body["max_completion_tokens"] == 100


def test_the_model_server_gets_the_headers_the_sdks_own_client_sends(app, openai_server):
    """The kept client merges the SDK's headers with its own in one pass
    (openai_clients._HttpClient): the server reads the same headers, in the same order, as
    from the SDK's default client (the body aside, whose length differs)."""
    import openai

    get_llm_backend().complete(QUESTION, max_tokens=100)
    plain = openai.OpenAI(
        api_key=app.config["OPENAI_API_KEY"],
        base_url=app.config["OPENAI_BASE_URL"],
        timeout=app.config["OPENAI_TIMEOUT"],
        max_retries=0,
    )
    plain.chat.completions.create(model="m", messages=QUESTION, max_completion_tokens=100)
    kept, default = (
        [(name, value) for name, value in sent.items() if name.lower() != "content-length"]
        for sent in openai_server.headers
    )
    assert kept == default
    assert ("authorization", f"Bearer {app.config['OPENAI_API_KEY']}") in kept


def test_a_kept_client_makes_each_address_once_per_base_url(app, openai_server, monkeypatch):
    made = []
    prepare = BaseClient._prepare_url

    def counting(client, url):
        made.append(url)
        return prepare(client, url)

    monkeypatch.setattr(BaseClient, "_prepare_url", counting)
    for _ in "12":
        assert get_llm_backend().complete(QUESTION, max_tokens=100).text
    assert made == ["/chat/completions"]
    client = clients.get("sk-test", app.config["OPENAI_BASE_URL"], app.config["OPENAI_TIMEOUT"])
    client.base_url = openai_server.url + "/v2"
    assert str(client._prepare_url("/chat/completions")).endswith("/v2/chat/completions")
    assert len(made) == 2


def test_a_reasoning_model_gets_room_to_think_and_its_effort(app, openai_server):
    """A reasoning model's thinking shares max_completion_tokens with its answer: the
    configured allowance is added to the answer's cap, and the effort is passed on."""
    app.config.update(OPENAI_REASONING_TOKENS=1024, OPENAI_REASONING_EFFORT="low")
    get_llm_backend().complete(QUESTION, max_tokens=100)
    [(_, _, body)] = openai_server.requests
    assert body["max_completion_tokens"] == 100 + 1024
    assert body["reasoning_effort"] == "low"


def test_a_model_that_answers_at_once_is_sent_no_reasoning_fields(app, openai_server):
    get_llm_backend().complete(QUESTION, max_tokens=100)
    [(_, _, body)] = openai_server.requests
    assert "reasoning_effort" not in body and body["max_completion_tokens"] == 100


def test_a_server_that_knows_only_max_tokens_is_asked_with_it_from_then_on(app):
    """Mistral's API refuses max_completion_tokens (422, extra inputs not permitted): every
    question got the apology. It is asked again with max_tokens, and so from then on."""
    with openai_standin(knows_max_completion_tokens=False) as server:
        app.config.update(LLM_BACKEND="openai", OPENAI_BASE_URL=server.url + "/v1")
        for _ in range(2):
            completion = get_llm_backend().complete(QUESTION, max_tokens=100, tools=TOOLS)
            assert completion.text == "Paris is the capital of France."
        caps = [[key for key in body if key.startswith("max_")] for _, _, body in server.requests]
        assert caps == [["max_completion_tokens"], ["max_tokens"], ["max_tokens"]]
        assert all(
            "tools" in body and body["max_tokens"] == 100 for _, _, body in server.requests[1:]
        )


@pytest.mark.parametrize(
    "status,body,words",
    [
        (422, extra_forbidden("frequency_penalty", 0.0), "Extra inputs are not permitted"),
        (404, {"detail": "Model qwen3:8b not found"}, "Model qwen3:8b not found"),
        (502, Raw(b"<html><h1>502 Bad Gateway</h1>nginx</html>", "text/html"), "502 Bad Gateway"),
    ],
    ids=["mistral-fields", "fastapi-detail", "html-page"],
)
def test_a_refusal_without_a_message_is_logged_with_what_its_body_says(
    app, openai_server, status, body, words
):
    """A body whose message is no string (Mistral's list of refused fields, FastAPI's
    "detail", a proxy's page) left the SDK's message bare: staff read "Error code: 422"."""
    openai_server.then(status, body)
    with pytest.raises(LLMError) as caught:
        get_llm_backend().complete(QUESTION, 50)
    assert words in str(caught.value)


def test_a_cap_refused_for_its_size_is_reported_and_its_name_kept(app, openai_server):
    """OpenAI refuses a cap too large for the model by naming max_completion_tokens too: no
    reason to say max_tokens instead (its reasoning models refuse that name) from then on."""
    too_large = openai_error(
        "max_completion_tokens is too large: 999999. This model supports at most 16384.",
        "invalid_value",
        "invalid_request_error",
    )
    openai_server.then(400, too_large)
    with pytest.raises(LLMError):
        get_llm_backend().complete(QUESTION, max_tokens=100)
    get_llm_backend().complete(QUESTION, max_tokens=100)
    assert ["max_completion_tokens" in body for _, _, body in openai_server.requests] == [
        True,
        True,
    ]


def test_a_server_without_a_key_still_gets_a_placeholder_key(app, openai_server):
    app.config["OPENAI_API_KEY"] = None
    assert get_llm_backend().complete(QUESTION, 50).text


@pytest.mark.parametrize(
    "status,body,error_type,retryable",
    [
        (429, openai_error("Rate limit reached", "rate_limit_exceeded"), "openai_error", True),
        (429, openai_error("You exceeded your quota", "insufficient_quota"), "openai_error", False),
        (500, openai_error("server error", None), "openai_error", True),
        (503, openai_error("overloaded", None), "openai_error", True),
        # LiteLLM's answer when the model behind it is too slow; a lock timeout.
        (408, openai_error("Request timed out", "408"), "openai_timeout", True),
        (409, openai_error("conflict", None), "openai_error", True),
        (400, openai_error("bad request", "invalid_request"), "openai_error", False),
        (401, openai_error("bad key", "invalid_api_key"), "openai_error", False),
    ],
)
def test_errors_say_whether_to_retry(app, openai_server, status, body, error_type, retryable):
    openai_server.then(status, body, {"x-request-id": "req_failed"})
    with pytest.raises(LLMError) as caught:
        get_llm_backend().complete(QUESTION, 50)
    assert (caught.value.error_type, caught.value.retryable) == (error_type, retryable)
    assert len(openai_server.requests) == 1  # the SDK's own retries are off; the job retries


def test_a_hanging_server_times_out_as_openai_timeout(app):
    with SilentServer() as hanging:
        app.config.update(OPENAI_BASE_URL=hanging.url + "/v1", OPENAI_TIMEOUT=0.3)
        with pytest.raises(LLMError) as caught:
            OpenAIBackend(app.config).complete(QUESTION, 50)
    assert (caught.value.error_type, caught.value.retryable) == ("openai_timeout", True)


def test_a_server_keeping_the_connection_alive_is_abandoned_after_the_timeout(app):
    """Spaces sent while the model works keep every read within the timeout: the call, and
    the worker thread with it, would wait as long as the model takes, past the sweeper's
    STALE_TASK_SECONDS, which hands the task to a second run that asks the model again."""
    with KeepAliveServer("Paris.", gap=0.1, seconds=4) as server:
        app.config.update(OPENAI_BASE_URL=server.url + "/v1", OPENAI_TIMEOUT=0.5)
        began = time.monotonic()
        with pytest.raises(LLMError) as caught:
            OpenAIBackend(app.config).complete(QUESTION, 50)
        assert time.monotonic() - began < 2
    assert (caught.value.error_type, caught.value.retryable) == ("openai_timeout", True)


def test_a_server_keeping_the_connection_alive_within_the_timeout_is_read(app):
    with KeepAliveServer("Paris.", gap=0.1, seconds=0.3) as server:
        app.config.update(OPENAI_BASE_URL=server.url + "/v1", OPENAI_TIMEOUT=5)
        assert OpenAIBackend(app.config).complete(QUESTION, 50).text == "Paris."


def test_a_refused_connection_is_retryable(app):
    app.config["OPENAI_BASE_URL"] = f"http://127.0.0.1:{unused_port()}/v1"
    with pytest.raises(LLMError) as caught:
        OpenAIBackend(app.config).complete(QUESTION, 50)
    assert (caught.value.error_type, caught.value.retryable) == ("openai_error", True)


def test_a_length_cut_is_reported(app, openai_server):
    openai_server.then(200, chat_completion("One. Two thr", finish_reason="length"))
    assert get_llm_backend().complete(QUESTION, 5).finish_reason == "length"


def test_offline_backend_is_labelled_and_free():
    completion = OfflineBackend().complete(QUESTION, 100)
    assert completion.text.startswith(OFFLINE_NOTICE)
    assert "What is the capital of France?" in completion.text
    assert (completion.offline, completion.tokens_used, completion.model) == (True, 0, "offline")


def test_offline_backend_quotes_only_the_start_of_a_long_question():
    completion = OfflineBackend().complete([{"role": "user", "content": "why " * 100}], 100)
    assert completion.text.endswith('..."') and len(completion.text) < 250


def test_backend_follows_config(app):
    assert isinstance(get_llm_backend(), OfflineBackend)
    app.config["LLM_BACKEND"] = "openai"
    assert isinstance(get_llm_backend(), OpenAIBackend)
    app.config["LLM_BACKEND"] = "gpt-on-a-napkin"
    with pytest.raises(RuntimeError, match="LLM_BACKEND"):
        get_llm_backend()


def test_consecutive_model_calls_reuse_one_connection(app, openai_server):
    for _ in range(3):
        get_llm_backend().complete(QUESTION, 50)
    assert len(openai_server.client_ports) == 3
    assert len(set(openai_server.client_ports)) == 1


def test_a_kept_connection_the_server_closed_meanwhile_is_replaced(app, openai_server):
    openai_server.hang_up_after_reply = True
    get_llm_backend().complete(QUESTION, 50)
    openai_server.hung_up()  # idle: the server's FIN has come
    assert get_llm_backend().complete(QUESTION, 50).text
    assert len(set(openai_server.client_ports)) == 2


def test_a_new_base_url_is_used_at_once(app, openai_server):
    get_llm_backend().complete(QUESTION, 50)
    with openai_standin("Rome.") as other:
        app.config["OPENAI_BASE_URL"] = other.url + "/v1"
        assert get_llm_backend().complete(QUESTION, 50).text == "Rome."
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize("name,body", NOT_COMPLETIONS, ids=[name for name, _ in NOT_COMPLETIONS])
def test_a_200_that_is_not_a_completion_is_a_passing_openai_error(app, openai_server, name, body):
    """A proxy's or gateway's page, or JSON cut short: retried like the 502 it stands for."""
    openai_server.then(200, body)
    with pytest.raises(LLMError) as caught:
        get_llm_backend().complete(QUESTION, 50)
    assert (caught.value.error_type, caught.value.retryable) == ("openai_error", True)
    assert str(caught.value).startswith("AI error: the model server answered 200 with ")


def test_a_gateway_page_is_quoted_as_its_words(app, openai_server):
    openai_server.then(200, NOT_COMPLETIONS[0][1])
    with pytest.raises(LLMError, match=r"a page that is not JSON \('502 Bad Gateway'\)"):
        get_llm_backend().complete(QUESTION, 50)


def test_the_answer_is_made_readable_at_the_border(app, openai_server):
    openai_server.then(200, chat_completion("\x1b[1mHello\x00 world\x1b[0m \ud800here."))
    assert get_llm_backend().complete(QUESTION, 50).text == "Hello world here."


def test_a_refusal_is_reported_as_the_models_words(app, openai_server):
    openai_server.then(200, refusal_completion("I'm sorry, but I can't help with that."))
    completion = get_llm_backend().complete(QUESTION, 50)
    assert (completion.text, completion.refusal) == ("", "I'm sorry, but I can't help with that.")


def test_a_tool_call_is_reported_with_what_answering_it_needs(app, openai_server):
    openai_server.then(200, tool_call_completion("get_weather", '{"city": "Paris"}', "Let me see."))
    completion = get_llm_backend().complete(QUESTION, 50)
    assert completion.tool_calls == ("get_weather",) and completion.text == "Let me see."
    [call] = completion.calls
    assert (call.id, call.arguments) == ("call_get_weather", '{"city": "Paris"}')
