"""The phrases the request classifier weighs, by category (see classify.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import Category


@dataclass(frozen=True)
class Phrase:
    """A word-bounded phrase (`exact`), and the same without the bound before it (`quick`).

    A match of `exact` is a match of `quick`, so a text `quick` finds nothing in has no
    match, and most phrases have none in a given text. `quick` starts with the phrase
    itself, so the regular expression engine skips to the places where its first letters
    occur; `exact`'s look-behind, tried at every character, cannot: `quick` alone costs
    about half of `exact`'s search over a text."""

    exact: re.Pattern[str]
    quick: re.Pattern[str]


Vocabulary = dict[Category, list[tuple[Phrase, float]]]

LANGUAGES = (
    r"python|java|javascript|js|typescript|golang|rust|ruby|php|bash|shell|zsh|c#|"
    r"c\+\+|kotlin|swift|sql|html|css|powershell|perl|scala|haskell|elixir|dart|lua|"
    r"matlab|vba|objective-c|assembly"
)
#: Language names that are also everyday words; they count only after "in", as in "in go".
SHORT_LANGUAGES = r"go|c|r"
TOOLS = (
    r"react|vue|angular|svelte|next\.?js|pandas|numpy|django|flask|fastapi|node(\.?js)?|"
    r"express|jquery|axios|lodash|requests|spring|rails|laravel|docker|kubernetes|k8s|git|github|npm|pip|yarn|"
    r"cargo|maven|gradle|linux|terminal|command line|cli|vim|emacs|vs ?code|postgres\w*|"
    r"mysql|sqlite|mongo\w*|redis|aws|lambda|tailwind|bootstrap|flexbox|css grid|"
    r"regex|json|csv|xml|yaml|api|apis|http|curl|excel|google sheets|spreadsheet|formula"
)
CONSTRUCTS = (
    r"functions?|methods?|class|classes|scripts?|programs?|loops?|arrays?|lists?|tuples?|"
    r"dicts?|dictionar(y|ies)|hash ?maps?|strings?|integers?|ints?|floats?|booleans?|"
    r"variables?|objects?|structs?|enums?|interfaces?|types?|generics?|pointers?|"
    r"closures?|callbacks?|promises?|async|await|threads?|lambda|comprehension|recursion|"
    r"recursive|iterat\w+|pars(e|ing)|serializ\w+|decorators?|switch statement|if/else|"
    r"if statement|dataframes?|columns?|rows?|div|divs|elements?|selectors?|queries|query|"
    r"endpoints?|requests?|commits?|branch(es)?|merge|algorithm|binary search|sort(ing)?|"
    r"reverse|convert|flatten|nested|unit tests?|modules?|packages?|library|libraries|"
    r"imports?|compile|syntax|code|coding|program(ming)?|try/(catch|except)|exception handling"
)


def compile_vocabulary(spec: dict[Category, dict[float, list[str]]]) -> Vocabulary:
    """Compile word-bounded phrases; a phrase may itself be a regular expression."""
    return {
        category: [
            (
                Phrase(
                    re.compile(rf"(?<![\w])(?:{phrase})(?![\w])"),
                    re.compile(rf"(?:{phrase})(?![\w])"),
                ),
                weight,
            )
            for weight, phrases in weighted.items()
            for phrase in phrases
        ]
        for category, weighted in spec.items()
    }


NEGATED_ACTION = (
    r"(doesn'?t|does not|isn'?t|is not|aren'?t|are not|won'?t|will not|can'?t|cannot|"
    r"couldn'?t|didn'?t|not|never|stopped) (\w+ )?(work|working|load|loading|run|running|"
    r"start|starting|turn(ing)? on|boot|booting|connect|connecting|compile|compiling|"
    r"install|installing|show|showing|apply|applying|update|updating|sync|syncing|"
    r"respond|responding|print|printing|save|saving|open|opening|charge|charging|fire|"
    r"firing|trigger|triggering|render|rendering|send|sending|build|building|find)"
)

# Weights say how strongly a phrase points at its category: naming a language hints at
# code (1), a stack trace or asking for a README says debugging or documentation outright.
SPEC: dict[Category, dict[float, list[str]]] = {
    Category.CODING: {
        3.0: [
            r"(write|give|make|need|show|create|generate)( me)? (a|an|the|some) (\w+ ){0,2}"
            r"(function|script|class|method|program|component|query|regex|snippet|"
            r"one-liner|statement|macro|hook|decorator|unit test|loop|data class|formula|"
            r"dockerfile|makefile|config file|cron ?job|workflow|migration)s?",
            r"implement\w*",
            r"code (for|to|that|which|snippet)",
            r"regular expression|one-liner|snippet|syntax (for|of)",
            rf"how (do|can|would|should|to) (i |you |we |one )?.{{0,60}}\b(in|with|using) "
            rf"({LANGUAGES}|{SHORT_LANGUAGES}|{TOOLS})\b",
            rf"^({LANGUAGES}|{TOOLS}) ?:",
        ],
        2.0: [
            r"example of|(what'?s|what is) the (command|syntax|function|method)",
            r"commands? (to|for)|how (do|can) i (convert|list|count|loop|iterate|print|parse)",
            rf"({LANGUAGES}|{SHORT_LANGUAGES}) (function|class|code|script|program|snippet|"
            r"equivalent|version of)",
            rf"\bin ({SHORT_LANGUAGES})\b",
        ],
        1.0: [LANGUAGES, TOOLS, CONSTRUCTS],
    },
    Category.DEBUG: {
        # An error's own name or a stack trace says what the texter is doing outright.
        5.0: [
            r"\w+(error|exception|exit|fault)",
            r"traceback|stack ?trace|segfault|core dumped|panic(ked)?:",
            r"#(n/a|value!|ref!|div/0!|name\?|num!|null!|spill!)",
        ],
        3.0: [
            r"not defined|undefined|null pointer|out of memory|memory leak|deadlock",
            r"exit(s|ed)? [\w ]{0,25}code \d+",
            r"[45]\d\d (bad gateway|internal server error|not found|forbidden|error|"
            r"unauthori[sz]ed|service unavailable)|internal server error",
            r"permission denied|access denied|infinite loop|race condition|too many \w+",
            NEGATED_ACTION,
            r"works (fine )?(locally|on my machine|in dev\w*|on my laptop) but",
            r"why (is|does|do|are|did|won'?t|can'?t|isn'?t|doesn'?t|would) (my|the|this|it)",
            r"does nothing|stuck (at|on|in|with)|keeps? \w+ing|(freez|hang|crash)\w*",
            r"what'?s wrong|went wrong|how (do i|to|can i) fix|(help|please) fix|debug\w*",
        ],
        2.0: [
            r"errors?|exceptions?|bugs?|buggy|glitch\w*|fail\w*|broken|rejected|refused",
            r"blocked( by)?|fix|wrong|problems?|issues?|warnings?|time[ds]? ?out|cors",
            r"already exists|no such|unable to|could not|couldn'?t|complains?|says",
            r"get (past|around|rid of) (this|it|that|the)",
            r"return(s|ing)? (wrong|0|zero|null|none|nan|empty|nothing|duplicates?|"
            r"the wrong|an? empty|false|-1)",
            r"after (i |we )?(added|changed|updated|upgraded|installed|deployed|moved|switched)",
            r"even though|offline|unreachable|can'?t (connect|log ?in|access|reach)",
            r"instead of|suddenly|since (the|i) (update|upgrad|install|chang)\w*",
            r"stopped|slow(s)? down|lag\w*|blank|missing|disappear\w*|ignored|no longer",
        ],
    },
    Category.DESIGN: {
        3.0: [
            r"architect\w*|system design|design patterns?|schemas?|data ?models?|erd",
            r"design (a|an|the|my|our|this|some)",
            r"wireframes?|mock-?ups?|prototypes?|lay ?outs?|lay (it|them) out|logos?",
            r"microservices?|monolith\w*|class hierarch\w+|colou?r (palette|scheme)s?",
            r"ui/ux|ux|user (interface|experience|flows?)|information architecture",
            r"(best|cleanest|right|good|proper) way to (structure|organi[sz]e|model|split|"
            r"lay out|set up|separate|store)",
            r"how (should|would|do|to) (i |you |we )?(structure|organi[sz]e|model|split|"
            r"separate|lay out)",
        ],
        2.0: [
            r"design\w*|structur\w+|organi[sz]\w+|scal(e|es|able|ing|ability)",
            r"multi-?tenan\w+|event sourcing|crud|rate limit\w*|load balanc\w+|sharding",
            r"replication|caching|cache|queues?|pub/?sub|message broker|idempoten\w+",
            r"services?|backend|frontend|components?|screens?|pages?|flows?|navigation",
            r"sketch|propose|plan (the|a|an|our|my)|state management|separation of concerns",
            r"relationships?|tables|entities|api (structure|design|layer)|fonts?",
            r"high availability|fault toleran\w+|typography|branding|style guide",
            r"how would you set (it|this) up|set it up",
            r"(endpoints|routes|urls|api|schema|screens?) (should )?look like",
        ],
    },
    Category.DOCUMENTATION: {
        5.0: [
            r"readme|docstrings?|javadoc|jsdoc|(?<!google )docs?|documentation|changelog",
            r"runbook|wiki",
            r"document(ing)? (the|a|an|my|our|this|how|what|these)",
            r"release notes?|contributing(\.md)?|user (guide|manual)|how-?to guide|faq",
            r"api (reference|docs)|spec(ification)? (doc|document)|handbook|playbook",
            r"commit message|(pr|pull request|merge request) description|knowledge base",
            r"installation (instructions|guide|steps)|(inline|code) comments|tutorial",
        ],
        2.0: [
            r"(add|write) comments|comments (to|for|explaining|in)|instructions|guide|manual",
            r"how-?to|descriptions?|write[- ]?up",
            r"explain\w* (it |this |that )?(for|to) (our|the|new|non-technical) \w+",
            r"for (our|the) (team|customers|users|readers|new \w+)",
            r"draft|summari[sz]e what changed|release|notes|section|paragraph|outline",
            r"steps to|document\w*|introduction|intro|overview",
        ],
    },
    Category.ANALYSIS: {
        3.0: [
            r"analy[sz]\w*|compar\w+|pros (and|&) cons|trade-?offs?|statistic\w*",
            r"significan(t|ce)|p-value|a/b test\w*|(time|space) complexity|big ?o|worst case",
            r"trends?|evaluat\w+|insights?|break ?down|strengths and weaknesses|swot",
            r"what (does|do) (that|this|these|the numbers|the data) (tell|say|show)",
            r"rank (these|them|the)|forecast\w*|correlat\w+|regression",
        ],
        2.0: [
            r"average|the mean|mean (of|value)|median|variance|std|percentile|distribution",
            r"ratio|margin",
            r"profit\w*|revenue|sales|churn|roi|costs?|cheap\w*|expensive|pric(e|es|ing)",
            r"budget|interest|mortgage|returns?|invest\w*|savings|inflation|rating",
            r"\d+(\.\d+)? ?%|\$\d+|from \d+(\.\d+)? to \d+",
            r"which (is|of|one|performs|would|should)|better (for|at|than|option|choice)",
            r"best for|fastest|slowest|faster|slower|vs\.?|versus|worth it",
            r"what (could|might|would) explain|factors|impact|affect\w*|risks?|risky",
            r"predict\w*|metrics|benchmark\w*|performance|performs|productivity",
            r"(dropped|rose|increased|decreased|grew|fell|declined|spiked|jumped) (from|to|by|\d)",
            r"anything (odd|unusual|strange)|outliers?|anomal\w+",
            r"these (numbers|figures|results|times|stats)",
            r"should i (buy|invest|choose|pick|go with)|how much|per (day|week|month|year)",
        ],
    },
    Category.GENERAL: {
        1.0: [
            r"hi|hello|hey|thanks|thank you|thx|good (morning|night|evening)|lol|ok|how are",
            r"recipes?|cook\w*|boil\w*|bak(e|ing)|eat\w*|food|meal|dinner|calories|diet",
            r"trip|travel|vacation|holiday|flight|weather|movie|film|books?|novel|songs?",
            r"poem|haiku|joke|story|caption|birthday|gift|wedding|puppy|dogs?|cats?|pets?",
            r"sleep\w*|health|exercise|workout|doctor|garden\w*|plants?|kids|family|friends?",
            r"capital of|who (won|is|was|invented)|when (was|did)|what year|how (far|long|many)",
            r"translate|meaning of|synonym|spell|explain .{0,30} like i'?m \d+",
        ],
    },
}

VOCABULARY: Vocabulary = compile_vocabulary(SPEC)
