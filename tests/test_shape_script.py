"""Encoding follows the language: emoji become words or go, symbols are spelled in GSM-7, and
a reply is UCS-2 only when the script of its language needs it."""

import unicodedata

import pytest

from sms_agent.outbound.gsm import GSM_7, UCS_2, encoding_of, segment_count
from sms_agent.outbound.script import expected_encoding, language_of
from sms_agent.outbound.shape import shape, to_sms_text

LONG_ENGLISH = (
    "DNS turns a name like example.com into the address of a server. Your phone asks a "
    "resolver, usually run by your provider; the resolver asks the root servers, then the "
    "servers for .com, then the ones for example.com, and caches the answer for as long as "
    "its time to live says. That is why a change can take hours to reach everyone. Flush "
    "your own cache to see a change sooner, or wait for the old entry to expire. "
)


def test_one_emoji_no_longer_turns_a_whole_reply_into_ucs2():
    """Regression: a single emoji made a 450-character answer UCS-2 (168 characters in three
    segments); now the emoji goes and the whole answer fits three GSM-7 segments."""
    answer = "Great question! \U0001f44d " + LONG_ENGLISH
    shaped = shape(answer, 3, question="What is DNS?")
    assert len(answer) > 400
    assert shaped.encoding == GSM_7 and shaped.reason is None
    assert shaped.rest == "" and shaped.parts == ["Great question! " + LONG_ENGLISH.strip()]
    assert segment_count(shaped.parts[0]) == 3


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("\u2705 Fast\n\u274c Slow", "Yes: Fast\nNo: Slow"),
        (
            "- \u2705 Uses HTTPS\n- \u274c Stores passwords",
            "- Yes: Uses HTTPS\n- No: Stores passwords",
        ),
        ("\u26a0\ufe0f Back up first.", "Warning: Back up first."),
        ("\U0001f4a1 Tip: restart it.", "Tip: restart it."),
        ("\u2139\ufe0f It runs daily.", "Note: It runs daily."),
        ("1\ufe0f\u20e3 Open it\n2\ufe0f\u20e3 Save", "1. Open it\n2. Save"),
        ("Click Save \u27a1\ufe0f Close", "Click Save -> Close"),
        ("Done \u2705", "Done (yes)"),
        ("Great job \U0001f44d!", "Great job!"),
        ("\U0001f389\U0001f389 Congrats \U0001f389", "Congrats"),
        ("ok \U0001f44d\U0001f3fd fine", "ok fine"),  # skin tone
        ("Family \U0001f468\u200d\U0001f469\u200d\U0001f467 time", "Family time"),  # ZWJ
        ("Flag \U0001f1eb\U0001f1f7 here", "Flag here"),
        ("\u2713 tested \u2717 shipped", "Yes: tested (no) shipped"),
        # A rating's stars went, and the rating with them: "Rated by users".
        ("Rated \u2605\u2605\u2605\u2606\u2606 by users", "Rated 3/5 stars by users"),
        (
            "Taste: \u2b50\u2b50\u2b50\u2b50\ufe0f\nPrice: \u2b50\u2b50",
            "Taste: 4 stars\nPrice: 2 stars",
        ),
        ("\u2b50 Top pick", "Top pick"),
        # A keycap is a list's number only at a line's start: "Step 1.: open" was sent.
        ("Step 1\ufe0f\u20e3: open, then 2\ufe0f\u20e3", "Step 1: open, then 2"),
        ("#\ufe0f\u20e3 Tags", "# Tags"),
        # A button's word is what it says: "Use 🅰️ or 🅱️" was sent as "Use or".
        ("Use \U0001f170\ufe0f or \U0001f171\ufe0f blood", "Use A or B blood"),
        ("\U0001f197 Saved", "OK Saved"),
        ("Text \U0001f198 now", "Text SOS now"),
        # An answer of one such emoji is its word: "✅" alone was sent as "(yes)".
        ("\u2705", "Yes"),
        ("\u274c\n", "No"),
    ],
)
def test_emoji_become_plain_words_or_go_without_double_spaces(answer, expected):
    assert to_sms_text(answer) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("A na\u00efve approach", "A naive approach"),
        ("Visit \u0141\u00f3d\u017a", "Visit Lodz"),
        # A Greek letter's name ran into the letters beside it: "Area = pir^2".
        ("Area = \u03c0r\u00b2", "Area = pi r^2"),
        # A root ran into what it covers: "sqrt2 ~ 1.414", "sqrt16 = 4".
        (
            "\u221a2 \u2248 1.414, \u221a16 = 4, \u221a(x+1), \u221bx and \u221a",
            "sqrt(2) ~ 1.414, sqrt(16) = 4, sqrt(x+1), cbrt(x) and sqrt",
        ),
        ("C = 2\u03c0r, \u03b1x = 1, f(\u03b8)", "C = 2 pi r, alpha x = 1, f(theta)"),
        # Every superscript power, a run of them under one caret: "2⁸" was sent as "28".
        ("2\u2078 = 256, 10\u2076 bytes", "2^8 = 256, 10^6 bytes"),
        ("10\u00b9\u00b2 and 10\u207b\u00b3 and x\u207f", "10^12 and 10^-3 and x^n"),
        # A raised ordinal suffix is no power: "2ⁿᵈ" was sent as "2^nd".
        (
            "1\u02e2\u1d57, 2\u207f\u1d48, 3\u02b3\u1d48, 4\u1d57\u02b0; 2\u207f",
            "1st, 2nd, 3rd, 4th; 2^n",
        ),
        # A whole number and a fraction: "1½" was sent as "11/2".
        ("Add 1\u00bd cups, 2\u00be tsp and \u2153 cup", "Add 1 1/2 cups, 2 3/4 tsp and 1/3 cup"),
        ("\u03b1 is 0.05 and \u03c3 is 2", "alpha is 0.05 and sigma is 2"),
        ("It takes 5 \u00b5s", "It takes 5 us"),
        ("It's 25\u00b0C, a 45\u00b0 angle", "It's 25 C, a 45 degrees angle"),
        # A space before the degree sign was kept beside the one before the unit: "-5  F".
        ("It's -5 \u00b0F, or -20.6 \u00b0C.", "It's -5 F, or -20.6 C."),
        ("Tilt it 45 \u00b0 left", "Tilt it 45 degrees left"),
        # A degree sign before a letter ran into it ("45 degreesN", "25 degreesc"); the
        # masculine ordinal that Spanish keyboards type for it became "25 oC"; "77℉" lost
        # the space every other temperature gets.
        ("Paris is at 48.9\u00b0N 2.3\u00b0E", "Paris is at 48.9 degrees N 2.3 degrees E"),
        ("Keep it at 4 \u00b0c, or 25\u00b0Celsius", "Keep it at 4 C, or 25 degrees Celsius"),
        ("Hace 25 \u00baC y 77\u00baF en Madrid", "Hace 25 C y 77 F en Madrid"),
        ("It is 77\u2109, 25\u2103 and 30 \u00b0 C", "It is 77 F, 25 C and 30 C"),
        ("Vive en el 1\u00ba piso", "Vive en el 1o piso"),
        ("Brand\u2122, \u00a9 2024, \u2248 3", "BrandTM, (c) 2024, ~ 3"),
        ("\u00bfQu\u00e9? \u00a1S\u00ed! \u20ac5", "\u00bfQu\u00e9? \u00a1Si! \u20ac5"),
        ("\u201eQuoted\u201c \u00abtext\u00bb \u2039x\u203a", '"Quoted" "text" <x>'),
        # French quotes have spaces inside, which stayed inside the straight quotes too:
        # 'Il a dit " Bonjour "'. German ones point inward and have none.
        (
            "Il a dit \u00ab Bonjour \u00bb et \u00ab\u202fmerci\u00a0\u00bb.",
            'Il a dit "Bonjour" et "merci".',
        ),
        ("Er sagte \u00bbHallo\u00ab und ging.", 'Er sagte "Hallo" und ging.'),
        ("Sum \u2211 x \u00b1 1, \u221e", "Sum sum x +- 1, inf"),
        # Logic and set symbols were spelled as letters that say something else: "x E A"
        # for both "x ∈ A" and "x ∉ A", "P > Q" for "P ⟹ Q", "P - Q" for "P ⇔ Q".
        ("x \u2208 A, y \u2209 B", "x in A, y not in B"),
        ("\u2200x \u2203y: y>x", "for all x exists y: y>x"),
        ("A \u2229 B = \u2205, A\u222aB", "A intersect B = empty set, A union B"),
        ("P \u27f9 Q, P \u21d4 Q, R \u27f8 S", "P => Q, P <=> Q, R <= S"),
        ("1, 2, \u22ef, n \u27f6 \u221e", "1, 2, ..., n -> inf"),
        ("p \u2227 q, p \u2228 q", "p and q, p or q"),  # were "p ^ q", "p v q"
        ("\u222b x dx, \u210f/2", "integral x dx, hbar/2"),  # were "S x dx", "h/2"
        ("Salinity is 35\u2030", "Salinity is 35 per mille"),  # was "35%0"
        ("a\u200db", "ab"),
        # Pictographs spelled by the letter of their name: "Hope it helps H", "K wins".
        ("Hope it helps \u2661 Good luck!", "Hope it helps Good luck!"),
        ("\u2654 beats \u265f; \u24d0 and \u24c7 stay", "beats; a and R stay"),
        # Mac keyboard shortcuts: "⌘C" was sent as "#C", "⇧⌘P" as "^#P", "⌥" as "*".
        (
            "Copy with \u2318C, open with \u21e7\u2318P, or \u2325 + \u232b.",
            "Copy with Cmd+C, open with Shift+Cmd+P, or Option + Backspace.",
        ),
        ("Press \u2303\u238b, then \u21e5 and \u23ce", "Press Ctrl+Esc, then Tab and Enter"),
        # Symbols anyascii spells as other signs: "A < B", "D f", "#" for a box or a note.
        (
            "A \u2282 B, C \u2286 D, \u2207f, \u2220ABC",
            "A subset of B, C subset of D, nabla f, angle ABC",
        ),
        ("a \u22a5 b \u2234 c, \u2610 milk \u266a", "a perpendicular to b therefore c, - milk"),
    ],
)
def test_symbols_and_stray_letters_never_make_a_latin_reply_ucs2(answer, expected):
    clean = to_sms_text(answer, question="A question in English?")
    assert clean == expected
    assert encoding_of(clean) == GSM_7


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("5 \u00b5g", "5 mcg"),  # the micro sign
        ("5 \u03bcg", "5 mcg"),  # a Greek mu as the prefix, as models often write it
        ("Take 250\u03bcg daily.", "Take 250mcg daily."),
        ("10 \u00b5m", "10 um"),
        ("3 \u03bcs", "3 us"),
        ("x\u207f", "x^n"),
        ("2\u2071", "2^i"),
        ("The mean \u03bc is 0.", "The mean mu is 0."),  # no prefix: its name
        # A lone Greek letter is a symbol, not Greek: "μ = 0" went out in UCS-2 as written.
        ("\u03bc = 0", "mu = 0"),
        ("\u00b5 = 0", "mu = 0"),  # the micro sign as the mean, not "u = 0"
        ("\u03bc = 0, \u03c3 = 1", "mu = 0, sigma = 1"),
        ("\u03c0", "pi"),
        ("\u03bb", "lambda"),
    ],
)
def test_a_short_answer_with_a_unit_or_power_sign_stays_gsm7(answer, expected):
    """Regression: "5 µg" or "xⁿ" alone went out in UCS-2 as written, the micro sign or the
    raised n counted as a letter of another script than Latin."""
    shaped = shape(answer, 1, question="How much?")
    assert shaped.parts == [expected]
    assert shaped.encoding == GSM_7 and shaped.reason is None


@pytest.mark.parametrize(
    ("question", "answer", "script"),
    [
        ("\u4ec0\u4e48\u662fDNS\uff1f", "DNS\u662f\u57df\u540d\u7cfb\u7edf\u3002", "Chinese"),
        (
            "DNS\u3068\u306f\uff1f",
            "DNS\u306f\u540d\u524d\u3092\u5909\u63db\u3057\u307e\u3059\u3002",
            "Japanese",
        ),
        (
            "\u03a4\u03b9 \u03b5\u03af\u03bd\u03b1\u03b9;",
            "Είναι ένα σύστημα.",
            "Greek",
        ),
        # Asked in Greek, a lone letter is Greek too: nothing to spell in Latin letters.
        (
            "Τι είναι η μέση τιμή;",
            "\u03bc = 0",
            "Greek",
        ),
        (
            "What is the mean, in Greek?",
            "Η μέση τιμή είναι μ = 0.",
            "Greek",
        ),
        (
            "\u0427\u0442\u043e \u044d\u0442\u043e?",
            "\u042d\u0442\u043e \u0441\u0438\u0441\u0442\u0435\u043c\u0430.",
            "Cyrillic",
        ),
        (
            "\u0645\u0627 \u0647\u0630\u0627\u061f",
            "\u0647\u0630\u0627 \u0646\u0638\u0627\u0645.",
            "Arabic",
        ),
        (
            "\u092f\u0939 \u0915\u094d\u092f\u093e \u0939\u0948?",
            "यह एक प्रणाली है।",
            "Devanagari",
        ),
        (
            "How do I say hello in Japanese?",
            "Say \u3053\u3093\u306b\u3061\u306f (konnichiwa).",
            "Japanese",
        ),
    ],
)
def test_a_reply_is_ucs2_when_its_language_needs_it(question, answer, script):
    shaped = shape(answer + " \U0001f600", 3, question=question)
    assert shaped.encoding == UCS_2 and shaped.reason == script
    assert "\U0001f600" not in shaped.parts[0]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        (
            "Translate to Russian: I love you",
            "\u042f \u0442\u0435\u0431\u044f \u043b\u044e\u0431\u043b\u044e (ya tebya lyublyu).",
        ),
        ("How do you say 'the cat' in Greek?", "It's \u03b7 \u03b3\u03ac\u03c4\u03b1 (i gata)."),
    ],
)
def test_a_one_letter_word_in_a_quoted_phrase_stays_in_its_script(question, answer):
    """A word of one letter was taken for a symbol and spelled in Latin: the texter read
    "Ya тебя люблю" and "eta γάτα"."""
    assert to_sms_text(answer, question) == answer


def test_latin_letters_gsm7_lacks_lose_their_accent_even_when_the_texter_typed_them():
    shaped = shape(
        "\u00bfC\u00f3mo est\u00e1s? Dobrze, dzi\u0119kuj\u0119.", 3, question="Jak si\u0119 masz?"
    )
    assert shaped.parts == ["\u00bfComo estas? Dobrze, dziekuje."]
    assert shaped.encoding == GSM_7


def test_the_questions_script_decides_the_encoding_asked_for():
    assert expected_encoding("What is DNS?") == GSM_7
    assert expected_encoding("Caf\u00e9 na\u00efve \U0001f600 \u2122?") == GSM_7
    assert expected_encoding("\u4ec0\u4e48\u662fDNS\uff1f") == UCS_2
    assert expected_encoding("\u0427\u0442\u043e \u0442\u0430\u043a\u043e\u0435 DNS?") == UCS_2
    assert language_of("What does \u4f60\u597d mean?") == "Latin"


@pytest.mark.parametrize("segments", [1, 2, 3])
@pytest.mark.parametrize(
    "answer",
    [
        "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a" * 60,
        "\u0928\u092e\u0938\u094d\u0924\u0947" * 100,
    ],
    ids=["thai", "hindi-one-long-word"],
)
def test_a_cut_comes_between_letters_never_before_a_vowel_mark(answer, segments):
    """Regression: Thai is written without spaces, so a cut may come after any letter; it came
    after a consonant whose vowel mark follows, so MORE began with the mark alone and the
    message before showed the consonant without it (a word too long for the budget too)."""
    shaped = shape(answer, segments, question=answer[:6], more=True)
    assert shaped.rest and shaped.sent + shaped.rest == answer
    assert not unicodedata.category(shaped.rest[0]).startswith("M")
    assert not unicodedata.combining(shaped.sent[-1])  # nor after a virama (a conjunct)


def test_an_ascii_or_gsm_7_text_is_not_read_letter_by_letter_for_its_script(monkeypatch):
    """A question or answer in ASCII has only Latin letters, and an answer all of whose
    characters GSM-7 has is sent as it is: neither is walked through a character at a time
    (the script of each letter, its neighbours), which cost a job about 1% of its work."""
    from sms_agent.outbound import script

    looked_up = []
    monkeypatch.setattr(script, "script_of", lambda char: looked_up.append(char))
    assert language_of("What is 60 squared?", "It is 3600.") == "Latin"
    assert expected_encoding("Is it 5 km?") == GSM_7
    assert script.to_latin_reply("Très bien: 5 € {ok}") == "Très bien: 5 € {ok}"
    assert looked_up == []
