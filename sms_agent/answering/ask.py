"""Asking the model about a task: classify it, build the prompt with the conversation so
far, call the LLM backend, and store the answer with what the call reported.

The model is offered one tool, request_human: when it calls it, the texter gets the
acknowledgement of a request for a person instead of an answer, and staff are asked."""

from __future__ import annotations

import time

from .. import costs, handoff, notices, quota
from ..extensions import db
from ..media.read import ImagesRefused, MediaInput
from ..models import HandoffSource, Task, User
from ..outbound import channels
from ..outbound.script import expected_encoding
from ..outbound.shape import to_sms_text, trim_to_sentence
from ..vendors.openai import Completion, LLMError, get_llm_backend
from . import classify, history, prompts

#: The tool the model may call to hand the texter to staff (OpenAI function calling).
REQUEST_HUMAN = "request_human"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": REQUEST_HUMAN,
            "description": (
                "Hand this conversation to a human staff member. Call it when the texter asks "
                "for a person, or when you cannot help them (account, billing or order "
                "problems, complaints, anything needing a human decision)."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why a person is needed."}
                },
            },
        },
    }
]


def ask_model(task: Task, user: User, media: MediaInput | None = None) -> None:
    """Store the model's answer on `task` (the caller commits it with the first part).
    `media`: what the texter's pictures and voice notes gave (sms_agent/media/read.py)."""
    earlier = history.history_messages(user, task)
    question = media.question(task.sms_content) if media else task.sms_content
    found = classify.classify(question)
    budget, encoding = quota.segment_budget(user.tier), expected_encoding(question)
    whatsapp = channels.is_whatsapp(user)
    prompt = prompts.system_prompt(found.category, budget, encoding, whatsapp=whatsapp)
    messages = [{"role": "system", "content": prompt}]
    messages += earlier
    messages.append({"role": "user", "content": media.content(question) if media else question})
    backend = get_llm_backend()
    # The read transaction ends before the call, so the call holds no database connection:
    # a worker runs hundreds of calls of seconds each on a pool of a few (DB_POOL_SIZE).
    # Nothing is written yet (the task changes after the call), so this is a bare COMMIT.
    db.session.commit()
    began = time.monotonic()
    try:
        completion = backend.complete(messages, prompts.max_tokens(budget, encoding), tools=TOOLS)
    except LLMError as exc:
        if media and media.images and exc.status == 400:
            raise ImagesRefused(str(exc)) from exc
        raise
    finally:  # a failed task counts in its category too
        task.category, task.complexity_score = found.category, round(found.complexity, 3)
    # Paid for whatever the answer turns out to be: recorded before it is judged.
    costs.record_model_call(task, completion)
    text = _answer_text(completion, user, question)
    task.ai_response = text
    task.tokens_used = completion.tokens_used
    task.metadata_ = {
        **(task.metadata_ or {}),
        "backend": backend.name,
        "model": completion.model,
        "finish_reason": completion.finish_reason,
        "request_id": completion.request_id,
        "offline": completion.offline,
        "llm_seconds": round(time.monotonic() - began, 3),
        "context_turns": (len(messages) - 2) // 2,
        **({"question": question} if media else {}),
    }
    if REQUEST_HUMAN in completion.tool_calls:
        task.metadata_ = {**task.metadata_, "handoff": HandoffSource.MODEL.value}


def _answer_text(completion: Completion, user: User, question: str) -> str:
    """The model's answer, or the acknowledgement when it asked for a person (staff are
    asked in the same transaction)."""
    if REQUEST_HUMAN in completion.tool_calls:
        handoff.request_human(user, HandoffSource.MODEL)
        return notices.compose("handoff", user)
    text = completion.text
    if completion.finish_reason == "length":
        text = trim_to_sentence(text)
    if not to_sms_text(text, question):
        raise LLMError(
            "the model returned an empty answer", error_type="openai_error", retryable=True
        )
    return text
