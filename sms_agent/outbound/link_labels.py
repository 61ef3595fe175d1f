"""markdown-it's search for a link's "]", made to cost each bracket once.

markdown-it looks for the "]" that closes a "[" by walking on to the end of the paragraph,
and begins that walk again from every "[" it passes: an answer of 50,000 "[" (or "![", or
a footnote's "[^") kept a worker shaping it for seconds. This search gives the same answer
as markdown-it's own (parseLinkLabel), but remembers where each "[" it walked past closed,
or that it never did, so that a later search from that "[", or over it, reads the answer
instead of walking again.
"""

from __future__ import annotations

from types import SimpleNamespace

from markdown_it import MarkdownIt, helpers
from markdown_it.rules_inline import StateInline

#: The search's answer for a "[" that no "]" closes.
_UNCLOSED = -1


def _known_ends(state: StateInline) -> dict[tuple[int, bool, int], int]:
    """Where each "[" searched in this paragraph closes, by (its position, whether a nested
    link ends the search, the end of the text searched)."""
    known = getattr(state, "_sms_label_ends", None)
    if known is None:
        known = state._sms_label_ends = {}
    return known


def parse_link_label(state: StateInline, start: int, disableNested: bool = False) -> int:  # noqa: N803 (markdown-it's name)
    """The position of the "]" that closes the "[" at `start`, or -1: parseLinkLabel's
    answer. A "[" the walk passes as text is nested one level deeper, and closes where the
    level it opened ends; one closed before is stepped over, one that never closes (or
    meets a nested link, with `disableNested`) means this one never closes either."""
    known = _known_ends(state)
    limit = state.posMax
    if (start, disableNested, limit) in known:
        return known[(start, disableNested, limit)]
    old_pos, state.pos = state.pos, start + 1
    opened = [start]  # the "[" not yet closed, innermost last
    while state.pos < limit and opened:
        if state.src[state.pos] == "]":
            known[(opened.pop(), disableNested, limit)] = state.pos
            if not opened:
                break
        before = state.pos
        state.md.inline.skipToken(state)
        if state.src[before] != "[":
            continue
        if before != state.pos - 1:  # the "[" of a link, skipped whole
            if disableNested:
                break
            continue
        closes = known.get((before, disableNested, limit))
        if closes == _UNCLOSED:
            break
        opened.append(before)
        if closes is not None:
            state.pos = closes  # the "]" that closes it, read again next
    for unclosed in opened:
        known[(unclosed, disableNested, limit)] = _UNCLOSED
    end = known[(start, disableNested, limit)]
    state.pos = old_pos
    return end


def with_linear_labels(parser: MarkdownIt) -> MarkdownIt:
    """`parser`, its link and image rules finding labels with parse_link_label."""
    parser.helpers = SimpleNamespace(**{**vars(helpers), "parseLinkLabel": parse_link_label})
    return parser
