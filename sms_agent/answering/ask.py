"""Asking the model about a task: classify it, build the prompt with the conversation so
far, call the LLM backend, and store the answer with what the call reported.

The model is offered one tool, request_human: when it calls it, the texter gets the
acknowledgement of a request for a person instead of an answer, and staff are asked. A call
to a tool it was not offered is answered with a tool error and the model asked once more
(tools.py).

When the model declines (its refusal, its provider's content filter, or a tool it still
wants after that second ask) the texter is told plainly that it cannot answer this, and the
task completes, counted like any answer: the model worked and was paid, and the texter
has their final reply. An apology ("please try again later") would invite them to send the
same question again, and giving the request back would make asking it again free."""

from __future__ import annotations

import dataclasses
import logging
import time

from .. import costs, handoff, notices, quota
from ..extensions import db
from ..media.read import ImagesRefused, ImageUnopened, MediaInput, leave_out_pictures
from ..models import HandoffSource, Task, User
from ..models.answered_once import store_once
from ..outbound import channels
from ..outbound.script import expected_encoding
from ..outbound.shape import to_sms_text, trim_to_sentence
from ..vendors.openai import Completion, LLMError, get_llm_backend
from . import classify, history, prompts, tools
from .echo import without_echo
from .failures import log_media_problem
from .invented import without_invented_turns
from .tools import REQUEST_HUMAN, TOOLS

__all__ = ["REQUEST_HUMAN", "TOOLS", "ask_model", "reply_kind"]

log = logging.getLogger("sms_agent.pipeline")

#: Where the task's metadata says why the model gave no answer of its own.
DECLINED = "declined"


def ask_model(task: Task, user: User, media: MediaInput | None = None) -> None:
    """Store the model's answer on `task` (the caller commits it with the first part).
    `media`: what the texter's pictures and voice notes gave (sms_agent/media/read.py)."""
    earlier = history.history_messages(user, task)
    question = media.question(task.sms_content) if media else task.sms_content
    quoting = history.with_quote(question, task)
    asked = history.with_unanswered(quoting, earlier.unanswered)
    found = classify.classify(question)
    category = task.category if task.category_given else found.category
    budget, encoding = quota.segment_budget(user.tier), expected_encoding(question)
    whatsapp = channels.is_whatsapp(user)
    prompt = prompts.system_prompt(category, budget, encoding, whatsapp=whatsapp)
    messages = [{"role": "system", "content": prompt}]
    messages += earlier.messages
    messages.append({"role": "user", "content": media.content(asked) if media else asked})
    backend = get_llm_backend()
    # The read transaction ends before the call, so the call holds no database connection:
    # a worker runs hundreds of calls of seconds each on a pool of a few (DB_POOL_SIZE).
    # It commits the job's claim (answering/claim.py); the task changes after the call.
    db.session.commit()
    began = time.monotonic()
    try:
        completion, messages = _complete_with_pictures(
            task, backend, messages, prompts.max_tokens(budget, encoding), media
        )
    finally:  # a failed task counts in its category too
        task.category, task.complexity_score = category, round(found.complexity, 3)
    text, declined = _answer_text(completion, user, question, prompt)
    task.ai_response = text
    store_once(task)  # unless another run, given the task meanwhile, stored one first
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
        **({"question": quoting} if media or quoting != question else {}),
    }
    if REQUEST_HUMAN in completion.tool_calls:
        task.metadata_ = {**task.metadata_, "handoff": HandoffSource.MODEL.value}
    elif declined:
        task.metadata_ = {**task.metadata_, DECLINED: declined}


def _complete_with_pictures(
    task: Task, backend, messages: list[dict], max_tokens: int, media: MediaInput | None
) -> tuple[Completion, list[dict]]:
    """_complete_fitting, and what to do when the model server refused the pictures. One
    it could not open (ImageUnopened), beside words or a voice note that said something,
    is left out as a picture that could not be fetched is: recorded unopened (the note
    `picture_note` names it before the answer; staff get the ErrorLog, committed before the
    words are asked alone, so that call too holds no connection). Else the text fails."""
    try:
        return _complete_fitting(task, backend, messages, max_tokens)
    except LLMError as exc:
        refused = _pictures_refused(exc) if media and media.images else None
        if refused is None:
            raise
        words = media.without_images().question(task.sms_content)
        if refused is not ImageUnopened or not words:
            raise refused(str(exc)) from exc
        problem = ImageUnopened(f"pictures left out, refused by the model server: {exc}")
        leave_out_pictures(task, str(problem))
        log_media_problem(task, problem)
        db.session.commit()
    log.warning("task %s: the model server refused its pictures; the words asked alone", task.id)
    alone = [*messages[:-1], {"role": "user", "content": _words_of(messages[-1])}]
    return _complete_fitting(task, backend, alone, max_tokens)


def _words_of(message: dict) -> str:
    """The text of a user message of text and image parts."""
    return "\n".join(part["text"] for part in message["content"] if part["type"] == "text")


def _pictures_refused(exc: LLMError) -> type[ImagesRefused] | None:
    """How the model server refused a request with pictures, if it did: this picture (a
    broken one, one too large for the model's context, a local model's small window, or
    for the proxy before it, nginx's 413), or pictures at all."""
    if exc.image_rejected or exc.context_too_long or exc.status == 413:
        return ImageUnopened  # the model reads pictures, just not this one
    if exc.status == 400 or exc.no_vision:
        return ImagesRefused
    return None


def reply_kind(task: Task) -> str:
    """The OutboundMessage kind of the task's answer: what staff filter the outbox by."""
    meta = task.metadata_ or {}
    return "handoff" if meta.get("handoff") else DECLINED if meta.get(DECLINED) else "reply"


def _complete_fitting(
    task: Task, backend, messages: list[dict], max_tokens: int
) -> tuple[Completion, list[dict]]:
    """The answer and the messages that got it. When the conversation so far does not fit
    the model's context window (a small local model, long texts), the question is asked
    again without it: refused every time, every question would get the apology until the
    earlier exchanges aged out of CONTEXT_HOURS."""
    try:
        return _complete(task, backend, messages, max_tokens), messages
    except LLMError as exc:
        if not exc.context_too_long or len(messages) <= 2:
            raise
    log.warning(
        "task %s: the conversation is longer than the model's context; asked alone", task.id
    )
    alone = [messages[0], messages[-1]]
    return _complete(task, backend, alone, max_tokens), alone


def _complete(task: Task, backend, messages: list[dict], max_tokens: int) -> Completion:
    """The model's answer, asked once more when it called only tools it was not offered
    (tools.py). Each call is paid for whatever its answer turns out to be, so each is
    recorded before it is judged."""
    completion = _paid_for(task, backend, messages, max_tokens)
    if not tools.calls_unknown_tool(completion):
        return completion
    followed = messages + tools.unknown_tool_replies(completion)
    answer = _paid_for(task, backend, followed, max_tokens)
    return dataclasses.replace(answer, tokens_used=completion.tokens_used + answer.tokens_used)


def _paid_for(task: Task, backend, messages: list[dict], max_tokens: int) -> Completion:
    """One call, recorded; so is a 200 without an answer whose tokens were billed."""
    try:
        completion = backend.complete(messages, max_tokens, tools=TOOLS)
    except LLMError as exc:
        if exc.billed is not None:
            costs.record_model_call(task, exc.billed)
        raise
    costs.record_model_call(task, completion)
    return completion


def _answer_text(
    completion: Completion, user: User, question: str, prompt: str
) -> tuple[str, str | None]:
    """(what the texter is sent, why the model declined or None): the model's answer, or
    the acknowledgement when it asked for a person (staff are asked in the same
    transaction), or, when it declined, its refusal or else the `declined` notice (the
    fragment a content filter cut short is never sent)."""
    if completion.failure:
        raise _broken_off(completion)
    if REQUEST_HUMAN in completion.tool_calls:
        handoff.request_human(user, HandoffSource.MODEL)
        return notices.compose("handoff", user, question), None
    declined = _why_declined(completion, question)
    if declined:
        refusal = _whole(completion.refusal, completion)
        if to_sms_text(refusal, question):
            return refusal, declined
        return notices.compose(DECLINED, user, question), declined
    said = without_invented_turns(without_echo(completion.text, question, prompt), question)
    text = _whole(said, completion)
    if not to_sms_text(text, question):
        raise _no_answer(completion)
    return text, None


def _whole(text: str, completion: Completion) -> str:
    """`text` (an answer or a refusal) trimmed to its last whole sentence when the model was
    stopped at its token limit mid-way."""
    return trim_to_sentence(text) if completion.finish_reason == "length" else text


def _broken_off(completion: Completion) -> LLMError:
    """The server stopped the answer with an error after it began (finish_reason "error"):
    the words so far are a fragment, not an answer, and the fault is the provider's, which
    passes like a 502's; so it is asked again."""
    return LLMError(
        f"AI error: the model server broke the answer off: {completion.failure}",
        error_type="openai_error",
        retryable=True,
        request_id=completion.request_id,
    )


def _no_answer(completion: Completion) -> LLMError:
    """An answer with nothing to send: mostly a server's passing fault, so it is asked
    again. But a model stopped at its token limit with nothing written, or inside thinking
    it never closed whatever finish reason the server gave, had spent every token thinking
    (a reasoning model, its thinking taken off at the border): asking again with the same
    limit would only pay for the same thinking, and keep the texter waiting through the
    retries for the same apology; so would one that closed its thinking and wrote nothing
    after it, ending there by itself."""
    if completion.finish_reason == "length" or completion.still_thinking:
        how = "it finished thinking" if completion.still_thinking else "writing an answer"
        return LLMError(
            f"the model reached its token limit before {how} (a reasoning model still "
            "thinking? OPENAI_REASONING_TOKENS gives it room, OPENAI_REASONING_EFFORT makes "
            "it think less)",
            error_type="openai_error",
            retryable=False,
        )
    if completion.thought_only:
        # The texter gets the apology now and their request back, where the job's retries
        # paid for the same thinking each time before the same apology.
        return LLMError(
            "the model finished thinking without writing an answer (a reasoning model that "
            "ended right after its thinking)",
            error_type="openai_error",
            retryable=False,
        )
    if completion.reasoning_field:
        # Asked again, the same words go to the same field (a parser's setting, or a model
        # ending after its thinking, as thought_only): the apology now, the request back.
        return LLMError(
            f"the model returned an empty answer, its words all in "
            f"{completion.reasoning_field} (a server's reasoning parser that found no "
            "</think> files the whole answer there: vLLM's, with thinking turned off, or a "
            "model that does not think; or a reasoning model that ended after its thinking)",
            error_type="openai_error",
            retryable=False,
        )
    return LLMError("the model returned an empty answer", error_type="openai_error", retryable=True)


def _why_declined(completion: Completion, question: str) -> str | None:
    """Its provider's filter stopped the answer, the model refused (an answer in its own
    right: asking again gets the same), or it still wanted a tool it does not have."""
    if completion.finish_reason == "content_filter":
        return "content_filter"
    if tools.calls_unknown_tool(completion):
        return "unknown_tool"
    if completion.refusal and not to_sms_text(completion.text, question):
        return "refusal"
    return None
