"""LaTeX math in a model's answer written as a phone shows it: "x^2", "(a+1)/2", "sqrt(2)".

Models trained on papers and maths forums (Qwen, DeepSeek, and GPT too when the question is
maths) write formulas as \\(x^2\\), \\[\\frac{a}{b}\\] or $\\pi r^2$ whatever the prompt says.
Markdown eats the backslash of "\\(", so the texter got "(\\frac{1}{2})". Only what stands
between math delimiters is rewritten, and never inside code (an answer about writing LaTeX
shows its source as written). A single "$" pair counts as math only around TeX (a command,
braces, "^" or "_"), a variable or a relation ("$c$", "$n = 5$"), so prices ("$5 to $10")
and shell variables ("$PATH:$HOME") stay.
"""

from __future__ import annotations

import re

from .latex_symbols import SYMBOLS

#: Code, left as written: fenced blocks (to the end when unclosed) and inline spans.
_CODE = re.compile(r"(```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`)", re.DOTALL)
#: A span never holds its own opening delimiter, so a stray opener costs a scan to the next
#: one, not to the end of the answer (which made a long answer of openers quadratic).
_MATH = re.compile(
    r"\\\((?P<a>(?:[^\\]|\\(?!\())+?)\\\)"
    r"|\\\[(?P<b>(?:[^\\]|\\(?!\[))+?)\\\]"
    r"|\$\$(?P<c>(?:[^$]|\$(?!\$))+?)\$\$"
    r"|(?<![\\$\w])\$(?P<d>[^\s$](?:[^$\n]*?[^\s$\\])?)\$(?![\w$])",
    re.DOTALL,
)
_TEX = re.compile(r"\\[A-Za-z%]|[{}^_]")
#: A "$" pair around maths without TeX, as Qwen and DeepSeek write it inline: a variable
#: ("where $c$ is the hypotenuse") or a relation with one ("$n = 5$", "$|x| < 5$"). A price
#: never closes so: its "$" comes before a digit and the next one after a space ("$5 or $10").
_VARIABLE = re.compile(r"[A-Za-z](?:_?\d+)?'*")
_LETTER, _RELATION = re.compile(r"[A-Za-z]"), re.compile(r"[=<>]")
#: What a formula between \( \) or \[ \] has and prose about escaping parentheses lacks.
_MATHY = re.compile(r"\\[A-Za-z]|[{}^_=+*/<>\d-]|^\s*[A-Za-z]\s*$")
#: A regular expression's escapes (\d, \s, \w, \b): TeX's commands are words.
_REGEX_ESCAPE = re.compile(r"\\[A-Za-z](?![A-Za-z])")

#: Sizing commands (and the "." of a null delimiter, \left.), colours, strikes: nothing to
#: read; and spacing, read as a space.
_SILENT = re.compile(
    r"\\(?:left|right)\s*\.|\\(?:text)?color\s*\{[^{}]*\}|\\cancel(?![A-Za-z])"
    r"|\\(?:left|right|[bB]igg?[lr]?|displaystyle|limits|!)(?![A-Za-z])"
    r"|\\(?:begin|end)\s*\{[^{}]*\}|(?<!\\)&"
)
#: A new line of an aligned formula.
_ROW = re.compile(r"\\\\")
_SPACE = re.compile(r"\\(?:q?quad(?![A-Za-z])|[,;: ])|~")
_DEGREES = re.compile(r"\^\s*(?:\{\s*\\circ\s*\}|\\circ(?![A-Za-z]))")
#: Degrees of a temperature, its unit after them: "25 C", as script.py writes "25°C".
_TEMPERATURE = re.compile(
    r"\^\s*(?:\{\s*\\circ\s*\}|\\circ(?![A-Za-z]))\s*"
    r"(?:\\(?:text|mathrm)\s*\{\s*([CF])\s*\}|([CF])(?![A-Za-z]))"
)
#: Commands whose one argument is what to read: \text{if}, \boxed{42}, \mathbf{v}.
_WORD_COMMANDS = (
    r"(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mathsf|mathtt|mathcal|mathbb|"
    r"boxed|operatorname|hat|bar|vec|overline|underline|tilde|widehat|widetilde|"
    r"overrightarrow|overleftarrow|overleftrightarrow)(?![A-Za-z])"
)
_WORDS = re.compile(rf"\\{_WORD_COMMANDS}\s*\{{([^{{}}]*)\}}")
#: A fraction; a side of one character may go without braces, as in TeX's \frac12.
_FRACTION = re.compile(
    r"\\[dtc]?frac(?![A-Za-z])\s*(?:\{(?P<a>[^{}]*)\}|(?P<a1>\w))\s*(?:\{(?P<b>[^{}]*)\}|(?P<b1>\w))"
)
#: n choose k, as calculators write it.
_BINOMIAL = re.compile(r"\\[dt]?binom\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
#: A congruence's modulus: a = b (mod n).
_MODULUS = re.compile(r"\\pmod\s*\{([^{}]*)\}")
_ROOT = re.compile(r"\\sqrt\s*(?:\[([^\]]*)\])?\s*\{([^{}]*)\}")
_SCRIPT = re.compile(r"([\^_])\s*\{([^{}]*)\}")
#: Any other command with an argument reads as a function: \sin{x} -> sin(x). Not one whose
#: argument is its words, when that argument has just lost its inner braces: the texter got
#: "boxed(1/2)" for \boxed{\frac{1}{2}}.
_CALL = re.compile(
    rf"\\(?!(?:[dtc]?frac|[dt]?binom|sqrt|pmod)(?![A-Za-z])|{_WORD_COMMANDS})([A-Za-z]+)\s*\{{([^{{}}]*)\}}"
)
#: Braces that only group ({x+1}), not a command's argument nor written braces (\{1, 2\}).
_GROUP = re.compile(r"(?<![A-Za-z}\]^_\\])\{([^{}]*)\}")
#: A brace no backslash escapes: grouping, dropped once the formula is read.
_BRACE = re.compile(r"(?<!\\)[{}]")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_ESCAPED = re.compile(r"\\([%$&#_{}])")


def _braced(depth: int) -> str:
    """What stands between a pair of braces holding at most `depth` levels of them."""
    inner = r"[^{}]*"
    for _ in range(depth):
        inner = rf"(?:[^{{}}]|\{{{inner}\}})*"
    return inner


#: A final answer framed outside any delimiters, as maths-tuned models write it (DeepSeek-R1,
#: QwQ: "so the answer is \boxed{42}."), its argument holding braces a few levels deep
#: (\boxed{\frac{\sqrt{3}}{2}} has two).
_BOXED = re.compile(rf"\\boxed\s*\{{({_braced(4)})\}}")
#: Chemistry in mhchem's \ce{H2SO4} (and a quantity in its \pu{25 °C}), inside a formula or
#: not: its digits are already plain and its arrows ASCII ("2H2 + O2 -> 2H2O"), so only the
#: braces and index marks go; a charge keeps its "^" as a power does ("SO4^2-").
_CHEMISTRY = re.compile(rf"\\(?:ce|pu)\s*\{{({_braced(3)})\}}")


def _chemistry(match: re.Match) -> str:
    return " ".join(_BRACE.sub("", match[1].replace("_", "")).split())


#: A display environment written without delimiters, as LaTeX and MathJax take it
#: (\begin{align*} ... \end{align*}). Its body holds no other such opener, so one never
#: closed costs a scan to the next, not to the end of the answer.
_DISPLAY_NAMES = r"(?:equation|align|alignat|flalign|gather|multline|eqnarray|displaymath)\*?"
_DISPLAY = re.compile(
    rf"\\begin\s*\{{({_DISPLAY_NAMES})\}}(?:\s*\{{\d+\}})?"  # alignat's column pairs
    rf"((?:[^\\]|\\(?!begin\s*\{{{_DISPLAY_NAMES}\}}))*?)\\end\s*\{{\1\}}"
)
#: The environments MathJax reads outside delimiters too, which belong inside a formula
#: (\begin{cases} ... \end{cases} written alone): each read whole, as the formula it is.
#: Its body holds no other of its name, so one never closed costs a scan to the next.
_INNER_NAMES = r"(?:aligned|alignedat|gathered|split|d?cases|[pbBvV]?matrix|smallmatrix|array)"
_INNER = re.compile(
    rf"\\begin\s*\{{({_INNER_NAMES})\}}(?:(?!\\begin\s*\{{\1\}})[\s\S])*?\\end\s*\{{\1\}}"
)


def latex_to_text(text: str) -> str:
    """`text` with each math span and display environment outside code, and each \\boxed{}
    answer and \\ce{} chemistry, written in plain characters."""
    pieces = _CODE.split(text)
    for index in range(0, len(pieces), 2):  # the odd ones are code
        piece = _MATH.sub(_span, pieces[index])
        piece = _DISPLAY.sub(lambda found: math_text(found[2]), piece)
        piece = _INNER.sub(lambda found: math_text(found[0]), piece)
        piece = _CHEMISTRY.sub(_chemistry, piece)
        pieces[index] = _BOXED.sub(lambda boxed: math_text(boxed[1]), piece)
    return "".join(pieces)


def _span(match: re.Match) -> str:
    source = match.group("a") or match.group("b") or match.group("c")
    # "$PATH:$" is no maths; nor are "write \( and \)" and the regular expression "\(\d+\)".
    lone = source is None
    source = source or match.group("d")
    if lone:
        formula = (
            _TEX.search(source)
            or _VARIABLE.fullmatch(source)
            or (_LETTER.search(source) and _RELATION.search(source))
        )
    else:
        formula = _MATHY.search(source)
    if not formula or _REGEX_ESCAPE.search(source):
        return match.group(0)
    return math_text(source)


#: Where a formula opens: "\\(", "\\[", "$$", or a "$" before anything but a space or a
#: digit (a price).
_OPENER = re.compile(r"\\\(|\\\[|\$\$|(?<![\\$\w])\$(?=[^\s$\d])")
#: What makes a lone "$" open a formula: a command, a brace or a power; not an underscore,
#: which a shell variable has too ("echo $MY_VAR").
_SURE_TEX = re.compile(r"\\[A-Za-z]|[{}^]")


def before_open_math(text: str) -> str:
    """`text` up to the formula it opens and never closes: an answer the model stopped at
    its token limit inside one, whose raw source latex_to_text cannot read without the
    closing delimiter. Text that is nothing but that formula is kept as it is."""
    tail = _CODE.split(text)[-1]  # an open code block runs to the end: nothing to read
    closed = [match.end() for match in _MATH.finditer(tail)]
    start = len(text) - len(tail) + (closed[-1] if closed else 0)
    # Where the last of each kind of sign starts: whether the rest of the text after an
    # opener holds one, without searching it again for every opener.
    sure_tex, mathy, regex = (
        _last_start(sign, text) for sign in (_SURE_TEX, _MATHY, _REGEX_ESCAPE)
    )
    for opener in _OPENER.finditer(text, start):
        formula = sure_tex if opener.group() == "$" else mathy
        if formula >= opener.end() > regex:
            return text[: opener.start()] if text[: opener.start()].strip() else text
    return text


def _last_start(sign: re.Pattern, text: str) -> int:
    return max((match.start() for match in sign.finditer(text)), default=-1)


#: Cases and matrices, whose cells "&" parts and whose rows "\\\\" end.
#: Its body holds no other environment, so an opener never closed costs a scan to the next
#: one, not to the end of the formula; a nested one is read first, from the inside.
_ENVIRONMENT = re.compile(
    r"\\begin\s*\{(d?cases|[pbBvV]?matrix|smallmatrix|array)\}"
    r"(?:\s*\{[lcr|\s]*\})?"  # an array's columns
    r"((?:[^\\]|\\(?!begin|end))*?)\\end\s*\{\1\}"
)
_CELL = re.compile(r"(?<!\\)&")
#: A case's condition that says how it reads already ("\text{if } x > 0", "otherwise").
_WORDED = re.compile(r"\A\s*(?:\\text\s*\{\s*)?(?:if|otherwise|else|for|when|unless)\b")
_BRACKETS = {
    "pmatrix": "()",
    "bmatrix": "[]",
    "Bmatrix": "{}",
    "vmatrix": "||",
    "Vmatrix": "||",
    "array": ("", ""),  # its brackets, if any, are written around it (\left( ... \right))
}


def _environment(found: re.Match) -> str:
    """A piecewise function as its cases ("x if x > 0; -x otherwise"), a matrix as its rows
    in its brackets ("[1, 2; 3, 4]"): without "&" a value ran into its condition."""
    kind, rows = found[1], [row for row in _ROW.split(found[2]) if row.strip()]
    cells = [[cell.strip() for cell in _CELL.split(row)] for row in rows]
    if kind.endswith("cases"):
        return "; ".join(" ".join(_case(*row)) for row in cells)
    opening, closing = _BRACKETS.get(kind, "[]")
    return opening + "; ".join(", ".join(row) for row in cells) + closing


def _case(value: str, condition: str = "", *rest: str) -> list[str]:
    if not condition or _WORDED.match(condition):
        return [value, condition, *rest]
    return [value, "if", condition, *rest]


def math_text(source: str) -> str:
    """One formula's source as plain characters, innermost braces first."""
    text = source
    for _ in range(_DEPTH):  # innermost first, as braces
        text, found = _ENVIRONMENT.subn(_environment, text)
        if not found:
            break
    text = _TEMPERATURE.sub(lambda unit: " " + (unit[1] or unit[2]), text)
    text = _ROW.sub("; ", _DEGREES.sub(" degrees", _CHEMISTRY.sub(_chemistry, text)))
    text = _SPACE.sub(" ", _SILENT.sub("", text))
    text = _COMMAND.sub(_symbol, text)
    for _ in range(_DEPTH):
        before = text
        for pattern, replacement in _STEPS:
            text = pattern.sub(replacement, text)
        if text == before:
            break
    text = _ESCAPED.sub(r"\1", _BRACE.sub("", _COMMAND.sub(r"\1", text)))
    text = re.sub(r"([(\[])\s+|\s+([)\];,])", r"\1\2", " ".join(text.split()))
    return text


#: What a word read from a symbol would run into: a letter (i\pi), or a one-character power
#: or index (\sin^2\theta, which would read as the power 2theta).
_RUNS_INTO = re.compile(r"(?:[^\W\d_]|[\^_]\w)\Z")


def _symbol(match: re.Match) -> str:
    """A symbol's reading; a Greek letter after a letter or a short power gets a space
    (i\\pi -> i pi, \\sin^2\\theta -> sin^2 theta)."""
    word = SYMBOLS.get(match[1])
    if word is None:
        return match[0]
    before = match.string[max(match.start() - 2, 0) : match.start()]
    runs_into = _RUNS_INTO.search(before) is not None
    return " " + word if runs_into and word[0].isalpha() else word


def _root(match: re.Match) -> str:
    degree, radicand = match[1], match[2]
    return f"root{degree}({radicand})" if degree else f"sqrt({radicand})"


#: Layers of braces read; deeper ones (no formula a person writes) just lose their braces.
_DEPTH = 12
#: Innermost first, one layer of braces a round.
_STEPS = [
    (_WORDS, r"\1"),
    (_FRACTION, lambda m: f"{_grouped(_side(m, 'a'))}/{_grouped(_side(m, 'b'))}"),
    (_BINOMIAL, lambda m: f"C({m[1].strip()},{m[2].strip()})"),
    (_ROOT, _root),
    (_MODULUS, r" (mod \1)"),
    (_SCRIPT, lambda m: m[1] + _grouped(m[2])),
    (_CALL, r"\1(\2)"),
    (_GROUP, r"\1"),
]


def _side(fraction: re.Match, name: str) -> str:
    """A fraction's side, braced or (a single character) not."""
    braced = fraction[name]
    return fraction[name + "1"] if braced is None else braced


def _grouped(part: str) -> str:
    """A fraction's side or an exponent, in parentheses unless it is one number or name."""
    part = part.strip()
    return part if re.fullmatch(r"\d+(?:\.\d+)?|[A-Za-z]+", part) else f"({part})"
