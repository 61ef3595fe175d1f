"""The reply-shaping benchmark's targets hold on its corpus of 228 model answers: no Latin
reply in UCS-2, every cut marked and reachable with MORE, no reply over its segments, and
replies as dense as their text allows (bench/shaping.py prints the figures)."""

from bench import shaping


def test_every_tier_meets_the_shaping_targets_on_the_corpus(capsys):
    exit_code = shaping.main([])
    out = capsys.readouterr().out
    assert exit_code == 0, out
    assert out.count("Latin-script replies sent as UCS-2: 0") == 3
    assert "targets met" in out
