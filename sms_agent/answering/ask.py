"""Asking the model about a task: classify it, build the prompt with the conversation so
far, call the LLM backend, and store the answer with what the call reported."""

from __future__ import annotations

import time

from .. import costs, quota
from ..models import Task, User
from ..outbound.shape import to_sms_text, trim_to_sentence
from ..vendors.openai import LLMError, get_llm_backend
from . import classify, history, prompts


def ask_model(task: Task, user: User) -> None:
    """Store the model's answer on `task` (the caller commits it with the first part)."""
    # Read the history before changing the task, so its query does not autoflush an UPDATE.
    earlier = history.history_messages(user, task)
    found = classify.classify(task.sms_content)
    task.category, task.complexity_score = found.category, round(found.complexity, 3)
    budget = quota.segment_budget(user.tier)
    messages = [{"role": "system", "content": prompts.system_prompt(task.category, budget)}]
    messages += earlier
    messages.append({"role": "user", "content": task.sms_content})
    backend = get_llm_backend()
    began = time.monotonic()
    completion = backend.complete(messages, prompts.max_tokens(budget))
    # Paid for whatever the answer turns out to be: recorded before it is judged.
    call = costs.record_model_call(task, completion)
    if call is not None:
        costs.refresh_task_cost(task, call)
    text = completion.text
    if completion.finish_reason == "length":
        text = trim_to_sentence(text)
    if not to_sms_text(text):
        raise LLMError(
            "the model returned an empty answer", error_type="openai_error", retryable=True
        )
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
    }
