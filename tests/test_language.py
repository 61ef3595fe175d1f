"""outbound/language.py: French or Spanish as a texter writes it, from a few words."""

from __future__ import annotations

import pytest

from sms_agent.outbound.language import text_language, written_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Comment déployer une application en toute sécurité ?", "fr"),
        ("Pourquoi le ciel est bleu", "fr"),
        ("Explique-moi la photosynthèse", "fr"),
        ("Comment ça va ?", "fr"),
        ("¿Qué es DNS?", "es"),
        ("Hola, ¿cómo estás?", "es"),
        ("El perro es muy grande", "es"),
        ("What is DNS?", None),
        # Letters neither French nor Spanish writes: Vietnamese, Portuguese, Polish.
        ("Thủ đô của Việt Nam là gì?", None),
        ("Você está em casa? Não sei.", None),
        ("Qu'est-ce que ça coûte, 2 × 3 ?", "fr"),
        # English's "'s" and "'d", and capitals that are names or units, are no French.
        ("Here's how it's done, and that's what I'd do", None),
        ("DES and AES are ciphers, 3 p.m. EST", None),
        ("C'EST QUOI LE DNS ?", "fr"),
        ("s'il te plaît", "fr"),
        ("How do I deploy an application safely?", None),
        ("What is the meaning of 'je ne sais quoi'?", None),
        ("Comment on this code please", None),
        ("DNS?", None),
        ("OK", None),
        ("", None),
        (None, None),
    ],
)
def test_french_and_spanish_are_told_from_english_and_from_each_other(text, language):
    assert written_language(text) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How do I deploy an application safely?", "en"),
        ("What is DNS?", "en"),
        ("Pourquoi le ciel est bleu", "fr"),
        ("¿Qué es DNS?", "es"),
        ("DNS?", None),
        ("OK", None),
    ],
)
def test_english_is_told_too_when_the_text_says_enough(text, language):
    """What a notice answering `text` is written in: English when it reads as English, and
    None (the texter's last known language) when it says too little to tell."""
    assert text_language(text) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("oui stp", "fr"),
        ("Oui svp", "fr"),
        ("merci beaucoup", "fr"),
        ("Salut, ça va ?", "fr"),
        ("c'est quoi?", "fr"),
        ("muchas gracias", "es"),
        # "¿" and "¡", which only Spanish writes, counted for nothing: no word holds them.
        ("¿Qué llevo a la playa?", "es"),
        ("¡Feliz cumpleaños!", "es"),
        ("sí porfa", "es"),
        ("merci", None),
        ("gracias", None),
        ("ok thanks", None),
    ],
)
def test_the_short_texts_of_a_conversation_tell_french_and_spanish(text, language):
    """Regression: "oui stp", "merci beaucoup" or "muchas gracias" said too little to tell,
    so the reply to them, and the first notice of a texter who began so, came in English.
    One word alone still says too little ("merci" is a courtesy in many languages)."""
    assert text_language(text) == language
