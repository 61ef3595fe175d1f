"""Shaping benchmark: every answer of bench/data/answers.jsonl shaped for each tier, as the
pipeline shapes a model's answer, then MORE after MORE until nothing is left.

Prints, per tier: characters delivered per segment (all parts, MORE parts included; Latin
script and other scripts apart), the share of answers cut, the share sent as UCS-2 and the
script that needed it, and a check that every cut answer carries the marker and is fully
reachable with MORE (the concatenation of what was sent equals the shaped whole).

    make bench-shaping          # or: python -m bench.shaping [--corpus FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from config import Config
from sms_agent.outbound.gsm import UCS_2, segment_count
from sms_agent.outbound.script import LATIN, language_of
from sms_agent.outbound.shape import MARKERS, shape, to_sms_text

CORPUS = Path(__file__).parent / "data" / "answers.jsonl"
TIERS = {
    "free": "SEGMENTS_FREE",
    "premium": "SEGMENTS_PREMIUM",
    "enterprise": "SEGMENTS_ENTERPRISE",
}


def deliver(row: dict, segments: int) -> dict:
    """Shape one answer and fetch the rest with MORE; what the texter got, and what it cost."""
    whole = to_sms_text(row["answer"], row["question"])
    shaped = shape(row["answer"], segments, question=row["question"], more=True)
    replies, sent = [shaped], [shaped.sent]
    while replies[-1].rest and len(replies) < 100:
        replies.append(shape(replies[-1].rest, segments, plain=True, more=True))
        sent.append(replies[-1].sent)
    parts = [part for reply in replies for part in reply.parts]
    markers = tuple(MARKERS.values())
    marked = all(reply.parts[-1].endswith(markers) for reply in replies[:-1])
    return {
        "latin": language_of(row["question"], whole) == LATIN,
        "cut": len(replies) > 1,
        "reason": shaped.reason if shaped.encoding == UCS_2 else None,
        "chars": sum(len(part) for part in parts),
        "segments": sum(segment_count(part) for part in parts),
        # The fewest segments any shaping could deliver the whole answer in: one message, no
        # numbering, no marker, every segment full (the last one aside).
        "whole_chars": len(whole),
        "whole_segments": segment_count(whole) if whole else 0,
        "first_chars": sum(len(part) for part in shaped.parts),
        "first_segments": sum(segment_count(part) for part in shaped.parts),
        "reachable": " ".join(" ".join(sent).split()) == " ".join(whole.split()),
        "marked": marked and not replies[-1].parts[-1].endswith(markers),
        "mores": len(replies) - 1,
    }


def report(rows: list[dict], tier: str, segments: int) -> bool:
    results = [deliver(row, segments) for row in rows]
    latin = [r for r in results if r["latin"]]
    other = [r for r in results if not r["latin"]]
    cut = [r for r in results if r["cut"]]
    ucs2 = Counter(r["reason"] for r in results if r["reason"])
    broken = [
        row["id"]
        for row, r in zip(rows, results, strict=True)
        if not (r["reachable"] and r["marked"])
    ]
    over = [
        row["id"] for row, r in zip(rows, results, strict=True) if r["first_segments"] > segments
    ]
    full = [r for r in latin if r["cut"]]

    def per_segment(group: list[dict], chars: str = "chars", segs: str = "segments") -> float:
        return sum(r[chars] for r in group) / max(sum(r[segs] for r in group), 1)

    budget_used = per_segment(full, "first_chars", "first_segments")
    at_best = per_segment(latin, "whole_chars", "whole_segments")

    print(f"\n{tier} ({segments} segments a reply), {len(results)} answers")
    print(
        f"  chars/segment, Latin script:        {per_segment(latin):6.1f}  ({len(latin)} answers)"
    )
    print(
        f"  chars/segment, Latin, at best:      {at_best:6.1f}  "
        "(each answer whole in its fewest segments)"
    )
    print(
        f"  chars/segment, Latin, a full reply: {budget_used:6.1f}  ({len(full)} cut, first reply)"
    )
    print(
        f"  chars/segment, other scripts:       {per_segment(other):6.1f}  ({len(other)} answers)"
    )
    print(
        f"  cut (continued with MORE):          {len(cut) / len(results):6.1%}  "
        f"({len(cut)}; up to {max((r['mores'] for r in results), default=0)} MOREs)"
    )
    print(
        f"  sent as UCS-2:                      {sum(ucs2.values()) / len(results):6.1%}  "
        + ", ".join(f"{script} {count}" for script, count in ucs2.most_common())
    )
    latin_ucs2 = [r for r in latin if r["reason"]]
    print(
        f"  Latin-script replies sent as UCS-2: {len(latin_ucs2)}"
        + (" (Latin letters GSM-7 lacks, typed by the texter: Polish, ...)" if latin_ucs2 else "")
    )
    print(f"  over the tier's segments:           {len(over)} {over or ''}")
    print(f"  cut without marker or not reachable with MORE: {len(broken)} {broken or ''}")
    return (
        not broken
        and not over
        and not latin_ucs2_symbols(latin)
        and (not full or budget_used >= 145)
        # A reply ends inside a segment it pays for whole: over many short answers no shaping
        # reaches 145 a segment, so the average must come within 2% of what the text allows.
        and per_segment(latin) >= min(145, 0.98 * at_best)
    )


def latin_ucs2_symbols(latin: list[dict]) -> list[dict]:
    """Latin-script replies sent as UCS-2: none allowed."""
    return [r for r in latin if r["reason"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines()]
    languages = Counter(row["lang"] for row in rows)
    print(
        f"corpus: {len(rows)} answers; " + ", ".join(f"{k} {v}" for k, v in languages.most_common())
    )
    ok = all([report(rows, tier, int(getattr(Config, key))) for tier, key in TIERS.items()])
    print("\ntargets met" if ok else "\nTARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
