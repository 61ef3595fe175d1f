"""The model's own turn in a chat completion's text, without its chat template's tokens.

A server whose chat template or stop tokens do not match the model (a GGUF model in LM
Studio, llama.cpp or Ollama with the wrong template, vLLM with skip_special_tokens off)
leaves the template's tokens in the text: a header before the answer, the token that ends
the model's turn (<|im_end|>, <|eot_id|>...) and often the turns it went on to imagine
after it ("<|im_start|>user ..."), which would all reach the texter as its answer. GLM's
vision models frame their final answer in <|begin_of_box|>...<|end_of_box|>, tokens a
server may pass through too: the answer is what they frame. A tokenizer that falls back to
bytes (SentencePiece's, in a GGUF whose vocabulary lost their text) writes them as tokens
("<0x0A>" for a line break): they are the characters they spell; so are the marks a
tokenizer writes for spaces and line breaks ("\u2581", "\u0120", "\u010a") in a text that
has none of its own.
"""

from __future__ import annotations

import re

#: The header of the model's turn: ChatML, Llama 3 and 4, Gemma, Phi-3, DeepSeek, Granite,
#: Command R and A (whose answer opens <|START_RESPONSE|>), Mistral's end of an instruction,
#: Phi-4's <|im_sep|> after the role, OpenChat's and Alpaca's headers in words;
#: after the text's own start token (<bos>, <|begin_of_text|>, Llama 2's and Mistral's <s>
#: before a space or an instruction, unlike HTML's <s>), which a server that does not skip
#: special tokens leaves too; or the instruction itself, a prompt echoed ("[INST] ... [/INST]").
_START = (
    r"<bos>|<s>(?=\s|\[INST\])|<\|begin_of_text\|>|<\|startoftext\|>"
    r"|<[|\uff5c]begin\u2581of\u2581sentence[|\uff5c]>"
)
_ASSISTANT = (
    r"<\|im_start\|>\s*assistant(?:\s*<\|im_sep\|>)?|<\|start_header_id\|>\s*assistant\s*<\|end_header_id\|>"
    r"|<\|header_start\|>\s*assistant\s*<\|header_end\|>"
    r"|<start_of_turn>\s*model|<\|assistant\|>|<\uff5cAssistant\uff5c>"
    r"|<\|start_of_role\|>\s*assistant\s*<\|end_of_role\|>"
    r"|(?:<\|START_OF_TURN_TOKEN\|>)?<\|CHATBOT_TOKEN\|>(?:\s*<\|START_RESPONSE\|>)?"
    r"|GPT4 Correct Assistant:|\#\#\#[ \t]*Response:"
    r"|<\|START_RESPONSE\|>|\[INST\][\s\S]*?\[/INST\]|\[/INST\]"
)
#: Llama 3's header once the server has skipped its special tokens (llamafile, llama.cpp and
#: other servers whose prompt lacks the generation header, so the model writes it): the role
#: alone on the answer's first line, "assistant\n\nParis.".
_BARE_ROLE = r"assistant[ \t]*\n(?=\s*\S)"
_HEADER = re.compile(rf"\A\s*(?:(?:{_START})\s*(?:{_ASSISTANT})?|{_ASSISTANT}|{_BARE_ROLE})\s*")
#: Where the model's turn ends: its end token, or the start of a turn it imagined. Llama 3
#: ends a tool-calling turn with <|eom_id|>, Llama 4 any turn with <|eot|>; Gemma's end of
#: text is <eos>, Mistral's </s> before an imagined [INST] or at the end; Command R and A
#: (<|END_RESPONSE|>) and OpenChat spell their own. Llama 3's reserved and padding tokens,
#: which a broken quantization or a mismatched tokenizer writes after the answer, and
#: Mistral's [/INST] at the end (the model closing the instruction it imagined), end it too.
_TURN_END = re.compile(
    r"<\|(?:im_end|im_start|eot_id|eom_id|eot|end_of_text|endoftext|start_header_id"
    r"|header_start|end|user|end_of_turn|reserved_special_token_\d+|finetune_right_pad_id)\|>"
    r"|<(?:end|start)_of_turn>|<eos>|(?:</s>\s*)?(?:<s>\s*)?\[INST\]|</s>\s*<s>(?=\s)"
    r"|<[|\uff5c]end\u2581of\u2581sentence[|\uff5c]>|<\|file_separator\|>|(?:<pad>\s*)+\Z"
    r"|<\|(?:END_OF_TURN_TOKEN|START_OF_TURN_TOKEN|END_RESPONSE)\|>|</s>\s*\Z|\[/INST\]\s*\Z"
)

#: GLM's frame around its final answer.
_BOX = re.compile(r"<\|(?:begin|end)_of_box\|>")


def answer_turn(content: str) -> str:
    """`content` without a turn header before it, and cut where the model's turn ended.
    gpt-oss's channels are left as they are: reasoning.py reads its final one."""
    if content.lstrip().startswith(("<|channel|>", "<|start|>")):
        return content
    if "<0x" in content:
        content = _BYTES.sub(_bytes_read, content)
    content = _HEADER.sub("", _BOX.sub("", content), count=1)
    end = _TURN_END.search(content)
    if end and end[0].rstrip() == "</s>" and "<s>" in content[: end.start()]:
        end = None  # HTML's strike-through closed at the end ("Was <s>$50</s>")
    content = content[: end.start()] if end else content
    return _with_spaces(_before_bare_turn(content))


#: Llama 3's imagined turn once the server skipped its tokens: the role run on to the
#: answer's last mark ("Paris.user\n\nAnd Spain?assistant\n\nMadrid."); it counts only
#: when the model's own role follows, run on to the question.
_BARE_USER = re.compile(r"(?<=[.!?\"')])user[ \t]*\n")
_BARE_ASSISTANT = re.compile(r"\Sassistant[ \t]*\n")


def _before_bare_turn(content: str) -> str:
    user = _BARE_USER.search(content)
    if user and _BARE_ASSISTANT.search(content, user.end()):
        return content[: user.start()]
    return content


#: A run of byte tokens, which spell one character or more in UTF-8 ("<0xE2><0x80><0x99>").
_BYTES = re.compile(r"(?:<0x[0-9A-Fa-f]{2}>)+")


def _bytes_read(run: re.Match) -> str:
    """The characters a run of byte tokens spells; as written when it spells none."""
    try:
        return bytes.fromhex(run[0].replace("<0x", "").replace(">", "")).decode()
    except UnicodeDecodeError:
        return run[0]


#: What SentencePiece's and byte-level BPE's vocabularies write for a space and a line
#: break; "\u2581" is also a block of a sparkline, "\u0120" a Maltese letter.
_SPACE_MARKS = {
    "\u2581": str.maketrans("\u2581", " "),
    "\u0120": str.maketrans("\u0120\u010a", " \n"),
}


def _with_spaces(content: str) -> str:
    """`content` with a tokenizer's space marks as spaces, when it has none of its own and
    two marks or more: a text of words, each with its mark."""
    if " " in content:
        return content
    for mark, spaces in _SPACE_MARKS.items():
        if content.count(mark) >= 2 or content.lstrip().startswith(mark):
            return content.translate(spaces)
    return content
