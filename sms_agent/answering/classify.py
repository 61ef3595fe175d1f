"""Category and complexity of a texter's request, decided locally (no model call)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..models import Category
from .phrases import VOCABULARY


@dataclass(frozen=True)
class Classification:
    category: str
    complexity: float


# Code pasted into a message: calls, operators, keywords of common languages.
_CODE_TOKENS = re.compile(
    r"[\w\]\)]\(|\)\s*[:{;]|==|!=|=>|->|&&|\|\||::|</?\w+>|\bdef |\breturn\b|\bimport\b|"
    r"\bconst\b|\bvar\b|\bfunction\b|;\s*$|\{[^}]*\}|`[^`]+`",
    re.MULTILINE,
)
_WORD = re.compile(r"\w+")
_REQUIREMENT = re.compile(
    r"\?|^\s*(?:[-*•]|\d+[.)])\s|\b(?:must|should|needs? to|and|with|also|plus|then)\b|,",
    re.MULTILINE,
)


def normalise(text: str | None) -> str:
    """Fold case, width and typographic quotes so patterns match what phones send."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return text.replace("\u2019", "'").replace("\u2018", "'")


#: Each category's phrases as (quick search, exact finditer, weight), the methods bound once:
#: every request is searched for all 88 phrases, and the calls made for each phrase, most
#: of which a text does not hold, cost as much as the searches.
_SEARCHES = {
    category: [(phrase.quick.search, phrase.exact.finditer, weight) for phrase, weight in phrases]
    for category, phrases in VOCABULARY.items()
}


def scores(text: str | None) -> dict[Category, float]:
    """How strongly the message points at each category."""
    raw = text or ""
    return _scores(normalise(raw), len(_CODE_TOKENS.findall(raw)))


def _scores(clean: str, code: int) -> dict[Category, float]:
    """`scores` of a text already normalised, with its count of `code` tokens. A phrase
    weighs by the distinct words its `exact` form matched, at most two, so one repeated
    word cannot swamp the rest; its `quick` form first tells, at half the cost, whether it
    can match at all (phrases.Phrase)."""
    result = {}
    for category, searches in _SEARCHES.items():
        score = 0.0
        for quick, exact, weight in searches:
            if quick(clean) is not None:
                score += weight * min(len({match[0] for match in exact(clean)}), 2)
        result[category] = score
    # Pasted code hints at a coding question; an error name beside it still outweighs it.
    result[Category.CODING] += min(code, 3) * 0.5
    return result


#: Ties go to the more specific intent: an error message beats the code it mentions.
_PRIORITY = [
    Category.DEBUG,
    Category.DOCUMENTATION,
    Category.DESIGN,
    Category.ANALYSIS,
    Category.CODING,
]


def _pick(by_category: dict[Category, float]) -> Category:
    """The strongest specific category, unless everyday words weigh as much or it is faint."""
    best = max(_PRIORITY, key=lambda c: (by_category[c], -_PRIORITY.index(c)))
    if by_category[best] <= max(1.0, by_category[Category.GENERAL]):
        return Category.GENERAL
    return best


def _complexity(raw: str, clean: str, code: int, by_category: dict[Category, float]) -> float:
    """A 0-1 estimate of how much work the answer takes.

    Long messages, technical vocabulary, several questions or requirements and pasted code
    each raise it; a greeting stays near 0 and a multi-part system design request near 1.
    """
    words = len(_WORD.findall(raw))
    technical = sum(s for c, s in by_category.items() if c is not Category.GENERAL)
    requirements = len(_REQUIREMENT.findall(clean))
    value = (
        0.35 * min(words / 120, 1.0)
        + 0.30 * min(technical / 12, 1.0)
        + 0.20 * min(requirements / 8, 1.0)
        + 0.15 * min(code / 6, 1.0)
    )
    return round(min(max(value, 0.0), 1.0), 3)


def classify(text: str | None) -> Classification:
    """Category and complexity of a request, deterministic and cheap enough for every SMS.
    The text is normalised and its code tokens counted once, for both."""
    raw = text or ""
    clean, code = normalise(raw), len(_CODE_TOKENS.findall(raw))
    by_category = _scores(clean, code)
    return Classification(
        category=str(_pick(by_category)), complexity=_complexity(raw, clean, code, by_category)
    )
