"""Tool calls a server left at the end of an answer's text, taken out of it.

A server parses the model's tool calls out of its output (vLLM's and SGLang's tool parsers,
Ollama's templates), and when it cannot (arguments that are not valid JSON, a format it
does not expect) it returns the output as the answer's text: the texter would get
"<tool_call>{"name": "request_human", ...}" as their answer, and no person. The formats are
the models' own: Hermes and Qwen's JSON, Qwen3-Coder's <function=name>, GLM's name then
<arg_key>s, Mistral's [TOOL_CALLS] (a JSON list, or the name then [ARGS]), Llama 3.1's
<|python_tag|> (JSON, or a built-in tool's Python: brave_search.call(...)), DeepSeek's
<｜tool▁call▁begin｜> (the name after <｜tool▁sep｜> in V3, before it in V3.1), Kimi K2's
<|tool_call_begin|>functions.name:0, Granite's and Phi-4's <|tool_call|> JSON, Llama 3.2's
and 4's Python list ([name(arg="v")], keyword arguments only, at the very end), Gemma's
```tool_code block, and Llama 3.1 to 3.3's bare JSON ({"name": ..., "parameters": ...}, the
format Meta gives custom tools) on the answer's last lines, or the other format Meta gives
them, <function=name>{...}</function> (also as Groq quotes a call it could not parse, the
name's ">" left out); MiniMax-M2's <minimax:tool_call><invoke name="..."> and MiniMax-M1's
<tool_calls> JSON lines. gpt-oss,
on a server that passes its Harmony channels through as text, calls a tool in a
commentary channel addressed "to=functions.<name>".
"""

from __future__ import annotations

import json
import re

#: DeepSeek's tokens, spelled with full-width bars and a lower one-eighth block for spaces.
_DEEPSEEK = {
    word: f"<\uff5c{word.replace(' ', chr(0x2581))}\uff5c>"
    for word in (
        "tool calls begin",
        "tool call begin",
        "tool sep",
        "tool call end",
        "tool calls end",
    )
}
#: A call: from its opening tag to its closing one, or to the end (the token limit). A
#: call's words are in the one group that matched.
_CALL = re.compile(
    r"<tool_call>(.*?)(?:</tool_call>|\Z)"
    r"|\[TOOL_CALLS\](.*?)(?:</s>|\Z)"
    r"|<\|python_tag\|>(.*?)\Z"
    rf"|(?:{_DEEPSEEK['tool calls begin']}\s*)?{_DEEPSEEK['tool call begin']}(.*?)"
    rf"(?:{_DEEPSEEK['tool call end']}\s*(?:{_DEEPSEEK['tool calls end']})?|\Z)"
    r"|(?:<\|tool_calls_section_begin\|>\s*)?<\|tool_call_begin\|>(.*?)"
    r"(?:<\|tool_call_end\|>\s*(?:<\|tool_calls_section_end\|>)?|\Z)"
    r"|<\|tool_call\|>(.*?)(?:<\|/tool_call\|>|\Z)"
    r"|\[\s*([A-Za-z_][\w.]*\(\s*(?:\w+\s*=[^\]\n]*)?\)\s*)\]\s*\Z"
    r"|```tool_code\s*\n(.*?)(?:```|\Z)"
    r"|(<function=[\w.-]+.*?)(?:</function>|\Z)"
    r"|<minimax:tool_call>(.*?)(?:</minimax:tool_call>|\Z)"
    r"|<tool_calls>(.*?)(?:</tool_calls>|\Z)",
    re.DOTALL,
)
_NAME = re.compile(
    r"""\A\s*(?:\[?\s*\{\s*"name"\s*:\s*"([^"]+)"|<function=([\w.-]+)"""
    r"""|<invoke name="([\w.-]+)"|([\w.-]+)\s*(?:<arg_key>|\[ARGS\]|\Z)|([\w-]+)\.call\("""
    rf"|function\s*{_DEEPSEEK['tool sep']}\s*([\w.-]+)|([\w.-]+)\s*{_DEEPSEEK['tool sep']}"
    r"|(?:functions\.)?([\w-]+):\d+\s*(?:<\|tool_call_argument_begin\|>|\Z)|([\w.-]+)\s*\()"
)


#: The recipient of a Harmony message: a tool gpt-oss calls.
_RECIPIENT = re.compile(r"\bto=functions\.([\w.-]+)")


def harmony_calls(content: str) -> list[str]:
    """The names of the tools gpt-oss called in Harmony channels passed through as text."""
    if not content.lstrip().startswith(("<|channel|>", "<|start|>")):
        return []
    return _RECIPIENT.findall(content)


#: Where a bare JSON call may start: the answer's start, or a line's.
_JSON_START = re.compile(r"(?:\A|\n)[ \t]*(?=[\[{])")
#: The keys of a call in Llama's JSON (and Hermes's): a name and its arguments.
_CALL_KEYS = frozenset({"name", "parameters", "arguments", "type", "id"})
#: Longer than any call to request_human: a JSON document this long is the answer's.
_LONGEST_JSON_CALL = 2000


def _json_calls(content: str) -> tuple[str, list[str]]:
    """(`content` without the bare JSON calls on its last lines, their tools' names): what
    Llama 3.x writes for a custom tool, which reaches the text when the server has no tool
    parser for it. Only a whole JSON object (or list of them) with exactly a call's keys
    counts, so JSON an answer shows in prose or in code stays."""
    stripped = content.rstrip()
    for start in _JSON_START.finditer(stripped, max(len(stripped) - _LONGEST_JSON_CALL, 0)):
        try:
            called = json.loads(stripped[start.end() :])
        except (ValueError, RecursionError):  # not JSON, or nested past any call
            continue
        calls = called if isinstance(called, list) else [called]
        if calls and all(_is_call(call) for call in calls):
            return stripped[: start.start()], [call["name"] for call in calls]
        break
    return content, []


def _is_call(call) -> bool:
    return (
        isinstance(call, dict)
        and isinstance(call.get("name"), str)
        and call.keys() <= _CALL_KEYS
        and ("parameters" in call or "arguments" in call)
    )


def calls_in_text(content: str) -> tuple[str, list[str]]:
    """(`content` without the tool calls that end it, the names of the tools they call).
    Only calls after the last of the answer's words count: a call's markup further in is
    the answer's own (a code block showing how a model calls tools)."""
    end, calls = len(content.rstrip()), []
    for call in reversed(list(_CALL.finditer(content))):
        if content[call.end() : end].strip() or _PROSE.match(_words(call)):
            break
        calls.insert(0, call)
        end = call.start()
    names = [_name(_words(call)) for call in calls]
    if not calls:
        content, names = _json_calls(content)
    else:
        content = content[:end]
    content, first = _opening_calls(content)
    return content, [name for name in first + names if name]


#: A call's closing tag, which a call that opens the answer must have: one running to the
#: end is the whole text, read above.
_CLOSED = re.compile(r"(?:</tool_call>|<\|/tool_call\|>|</function>|</tool_calls>)\Z")


def _opening_calls(content: str) -> tuple[str, list[str]]:
    """(`content` without the closed calls it opens with, the names of their tools): Hermes
    and Qwen may call first and write words after. Only a call whose tool is named counts,
    and never a tag named in a sentence ("<tool_call> tags hold it")."""
    names = []
    while (call := _CALL.match(content.lstrip())) and _CLOSED.search(call[0]):
        name = _name(_words(call))
        if name is None or _PROSE.match(_words(call)):
            break
        names.append(name)
        content = content.lstrip()[call.end() :]
    return content, names


#: What follows a tag named in a sentence ("in <tool_call> tags."): a space, then words.
#: Models write a call's name or its JSON right after the tag, or on the next line.
_PROSE = re.compile(r"[ \t]+[A-Za-z]")


def _words(call: re.Match) -> str:
    return next(words for words in call.groups() if words is not None)


def _name(call: str) -> str | None:
    found = _NAME.search(call)
    return next(group for group in found.groups() if group) if found else None
