"""Text from outside made fit to store and to read: one rule for a texter's SMS and a
model's answer (sms_agent/clean_text.py)."""

from __future__ import annotations

import pytest

from sms_agent.clean_text import (
    from_escapes,
    name_problem,
    prose_problem,
    readable,
    seen_name,
    shown_as_escapes,
    storable,
)


@pytest.mark.parametrize(
    "received,stored",
    [
        ("what is a\x00b?", "what is a\ufffdb?"),
        ("half a pair \ud800 here", "half a pair \ufffd here"),
        ("tabs\tand\nlines\r\nand \x1b[31mcolour\x1b[0m stay", None),
    ],
)
def test_a_texters_words_are_stored_as_sent_but_for_what_no_database_holds(received, stored):
    assert storable(received) == (stored or received)


@pytest.mark.parametrize(
    "answer,read",
    [
        ("Hello\x00 world", "Hello world"),
        ("\x1b[31mRed\x1b[0m means stop.", "Red means stop."),
        ("\x1b]0;title\x07Bold \x1b[1;4mmove\x1b[m.", "Bold move."),
        ("Bad \ud800surrogate\udfff here.", "Bad surrogate here."),
        ("bell\x07, backspace\x08, DEL\x7f, C1\x9b gone", "bell, backspace, DEL, C1 gone"),
        ("Line one\r\nLine two\n\tindented", "Line one\nLine two\n\tindented"),
        # Every other line break is a newline too: an old Mac's lone CR, Unicode's line and
        # paragraph separators, NEL; they were dropped (or became a space), joining lines.
        ("One\rTwo\u2028Three\u2029Four\x85Five", "One\nTwo\nThree\nFour\nFive"),
        ("Plain words and emoji 👍 stay.", "Plain words and emoji 👍 stay."),
        ("答案是\u202e巴黎\u202c, \u2067عربي\u2069", "答案是巴黎, عربي"),
        ("می\u200cخواهم \u200fא\u200e1", "می\u200cخواهم \u200fא\u200e1"),
    ],
    ids=[
        "nul",
        "ansi",
        "osc",
        "surrogates",
        "controls",
        "newlines",
        "other line breaks",
        "emoji",
        "bidi",
        "marks",
    ],
)
def test_a_model_answer_keeps_only_what_a_reader_sees(answer, read):
    assert readable(answer) == read
    assert readable(answer).encode("utf-8")  # storable on both databases


@pytest.mark.parametrize(
    "name,hidden",
    [
        ("Ann\u202emoc.elgoog", "U+202E"),  # shown as "Ann google.com"
        ("\u2066Bob\u2069", "U+2066"),
        ("Ann\u200b", "U+200B"),
        ("Ann\u200eLee", "U+200E"),
        ("Ann\nLee", "U+000A"),
        ("Ann\u2028Lee", "U+2028"),
        ("Ann\U000e0041", "U+E0041"),  # a tag character, a hidden "A"
    ],
)
def test_a_name_with_a_character_nobody_sees_is_refused_naming_it(name, hidden):
    assert name_problem(name) == f"Only letters, digits, punctuation and spaces: this has {hidden}."


@pytest.mark.parametrize(
    "name",
    [
        "Ann Lee",
        "",
        "\u200b\t",
        "Mehr\u200cdad",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "山田\u3000太郎",
    ],
)
def test_a_name_keeps_the_joiners_and_spaces_of_its_script(name):
    """Persian writes ZWNJ inside a word, emoji families are joined by ZWJ, and a Japanese
    name is typed with an ideographic space. A blank name is no name, not an error."""
    assert name_problem(name) is None


def test_a_name_from_outside_loses_what_nobody_sees():
    assert seen_name("  \u202eAnn\u200b\n Lee\u2069 ") == "Ann Lee"
    assert seen_name("Mehr\u200cdad\x00\ud800") == "Mehr\u200cdad\ufffd"


@pytest.mark.parametrize(
    "prose, hidden",
    [
        ("Fixed by \u202egnitratser\u202c the worker", "U+202E"),
        ("Resolved \u2067\u05e9\u05dc\u05d5\u05dd\u2069", "U+2067"),
        ("Colour \x1b[31mred", "U+001B"),
        ("A form feed\x0c", "U+000C"),
    ],
)
def test_prose_with_a_direction_or_control_character_is_refused_naming_it(prose, hidden):
    """Regression: resolution notes or an answer holding U+202E showed the rest of their
    admin cell backwards ("restarting" read "gnitratser")."""
    assert prose_problem(prose) == (
        f"Only text, spaces, tabs and line breaks: this has {hidden}, a control character."
    )


@pytest.mark.parametrize(
    "prose",
    [
        "Restarted the worker.\r\nTwilio was down.\n\tSee the log.",
        "\u05e9\u05dc\u05d5\u05dd \u200fRLM\u200e and Mehr\u200cdad",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 soft\u00adhyphen",
        "",
    ],
)
def test_prose_keeps_its_line_breaks_tabs_and_the_marks_scripts_need(prose):
    assert prose_problem(prose) is None


@pytest.mark.parametrize(
    "text", ["Ann \u202emoc.elgoog", "line\r\nnext\ttab \x1b[31m", "x\u200dy", "\\u00e9 stays"]
)
def test_a_text_shown_as_escapes_reads_back_as_stored(text):
    """An admin box shows a stored text as shown_as_escapes writes it; sent back as shown,
    it is the stored text again (the joiners and a written-out "\\u00e9" stay as they are)."""
    assert from_escapes(shown_as_escapes(text)) == text


@pytest.mark.parametrize("mark", ["\u200e", "\u200f", "\u061c"])
def test_a_direction_mark_is_shown_as_its_escape_like_the_other_direction_controls(mark):
    """Regression: an override (U+202E) was shown as its escape, but a right-to-left mark
    (U+200F), a left-to-right one or the Arabic letter mark (U+061C) was written as sent:
    drawn as nothing, yet it turns the digits and punctuation around it ("100-200" read
    "200-100"), and staff could not see it was there. Shown as its escape, and the escape
    read back as the mark, as an override's is."""
    shown = shown_as_escapes(f"Ann{mark} 100-200")
    assert shown == f"Ann\\u{ord(mark):04x} 100-200"
    assert from_escapes(shown) == f"Ann{mark} 100-200"


@pytest.mark.parametrize("typed", ["\\u0000", "\\ud800", "\\u00e9"])
def test_an_escape_of_what_no_column_holds_or_of_a_visible_letter_stays_written_out(typed):
    assert from_escapes(typed) == typed
