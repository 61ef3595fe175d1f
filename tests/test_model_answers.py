"""What the texter gets when the model's answer is not plain words: control characters and
escape sequences, a refusal, a content filter, a tool it was never offered, emoji alone,
and a 200 that is no answer at all. Each goes through the real openai SDK over HTTP."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from sms_agent import quota
from sms_agent.answering import echo, pipeline
from sms_agent.extensions import db
from sms_agent.models import ModelCall, User
from sms_agent.vendors import openai as llm
from sms_agent.vendors import reading
from tests.admin.conftest import log_in, staff_account
from tests.factories import make_staff, make_task, make_token, make_user
from tests.standins import (
    NOT_COMPLETIONS,
    Raw,
    chat_completion,
    failed_midway_completion,
    openai_error,
    openai_standin,
    refusal_completion,
    streamed_completion,
    tool_call_completion,
)
from tests.test_pipeline import errors, fresh, outbox

DECLINED = "Sorry, I can't answer that one. Please ask me something else."


def counted_task(**fields):
    """A task whose request was counted against the texter's quota, as the webhook does."""
    user = make_user()
    return make_task(user=user, quota_window=quota.admit(user), **fields)


def requests_used(task) -> int:
    return db.session.get(User, task.user_phone).monthly_requests


@pytest.mark.parametrize(
    "answer,sent,encoding",
    [
        ("Hello\x00 world", "Hello world", "GSM-7"),
        ("\x1b[31mRed\x1b[0m means stop.", "Red means stop.", "GSM-7"),
        ("Bad \ud800surrogate\udfff here.", "Bad surrogate here.", "GSM-7"),
        ("首都是\u202e巴黎\u202c。", "首都是巴黎。", "UCS-2"),  # shown backwards: 黎巴
    ],
    ids=["nul", "ansi", "lone-surrogates", "direction-override"],
)
def test_an_answer_with_characters_no_one_can_read_is_stored_and_sent_clean(
    app, openai_server, answer, sent, encoding
):
    openai_server.then(200, chat_completion(answer))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    task = fresh(task)
    assert (task.status, task.success, task.ai_response) == ("completed", True, sent)
    assert [(m.kind, m.body, m.encoding) for m in outbox()] == [("reply", sent, encoding)]
    assert errors() == []


INSTRUCTIONS = (
    "You answer questions sent by text message (SMS). Reply in plain text only: no Markdown, "
    "no bullet symbols, no code fences, no tables, no links unless asked, and no emoji or "
    "decorative symbols (write words instead)."
)


@pytest.mark.parametrize(
    "answer",
    [
        "What is the capital of France?\n\nThe capital of France is Paris.",
        "what is the capital of france? The capital of France is Paris.",
        INSTRUCTIONS + "\n\nThe capital of France is Paris.",
        # Labelled: the question and the answer's label reached the texter.
        "**Question:** What is the capital of France?\n\n"
        "**Answer:** The capital of France is Paris.",
        "Q: What is the capital of France?\nA: The capital of France is Paris.",
        'You asked: "What is the capital of France?"\n\nThe capital of France is Paris.',
        "Your question: what is the capital of France?\nAnswer: The capital of France is Paris.",
    ],
    ids=[
        "question-on-its-line",
        "question-then-answer",
        "instructions",
        "bold-labels",
        "q-and-a",
        "you-asked",
        "your-question",
    ],
)
def test_a_model_repeating_the_question_or_its_instructions_sends_only_its_answer(
    app, openai_server, answer
):
    """Small models (and servers whose template lost the turns) open by saying back what they
    were given: the texter paid a segment for their own question, or got our instructions;
    a model may label it ("Question: ... Answer: ...", "Q:", "You asked:")."""
    openai_server.then(200, chat_completion(answer))
    task = make_task(sms_content="What is the capital of France?")
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["The capital of France is Paris."]


def test_a_system_prompt_is_read_for_its_sentences_once_not_for_every_answer(
    app, openai_server, monkeypatch
):
    """The sentences an answer may not open with are made once per system prompt (there are
    a few dozen); the question's own words still count for every answer."""
    split = []
    sentences = echo._SENTENCES

    class Counting:
        def split(self, text):
            split.append(text)
            return sentences.split(text)

    monkeypatch.setattr(echo, "_SENTENCES", Counting())
    user = make_user()
    for question in ("What is the capital of France?", "And what is the capital of Spain?"):
        openai_server.then(200, chat_completion(f"{question} The answer is a city."))
        assert pipeline.answer(make_task(user, sms_content=question).id) == "answered"
    assert [m.body for m in outbox()] == ["The answer is a city."] * 2
    assert len(split) <= 1  # none when an earlier test's answer read the same prompt


WATER = "Water boils at 100 C at sea level."


@pytest.mark.parametrize(
    ("answer", "sent"),
    [
        (f"Sure! Here's a short, SMS-friendly answer:\n\n{WATER}", WATER),
        (f"Here is a concise answer:\n\n{WATER}", WATER),
        (f"Certainly, here's my reply:\n{WATER}", WATER),
        (f"Okay, here is a brief response for SMS:\n\n\n{WATER}", WATER),
        # A label or an announcement that is part of the answer's own words stays.
        ("Answer: 42. Question: what was the question?", None),
        ("Here's a short answer: 42.", None),
    ],
)
def test_an_answer_announced_by_the_model_is_sent_without_the_announcement(
    app, openai_server, answer, sent
):
    """Regression: told it writes for SMS, a model opens with "Sure! Here's a short,
    SMS-friendly answer:": the texter paid for the line that says what follows."""
    openai_server.then(200, chat_completion(answer))
    assert pipeline.answer(make_task(sms_content="When does water boil?").id) == "answered"
    assert [m.body for m in outbox()] == [sent or answer]


def test_a_model_that_only_repeats_its_instructions_is_asked_again(app, openai_server):
    openai_server.then(200, chat_completion(INSTRUCTIONS))
    task = make_task()
    with pytest.raises(pipeline.TryAgain):
        pipeline.answer(task.id)
    assert outbox() == []
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]


def test_a_greeting_answered_with_the_same_greeting_is_sent_whole(app, openai_server):
    openai_server.then(200, chat_completion("Hello! How can I help you today?"))
    assert pipeline.answer(make_task(sms_content="Hello!").id) == "answered"
    assert [m.body for m in outbox()] == ["Hello! How can I help you today?"]


THINKING = "Okay, the texter wants the capital of France. That is Paris. Keep it short."


#: gpt-oss's channels, on a server that passes them through.
HARMONY = (
    f"<|channel|>analysis<|message|>{THINKING}<|end|><|start|>assistant<|channel|>final<|message|>"
)


def with_thinking_chunk(answer: str) -> dict:
    """Mistral's reasoning models (Magistral): the content is a list of chunks."""
    body = chat_completion(answer)
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": THINKING}]}
    body["choices"][0]["message"]["content"] = [thinking, {"type": "text", "text": answer}]
    return body


def with_reasoning_field(content: str | None, finish_reason: str = "stop") -> dict:
    """A server that parses the thinking out (vLLM's reasoning parser, DeepSeek's API)."""
    body = chat_completion(content, finish_reason)
    body["choices"][0]["message"]["reasoning_content"] = THINKING
    return body


@pytest.mark.parametrize(
    "body,sent",
    [
        (chat_completion(f"<think>\n{THINKING}\n</think>\n\nParis."), "Paris."),
        (chat_completion(f"<thinking>{THINKING}</thinking>Paris."), "Paris."),
        (chat_completion("<think>\n\n</think>\n\nParis."), "Paris."),
        (chat_completion(f"{THINKING}\n</think>\n\nParis."), "Paris."),
        (chat_completion(f"[THINK]{THINKING}[/THINK]Paris."), "Paris."),
        (chat_completion(f"<seed:think>\n{THINKING}\n</seed:think>\n\nParis."), "Paris."),
        (chat_completion(HARMONY + "Paris.<|return|>"), "Paris."),
        (with_reasoning_field("Paris."), "Paris."),
        (with_thinking_chunk("Paris."), "Paris."),
        (chat_completion("Qwen3 writes <think> tags."), "Qwen3 writes <think> tags."),
        (
            chat_completion(f"<reasoning>\n{THINKING}\n</reasoning>\n<answer>\nParis.\n</answer>"),
            "Paris.",
        ),
        (chat_completion(f"<think>{THINKING}</think>\n<answer>Paris.</answer>"), "Paris."),
        (
            chat_completion(
                f"<|begin_of_thought|>\n\n{THINKING}\n\n<|end_of_thought|>\n\n"
                "<|begin_of_solution|>\n\nParis.\n\n<|end_of_solution|>"
            ),
            "Paris.",
        ),
        (chat_completion(f"◁think▷{THINKING}◁/think▷Paris."), "Paris."),
        (chat_completion(f"<thought>{THINKING}</thought>Paris."), "Paris."),
        (
            chat_completion(
                f"Here is my thought process:\n{THINKING}\n\nHere is my response:\nParis."
            ),
            "Paris.",
        ),
        (
            chat_completion("Sure. Here's my response: Paris."),
            "Sure. Here's my response: Paris.",
        ),
        (
            chat_completion(f"<think>{THINKING} Here's my response: one word.</think>\n\nParis."),
            "Paris.",
        ),
        (
            chat_completion(
                f"<details><summary>Thinking</summary>\n\n{THINKING}\n\n</details>\n\nParis."
            ),
            "Paris.",
        ),
        (
            chat_completion(
                '<details type="reasoning" done="true" duration="3">\n'
                f"<summary>Thought for 3 seconds</summary>\n> {THINKING}\n</details>\nParis."
            ),
            "Paris.",
        ),
        (chat_completion("<|begin_of_box|>Paris.<|end_of_box|>"), "Paris."),
        # gpt-oss on a server that drops its channel tokens' text (llama.cpp's, LM Studio's
        # and text-generation-webui's report of it): the analysis channel ran into the answer.
        (chat_completion(f"analysis{THINKING}assistantfinalParis."), "Paris."),
        (
            chat_completion("Analysis shows Paris is the capital."),
            "Analysis shows Paris is the capital.",
        ),
    ],
    ids=[
        "think",
        "thinking",
        "empty-think",
        "opened-by-the-template",
        "mistral-think",
        "seed-oss-think",
        "gpt-oss-channels",
        "field",
        "mistral-chunks",
        "tag-in-answer",
        "reasoning-answer",
        "think-answer",
        "begin-of-thought",
        "kimi-think",
        "gemini-thought",
        "granite-thought-process",
        "granite-words-in-an-answer",
        "granite-words-in-a-think-block",
        "details-thinking",
        "open-webui-details",
        "glm-box",
        "gpt-oss-channels-without-tokens",
        "analysis-in-an-answer",
    ],
)
def test_a_reasoning_models_thinking_is_never_sent_or_stored(app, openai_server, body, sent):
    """DeepSeek-R1 or Qwen3 behind vLLM, llama.cpp, LM Studio or Ollama: the answer only."""
    openai_server.then(200, body)
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert fresh(task).ai_response == sent
    assert [(m.kind, m.body) for m in outbox()] == [("reply", sent)]


@pytest.mark.parametrize(
    "content",
    [
        f"<think>{THINKING}</think>\n<think>Paris, then.</think>\n\nParis.",
        f"<think>{THINKING}</think>\n\n<think>\n\n</think>\n\nParis.",
        f"{THINKING}\n</think>\n\n<think>Paris, then.</think>Paris.",  # the template opened it
        f"<think>{THINKING}</think>\n</think>\n\nParis.",
        f"<think>{THINKING}</think><thinking>Paris, then.</thinking>Paris.",
    ],
)
def test_thinking_written_again_at_the_answers_start_is_never_sent(app, openai_server, content):
    """Regression: a model that thought twice before answering (a second block, or an
    empty one, right after the first: vllm-mlx drops such repeated blocks itself, a server
    that does not passes them on) had the second block sent to the texter as written."""
    openai_server.then(200, chat_completion(content))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris.")]
    assert fresh(task).ai_response == "Paris."


@pytest.mark.parametrize(
    "content,sent",
    [
        (f"Sure.\n<think>{THINKING}</think>\nParis.", "Sure.\nParis."),
        (
            f"Paris is the capital.\n\n<think>\n{THINKING}\n</think>\n\nIt is on the Seine.",
            "Paris is the capital.\n\nIt is on the Seine.",
        ),
        (f"Paris is the capital.\n<thinking>{THINKING}", "Paris is the capital."),
        (
            "Qwen3 wraps its reasoning in <think>...</think> tags.",
            "Qwen3 wraps its reasoning in <think>...</think> tags.",
        ),
    ],
    ids=["after-a-line", "between-paragraphs", "never-closed", "tags-named-in-a-sentence"],
)
def test_thinking_written_further_into_an_answer_is_never_sent(app, openai_server, content, sent):
    """Regression: a model that thinks again between parts of its answer (interleaved
    thinking, MiniMax-M2 and Kimi's thinking models behind a server without their parser)
    had that block texted as written: only a block at the answer's start was dropped. A
    block on a line of its own is the model's thinking; tags named in a sentence stay."""
    openai_server.then(200, chat_completion(content))
    task = make_task(sms_content="What is the capital of France?")
    assert pipeline.answer(task.id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", sent)]
    assert fresh(task).ai_response == sent


@pytest.mark.parametrize(
    "content",
    [
        "Paris.<|im_end|>",
        "Paris.<|im_end|>\n<|im_start|>user\nAnd the capital of Spain?<|im_end|>",
        "<|im_start|>assistant\n<think>Easy.</think>Paris.<|im_end|>",
        "<|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>",
        "Paris.<end_of_turn>\n<start_of_turn>user\nThanks",
        "Paris.<\uff5cend\u2581of\u2581sentence\uff5c>",
        "Paris.<eos>",
        "Paris.<|eom_id|>",
        "<|header_start|>assistant<|header_end|>\n\nParis.<|eot|>",
        "Paris.</s>[INST] And the capital of Spain? [/INST]",
        "Paris.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Thanks",
        "Paris.<|end_of_turn|>GPT4 Correct User: Thanks",
        "<bos>Paris.<end_of_turn>",
        "<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>",
        "<\uff5cAssistant\uff5c>Paris.<\uff5cend\u2581of\u2581sentence\uff5c>",
        "<|start_of_role|>assistant<|end_of_role|>Paris.<|end_of_text|>",
        "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>Paris.<|END_RESPONSE|>",
        "[/INST] Paris.</s>",
        "assistant\n\nParis.",
        "Paris.<|reserved_special_token_3|><|reserved_special_token_3|>",
        "Paris.<|finetune_right_pad_id|>",
        "Paris.[/INST]",
        # Regression: these reached the texter.
        "<s> Paris.</s>",
        "<s>[INST] What is the capital of France? [/INST] Paris.",
        "Paris.</s><s>[INST] And the capital of Spain? [/INST] Madrid.",
        "Paris.<pad><pad><pad>",
        "Paris.<|file_separator|>",
        "Paris.<|end▁of▁sentence|>",
        "Paris.<0x0A><0x0A>",
        "<|im_start|>assistant<|im_sep|>Paris.<|im_end|>",
        "GPT4 Correct Assistant: Paris.<|end_of_turn|>",
        "### Response:\nParis.",
        "\u2581Paris.",
        "\u0120Paris.\u010a",
        "Paris.</answer>",
        "<think>Easy.</think>Paris.\n</response>",
        "Paris.user\n\nAnd the capital of Spain?assistant\n\nMadrid.",
    ],
    ids=[
        "chatml-end",
        "imagined-turn",
        "chatml-header",
        "llama3",
        "gemma",
        "deepseek",
        "gemma-eos",
        "llama3-tool-turn-end",
        "llama4",
        "mistral",
        "command-r",
        "openchat",
        "gemma-bos",
        "llama3-bos",
        "deepseek-header",
        "granite",
        "command-a",
        "mistral-inst-end",
        "llama3-header-without-its-tokens",
        "llama3-reserved-tokens",
        "llama3-pad",
        "mistral-inst-after",
        "llama2-bos",
        "mistral-prompt-echoed",
        "mistral-bos-after-end",
        "gemma-pad",
        "gemma-file-separator",
        "deepseek-ascii-bars",
        "byte-fallback-at-end",
        "phi4-header",
        "openchat-header",
        "alpaca-header",
        "sentencepiece-spaces",
        "byte-level-bpe-spaces",
        "answer-opened-by-the-template",
        "response-opened-by-the-template",
        "llama3-imagined-turn-without-its-tokens",
    ],
)
def test_a_chat_templates_tokens_and_the_turns_after_the_answer_are_never_sent(
    app, openai_server, content
):
    """A model in LM Studio or Ollama with the wrong template: the texter got the tokens
    and the questions the model went on to imagine and answer."""
    openai_server.then(200, chat_completion(content))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert fresh(task).ai_response == "Paris."
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris.")]


@pytest.mark.parametrize(
    "content,sent",
    [
        ("Paris\u2581is\u2581the\u2581capital.", "Paris is the capital."),
        ("\u0120Paris\u0120is\u0120the\u0120capital.\u010aYes.", "Paris is the capital.\nYes."),
        ("Sales: \u2581\u2582\u2585\u2587 up", "Sales: \u2581\u2582\u2585\u2587 up"),
        ("\u0120irien \u0120ew", "\u0120irien \u0120ew"),
    ],
    ids=["sentencepiece", "byte-level-bpe", "sparkline", "maltese"],
)
def test_a_tokenizers_space_marks_left_in_the_text_are_spaces(app, openai_server, content, sent):
    """Regression: a GGUF whose vocabulary a server could not decode left SentencePiece's
    "\u2581" (or byte-level BPE's "\u0120" and "\u010a") for every space and line break: the
    texter got "Paris#is#the#capital.". Only a text with no space of its own is so read."""
    openai_server.then(200, chat_completion(content))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert fresh(task).ai_response == sent


def test_html_strike_through_ending_an_answer_is_no_end_of_turn(app, openai_server):
    """Regression: Mistral's end token is spelt as HTML's closing strike-through, so "Was
    <s>$50</s>" lost its </s> and the texter read "Was <s>$50" as the price."""
    openai_server.then(200, chat_completion("Now $40. Was <s>$50</s>"))
    assert pipeline.answer(make_task(sms_content="Price?").id) == "answered"
    assert [m.body for m in outbox()] == ["Now $40. Was $50 (crossed out)"]


@pytest.mark.parametrize(
    "content",
    [
        "Paris is the capital of France.\ue200cite\ue202turn0search0\ue202turn0news3\ue201",
        "Paris is the capital of France \u30104:0\u2020source\u3011.",
        "Paris is the capital of France. \u30101\u2020L3-L7\u3011",
        "Paris is the capital of France. :contentReference[oaicite:0]{index=0}",
        "[cite_start]Paris is the capital of France.[cite: 1, 2]",
        "Paris is the capital of France [cite: 3].",
    ],
    ids=[
        "chatgpt-cite",
        "assistants-file-search",
        "gpt-oss-browser",
        "oaicite",
        "gemini-cite",
        "gemini-cite-in-a-sentence",
    ],
)
def test_a_chat_uis_citation_marks_are_never_sent_or_stored(app, openai_server, content):
    """Models trained on ChatGPT's answers write its citation marks through the API too,
    where nothing renders them: the texter got "France.citeturn0search0" or
    "France [(4:0+source)]", marks of sources they cannot open; Gemini's "[cite_start]"
    and "[cite: 1, 2]" likewise."""
    openai_server.then(200, chat_completion(content))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert fresh(task).ai_response == "Paris is the capital of France."
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris is the capital of France.")]


@pytest.mark.parametrize("sources", ["citations", "search_results"])
def test_numbered_citations_of_sources_the_texter_never_gets_are_not_sent(
    app, openai_server, sources
):
    """Perplexity's Sonar numbers its sources in the text ("France[1][2].") and lists them
    in the response's `citations` (and `search_results`), which an SMS does not carry."""
    body = chat_completion("Paris is the capital of France[1][2]. It has 2.1M people [3].")
    listed = ["https://a.example", "https://b.example", "https://c.example"]
    body[sources] = listed if sources == "citations" else [{"url": url} for url in listed]
    openai_server.then(200, body)
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    sent = "Paris is the capital of France. It has 2.1M people."
    assert (fresh(task).ai_response, [m.body for m in outbox()]) == (sent, [sent])


def test_numbers_in_brackets_stay_when_no_sources_came_with_the_answer(app, openai_server):
    openai_server.then(200, chat_completion("Use a[1] for the second item."))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.body for m in outbox()] == ["Use a[1] for the second item."]


def test_an_answer_padded_with_spaces_is_read_in_one_pass(app, openai_server):
    """A model in a loop writes runs of spaces: looking for a citation mark after each one
    took seconds per answer (quadratic in the run)."""
    openai_server.then(200, chat_completion("Paris." + " " * 60_000 + "Yes."))
    began = time.monotonic()
    assert pipeline.answer(make_task().id) == "answered"
    assert time.monotonic() - began < 3


@pytest.mark.parametrize(
    "content,sent",
    [
        (
            "See [the guide](https://example.com/guide?utm_source=openai) for more.",
            "See the guide (https://example.com/guide) for more.",
        ),
        (
            "Read https://example.com/a?id=7&utm_source=chatgpt.com&utm_medium=referral.",
            "Read https://example.com/a?id=7.",
        ),
        (
            "Docs: https://example.com/a?utm_source=openai#install",
            "Docs: https://example.com/a#install",
        ),
    ],
    ids=["markdown-link", "among-parameters", "before-fragment"],
)
def test_links_lose_their_tracking_parameters(app, openai_server, content, sent):
    """OpenAI's search models append ?utm_source=openai to every link, and answers learnt
    from ChatGPT carry utm_source=chatgpt.com: analytics for the site, nothing the page
    needs, and a fifth of a segment per link."""
    openai_server.then(200, chat_completion(content))
    task = make_task(sms_content="Where can I read more?")
    assert pipeline.answer(task.id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", sent)]


def test_an_empty_answer_is_asked_again(app, openai_server):
    openai_server.then(200, chat_completion(" \n"))
    task = counted_task()
    with pytest.raises(pipeline.TryAgain):
        pipeline.answer(task.id)
    assert fresh(task).status == "queued" and outbox() == []
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]


def test_an_answer_the_provider_broke_off_with_an_error_is_asked_again_not_sent(app, openai_server):
    """OpenRouter answers 200 when the provider fails after the answer began: the choice
    stops with finish_reason "error" and holds the words so far. The fragment is no answer;
    the call was paid all the same."""
    broken = failed_midway_completion("The capital of France is", "upstream connection reset")
    openai_server.then(200, broken)
    task = counted_task()
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(task.id)
    assert caught.value.cause.error_type == "openai_error"
    assert "upstream connection reset" in str(caught.value.cause)
    assert (fresh(task).status, fresh(task).ai_response, outbox()) == ("queued", None, [])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ModelCall)) == 1

    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]
    assert requests_used(task) == 1


@pytest.mark.parametrize("content", [None, "", "  \n"], ids=["null", "empty", "blank"])
def test_an_answer_filed_as_reasoning_fails_at_once_and_is_logged_as_such(
    app, openai_server, content
):
    """vLLM's reasoning parser files a whole answer under reasoning_content when it finds
    no </think> (Qwen3 with thinking turned off), and a model that ended right after its
    thinking leaves the content empty too: the content is empty on every ask, so asking
    again paid for the same words each time before the texter got the same apology (which
    thinking closed with nothing after it, in the content, already spared them). It fails
    at once, the request given back, and staff read where the words went."""
    openai_server.then(200, with_reasoning_field(content))
    task = counted_task()
    assert pipeline.answer(task.id) == "failed"
    assert [m.kind for m in outbox()] == ["apology"]
    [error] = errors()
    assert "reasoning_content" in error.error_message
    assert len(openai_server.requests) == 1 and requests_used(task) == 0


@pytest.mark.parametrize(
    "reason",
    [
        "insufficient_system_resource",
        "abort",
        "OTHER",
        "other",
        "FINISH_REASON_UNSPECIFIED",
        "MALFORMED_FUNCTION_CALL",
    ],
)
def test_an_answer_the_server_broke_off_for_its_own_reasons_is_asked_again_not_sent(
    app, openai_server, reason
):
    """DeepSeek's API stops an answer with finish_reason insufficient_system_resource when
    its inference system runs short, vLLM's engine with "abort" when it pauses or shuts
    down mid-answer (sending a 200 as if it were done): the words so far are a fragment.
    So is Gemini's answer stopped for OTHER (or no stated) reason, or at a function call it
    wrote malformed, as a proxy or its OpenAI endpoint passes the reason through."""
    cut = chat_completion("The capital of France is", reason)
    openai_server.then(200, cut)
    task = counted_task()
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(task.id)
    assert reason in str(caught.value.cause)
    assert outbox() == []
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]


@pytest.mark.parametrize(
    "body",
    [
        chat_completion(f"<think>\n{THINKING} Let me also", finish_reason="length"),
        chat_completion(f"<seed:think>\n{THINKING} Let me also", finish_reason="length"),
        with_reasoning_field(None, finish_reason="length"),
        chat_completion(f"<|channel|>analysis<|message|>{THINKING}", finish_reason="length"),
        chat_completion(f"analysis{THINKING}", finish_reason="length"),
        chat_completion(f"<reasoning>\n{THINKING} Let me also", finish_reason="length"),
        chat_completion(f"<|begin_of_thought|>\n\n{THINKING} Let me", finish_reason="length"),
        chat_completion(f"◁think▷{THINKING} Let me", finish_reason="length"),
        chat_completion(f"Here's my thought process:\n{THINKING}", finish_reason="length"),
    ],
    ids=[
        "unclosed-think",
        "unclosed-seed-oss-think",
        "field",
        "gpt-oss-analysis",
        "gpt-oss-analysis-without-tokens",
        "unclosed-reasoning",
        "unclosed-begin-of-thought",
        "unclosed-kimi-think",
        "unclosed-granite-thought-process",
    ],
)
def test_a_model_that_thinks_to_its_token_limit_fails_at_once(app, openai_server, body):
    """Asking again with the same limit would pay for the same thinking: the texter gets the
    apology without the retries' wait, the request is given back, the one call is paid."""
    openai_server.then(200, body)
    task = counted_task()
    assert pipeline.answer(task.id) == "failed"
    assert [m.kind for m in outbox()] == ["apology"]
    [error] = errors()
    assert error.error_type == "openai_error" and "token limit" in error.error_message
    assert len(openai_server.requests) == 1 and requests_used(task) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ModelCall)) == 1


@pytest.mark.parametrize(
    "content",
    [
        f"<think>\n{THINKING} Let me also",
        f"◁think▷{THINKING}",
        f"<|channel|>analysis<|message|>{THINKING}",
    ],
    ids=["think", "kimi-think", "gpt-oss-analysis"],
)
def test_thinking_never_closed_fails_at_once_whatever_the_finish_reason(
    app, openai_server, content
):
    """Regression: thinking the model never closed, from a server that reports "stop" at
    the token limit (Ollama's OpenAI API did), was taken for a passing empty answer and
    asked again, each time paying for the same thinking, before the texter got the same
    apology: now it fails at once, as at a reported token limit."""
    openai_server.then(200, chat_completion(content, finish_reason="stop"))
    task = counted_task()
    assert pipeline.answer(task.id) == "failed"
    assert [m.kind for m in outbox()] == ["apology"]
    [error] = errors()
    assert "token limit before it finished thinking" in error.error_message
    assert len(openai_server.requests) == 1 and requests_used(task) == 0


@pytest.mark.parametrize(
    "content",
    [
        f"<think>\n{THINKING}\n</think>\n\n",
        f"<think>{THINKING}</think><think></think>",
        f"<thinking>{THINKING}</thinking>",
        f"{HARMONY}",
    ],
    ids=["think", "think-twice", "thinking", "gpt-oss-empty-final"],
)
def test_thinking_closed_with_no_answer_after_it_fails_at_once(app, openai_server, content):
    """Regression: a reasoning model that finished thinking and wrote nothing (Qwen3 and
    DeepSeek-R1 now and then end right after </think>) was asked again up to the job's
    retries, each at the price of the same thinking, while the texter waited for the same
    apology. It fails at once, as thinking never closed does: the apology goes now, the
    request is given back (texting again costs the texter nothing), one call is paid."""
    openai_server.then(200, chat_completion(content, finish_reason="stop"))
    task = counted_task()
    assert pipeline.answer(task.id) == "failed"
    assert [m.kind for m in outbox()] == ["apology"]
    [error] = errors()
    assert "finished thinking without writing an answer" in error.error_message
    assert len(openai_server.requests) == 1 and requests_used(task) == 0


@pytest.mark.parametrize(
    "content",
    [
        f"<think>{THINKING}</think>\n<response>\nParis.\n</response>",
        "<response>Paris.</response>",
        f"<reasoning>{THINKING}</reasoning>\n<final_answer>Paris.</final_answer>",
        "<final_answer>\nParis.",
    ],
    ids=["think-response", "response", "reasoning-final-answer", "final-answer-cut"],
)
def test_an_answer_wrapped_as_a_response_or_final_answer_is_sent_unwrapped(
    app, openai_server, content
):
    """Regression: models prompted or tuned to wrap their answer (<response>, as Reflection-
    style and many R1 distillations write it, or <final_answer>) sent the texter the tags
    around "Paris.", where <answer> was unwrapped already."""
    openai_server.then(200, chat_completion(content))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris.")]


GREETING = "Put this in your page. It greets the visitor when the page loads."
SCRIPT_TAG_NAMED = "Put it in a <script> tag at the end, so it runs after..."


@pytest.mark.parametrize(
    "cut_off,sent",
    [
        (
            "Since \\(a^2 + b^2 = c^2\\), the side is \\(c = \\sqrt{a^2",
            "Since a^2 + b^2 = c^2, the side is...",
        ),
        ("We get $$x^2 = 4$$ and so $$x = \\pm", "We get x^2 = 4 and so..."),
        ("Steps:\n\\[\nx = \\frac{1}{2}\n\\]\nso \\[\ny = \\frac{1}{3} +", "Steps:\nx = 1/2"),
        ("The answer is $\\frac{1}{2} + \\sqrt{", "The answer is..."),
        ("It costs $5 to $10 per mon", "It costs $5 to $10 per..."),
        (GREETING + " <script>\nfunction greet() {\n  const name = prompt('Name?');", GREETING),
        (GREETING + "\n<style>\nbody { color: red; }\nh1 {", GREETING),
        (GREETING + "<script>document.body.innerHTML = '<h1>Hi ' + name", GREETING),
        ("Put it in a <script> tag at the end, so it runs after the", SCRIPT_TAG_NAMED),
    ],
    ids=["inline", "display-dollars", "display-lines", "dollar", "prices"]
    + ["script", "style", "script-run-on", "script-tag-named"],
)
def test_an_answer_cut_off_inside_a_formula_ends_before_it(app, openai_server, cut_off, sent):
    """A maths answer stopped at the token limit inside a formula: the half formula, whose
    closing delimiter never came, reached the texter as raw LaTeX ("$$x =", "\\(c =").
    Regression: so did one stopped inside a <script> or <style> it opened, as the code a
    browser runs or applies, never shows (a closed one was dropped already)."""
    openai_server.then(200, chat_completion(cut_off, finish_reason="length"))
    task = make_task(sms_content="Solve it step by step")
    assert pipeline.answer(task.id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", sent)]


@pytest.mark.parametrize(
    "cut_off,sent",
    [
        ("Paris grew fast. Its population rose by 3.", "Paris grew fast."),
        ("Plans vary by region. It costs 3.", "Plans vary by region."),
        ("Paris grew fast. The answer is about 3.", "Paris grew fast."),
        ("The docs are online. See https://docs.python.", "The docs are online."),
        ("Write to us. Our address is help@example.", "Write to us. Our address is..."),
    ],
    ids=["number", "price", "about", "link", "email"],
)
def test_an_answer_stopped_at_the_dot_of_a_number_or_address_ends_before_it(
    app, openai_server, cut_off, sent
):
    """The token limit came after the "." of 3.5 or of docs.python.org: read as a sentence's
    end, the texter got "rose by 3." (a wrong figure) or a link to nowhere."""
    openai_server.then(200, chat_completion(cut_off, finish_reason="length"))
    assert pipeline.answer(make_task().id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", sent)]


@pytest.mark.parametrize(
    "cut_off",
    [
        "Paris grew fast. It hosted the Olympics in 1924.",
        "Denali is 6,190 m tall. It is the tallest peak in the U.S.",
        "Bring your ID. The office opens at 9 a.m.",
        "Pay the fee online. The office is in Washington, D.C.",
        "She studied hard. In 2019 she earned her Ph.D.",
        "It is a good plan. It costs $4.99.",
        "It is a good plan. It costs \u20ac1,299.50.",
        "Bring your ID. The store opens at 10:30.",
        "It was released later. The date is 2024-05-01.",
        "The answer is 42.",
        "The answer is 3.",
        "Sure. The answer is 42.",
        "\u0627\u0644\u062c\u0648\u0627\u0628 \u0647\u0648 42.",
        "It weighs 6,190.",
        "Paris grew fast. The answer is 42.",
        "We add the two. The total is 1,250.",
        "Work it out step by step. So the final result = 7.",
        "Add the two prices. Total: 12.",
        "Paris a grandi vite. La réponse est 42.",
        "Paris crecio mucho. La respuesta es 42.",
    ],
    ids=[
        *("year", "us", "am", "dc", "phd", "cents", "euros", "time", "iso-date"),
        *("42", "alone", "after-a-word", "arabic", "thousands"),
        *("the-answer-is", "the-total-is", "result-equals", "total-colon", "french", "spanish"),
    ],
)
def test_an_answer_stopped_right_after_a_year_or_an_initialism_is_sent_whole(
    app, openai_server, cut_off
):
    """Regression: the token limit came right after a whole last sentence that ended in a
    year, a price with its cents, a time, a date or an initialism ("U.S.", "a.m.", "D.C."),
    which were read as half a number or an address: the texter lost that sentence, or got
    "It is the tallest peak in the...". Likewise a short answer ending in its number ("The
    answer is 42."), once cut to "The answer is...": with nothing else to send, the whole
    sentence is more likely right than the fragment is useful; a longer answer still ends
    at the sentence before the number (see the test above), unless its last sentence
    plainly states its answer ("The answer is 42."), once cut to "Paris grew fast."."""
    openai_server.then(200, chat_completion(cut_off, finish_reason="length"))
    assert pipeline.answer(make_task().id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", cut_off)]


def test_an_answer_that_ended_on_a_number_by_itself_is_sent_whole(app, openai_server):
    openai_server.then(200, chat_completion("Paris grew fast. Its population rose by 3."))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.body for m in outbox()] == ["Paris grew fast. Its population rose by 3."]


@pytest.mark.parametrize(
    "answer,sent",
    [
        ("Adding them gives 42, so it is \\boxed{42}.", "Adding them gives 42, so it is 42."),
        ("Each gets \\boxed{\\frac{1}{2}} of the cake.", "Each gets 1/2 of the cake."),
        ("Use `\\boxed{x}` to frame it.", "Use \\boxed{x} to frame it."),
        # Braces two deep were sent as written: "\boxed{\frac{\sqrt{3}}{2}}".
        ("So sin 60 is \\boxed{\\frac{\\sqrt{3}}{2}}.", "So sin 60 is (sqrt(3))/2."),
        ("It is \\boxed{\\frac{1}{x^{2}}} here.", "It is 1/(x^2) here."),
    ],
    ids=["number", "fraction", "in-code", "root-in-a-fraction", "power-in-a-fraction"],
)
def test_a_maths_models_boxed_final_answer_reaches_the_texter_as_its_value(
    app, openai_server, answer, sent
):
    """DeepSeek-R1, QwQ and maths-tuned models frame the final answer in \\boxed{} even
    outside a formula's delimiters: the texter got the LaTeX source as written."""
    openai_server.then(200, chat_completion(answer))
    task = make_task(sms_content="What is 6 times 7?")
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == [sent]


FOOTNOTED = (
    "Paris is the capital[^1] and the largest city[^pop] of France.\n\n"
    "[^1]: Since *508 AD*, under Clovis.\n"
    "[^pop]: By population, per INSEE 2021."
)


@pytest.mark.parametrize(
    "answer,sent",
    [
        (
            FOOTNOTED,
            "Paris is the capital[1] and the largest city[2] of France.\n\n"
            "[1] Since 508 AD, under Clovis.\n[2] By population, per INSEE 2021.",
        ),
        ("Paris is the capital[^1] of France.", "Paris is the capital of France."),
        (
            "Match a non-digit with `[^0-9]` or `x[^1]`.",
            "Match a non-digit with [^0-9] or x[^1].",
        ),
        # Numbered sources as Markdown link definitions: the texter got "capital 1 (https:...)",
        # and a list no link cited was dropped whole.
        (
            "Paris is the capital [1].\n\n[1]: https://en.wikipedia.org/wiki/Paris",
            "Paris is the capital [1].\n\n[1] https://en.wikipedia.org/wiki/Paris",
        ),
        (
            "Paris is the capital.\n\n[1]: https://en.wikipedia.org/wiki/Paris\n"
            "[2]: https://www.britannica.com/place/Paris",
            "Paris is the capital.\n\n[1] https://en.wikipedia.org/wiki/Paris\n"
            "[2] https://www.britannica.com/place/Paris",
        ),
        # A source cited as a reference-style link: the texter got "[the docs][1]".
        (
            "See [the docs][1], [the FAQ][2] and `[x][1]`.\n\n[1]: https://x.org/docs\n"
            "[2]: https://x.org/faq",
            "See the docs [1], the FAQ [2] and [x][1].\n\n[1] https://x.org/docs\n"
            "[2] https://x.org/faq",
        ),
        # A note of two paragraphs, the second indented under it: it stayed where it was
        # and the note lost it.
        (
            "Paris is the capital[^1].\n\n[^1]: Since 508 AD.\n\n    Under Clovis.\n\n"
            "It is on the Seine.",
            "Paris is the capital[1].\n\nIt is on the Seine.\n\n[1] Since 508 AD. Under Clovis.",
        ),
        # A note followed by a numbered source: the note took the source's line as its own.
        (
            "Paris[^1] is on the Seine [2].\n\n[^1]: The capital.\n"
            "[2]: https://en.wikipedia.org/wiki/Seine",
            "Paris[1] is on the Seine [2].\n\n[2] https://en.wikipedia.org/wiki/Seine\n\n"
            "[1] The capital.",
        ),
        # Pandoc's inline notes reached the texter as written, "^[" and all.
        (
            "Paris is the capital^[Since 508 AD.] and largest city[^pop].\n\n"
            "[^pop]: By population.",
            "Paris is the capital[1] and largest city[2].\n\n[1] Since 508 AD.\n[2] By population.",
        ),
        # Notes in raised digits, as a model writes them in plain text: "capital^1", read
        # as a power, and "^1 Since 508 AD."
        (
            "Paris is the capital\u00b9 and its largest city\u00b2.\n\n"
            "\u00b9 Since 508 AD.\n\u00b2 By population.",
            "Paris is the capital[1] and its largest city[2].\n\n[1] Since 508 AD.\n"
            "[2] By population.",
        ),
        ("E = mc\u00b2 holds.", "E = mc^2 holds."),
        # Raised marks after a sentence's end whose notes never came (the token limit, or
        # a model that cites without listing): "1440.^1", a power of nothing.
        (
            "Gutenberg printed it around 1440.\u00b9 It changed Europe,\u00b2 then the world.",
            "Gutenberg printed it around 1440. It changed Europe, then the world.",
        ),
    ],
    ids=[
        "notes",
        "note-never-written",
        "regex-in-code",
        "cited-sources",
        "listed-sources",
        "sources-cited-as-links",
        "note-of-two-paragraphs",
        "note-then-source",
        "pandoc-inline-note",
        "raised-digit-notes",
        "a-power-is-no-note",
        "raised-marks-without-notes",
    ],
)
def test_markdown_footnotes_reach_the_texter_as_numbered_notes(app, openai_server, answer, sent):
    """A model's footnotes ("capital[^1]", "[^1]: the note") are Markdown no phone renders:
    the texter got the carets and labels as written, and a note out of its place."""
    openai_server.then(200, chat_completion(answer))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == [sent]


@pytest.mark.parametrize(
    "cut_off,sent",
    [
        ("Read [the Python tutorial](https://docs.python.org/3/tut", "Read the Python..."),
        ("Start with [the official Python tut", "Start with the official Python..."),
        ("Here it is: ![The Eiffel Tower](https://upload.wiki", "Here it is: The Eiffel..."),
        # Bold whose closing marks never came, and an inline note cut short, were sent as
        # written: "This is **very important." and "It is old.^Since 5..."
        (
            "This is **very important. Back up your data first. Then upgr",
            "This is very important. Back up your data first.",
        ),
        (
            "It is very old and it is the capital.^[Since 508 AD, under Clo",
            "It is very old and it is the capital.",
        ),
    ],
    ids=["in-the-address", "in-the-words", "image", "open-bold", "open-inline-note"],
)
def test_an_answer_cut_off_inside_a_link_note_or_bold_shows_its_words_not_its_markup(
    app, openai_server, cut_off, sent
):
    """A link the token limit cut short is no link: its "[" and half address reached the
    texter as they were ("Read [the Python...")."""
    openai_server.then(200, chat_completion(cut_off, finish_reason="length"))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.body for m in outbox()] == [sent]


TABLE = "Compare:\n\n| Feature | Python | Go |\n|---|---|---|\n| Typing | Dynamic | Static |"


@pytest.mark.parametrize(
    "cut_off,sent",
    [
        (TABLE, "Compare:\n\nFeature: Typing, Python: Dynamic, Go: Static"),
        (TABLE + "\n| Speed | Slo", "Compare:\n\nFeature: Typing, Python: Dynamic, Go: Static"),
        ("Compare:\n\n| Feature | Python | Go |\n|---|--", "Compare:"),
    ],
    ids=["after-a-row", "inside-a-row", "inside-the-header"],
)
def test_a_table_the_token_limit_cut_keeps_its_whole_rows_and_no_pipes(
    app, openai_server, cut_off, sent
):
    """Regression: a table cut at the end of a row lost that whole row (a row ends no
    sentence), and one cut before its first row sent its header as written, pipes and all."""
    openai_server.then(200, chat_completion(cut_off, finish_reason="length"))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.body for m in outbox()] == [sent]


WRAPPED = "```markdown\n# Paris\n\n**Paris** is the capital of *France*.\n```"


@pytest.mark.parametrize(
    "question,sent",
    [
        ("What is the capital of France?", "Paris\n\nParis is the capital of France."),
        ("Show me a Markdown heading", "# Paris\n\n**Paris** is the capital of *France*."),
    ],
    ids=["a-question", "a-question-about-markdown"],
)
def test_an_answer_wrapped_whole_in_a_markdown_fence_is_read_as_markdown(
    app, openai_server, question, sent
):
    """Some models wrap their whole answer in a ```markdown block: read as code, it reached
    the texter with its #, ** and * as written."""
    openai_server.then(200, chat_completion(WRAPPED))
    assert pipeline.answer(make_task(sms_content=question).id) == "answered"
    assert [m.body for m in outbox()] == [sent]


LOOPED = "Paris is the capital of France."


@pytest.mark.parametrize(
    "looping,sent",
    [
        (f"{LOOPED} " * 40 + "Paris is the", LOOPED),
        (
            "The capital is Paris.\n\n" + f"{LOOPED}\n\n" * 30 + "Paris",
            f"The capital is Paris.\n\n{LOOPED}",
        ),
        (
            "Yes. " + "It is Paris. It is in France. " * 20 + "It is",
            "Yes. It is Paris. It is in France.",
        ),
        ("中国的首都是北京。" * 30 + "中国的", "中国的首都是北京。"),
    ],
    ids=["one-sentence", "one-paragraph", "two-sentences", "chinese"],
)
def test_a_model_caught_in_a_loop_to_its_token_limit_is_sent_what_it_said_once(
    app, openai_server, looping, sent
):
    """A small local model repeats itself until its token limit stops it: the texter paid
    for three segments of one sentence over and over, and MORE sent more of it."""
    openai_server.then(200, chat_completion(looping, finish_reason="length"))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.body for m in outbox()] == [sent]


def test_a_repeated_line_in_a_finished_answer_stays(app, openai_server):
    chant = "Row, row, row your boat.\n" * 3 + "Gently down the stream."
    openai_server.then(200, chat_completion(chant))
    assert pipeline.answer(make_task(sms_content="Sing me a song").id) == "answered"
    assert [m.body for m in outbox()] == [chant]


@pytest.mark.parametrize("reason", ["model_length", "max_tokens", "MAX_TOKENS"])
def test_an_answer_stopped_at_a_limit_in_a_vendors_words_is_trimmed_like_one_at_the_limit(
    app, openai_server, reason
):
    """Mistral's API says model_length when the context window, not max_tokens, stopped the
    answer; a proxy passing Anthropic's or Gemini's own stop reason through says max_tokens
    or MAX_TOKENS: cut mid-word all the same, and sent so ("...Eiffel Tow")."""
    cut_off = "Paris is the capital. It is known for the Eiffel Tow"
    openai_server.then(200, chat_completion(cut_off, finish_reason=reason))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital."]


@pytest.mark.parametrize(
    "reason", ["content_filter", "SAFETY", "refusal", "IMAGE_SAFETY", "LANGUAGE"]
)
def test_a_content_filter_stop_sends_the_declined_notice_not_the_fragment(
    app, openai_server, reason
):
    """Gemini's SAFETY and Claude's refusal, passed through by a proxy as they are, stop an
    answer as OpenAI's content_filter does: the fragment was sent as the answer."""
    fragment = "Here is how to make a dangerous"
    openai_server.then(200, chat_completion(fragment, finish_reason=reason))
    task = counted_task(sms_content="How do I make something dangerous?")
    assert pipeline.answer(task.id) == "answered"
    task = fresh(task)
    assert (task.status, task.success, task.ai_response) == ("completed", True, DECLINED)
    assert task.metadata_["declined"] == "content_filter"
    assert [(m.kind, m.body) for m in outbox()] == [("declined", DECLINED)]
    assert requests_used(task) == 1  # the model answered and was paid: it counts
    assert errors() == []


@pytest.mark.parametrize(
    "code,message",
    [
        (
            "content_filter",
            "The response was filtered due to the prompt triggering Azure "
            "OpenAI's content management policy.",
        ),
        (
            "invalid_prompt",
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
        ),
    ],
    ids=["azure-content-filter", "openai-usage-policy"],
)
def test_a_question_the_provider_refuses_to_answer_gets_the_declined_notice(
    app, openai_server, code, message
):
    """Azure OpenAI's filter, and OpenAI's reasoning models, refuse a flagged question with a
    400, asked with tools or without: a decline, not an apology inviting it again."""
    refused = openai_error(message, code, "invalid_request_error")
    openai_server.then(400, refused).then(400, refused)
    task = counted_task(sms_content="How do I make something dangerous?")
    assert pipeline.answer(task.id) == "answered"
    task = fresh(task)
    assert (task.status, task.metadata_["declined"]) == ("completed", "content_filter")
    assert [(m.kind, m.body) for m in outbox()] == [("declined", DECLINED)]
    assert len(openai_server.requests) == 1 and requests_used(task) == 1
    assert errors() == []


def test_a_refusal_is_the_models_answer_sent_once_without_retries(app, openai_server):
    refusal = "I'm sorry, but I can't help with that."
    openai_server.then(200, refusal_completion(refusal))
    task = counted_task()
    assert pipeline.answer(task.id) == "answered"
    task = fresh(task)
    assert (task.status, task.ai_response, task.metadata_["declined"]) == (
        "completed",
        refusal,
        "refusal",
    )
    assert [(m.kind, m.body) for m in outbox()] == [("declined", refusal)]
    assert len(openai_server.requests) == 1 and requests_used(task) == 1


def test_a_refusal_cut_off_at_the_token_limit_ends_at_its_last_whole_sentence(app, openai_server):
    refusal = "I'm sorry, but I can't help with that. If you'd like, I can sugg"
    body = refusal_completion(refusal)
    body["choices"][0]["finish_reason"] = "length"
    openai_server.then(200, body)
    task = counted_task()
    assert pipeline.answer(task.id) == "answered"
    sent = "I'm sorry, but I can't help with that."
    assert [(m.kind, m.body) for m in outbox()] == [("declined", sent)]
    assert fresh(task).ai_response == sent


def in_parts(*parts: dict) -> dict:
    """An answer whose content is a list of parts in the Responses API's types, as proxies
    that translate a Responses backend into chat completions pass them on."""
    body = chat_completion("")
    body["choices"][0]["message"]["content"] = list(parts)
    return body


@pytest.mark.parametrize(
    "body,sent",
    [
        (in_parts({"type": "output_text", "text": "Paris.", "annotations": []}), "Paris."),
        (
            in_parts(
                {"type": "output_text", "text": ""},
                {"type": "refusal", "refusal": "I can't help with that."},
            ),
            "I can't help with that.",
        ),
    ],
    ids=["output_text", "refusal-part"],
)
def test_an_answer_in_responses_style_parts_reaches_the_texter(app, openai_server, body, sent):
    """The words in output_text parts, or a refusal part beside an empty one, were read as
    no answer at all: asked again until the retries ran out, then the apology."""
    openai_server.then(200, body)
    assert pipeline.answer(counted_task().id) == "answered"
    assert [m.body for m in outbox()] == [sent]
    assert len(openai_server.requests) == 1


def test_a_refusal_shows_as_the_ais_reply_to_staff_and_in_the_api(app, client, openai_server):
    openai_server.then(200, refusal_completion("I can't help with that."))
    task = counted_task()
    assert pipeline.answer(task.id) == "answered"

    phone = task.user_phone
    headers = {"Authorization": f"Token {make_token(make_staff('ops', is_admin=True))}"}
    api = client.get(f"/api/users/{quote(phone)}/messages/", headers=headers).get_json()
    exported = client.get(f"/api/users/{quote(phone)}/export/", headers=headers).get_json()
    assert [(m["author"], m["author_kind"]) for m in api["results"]] == [
        ("texter", "texter"),
        ("ai", "ai"),
    ]
    sent = [e["author"] for e in exported["entries"] if e["direction"] == "out"]
    assert sent == ["ai"]
    staff_account("boss", is_admin=True)
    log_in(client, "boss")
    page = client.get(f"/admin/user/conversation/?id={quote(phone)}").get_data(as_text=True)
    assert 'sms-by-ai"' in page and 'sms-by-system"' not in page


@pytest.mark.parametrize(
    "refusal",
    [
        "System role not supported",
        "Conversation roles must alternate user/assistant/user/assistant/...",
        "Only user and assistant roles are supported!",
        "Unsupported value: 'messages[0].role' does not support 'system' with this model.",
    ],
    ids=["gemma", "alternate", "mistral", "o1-mini"],
)
def test_a_model_whose_template_has_no_system_role_gets_its_instructions_with_the_question(
    app, refusal
):
    """Gemma 2 or an early Mistral behind vLLM, SGLang or TGI: their chat template raises at
    a system message, and every text got the apology. The instructions go before the
    question in the texter's turn instead, from then on without asking first."""
    with openai_standin(refuse_system=refusal) as server:
        app.config.update(LLM_BACKEND="openai", OPENAI_BASE_URL=server.url + "/v1")
        first = make_task(sms_content="What is the capital of France?")
        assert pipeline.answer(first.id) == "answered"
        second = make_task(sms_content="And of Spain?")
        assert pipeline.answer(second.id) == "answered"
    asked = [body["messages"] for _, _, body in server.requests]
    assert [[turn["role"] for turn in messages] for messages in asked] == [
        ["system", "user"],
        ["user"],
        ["user"],
    ]
    instructions = asked[0][0]["content"]
    assert asked[1][0]["content"] == f"{instructions}\n\nWhat is the capital of France?"
    assert asked[2][0]["content"].startswith(instructions)
    assert [m.body for m in outbox()] == ["Paris is the capital of France."] * 2
    assert errors() == []


def test_a_server_answering_where_one_without_a_system_role_did_gets_the_system_role(
    app, openai_server
):
    """Regression: what a server refused was kept for the process, so one started later on
    the same address (a test's stand-in on a port the earlier test's had) got its
    instructions in the texter's turn and the context one turn short. `forget_servers`
    forgets it, and each test's app forgets it at its end."""
    refused = {"object": "error", "message": "System role not supported", "code": 400}
    openai_server.then(400, refused)
    assert pipeline.answer(make_task(sms_content="What is the capital of France?").id)
    assert [turn["role"] for turn in openai_server.requests[-1][2]["messages"]] == ["user"]
    llm.forget_servers()
    assert pipeline.answer(make_task(sms_content="And of Spain?").id) == "answered"
    assert [turn["role"] for turn in openai_server.requests[-1][2]["messages"]][:2] == [
        "system",
        "user",
    ]


def test_a_server_that_streams_unless_told_otherwise_is_told_and_answers(app):
    """Regression: servers whose `stream` defaults to true (Unsloth's, OmniRoute's...)
    streamed their answer to a request that did not say, and the texter got the apology
    after every retry. The request says "stream": false, as OpenAI's own default."""
    with openai_standin(streams_unless_told=True) as server:
        app.config.update(LLM_BACKEND="openai", OPENAI_BASE_URL=server.url + "/v1")
        task = make_task(sms_content="What is the capital of France?")
        assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]
    assert errors() == []


#: request_human called in a stream: the call's id and name, then its arguments in pieces.
STREAMED_CALL = [
    {"role": "assistant", "content": None},
    {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "request_human"}}]},
    {"tool_calls": [{"index": 0, "function": {"arguments": '{"reason": '}}]},
    {"tool_calls": [{"index": 0, "function": {"arguments": '"billing"}'}}]},
]


@pytest.mark.parametrize(
    "body,sent",
    [
        (streamed_completion("Paris is the capital of France."), "Paris is the capital of France."),
        (
            Raw(
                json.dumps(chat_completion("Paris.")).encode() + b"\n\ndata: [DONE]\n\n",
                "text/event-stream",
            ),
            "Paris.",
        ),
        (
            Raw(b"data: " + json.dumps(chat_completion("Paris.")).encode() + b"\n\n"),
            "Paris.",
        ),
        (streamed_completion("", STREAMED_CALL), "Thanks. A person from our team will reply"),
    ],
    ids=["chunks", "json-then-done", "one-event", "tool-call-in-pieces"],
)
def test_an_answer_streamed_though_not_asked_for_reaches_the_texter(app, openai_server, body, sent):
    """mini-sglang streams whatever the request says, 9router frames its JSON as events:
    the answer was read as a page that is not JSON and every text got the apology."""
    openai_server.then(200, body)
    task = make_task(sms_content="What is the capital of France?")
    assert pipeline.answer(task.id) == "answered"
    [reply] = outbox()
    assert reply.body.startswith(sent)
    assert fresh(task).metadata_["finish_reason"] in ("stop", "tool_calls", None)
    assert errors() == []


#: How a stream breaks off mid-answer: vLLM's and LiteLLM's error event, or nothing more.
STREAM_ERROR = {"error": {"object": "error", "message": "engine died", "type": "InternalError"}}


@pytest.mark.parametrize("ending", [[STREAM_ERROR], []], ids=["error-event", "cut-short"])
def test_an_answer_streamed_though_not_asked_for_that_breaks_off_is_asked_again_not_sent(
    app, openai_server, ending
):
    """Regression: a stream that ended in the server's error event, or with no chunk saying
    why it stopped and no [DONE], was put together and its fragment sent as the answer
    ('The capital of France is'). It is an answer the server broke off, asked again."""
    openai_server.then(200, streamed_completion("The capital of France is", ending=ending))
    task = make_task(sms_content="What is the capital of France?")
    with pytest.raises(pipeline.TryAgain, match="broke the answer off"):
        pipeline.answer(task.id)
    assert outbox() == []
    assert pipeline.answer(task.id) == "answered"  # the stand-in's whole answer
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]


def test_a_call_to_a_tool_never_offered_gets_a_tool_error_and_one_more_ask(app, openai_server):
    promise = tool_call_completion("get_weather", '{"city": "Paris"}', "Let me check the weather.")
    openai_server.then(200, promise)  # then the stand-in's default answer
    task = make_task(sms_content="What's the weather in Paris?")
    assert pipeline.answer(task.id) == "answered"

    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris is the capital of France.")]
    first, second = (request for _, _, request in openai_server.requests)
    assert second["messages"][: len(first["messages"])] == first["messages"]
    turn, error = second["messages"][len(first["messages"]) :]
    assert turn["role"] == "assistant" and turn["content"] == "Let me check the weather."
    assert turn["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert (error["role"], error["tool_call_id"]) == ("tool", "call_get_weather")
    assert "no tool named get_weather" in error["content"]
    assert "tools" in second  # request_human is still on offer
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ModelCall)) == 2
    assert fresh(task).tokens_used == 2 * 42  # both calls


@pytest.mark.parametrize(
    "usage,prompt,completion",
    [
        ({"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}, None, 4),
        ({"prompt_tokens": 30, "completion_tokens": 12}, 30, 12),
        (None, None, 4),
        ({"prompt_tokens": 10**12, "completion_tokens": 5, "total_tokens": 10**12 + 5}, None, 5),
        ({"prompt_tokens": float("inf"), "completion_tokens": 5, "total_tokens": -1}, None, 5),
    ],
    ids=["null-counts", "no-total", "no-usage", "absurd", "infinite"],
)
def test_usage_a_compatible_server_reports_partly_still_answers_and_adds_up(
    app, openai_server, usage, prompt, completion
):
    """vLLM, llama.cpp and others leave usage counts out or null, and a broken proxy may
    report counts no model makes (which overflowed the column on PostgreSQL, or billed,
    would trip the spend caps): the two calls of a tool error's follow-up are still added
    up, and each is kept in the spend, a count the server did not give estimated from the
    text (the tool call "get_weather{}" is 4 tokens), never 0."""
    promise = tool_call_completion("get_weather")
    if usage is None:
        del promise["usage"]
    else:
        promise["usage"] = usage
    openai_server.then(200, promise)  # then the stand-in's default answer (42 tokens)
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris is the capital of France.")]
    first, _ = calls = db.session.scalars(sa.select(ModelCall).order_by(ModelCall.created_at)).all()
    assert fresh(task).tokens_used == sum(c.prompt_tokens + c.completion_tokens for c in calls)
    assert first.completion_tokens == completion
    assert first.prompt_tokens == prompt if prompt is not None else first.prompt_tokens > 20
    assert errors() == []


@pytest.mark.parametrize(
    "usage",
    [None, {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}],
    ids=["no-usage", "null-counts"],
)
def test_a_call_whose_server_reports_no_usage_is_billed_an_estimate_not_nothing(
    app, openai_server, usage
):
    """A server that reports no usage (llama.cpp behind a proxy, a gateway that drops it)
    still bills the call: it was stored at 0 USD, so a texter on such a server cost nothing
    in every report and never reached their spend cap. Its tokens are estimated from the
    question and the answer, about 4 characters a token."""
    answer = "Paris is the capital of France, on the Seine."  # 45 characters: 12 tokens
    promise = chat_completion(answer, model="gpt-4o-mini")
    if usage is None:
        del promise["usage"]
    else:
        promise["usage"] = usage
    openai_server.then(200, promise)
    task = make_task(sms_content="What is the capital of France? " * 10)
    assert pipeline.answer(task.id) == "answered"
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert call.completion_tokens == 12
    assert call.prompt_tokens >= len(task.sms_content) // 4
    assert call.priced and call.cost_usd > 0
    assert fresh(task).cost_usd > 0 and fresh(task).tokens_used == call.prompt_tokens + 12


def test_a_call_whose_server_reports_its_usage_is_billed_without_an_estimate(
    app, openai_server, monkeypatch
):
    """The estimate of a call's tokens is made only for a count the server left out: the
    prompt's is a walk through every message of the conversation."""
    estimated = []
    monkeypatch.setattr(reading, "prompt_tokens", lambda messages: estimated.append(messages))
    openai_server.then(200, chat_completion("Paris.", model="gpt-4o-mini"))
    assert pipeline.answer(make_task(sms_content="What is the capital of France?").id)
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert (call.prompt_tokens, call.completion_tokens) == (32, 10) and estimated == []


def test_thinking_a_server_leaves_out_of_completion_tokens_is_billed_as_output(app, openai_server):
    """Regression: Gemini's OpenAI-compatible usage (and proxies passing Gemini through)
    counts a thinking model's thoughts in total_tokens only, not in completion_tokens as
    OpenAI does, and the call was billed for the 198 tokens of its answer, not the 603 it
    wrote: a thinking model's texters cost a third of what they did and stayed under
    their spend cap. What the total holds beyond the prompt is billed as generated."""
    promise = chat_completion("Paris.", model="gpt-4o-mini")
    promise["usage"] = {
        "prompt_tokens": 20,
        "completion_tokens": 198,
        "total_tokens": 623,
        "completion_tokens_details": {"reasoning_tokens": 405},
    }
    openai_server.then(200, promise)
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert (call.prompt_tokens, call.completion_tokens) == (20, 603)
    assert call.cost_usd == Decimal("0.000365")  # 20 x 0.15 + 603 x 0.60 per million
    assert fresh(task).tokens_used == 623


def without_usage(body: dict, field: str) -> dict:
    """`body` with its thinking in `field` (Ollama's and OpenRouter's name it reasoning),
    750 characters of it, and no usage reported."""
    message = body["choices"][0]["message"]
    message[field] = message.pop("reasoning_content") * 10
    del body["usage"]
    return body


@pytest.mark.parametrize(
    "body",
    [
        without_usage(with_reasoning_field("Paris."), "reasoning_content"),
        without_usage(with_reasoning_field("Paris."), "reasoning"),
        streamed_completion("", [{"reasoning_content": THINKING * 10}, {"content": "Paris."}]),
    ],
    ids=["reasoning_content", "reasoning", "streamed"],
)
def test_thinking_beside_the_answer_is_in_the_estimate_of_a_call_without_usage(
    app, openai_server, body
):
    """Regression: a call whose server reported no usage (a stream, which reports none
    unless asked) was estimated from its answer alone, and a reasoning model's thinking,
    which its server's parser put beside the content, was left out: 750 characters of
    thought and 'Paris.' were billed as 2 tokens written."""
    openai_server.then(200, body)
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris."]
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert call.completion_tokens == 189  # (750 + 6) / 4, rounded up


def test_an_answer_in_chinese_without_usage_is_estimated_a_token_a_character(app, openai_server):
    """Regression: tokens a server did not report were estimated at 4 characters a token,
    English's, and a Chinese answer, about a token a character, was billed a quarter of
    its tokens (and its question's): Chinese, Japanese and Korean characters (Unicode's
    wide ones) now count one token each, the rest 4 characters a token as before."""
    answer = "巴黎是法国的首都。"  # 9 characters, 9 tokens
    promise = chat_completion(answer)
    del promise["usage"]
    openai_server.then(200, promise)
    task = make_task(sms_content="法国的首都是哪里？")
    assert pipeline.answer(task.id) == "answered"
    [call] = db.session.scalars(sa.select(ModelCall))
    assert call.completion_tokens == 9


@pytest.mark.parametrize(
    "arguments", ['{"city": "Par', "Paris", '"Paris"'], ids=["cut-short", "bare", "not-an-object"]
)
def test_an_unknown_tool_called_with_broken_arguments_still_gets_its_answer(app, arguments):
    """vLLM and SGLang parse the arguments of each tool call a request replays, and refuse it
    (400) when they are not a JSON object, as a model cut short or careless writes them."""
    with openai_standin(parses_tool_history=True) as server:
        app.config.update(LLM_BACKEND="openai", OPENAI_BASE_URL=server.url + "/v1")
        server.then(200, tool_call_completion("get_weather", arguments))
        task = make_task()
        assert pipeline.answer(task.id) == "answered"
        [_, (_, _, second)] = server.requests
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris is the capital of France.")]
    assert second["messages"][-2]["tool_calls"][0]["function"]["arguments"] == "{}"


def test_a_model_that_still_wants_a_tool_it_lacks_gets_the_declined_notice(app, openai_server):
    openai_server.then(200, tool_call_completion("get_weather"))
    openai_server.then(200, tool_call_completion("get_weather", content="Checking now."))
    task = counted_task()
    assert pipeline.answer(task.id) == "answered"
    task = fresh(task)
    assert (task.status, task.metadata_["declined"]) == ("completed", "unknown_tool")
    assert [(m.kind, m.body) for m in outbox()] == [("declined", DECLINED)]
    assert len(openai_server.requests) == 2  # asked once more, never retried


@pytest.mark.parametrize(
    "name",
    ["functions.request_human", "request_human<|channel|>commentary", " request_human\n"],
    ids=["namespaced", "harmony-tokens", "spaces"],
)
def test_request_human_named_as_gpt_oss_writes_it_still_hands_over(app, openai_server, name):
    """gpt-oss calls its tools as "functions.<name>" and, on a server whose Harmony parser
    slips, leaves channel tokens after the name: the request for a person was taken for a
    tool never offered, and the texter got an answer instead of a person."""
    openai_server.then(200, tool_call_completion(name))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.kind for m in outbox()] == ["handoff"]
    assert len(openai_server.requests) == 1


def legacy_function_call(name: str, content: str | None = None) -> dict:
    """The model calling a function in the shape OpenAI used before tool_calls, which some
    OpenAI-compatible servers and proxies still answer in: one function_call, its finish
    reason "function_call"."""
    body = chat_completion("", finish_reason="function_call")
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": content,
        "function_call": {"name": name, "arguments": '{"reason": "refund"}'},
    }
    return body


def test_request_human_called_in_the_legacy_function_call_shape_hands_over(app, openai_server):
    """The request for a person was lost: the message held no tool_calls, so its empty
    content was taken for an empty answer and asked again, and the texter never reached
    staff."""
    openai_server.then(200, legacy_function_call("request_human"))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.kind for m in outbox()] == ["handoff"]
    assert len(openai_server.requests) == 1


def test_an_unknown_function_called_in_the_legacy_shape_gets_one_more_ask(app, openai_server):
    openai_server.then(200, legacy_function_call("get_weather", "Let me check."))
    openai_server.then(200, chat_completion("I can't check the weather, sorry."))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.body for m in outbox()] == ["I can't check the weather, sorry."]
    [_, (_, _, second)] = openai_server.requests
    assert second["messages"][-1]["role"] == "tool"


#: A request for a person the server's tool-call parser did not take out of the text, as
#: vLLM's and Ollama's parsers leave the model's output when its JSON does not parse.
CALL_IN_TEXT = [
    '<tool_call>\n{"name": "request_human", "arguments": {"reason": "refund"}\n</tool_call>',
    "<tool_call>\n<function=request_human>\n<parameter=reason>refund</parameter>\n</function>",
    "<tool_call>request_human\n<arg_key>reason</arg_key>\n<arg_value>refund</arg_value>",
    '[TOOL_CALLS][{"name": "request_human", "arguments": {"reason": "refund"}}]',
    '[TOOL_CALLS]request_human[ARGS]{"reason": "refund"}',
    '<|python_tag|>{"name": "request_human", "parameters": {"reason": "refund"}}',
    "<\uff5ctool\u2581calls\u2581begin\uff5c><\uff5ctool\u2581call\u2581begin\uff5c>function"
    '<\uff5ctool\u2581sep\uff5c>request_human\n```json\n{"reason": "refund"}\n```'
    "<\uff5ctool\u2581call\u2581end\uff5c><\uff5ctool\u2581calls\u2581end\uff5c>",
    "<\uff5ctool\u2581calls\u2581begin\uff5c><\uff5ctool\u2581call\u2581begin\uff5c>request_human"
    '<\uff5ctool\u2581sep\uff5c>{"reason": "refund"}<\uff5ctool\u2581call\u2581end\uff5c>'
    "<\uff5ctool\u2581calls\u2581end\uff5c>",
    "<|tool_calls_section_begin|><|tool_call_begin|>functions.request_human:0"
    '<|tool_call_argument_begin|>{"reason": "refund"}<|tool_call_end|><|tool_calls_section_end|>',
    '<|tool_call|>[{"name": "request_human", "arguments": {"reason": "refund"}}]',
    '[request_human(reason="refund")]',
    '```tool_code\nrequest_human(reason="refund")\n```',
    '{"name": "request_human", "parameters": {"reason": "refund"}}',
    '<function=request_human>{"reason": "refund"}</function>',
    '<function=request_human{"reason": "refund"}</function>',
    '<minimax:tool_call>\n<invoke name="request_human">\n<parameter name="reason">refund'
    "</parameter>\n</invoke>\n</minimax:tool_call>",
    '<tool_calls>\n{"name": "request_human", "arguments": {"reason": "refund"}}\n</tool_calls>',
]


@pytest.mark.parametrize(
    "call",
    CALL_IN_TEXT,
    ids=[
        "hermes-json",
        "qwen3-coder",
        "glm",
        "mistral",
        "mistral-args",
        "llama-python-tag",
        "deepseek-v3",
        "deepseek-v3.1",
        "kimi-k2",
        "granite-phi",
        "llama-pythonic",
        "gemma-tool-code",
        "llama-json",
        "llama-function-tag",
        "llama-function-tag-unclosed-name",
        "minimax-m2",
        "minimax-m1",
    ],
)
def test_request_human_left_in_the_text_by_the_servers_parser_still_hands_over(
    app, openai_server, call
):
    """The texter got the call's markup as their answer, and no person."""
    openai_server.then(200, chat_completion("Let me get someone for you.\n" + call))
    assert pipeline.answer(make_task(sms_content="I want a refund").id) == "answered"
    assert [m.kind for m in outbox()] == ["handoff"]
    assert not any(mark in outbox()[0].body for mark in ("tool_call", "TOOL_CALLS", "function="))


@pytest.mark.parametrize(
    "header",
    [
        "<|start|>assistant<|channel|>commentary to=functions.request_human <|constrain|>json",
        "<|start|>assistant to=functions.request_human<|channel|>commentary json",
    ],
    ids=["recipient-after-channel", "recipient-in-header"],
)
def test_gpt_oss_calling_request_human_in_channels_passed_through_hands_over(
    app, openai_server, header
):
    """gpt-oss on a server that passes its Harmony channels through as text calls a tool in
    a commentary channel, with no final one: it was read as an empty answer, asked again
    and again, and the texter got the apology instead of a person."""
    content = (
        "<|channel|>analysis<|message|>They want a refund: a person must decide.<|end|>"
        + header
        + '<|message|>{"reason": "refund"}<|call|>'
    )
    openai_server.then(200, chat_completion(content, finish_reason="tool_calls"))
    assert pipeline.answer(make_task(sms_content="I want a refund").id) == "answered"
    assert [m.kind for m in outbox()] == ["handoff"]
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        "The list holds one call:\n```python\nprint(f(x))\n```",
        "Index it as [f(x)]",
        "Calls look like [search(query=...)] in Llama's format, for example.",
    ],
)
def test_calls_written_as_the_answers_words_stay_its_words(app, openai_server, answer):
    openai_server.then(200, chat_completion(answer))
    assert pipeline.answer(make_task(sms_content="How?").id) == "answered"
    [reply] = outbox()
    assert reply.kind == "reply" and "(" in reply.body


@pytest.mark.parametrize(
    "answer",
    [
        "Qwen wraps each call it makes in <tool_call> tags.",
        "Its JSON goes between <tool_call> and </tool_call>",
    ],
)
def test_an_answer_about_tool_calling_that_names_the_tag_is_sent_whole(app, openai_server, answer):
    """Regression: the words after the tag were read as a call to a tool named "tags." (or
    "and"), cut off the answer, and the model was asked again with a tool error."""
    openai_server.then(200, chat_completion(answer))
    assert pipeline.answer(make_task(sms_content="How does Qwen call tools?").id) == "answered"
    assert [m.body for m in outbox()] == [answer]
    assert len(openai_server.requests) == 1


def test_json_that_ends_an_answer_is_the_answers_own_unless_it_is_a_call(app, openai_server):
    answer = 'Your record as JSON:\n{"name": "Ann", "parameters": {"age": 3}, "tier": "pro"}'
    openai_server.then(200, chat_completion(answer))
    assert pipeline.answer(make_task(sms_content="Show my record as JSON").id) == "answered"
    [reply] = outbox()
    assert reply.kind == "reply" and '"tier": "pro"' in reply.body


@pytest.mark.parametrize(
    "answer",
    [
        '{"answer": "Paris is the capital of France."}',
        '{\n  "response": "Paris is the capital of France.",\n  "confidence": 0.95\n}',
        '```json\n{"reply": "Paris is the capital of France."}\n```',
    ],
    ids=["answer", "response-and-more", "fenced"],
)
def test_an_answer_written_as_a_json_object_reaches_the_texter_as_its_words(
    app, openai_server, answer
):
    """A model in JSON mode (a server's default, or one tuned to answer so) wraps its words
    in an object; the texter got the braces, quotes and key."""
    openai_server.then(200, chat_completion(answer))
    task = make_task()
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]
    assert fresh(task).ai_response == answer  # what the model said is kept as it said it


@pytest.mark.parametrize(
    "question,answer",
    [
        ("Give me a JSON example", '{"answer": "Paris"}'),
        ("What is the capital of France?", '{"answer": "Paris", "reply": "Lyon"}'),
        ("What is the capital of France?", '{"answer": "Paris",}'),
        ("What is the capital of France?", '{"answer": ' + '{"a": ' * 5000 + "1" + "}" * 5001),
    ],
    ids=["asked-for-json", "two-answers", "broken", "deeply-nested"],
)
def test_a_json_object_asked_for_or_not_one_answer_is_sent_as_written(
    app, openai_server, question, answer
):
    openai_server.then(200, chat_completion(answer))
    assert pipeline.answer(make_task(sms_content=question).id) == "answered"
    [reply] = outbox()
    assert reply.kind == "reply" and reply.body.startswith('{"answer"') and errors() == []


def test_deeply_nested_json_ending_an_answer_is_read_as_its_words(app, openai_server):
    """Reading the end of an answer as a JSON call must not overflow Python's stack."""
    nested = "[" * 999 + "]" * 999
    openai_server.then(200, chat_completion("Nested lists:\n" + nested))
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.kind for m in outbox()] == ["reply"] and errors() == []


def test_a_tool_call_shown_in_an_answer_is_the_answers_own(app, openai_server):
    shown = '```\n<tool_call>\n{"name": "get_weather"}\n</tool_call>\n```\nThe JSON names it.'
    openai_server.then(200, chat_completion("Qwen writes:\n" + shown))
    assert pipeline.answer(make_task(sms_content="How does Qwen call tools?").id) == "answered"
    [reply] = outbox()
    assert reply.kind == "reply" and '"name": "get_weather"' in reply.body


@pytest.mark.parametrize(
    "call",
    [
        '<tool_call>\n{"name": "web_search", "arguments": {"q": "Paris"}}\n</tool_call>',
        # Llama 3.1's built-in tools, which it calls in Python
        '<|python_tag|>brave_search.call(query="Paris")',
    ],
    ids=["hermes-json", "llama-built-in"],
)
def test_a_call_left_in_the_text_to_a_tool_never_offered_is_never_sent(app, openai_server, call):
    openai_server.then(200, chat_completion("Let me look that up.\n" + call))
    assert pipeline.answer(make_task().id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris is the capital of France.")]


def test_request_human_called_in_the_text_before_the_answer_still_hands_over(app, openai_server):
    """Regression: Hermes-style models (Qwen, Hermes) may open with the call and write
    words after it; only a call after the last words was read, so the texter got the
    call's markup, and no person."""
    call = '<tool_call>\n{"name": "request_human", "arguments": {"reason": "refund"}}\n</tool_call>'
    openai_server.then(200, chat_completion(call + "\nI'll get someone to help."))
    assert pipeline.answer(make_task(sms_content="I want a refund").id) == "answered"
    assert [m.kind for m in outbox()] == ["handoff"]
    assert "tool_call" not in outbox()[0].body


def test_a_call_to_a_tool_never_offered_before_the_answer_is_never_sent(app, openai_server):
    call = '<tool_call>{"name": "web_search", "arguments": {"q": "capital"}}</tool_call>'
    openai_server.then(200, chat_completion(call + "\nParis is the capital."))
    assert pipeline.answer(make_task().id) == "answered"
    assert [(m.kind, m.body) for m in outbox()] == [("reply", "Paris is the capital of France.")]


def test_request_human_beside_an_unknown_tool_hands_over_at_once(app, openai_server):
    both = tool_call_completion("get_weather")
    both["choices"][0]["message"]["tool_calls"].append(
        {"id": "call_2", "type": "function", "function": {"name": "request_human"}}
    )
    openai_server.then(200, both)
    assert pipeline.answer(make_task().id) == "answered"
    assert [m.kind for m in outbox()] == ["handoff"]
    assert len(openai_server.requests) == 1


def test_an_answer_of_nothing_but_emoji_is_sent_as_they_are(app, openai_server):
    openai_server.then(200, chat_completion("👍😊"))
    task = make_task(sms_content="Thanks!")
    assert pipeline.answer(task.id) == "answered"
    assert [(m.kind, m.body, m.encoding) for m in outbox()] == [("reply", "👍😊", "UCS-2")]
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"error": "model 'llama3' not found, try pulling it first"},
        {"object": "error", "message": "model 'llama3' not found, try pulling it first"},
    ],
    ids=["error-as-words", "fastchat"],
)
def test_a_200_carrying_an_error_in_other_servers_shapes_is_logged_with_their_words(
    app, openai_server, body
):
    """Ollama's and LocalAI's error is its words alone, FastChat's an object "error" with a
    message: staff read "a chat completion without choices" instead of what was wrong."""
    openai_server.then(200, body)
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(make_task().id)
    assert "model 'llama3' not found, try pulling it first" in str(caught.value.cause)


def test_a_200_carrying_an_error_is_retried_and_logged_with_the_servers_words(app, openai_server):
    """OpenRouter answers 200 with an error body when the model fails after the request was
    accepted: staff read the server's reason, not that a completion had no choices."""
    openai_server.then(200, {"error": {"code": 502, "message": "Upstream model overloaded"}})
    task = make_task()
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(task.id)
    assert caught.value.cause.error_type == "openai_error"
    assert "Upstream model overloaded" in str(caught.value.cause)
    assert pipeline.answer(task.id) == "answered"


@pytest.mark.parametrize(
    "body",
    [
        {**chat_completion(""), "choices": []},
        {"error": {"code": 502, "message": "Upstream model overloaded"}},
    ],
    ids=["no-choices", "error"],
)
def test_a_200_without_an_answer_whose_tokens_were_billed_is_recorded_and_retried(
    app, openai_server, body
):
    """A provider that failed after the model ran (OpenRouter, a gateway) reports the tokens
    it billed beside no answer; the spend was recorded as nothing."""
    billed = {"prompt_tokens": 900, "completion_tokens": 500, "total_tokens": 1400}
    openai_server.then(200, {**body, "usage": billed})
    task = make_task()
    with pytest.raises(pipeline.TryAgain):
        pipeline.answer(task.id)
    assert fresh(task).status == "queued" and outbox() == []
    [call] = db.session.scalars(sa.select(ModelCall)).all()
    assert (call.prompt_tokens, call.completion_tokens) == (900, 500) and call.cost_usd > 0
    assert pipeline.answer(task.id) == "answered"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ModelCall)) == 2


def test_an_answer_of_invisible_joiners_alone_is_no_answer(app, openai_server):
    """What an emoji leaves when its pictures are gone (a zero-width joiner, a variation
    selector) was taken for an answer of nothing but emoji and sent: a blank SMS."""
    openai_server.then(200, chat_completion("\u200d\ufe0f"))
    task = make_task(sms_content="Thanks!")
    with pytest.raises(pipeline.TryAgain):
        pipeline.answer(task.id)
    assert outbox() == []


@pytest.mark.parametrize("name,body", NOT_COMPLETIONS, ids=[name for name, _ in NOT_COMPLETIONS])
def test_a_200_that_is_not_an_answer_is_retried_then_answered(app, openai_server, name, body):
    openai_server.then(200, body)
    task = make_task()
    with pytest.raises(pipeline.TryAgain) as caught:
        pipeline.answer(task.id)
    assert (caught.value.cause.error_type, caught.value.limit_key) == (
        "openai_error",
        "OPENAI_MAX_RETRIES",
    )
    assert fresh(task).status == "queued" and outbox() == []

    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital of France."]
    assert errors() == []


@pytest.mark.parametrize(
    "answer",
    [
        "Paris is the capital.\nUser: and Germany?\nAssistant: Berlin.",
        "Paris is the capital.\n\nHuman: Thanks!\n\nAI: You're welcome.",
        "Paris is the capital.\n\n### User:\nWhat about Spain?\n\n### Assistant:\nMadrid.",
        "Paris is the capital.\n**User:** And Italy?\n**Assistant:** Rome.",
        "Paris is the capital.\n\nQ: And Germany?\nA: Berlin.",
        "Paris is the capital.\n\n### Instruction:\nAnd Spain?\n\n### Response:\nMadrid.",
    ],
    ids=["plain", "human-ai", "headings", "bold", "q-and-a", "alpaca"],
)
def test_turns_a_model_invents_after_its_answer_are_never_sent(app, openai_server, answer):
    """Regression: a base or badly templated model goes on writing the conversation, the
    texter's next question and its answer too, in words rather than template tokens; the
    texter got both invented turns as the answer."""
    openai_server.then(200, chat_completion(answer))
    task = make_task(sms_content="What is the capital of France?")
    assert pipeline.answer(task.id) == "answered"
    assert [m.body for m in outbox()] == ["Paris is the capital."]


@pytest.mark.parametrize(
    "question,answer",
    [
        ("Write a short chatbot dialogue", "User: Hi\nAssistant: Hello! How can I help?"),
        ("How do chatbots work?", "They take turns, for example:\nUser: Hi\nAssistant: Hello!"),
        ("How do I log in?", "Use these.\nUser: admin\nPassword: the one you set"),
        (
            "Show me a sample conversation",
            "Sure.\nUser: Where is Paris?\nAssistant: In France.",
        ),
        ("Quiz me on capitals", "Here goes.\nQ: Capital of Peru?\nA: Lima."),
        ("Write a FAQ for my bakery", "Fresh daily.\nQ: Gluten free?\nA: Yes."),
    ],
    ids=["asked-for", "introduced", "no-reply-turn", "conversation-asked", "quiz", "faq"],
)
def test_turns_an_answer_shows_are_its_own(app, openai_server, question, answer):
    openai_server.then(200, chat_completion(answer))
    assert pipeline.answer(make_task(sms_content=question).id) == "answered"
    assert [m.body for m in outbox()] == [answer]
