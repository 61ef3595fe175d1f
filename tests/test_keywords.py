"""Keywords: only a whole message in any case, spacing or trailing punctuation is a keyword."""

import pytest

from sms_agent.inbound import keywords
from sms_agent.inbound.keywords import WORDS, Keyword, parse


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP", Keyword.STOP),
        ("stop", Keyword.STOP),
        ("Stop", Keyword.STOP),
        ("  stop  ", Keyword.STOP),
        ("\nSTOP\n", Keyword.STOP),
        ("stop!", Keyword.STOP),
        ("Stop.", Keyword.STOP),
        ("STOPALL", Keyword.STOP),
        ("stop all", Keyword.STOP),
        ("S T O P", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("cancel", Keyword.STOP),
        ("END", Keyword.STOP),
        ("quit", Keyword.STOP),
        ("REVOKE", Keyword.STOP),
        ("optout", Keyword.STOP),
        ("Opt out", Keyword.STOP),
        ("Opt-out", Keyword.STOP),
        ("OPT-OUT.", Keyword.STOP),
        # Regression: an "opt-out" whose hyphen a keyboard wrote as a dash went to the model.
        ("Opt\u2013out", Keyword.STOP),  # en dash
        ("OPT\u2014OUT", Keyword.STOP),  # em dash
        ("opt\u2011out", Keyword.STOP),  # non-breaking hyphen
        ("opt\u2212out", Keyword.STOP),  # minus sign
        ("\u201cStop\u201d", Keyword.STOP),
        ("\uff33\uff34\uff2f\uff30", Keyword.STOP),  # full-width letters
        ("stop\u200b", Keyword.STOP),
        # Invisible characters anywhere: direction marks an Arabic or Hebrew keyboard adds,
        # overrides and isolates, a zero-width space or soft hyphen pasted inside the word.
        ("\u200fSTOP", Keyword.STOP),
        ("\u200eStop\u200e", Keyword.STOP),
        ("\u061cSTOP", Keyword.STOP),
        ("\u202eSTOP\u202c", Keyword.STOP),
        ("\u2068STOP\u2069", Keyword.STOP),
        ("ST\u200bOP", Keyword.STOP),
        ("S\u00adTOP", Keyword.STOP),
        ("\u200fHELP", Keyword.HELP),
        # Punctuation around the word, of any script.
        ("stop\u3002", Keyword.STOP),  # a Chinese or Japanese keyboard's full stop
        ("\u00abSTOP\u00bb", Keyword.STOP),
        ("(stop)", Keyword.STOP),
        ("\u00bfhelp?", Keyword.HELP),
        ("START", Keyword.START),
        ("yes", Keyword.START),
        ("Yes!", Keyword.START),
        ("unstop", Keyword.START),
        ("HELP", Keyword.HELP),
        ("help?", Keyword.HELP),
        ("Info", Keyword.HELP),
        ("RESET", Keyword.RESET),
        ("new chat", Keyword.RESET),
        ("New topic", Keyword.RESET),
        ("new", None),
        ("USAGE", Keyword.USAGE),
        (" usage \t", Keyword.USAGE),
        ("MORE", Keyword.MORE),
        ("More.", Keyword.MORE),
        # Emoji around the word (regression: "STOP 🛑" went to the model)
        ("STOP 🛑", Keyword.STOP),
        ("🛑 stop", Keyword.STOP),
        ("Stop 😡😡", Keyword.STOP),
        ("STOP ✋🏽", Keyword.STOP),
        ("stop ❤️", Keyword.STOP),
        ("HELP 🙏", Keyword.HELP),
        ("yes 👍", Keyword.START),
    ],
)
def test_keyword_messages_are_recognised(body, expected):
    assert parse(body) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("\u0405\u0422\u041e\u0420", Keyword.STOP),  # "ЅТОР": every letter Cyrillic
        ("S\u0422OP", Keyword.STOP),  # "SТOP": a Cyrillic Т
        ("St\u043e\u0440", Keyword.STOP),  # "Stор": Cyrillic о and р
        ("\u0405\u0442\u043e\u0440.", Keyword.STOP),  # "Ѕтор.": a small-capital т
        (
            "\u03a4\u0395\u03a1\u039c\u0399\u039d\u0391\u03a4\u0395",
            None,
        ),  # folds to "TEPMINATE": no keyword
        ("\u0421\u0410NCEL", Keyword.STOP),  # "САNCEL"
        ("\u039fPT \u039fU\u03a4", Keyword.STOP),  # "ΟPT ΟUΤ": Greek Ο and Τ
        ("\u041d\u0415LP", Keyword.HELP),  # "НЕLP": Cyrillic Н and Е
        ("\u0397\u0395\u039b\u03a1", None),  # "ΗΕΛΡ": a Greek Λ is no L
        ("\u0397\u0395L\u03a1", Keyword.HELP),  # "ΗΕLΡ": Greek Η, Ε and Ρ
        ("\u0405\u0422\u0410RT", Keyword.START),
        ("\u0443\u0435\u0455", Keyword.START),  # "уеѕ" from an opted-out texter
    ],
)
def test_keywords_written_with_cyrillic_or_greek_look_alikes_are_recognised(body, expected):
    """Regression: "ЅТОР" or "SТOP" with a Cyrillic Т went to the model as a question, and
    the texter who wrote it kept getting texts a STOP must end."""
    assert parse(body) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("\ua731\u1d1b\u1d0f\u1d18", Keyword.STOP),  # "ꜱᴛᴏᴘ": a small-caps text generator's
        ("s\u1d1b\u1d0fp", Keyword.STOP),
        ("\u029c\u1d07\u029f\u1d18", Keyword.HELP),  # "ʜᴇʟᴘ"
        ("\U0001f182\U0001f183\U0001f17e\U0001f17f", Keyword.STOP),  # "🆂🆃🅾🅿"
        ("\U0001f162\U0001f163\U0001f15e\U0001f15f", Keyword.STOP),  # "🅢🅣🅞🅟"
        ("\U0001f182\U0001f183\U0001f17e\ufe0f\U0001f17f\ufe0f", Keyword.STOP),  # emoji style
        ("\U0001f17e\U0001f17f", None),  # "🅾🅿": no keyword
    ],
)
def test_keywords_in_small_capitals_or_boxed_letters_are_recognised(body, expected):
    """Regression: a STOP from a "fancy text" generator (ꜱᴛᴏᴘ, 🆂🆃🅾🅿) went to the model;
    the boxed letters were even dropped as emoji around a word, leaving nothing."""
    assert parse(body) is expected


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        None,
        "stop sending me jokes",
        "how do I stop a thread in Java?",
        "yes but why",
        "new idea: a todo app",
        "helpful",
        "stoppage",  # "stopp" is German STOPP: an opt-out
        "help me write a poem",
        "more about DNS please",
        "🛑",
        "👍",
        "usage of malloc?",
        "How do I unsubscribe from Netflix?",
        "stop, I meant Berlin",
        "remove me from the photo",
        "how do I remove a stain",
        "take me off autopilot",
        "delete my number from my contacts",
        "remove my number from Google",
    ],
)
def test_other_messages_are_not_keywords(body):
    assert parse(body) is None


@pytest.mark.parametrize(
    "body",
    [
        "please stop",
        "Stop please",
        "STOP STOP",
        "stop stop stop",
        "STOP-ALL",
        "stop 🛑 please",
        "Stop, thanks",
        "STOP NOW",
        "Please stop texting me!",
        "stop messaging me",
        "Stop sending me messages",
        "Don't text me anymore",
        "Do not contact me",
        "unsubscribe me",
        "Unsubscribe me please",
        "Remove me",
        "Take me off your list",
        "Opt me out",
        "no more texts",
        "pls stop",
        # Regression: these went to the model and the texter stayed subscribed.
        "Stop texting",
        "stop messaging",
        "Stop messages",
        "stop the texts",
        "Stop sending texts",
        "Quit texting me",
        "Please remove me from this list",
        "cancel my subscription",
        "Stop all messages",
        "stop sending me all these texts",
        # Regression: these too.
        "Don't text me again",
        "Do not message me ever again",
        "Never text me again!",
        "Please never contact me again",
        "Stop texting me again",
        "Leave me alone",
        "Stop sending",
        "stop sending me",
        # Regression: so did "stop it", the plainest of them.
        "Stop it",
        "STOP IT!",
        "stop it please",
        "Stop this",
        # Regression: and "unsubscribe" misspelt as it is typed in a hurry.
        "unsuscribe",
        "Unsubcribe",
        "UNSUBSCIBE ME",
        "unsubsribe please",
        # Regression: carriers' and texters' usual phrasings went to the model.
        "take me off",
        "Take me off please",
        "Take me off this list",
        "take me off ur list",
        "delete my number",
        "Please delete my number from your list",
        "remove my number",
        "Take my number off your list",
        "remove me pls",
    ],
)
def test_plain_requests_to_stop_in_a_few_more_words_opt_out(body):
    """Regression: "please stop texting me", "unsubscribe me" or "STOP STOP" went to the
    model as questions and the texter stayed subscribed, though the FCC's 2025 consent rule
    has an opt-out made by any reasonable means obeyed."""
    assert parse(body, opted_out=False) is Keyword.STOP


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("AGENT please", Keyword.AGENT),
        ("Human, please!", Keyword.AGENT),
        ("talk to a person please", Keyword.AGENT),
        ("Help please", Keyword.HELP),
        ("pls help", Keyword.HELP),
        ("Usage please?", Keyword.USAGE),
        ("Reset pls", Keyword.RESET),
    ],
)
def test_our_commands_asked_politely_are_those_commands(body, expected):
    """Regression: "AGENT please" went to the model as a question (no person was asked for,
    and a request came off the quota), as "More please" once did."""
    assert parse(body) is expected


@pytest.mark.parametrize(
    "body",
    [
        *("Quota", "my quota?", "My usage", "How many texts do I have left?"),
        *("how many requests left", "How many questions do I have left?"),
        *("How many messages left?", "texts left?"),
    ],
)
def test_asking_how_much_of_the_quota_is_left_is_usage(body):
    """Regression: "How many texts do I have left?" went to the model, which cannot know
    (it said so, or made a number up), and the question itself took one off the quota."""
    assert parse(body) is Keyword.USAGE


@pytest.mark.parametrize("body", ["How many left?", "Left", "Balance", "How many are left?"])
def test_how_many_left_of_something_else_is_a_question(body):
    assert parse(body) is None


@pytest.mark.parametrize("body", ["More please", "more pls", "Please more!", "MORE, please"])
def test_more_asked_politely_is_more(body):
    """Regression: "More please", answering "(Reply MORE)" under a cut answer, went to the
    model as a new question: a request off the quota, and a made-up continuation instead
    of the rest of the answer that was kept for MORE."""
    assert parse(body) is Keyword.MORE


def test_every_keyword_has_at_least_one_word():
    assert set(WORDS.values()) == set(Keyword)


def test_keywords_compare_equal_to_their_names():
    assert Keyword.STOP == "stop"
    assert str(Keyword.USAGE) == "usage"


@pytest.mark.parametrize(
    "body",
    [
        *("ARRET", "Arrêt", "ARRÊT!", "Baja", "BAJA 🛑", "parar", "Cancelar"),
        # Regression: asked politely, these went to the model and were answered.
        *("Baja por favor", "por favor, baja", "ARRÊT SVP", "Stop s'il vous plaît", "stop merci"),
        *("Parar, gracias", "STOP por favor"),
        *("Arrêtez", "ARRETEZ SVP", "Désabonnez-moi", "Désinscrire", "No más mensajes"),
    ],
)
def test_the_opt_out_words_of_french_and_spanish_texters_opt_out(body):
    """Regression: ARRET (which Canadian carriers require beside STOP) and BAJA went to the
    model as questions and were answered, unless Twilio's Advanced Opt-Out listed them:
    the texter who asked to stop stayed subscribed."""
    assert parse(body, opted_out=False) is Keyword.STOP


@pytest.mark.parametrize("body", ["STOPP", "Stopp!", "stopp bitte", "STOPP please", "STOPP STOPP"])
def test_the_german_stopp_opts_out_and_is_confirmed_in_english(body):
    """Regression: STOPP, as German texters write STOP, went to the model as a question and
    was answered: the texter who asked to stop stayed subscribed. We write no German
    notices, so it is confirmed in English (no language), which Twilio does not do."""
    assert parse(body, opted_out=False) is Keyword.STOP
    assert keywords.language(body) is None and not keywords.is_carrier_opt_out(body)


@pytest.mark.parametrize("body", ["Stopp the car?", "stoppen", "Stopper"])
def test_words_that_only_start_like_stopp_are_questions(body):
    assert parse(body) is None


@pytest.mark.parametrize(
    "body", ["AIDE", "Aide ?", "aide svp", "AYUDA", "¡Ayuda!", "Ayuda por favor"]
)
def test_help_in_french_or_spanish_is_help(body):
    """Regression: AIDE (which Canadian carriers require beside HELP, as ARRET beside STOP)
    and AYUDA went to the model as questions: no program information, and a request off
    the quota of a texter who asked how the service works."""
    assert parse(body) is Keyword.HELP


@pytest.mark.parametrize(
    "body", ["resubscribe", "Subscribe", "subscribe me again", "opt in", "ALTA"]
)
def test_asking_to_subscribe_again_opts_back_in_a_texter_who_opted_out(body):
    """Regression: "resubscribe", answering "Reply START to resubscribe", got nothing: the
    texter stayed opted out and was not told why."""
    assert parse(body, opted_out=True) is Keyword.START


@pytest.mark.parametrize(
    "body",
    [
        *("Start please", "please start", "START pls", "Unstop please", "yes please"),
        *("Yes, thanks!", "opt in please", "Resubscribe me please", "START SVP"),
        *("Alta por favor", "START por favor", "Start again", "start texting me again"),
        *("Réabonner", "réabonnez-moi SVP"),
    ],
)
def test_an_opted_out_texter_asking_to_come_back_politely_is_opted_back_in(body):
    """Regression: "Start please" or "yes please" from a texter who had opted out was read
    as a question, which nobody answers an opted-out texter: they stayed opted out and got
    nothing, not even a word saying to send START alone."""
    assert parse(body, opted_out=True) is Keyword.START


@pytest.mark.parametrize(
    "body", ["subscribe", "Alta", "opt in", "yes please", "Start again", "Yes, thanks!"]
)
def test_subscribe_from_a_subscribed_texter_is_a_question_for_the_model(body):
    assert parse(body, opted_out=False) is None


def test_every_ascii_character_is_read_as_in_a_text_beyond_ascii():
    """An ASCII text is read in one pass (a table of the characters dropped) instead of a
    character at a time: each of the 128 ASCII characters, inside and after a word, is kept
    or dropped as in a text that also holds a letter beyond ASCII, which takes the long way."""
    for code in range(128):
        text = f"St{chr(code)}op{chr(code)}"
        assert keywords._folded(text + "é") == keywords._folded(text) + "é", repr(chr(code))
    assert parse("S^T`O_P!") is Keyword.STOP and parse("Stop\x00") is Keyword.STOP


@pytest.mark.parametrize(
    "body",
    [
        *("STOP\u0000", "STOP\u0007", "STOP\x1b", "\x1bSTOP", "S\x00T\x00O\x00P", "STOP\x7f"),
        *("Stop\x85", "STOP\u0000\u200b", "ARR\u00caT\x00", "\x1bquit\x1b"),
    ],
)
def test_a_stop_with_control_characters_around_it_is_still_a_stop(body):
    """Regression: "STOP" with a NUL, BEL or ESC a phone or gateway left beside it went to
    the model as a question, and the texter stayed subscribed."""
    assert parse(body) is Keyword.STOP


@pytest.mark.parametrize(
    "body", ["STOP\x00", "\x1bSTOP", "START\x07", "STOP\u3164", "ST\u034fOP", "Start\ufe00"]
)
def test_a_keyword_with_control_characters_is_ours_to_confirm(body):
    """Twilio trims spaces, not control characters nor blank fillers: it may not have
    matched the word, so we confirm it ourselves rather than leave the texter without a
    word."""
    assert not keywords.is_carrier_opt_out(body) and not keywords.is_carrier_opt_in(body)
    assert keywords.is_carrier_opt_out("STOP\n") and keywords.is_carrier_opt_in(" start ")


@pytest.mark.parametrize("body", ["STOP\x00 the timer please", "stop\x1b[0m sending jokes"])
def test_control_characters_do_not_make_a_question_a_keyword(body):
    assert parse(body) is None


@pytest.mark.parametrize(
    ("body", "language"),
    [
        *(("Combien de messages il me reste ?", "fr"), ("combien de textos me reste-t-il", "fr")),
        *(("Mon quota ?", "fr"), ("combien de questions il me reste", "fr")),
        *(("¿Cuántos mensajes me quedan?", "es"), ("cuantos mensajes me quedan", "es")),
        *(("Cuántas preguntas me quedan", "es"), ("mi cuota", "es")),
    ],
)
def test_asking_how_much_is_left_in_french_or_spanish_is_usage_in_that_language(body, language):
    """Regression: "combien de messages il me reste ?" and "¿cuántos mensajes me quedan?"
    went to the model, which cannot know, and took a request off the quota, as "How many
    texts do I have left?" once did."""
    assert parse(body) is Keyword.USAGE
    assert keywords.language(body) == language


@pytest.mark.parametrize(
    "body",
    [
        "Cancel all",
        "CANCEL ALL!",
        "quit all",
        "Unsubscribe all",
        "Stopppp",
        "STOOOP",
        "stopppp!!!",
        "sstop",
        "st0p",
        "ST0P",
        "St0p please",
        "\u0441\u0442\u043e\u043f",  # стоп (Russian, Ukrainian, Bulgarian)
        "\u0421\u0422\u041e\u041f!",  # СТОП!
        "\u043e\u0442\u043f\u0438\u0441\u0430\u0442\u044c\u0441\u044f",  # отписаться
        "\u505c\u6b62",  # 停止 (Chinese, Japanese)
        "\u9000\u8ba2",  # 退订, China's SMS unsubscribe
        "\u9000\u8a02",  # 退訂
        "\u914d\u4fe1\u505c\u6b62",  # 配信停止 (Japanese: stop sending)
        "\u30b9\u30c8\u30c3\u30d7",  # ストップ
        "\uc218\uc2e0\uac70\ubd80",  # 수신거부 (Korean: refuse messages)
        "\uc911\uc9c0",  # 중지
        "\u0625\u064a\u0642\u0627\u0641",  # إيقاف (Arabic)
        "\u0627\u064a\u0642\u0627\u0641",  # ايقاف
        "\u062a\u0648\u0642\u0641",  # توقف
        "\u05d4\u05e1\u05e8",  # הסר (Hebrew: remove, Israel's opt-out word)
        "\u05e2\u05e6\u05d5\u05e8",  # עצור
    ],
)
def test_plain_opt_outs_misspelt_or_in_other_scripts_opt_out(body):
    """Regression: each went to the model as a question and the texter kept getting texts:
    a texter's STOP in a hurry (letters held down, a zero for the O), Twilio's STOPALL said
    as CANCEL ALL, and STOP as texters write it in Russian, Chinese, Japanese, Korean,
    Arabic and Hebrew (confirmed in English, as the German STOPP)."""
    assert parse(body) is Keyword.STOP


@pytest.mark.parametrize(
    "body",
    [
        "Stoop",  # a porch, or bending down
        "stops",
        "Stop 0",
        "cancel all my plans?",
        "\u505c\u6b62\u662f\u4ec0\u4e48\u610f\u601d",  # 停止是什么意思 (what does 停止 mean)
        "\u0441\u0442\u043e\u043f \u043a\u0440\u0430\u043d",  # стоп кран
        "st0ps",
        "1000",
    ],
)
def test_words_near_an_opt_out_are_not_one(body):
    assert parse(body) is None


@pytest.mark.parametrize("body", ["help me", "Help me!", "HELP ME PLEASE", "I need help"])
def test_help_me_alone_is_help(body):
    assert parse(body) is Keyword.HELP


@pytest.mark.parametrize(
    "body", ["help me with my homework", "Help me write a cover letter", "I need help with Excel"]
)
def test_help_with_something_is_a_question(body):
    assert parse(body) is None


@pytest.mark.parametrize(
    "body", ["Start over", "start over please", "Let's start over", "Start fresh"]
)
def test_starting_over_is_a_fresh_conversation(body):
    """Regression: "start over" went to the model, which cannot forget the conversation;
    it is RESET (not START: it asks for a fresh start, not to subscribe)."""
    assert parse(body, opted_out=False) is Keyword.RESET


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("unsub", Keyword.STOP),
        ("UNSUB please", Keyword.STOP),
        ("I want to unsubscribe", Keyword.STOP),
        ("I'd like to unsubscribe.", Keyword.STOP),
        ("i want to opt out", Keyword.STOP),
        ("Unsubscribe me from this", Keyword.STOP),
        ("unsubscribe from these texts", Keyword.STOP),
        ("stop msging me", Keyword.STOP),
        ("End my subscription", Keyword.STOP),
        ("Moreee", Keyword.MORE),
        ("mroe", Keyword.MORE),
        ("Helpp", Keyword.HELP),
        ("talk to human", Keyword.AGENT),
        ("Speak to agent please", Keyword.AGENT),
        ("Forget everything", Keyword.RESET),
        ("clear chat", Keyword.RESET),
    ],
)
def test_how_texters_also_write_our_keywords(body, expected):
    """Regression: each went to the model as a question (an opt-out missed, a request and
    a model call spent on "Moreee")."""
    assert parse(body) is expected


@pytest.mark.parametrize(
    "body",
    [
        "How do I unsubscribe?",
        "I want to unsubscribe from Netflix",
        "I want to stop smoking",
        "restart",
        "clear history",
        "Forget everything I said about Bob and tell me about Alice",
    ],
)
def test_questions_near_those_words_reach_the_model(body):
    assert parse(body) is None
