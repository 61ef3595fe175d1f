# ruff: noqa: E501  (the corpus is prose: one sentence a line reads better than wrapped strings)
"""Builds answers.jsonl, the shaping benchmark's corpus: model answers written for it, in the
styles real models use (Markdown, lists, code, links, tables, emoji, curly punctuation, long
ones) and in several scripts. Run `python -m bench.data.build_answers` to rebuild it; the
output is deterministic (a fixed seed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("answers.jsonl")

# -- English: topics, each a question and sentences a model would write about it ----------------
TOPICS = {
    "How does DNS work?": [
        "DNS turns a name like example.com into the IP address of a server.",
        "Your device first asks a recursive resolver, usually run by your ISP or a service like 1.1.1.1.",
        "If the resolver doesn\u2019t have the answer cached, it asks a root server, which points it to the .com servers.",
        "The .com servers point it to the domain\u2019s authoritative name servers, which hold the actual record.",
        "The answer is cached for as long as its TTL (time to live) says, often 300 to 3600 seconds.",
        "That caching is why a DNS change can take hours to be seen everywhere.",
        "You can check a record yourself with `dig example.com A` or `nslookup example.com`.",
        "Common record types are A (IPv4), AAAA (IPv6), CNAME (alias), MX (mail) and TXT (verification).",
    ],
    "Why is my Python script throwing KeyError?": [
        "A KeyError means you asked a dict for a key it doesn\u2019t contain.",
        "Check the exact spelling and case of the key: `'Name'` and `'name'` are different keys.",
        "Print `data.keys()` just before the failing line to see what is really there.",
        "If the key is optional, use `data.get('name')`, which returns None instead of raising.",
        "You can also give a default: `data.get('name', 'unknown')`.",
        "When the data comes from JSON, the key may be nested one level deeper than you expect.",
        "A `collections.defaultdict` helps when you are counting or grouping things.",
        "Don\u2019t silence the error with a bare `except:`; it hides the real bug.",
    ],
    "What's the difference between a process and a thread?": [
        "A process has its own memory space; threads inside one process share memory.",
        "Starting a process is slower and uses more memory than starting a thread.",
        "Because threads share memory, they can exchange data cheaply but need locks to avoid races.",
        "A crash in one process doesn\u2019t take others down, while a crashing thread can kill its whole process.",
        "In CPython the GIL lets only one thread run Python bytecode at a time, so CPU-heavy work scales with processes, not threads.",
        "For I/O-bound work such as HTTP calls, threads or asyncio work well.",
        "Use `multiprocessing` or `concurrent.futures.ProcessPoolExecutor` for CPU-bound tasks.",
    ],
    "How should I store passwords in my app?": [
        "Never store passwords in plain text or with a fast hash like MD5 or SHA-256.",
        "Use a slow, salted password hash: Argon2id is the current recommendation, bcrypt is fine too.",
        "Libraries handle the salt for you; in Python use `argon2-cffi` or `passlib`.",
        "Tune the cost so one hash takes about 100 ms on your server.",
        "Compare hashes with the library\u2019s verify function, which runs in constant time.",
        "Rehash on login when you raise the cost parameters.",
        "Add rate limiting and lockouts on the login endpoint to slow down guessing.",
    ],
    "Should I use PostgreSQL or MongoDB for a new project?": [
        "For most new projects PostgreSQL is the safer default.",
        "It gives you transactions, joins, constraints and mature tooling, and its JSONB columns cover most document-style needs.",
        "MongoDB shines when your data is truly document-shaped, schemas change often and you rarely need joins.",
        "Scaling writes horizontally is easier out of the box with MongoDB\u2019s sharding.",
        "PostgreSQL scales further than most apps ever need with read replicas and good indexing.",
        "Think about reporting too: SQL makes ad-hoc analysis much easier.",
        "If you are unsure, start with PostgreSQL; moving from it later is easier than moving to it.",
    ],
    "How do I write a good README?": [
        "Start with one sentence that says what the project does and for whom.",
        "Show how to install and run it in as few commands as possible, and test that they work on a fresh machine.",
        "Give one realistic example of use before any reference material.",
        "List the configuration options in a table with their defaults.",
        "Say how to run the tests and how to contribute.",
        "Keep it true: a README that describes last year\u2019s code is worse than a short one.",
        "Link to deeper docs instead of putting everything in one file.",
    ],
    "What's a good way to analyse churn in my SaaS data?": [
        "Start by defining churn precisely: a cancelled subscription, or no login for 30 days?",
        "Compute monthly churn as customers lost during the month divided by customers at its start.",
        "Split it by cohort (signup month) to see whether newer customers behave differently.",
        "Compare churned and retained users on usage in their first two weeks; early activation is usually the strongest signal.",
        "Look at revenue churn as well as logo churn, since losing one large account can matter more than ten small ones.",
        "A simple survival curve per cohort makes trends easy to see.",
        "Only then try a model, such as logistic regression on early usage features.",
    ],
    "How do I fix 'permission denied' when running a shell script?": [
        "The file probably isn\u2019t executable.",
        "Run `chmod +x script.sh` and then `./script.sh`.",
        "Alternatively run it through the shell: `bash script.sh`.",
        "If it still fails, check the first line: it should be a valid shebang such as `#!/usr/bin/env bash`.",
        "A script saved with Windows line endings fails with a confusing error; fix it with `dos2unix script.sh`.",
        "On a mounted drive the filesystem may be mounted `noexec`, which blocks running any file from it.",
    ],
    "What is the best way to learn Spanish quickly?": [
        "Practise a little every day rather than a lot once a week.",
        "Learn the 1,000 most common words first; they cover most of everyday speech.",
        "Use spaced repetition flashcards, for example Anki, for vocabulary.",
        "Listen to podcasts for learners and then to native content with subtitles.",
        "Speak from the first week, even badly: a weekly conversation with a tutor helps a lot.",
        "Don\u2019t wait to master grammar before talking; learn it as you need it.",
        "Set a concrete goal, such as ordering food or a 10-minute conversation, and measure progress against it.",
    ],
    "Explain compound interest with an example.": [
        "Compound interest means you earn interest on your interest, not only on the money you put in.",
        "Say you invest $1,000 at 5% a year.",
        "After one year you have $1,050; after two years $1,102.50, because the second year\u2019s 5% is on $1,050.",
        "After 10 years it grows to about $1,629, and after 30 years to about $4,322.",
        "The formula is A = P \u00d7 (1 + r)^n, where P is the principal, r the yearly rate and n the number of years.",
        "The rule of 72 gives a quick estimate: money doubles in about 72 / rate years, so about 14 years at 5%.",
        "Starting early matters more than the amount, since time does most of the work.",
    ],
    "How do I make my website load faster?": [
        "Measure first with Lighthouse or WebPageTest so you fix the real bottleneck.",
        "Compress and resize images, and serve them as WebP or AVIF.",
        "Turn on gzip or Brotli compression and long cache headers for static files.",
        "Put static assets on a CDN close to your users.",
        "Load JavaScript with `defer` and remove libraries you don\u2019t use.",
        "Avoid layout shifts by giving images explicit width and height.",
        "On the server, cache expensive database queries and add the indexes your slow queries need.",
    ],
    "What should I consider when designing a REST API?": [
        "Use nouns for resources and HTTP methods for actions: `GET /users/42`, not `/getUser?id=42`.",
        "Return proper status codes: 201 for created, 400 for bad input, 404 for missing, 409 for conflicts.",
        "Use one error format everywhere, with a message and field details.",
        "Paginate every list from the start; adding it later breaks clients.",
        "Version the API, for example with a `/v1/` prefix, before the first external client appears.",
        "Document it with OpenAPI so clients can generate code and try requests.",
        "Make writes idempotent where you can, so clients can retry safely.",
    ],
}

CODE = {
    "How do I reverse a list in Python?": (
        "You have three common options:",
        "```python\nitems = [1, 2, 3]\nitems.reverse()        # in place\nnew = items[::-1]      # a reversed copy\nfor x in reversed(items):\n    print(x)\n```",
        "Use `reversed()` when you only need to iterate, since it doesn't copy the list.",
    ),
    "How do I read a file line by line in JavaScript (Node)?": (
        "Use the `readline` module with a stream, so large files don't load into memory:",
        "```js\nconst fs = require('fs');\nconst readline = require('readline');\n\nconst rl = readline.createInterface({ input: fs.createReadStream('data.txt') });\nfor await (const line of rl) {\n  console.log(line);\n}\n```",
        "For small files, `fs.readFileSync('data.txt', 'utf8').split('\\n')` is simpler.",
    ),
    "How do I find large files on Linux?": (
        "Run this to list the 10 largest files under the current directory:",
        "```bash\nfind . -type f -printf '%s %p\\n' | sort -nr | head -10\n```",
        "Or use `du -ah . | sort -rh | head -20` to include directories, and `ncdu` for an interactive view.",
    ),
    "How do I select the top 3 salaries per department in SQL?": (
        "Use a window function:",
        "```sql\nSELECT *\nFROM (\n  SELECT e.*, ROW_NUMBER() OVER (PARTITION BY department_id ORDER BY salary DESC) AS rn\n  FROM employees e\n) ranked\nWHERE rn <= 3;\n```",
        "Use `DENSE_RANK()` instead of `ROW_NUMBER()` if ties should share a place.",
    ),
}

TABLES = {
    "Compare AWS, GCP and Azure pricing for small apps": (
        "For a small app the differences are modest; free tiers matter most.\n\n"
        "| Provider | Free tier | Small VM/month | Strength |\n|---|---|---|---|\n"
        "| AWS | 12 months + always-free | ~$8 (t4g.micro) | Widest range of services |\n"
        "| GCP | Always-free e2-micro | ~$7 | Simple pricing, BigQuery |\n"
        "| Azure | 12 months + credits | ~$8 (B1s) | Microsoft stack, AD |\n\n"
        "Pick the one your team knows; moving later costs more than the price gap."
    ),
    "What are the HTTP status code classes?": (
        "| Class | Meaning | Example |\n|---|---|---|\n"
        "| 1xx | Informational | 101 Switching Protocols |\n| 2xx | Success | 200 OK, 201 Created |\n"
        "| 3xx | Redirection | 301 Moved Permanently, 304 Not Modified |\n"
        "| 4xx | Client error | 400 Bad Request, 404 Not Found, 429 Too Many Requests |\n"
        "| 5xx | Server error | 500 Internal Server Error, 503 Service Unavailable |"
    ),
    "Which Python web framework should I pick?": (
        "It depends on what you build:\n\n"
        "| Framework | Best for | Batteries |\n|---|---|---|\n"
        "| Django | Full apps with an admin | ORM, auth, admin, forms |\n"
        "| Flask | Small to medium apps, APIs | Minimal, add what you need |\n"
        "| FastAPI | Typed JSON APIs | Validation, OpenAPI, async |\n\n"
        "For a CRUD app with staff users, **Django**; for a JSON API, **FastAPI**."
    ),
}

OTHER_LATIN = [
    (
        "es",
        "\u00bfC\u00f3mo funciona el DNS?",
        "El DNS traduce un nombre como ejemplo.com en la direcci\u00f3n IP de un servidor. Tu tel\u00e9fono pregunta a un resolvedor, que consulta los servidores ra\u00edz, luego los de .com y por \u00faltimo los del dominio. La respuesta se guarda en cach\u00e9 durante el tiempo que indica su TTL, por eso un cambio puede tardar horas en verse en todas partes.",
    ),
    (
        "es",
        "\u00bfQu\u00e9 es el inter\u00e9s compuesto?",
        "El inter\u00e9s compuesto es ganar intereses sobre los intereses. Con 1.000 \u20ac al 5 % anual tienes 1.050 \u20ac al cabo de un a\u00f1o y unos 1.629 \u20ac tras diez a\u00f1os. La regla del 72 dice que el dinero se duplica en unos 72 / tasa a\u00f1os: unos 14 a\u00f1os al 5 %. Empezar pronto importa m\u00e1s que la cantidad. \U0001f4b0",
    ),
    (
        "fr",
        "Comment stocker des mots de passe ?",
        "Ne stockez jamais un mot de passe en clair ni avec un hachage rapide comme MD5. Utilisez **Argon2id** ou bcrypt, qui ajoutent un sel et sont lents \u00e0 dessein. R\u00e9glez le co\u00fbt pour qu\u2019un hachage prenne environ 100 ms. Limitez aussi les tentatives de connexion \u2014 c\u2019est essentiel.",
    ),
    (
        "fr",
        "Pourquoi mon script Python l\u00e8ve-t-il KeyError ?",
        "Une KeyError signifie que la cl\u00e9 demand\u00e9e n\u2019existe pas dans le dictionnaire. V\u00e9rifiez l\u2019orthographe et la casse, affichez `data.keys()` juste avant la ligne fautive, et utilisez `data.get('cl\u00e9')` si la cl\u00e9 est facultative. \u2705 C\u2019est souvent une cl\u00e9 imbriqu\u00e9e un niveau plus bas.",
    ),
    (
        "de",
        "Wie lerne ich schnell Spanisch?",
        "\u00dcbe jeden Tag ein wenig statt einmal pro Woche viel. Lerne zuerst die 1.000 h\u00e4ufigsten W\u00f6rter, nutze Karteikarten mit Wiederholung (z.\u00a0B. Anki) und sprich ab der ersten Woche \u2013 auch wenn es holpert. H\u00f6re Podcasts f\u00fcr Lernende und sp\u00e4ter Serien mit Untertiteln.",
    ),
    (
        "de",
        "Was ist der Unterschied zwischen Prozess und Thread?",
        "Ein Prozess hat seinen eigenen Speicher, Threads teilen sich den Speicher eines Prozesses. Threads tauschen Daten daher billig aus, brauchen aber Sperren. In CPython l\u00e4sst die GIL nur einen Thread gleichzeitig Python-Code ausf\u00fchren: f\u00fcr rechenintensive Arbeit also Prozesse, f\u00fcr I/O Threads oder asyncio.",
    ),
    (
        "pl",
        "Jak dzia\u0142a DNS?",
        "DNS zamienia nazw\u0119 taka jak example.com na adres IP serwera. Tw\u00f3j telefon pyta resolwer, kt\u00f3ry pyta serwery g\u0142\u00f3wne, potem serwery .com, a na ko\u0144cu serwery domeny. Odpowied\u017a jest przechowywana w pami\u0119ci podr\u0119cznej przez czas TTL, dlatego zmiana mo\u017ce by\u0107 widoczna dopiero po kilku godzinach.",
    ),
]

# -- Formats models write beside Markdown: task lists, HTML, footnotes, citations, units --------
#: (language, question, answer); what a reasoning model thinks is taken off before shaping
#: (vendors/reading.py), so no answer here carries it.
FORMATS = [
    (
        "en",
        "Packing list for a weekend hike?",
        "Here's a checklist for a weekend hike:\n\n- [x] Boots (broken in)\n- [x] Rain jacket\n- [ ] Map and compass\n  - [ ] Offline maps on your phone\n- [ ] 2 L of water per person\n- [ ] First-aid kit\n- [ ] Headlamp + spare batteries\n\nCheck the forecast the night before: above 2,000 m it can drop to -5 \u00b0C.",
    ),
    (
        "en",
        "How do I center a div?",
        'Use flexbox on the parent:<br><br><code>display: flex; justify-content: center; align-items: center;</code><br>That centers the child both ways. See <a href="https://developer.mozilla.org/en-US/docs/Learn/CSS/CSS_layout/Flexbox">MDN\u2019s flexbox guide</a>.\n\n<img src="https://example.com/flexbox.png" alt="Diagram of a centered box">',
    ),
    (
        "en",
        "Who won the 2022 World Cup?",
        "Argentina won the 2022 FIFA World Cup, beating France 4\u20132 on penalties after a 3\u20133 draw [1][2]. Lionel Messi was named the tournament\u2019s best player [3].\n\nSources:\n[1] https://www.fifa.com/worldcup/\n[2] https://en.wikipedia.org/wiki/2022_FIFA_World_Cup\n[3] https://www.bbc.com/sport/football/64066346",
    ),
    (
        "en",
        "Tell me about Python the language",
        "Python was created by Guido van Rossum and first released in 1991. See [Python (programming language)](https://en.wikipedia.org/wiki/Python_(programming_language)) on Wikipedia, or the official docs at https://docs.python.org/3/ (the tutorial is great). It\u2019s named after Monty Python (the comedy group), not the snake.",
    ),
    (
        "en",
        "History of the printing press",
        "Johannes Gutenberg introduced movable-type printing in Europe around 1440[^1]. His press could print about 3,600 pages a day[^2], against a few by hand. Printing spread fast: by 1500, presses in more than 270 cities had printed some 20 million volumes[^3]. It helped drive the Renaissance, the Reformation and the Scientific Revolution.\n\n[^1]: Movable type existed earlier in China (Bi Sheng, c. 1040) and Korea.\n[^2]: Estimates vary.\n[^3]: Febvre & Martin, *The Coming of the Book*.",
    ),
    (
        "en",
        "How do I prepare for a job interview?",
        "## Preparing for a job interview\n\n1. **Research the company**\n   - Read their *About* page and recent news\n   - Look at their products:\n     - What they sell\n     - Who their customers are\n2. **Practice common questions**\n   - \u201cTell me about yourself\u201d\n   - \u201cWhy do you want this job?\u201d\n3. **Prepare your own questions**\n   * Ask about the team\n   * Ask about growth\n\n> [!TIP]\n> Arrive 10\u201315 minutes early.\n\nGood luck! \U0001f340",
    ),
    (
        "en",
        "What's the weather like in Lisbon in July?",
        "Lisbon in July is warm and dry: highs of 28\u00b0C (82 \u00b0F), lows around 18 \u2103, and almost no rain. Sea water stays cool, about 19 \u00b0 C. At 38.7\u00b0N it gets long days: sunset after 9 p.m.",
    ),
    (
        "en",
        "Compare the planets",
        "Here's how the planets compare:\n\n| Planet | Distance (AU) | Moons | Year |\n|:--|--:|--:|:--|\n| Mercury | 0.39 | 0 | 88 days |\n| Venus | 0.72 | 0 | 225 days |\n| Earth | 1.00 | 1 | 365 days |\n| Mars | 1.52 | 2 | 687 days |\n| Jupiter | 5.20 | 95 | 11.9 years |\n| Saturn | 9.58 | 146 | 29.5 years |\n\nJupiter is the largest; Mercury the smallest.",
    ),
    (
        "en",
        "How do I undo a git commit?",
        "To undo the last commit but keep your changes:\n\n```bash\ngit reset --soft HEAD~1\n```\n\n> \u26a0\ufe0f If you already pushed, use `git revert HEAD` instead, so you don\u2019t rewrite shared history.\n\nThen `git status` shows the changes staged again. \u2705",
    ),
    (
        "fr",
        "Quel temps fait-il \u00e0 Paris en juillet ?",
        "En juillet, \u00e0 Paris, il fait en moyenne 25\u202f\u00b0C l\u2019apr\u00e8s-midi et 15\u202f\u00b0C la nuit. C\u2019est \u00ab\u00a0la haute saison\u00a0\u00bb\u202f: pr\u00e9voyez cr\u00e8me solaire et bouteille d\u2019eau\u2026\n\n- [ ] Cr\u00e8me solaire\n- [ ] Chapeau\n- [x] Billets de mus\u00e9e\n\nLes orages sont fr\u00e9quents en fin de journ\u00e9e.",
    ),
    (
        "es",
        "\u00bfCu\u00e1l es la mejor \u00e9poca para visitar Madrid?",
        '\u00a1Buena pregunta! La mejor \u00e9poca es **primavera** (abril\u2013junio) u **oto\u00f1o** (septiembre\u2013octubre): temperaturas de 18\u201325 \u00baC y menos turistas. En agosto hace mucho calor (m\u00e1s de 35 \u00baC) y muchos comercios cierran. M\u00e1s informaci\u00f3n en <a href="https://www.esmadrid.com">esmadrid.com</a>.',
    ),
    (
        "he",
        "\u05de\u05d4 \u05d6\u05d4 iPhone 15?",
        "\u05d4-iPhone 15 \u05d4\u05d5\u05d0 \u05e1\u05de\u05d0\u05e8\u05d8\u05e4\u05d5\u05df \u05e9\u05dc Apple \u05e9\u05d9\u05e6\u05d0 \u05d1\u05e1\u05e4\u05d8\u05de\u05d1\u05e8 2023. \u05d9\u05e9 \u05dc\u05d5 \u05de\u05e1\u05da \u05e9\u05dc 6.1 \u05d0\u05d9\u05e0\u05e5\u2019, \u05de\u05e6\u05dc\u05de\u05d4 \u05e9\u05dc 48MP \u05d5\u05d7\u05d9\u05d1\u05d5\u05e8 USB-C. \U0001f4f1",
    ),
]

# -- Other scripts: questions and sentences ------------------------------------------------------
NON_LATIN = {
    "zh": (
        "\u4ec0\u4e48\u662f\u57df\u540d\u7cfb\u7edf\uff08DNS\uff09\uff1f",
        [
            "\u57df\u540d\u7cfb\u7edf\uff08DNS\uff09\u628a\u50cf example.com \u8fd9\u6837\u7684\u540d\u5b57\u8f6c\u6362\u6210\u670d\u52a1\u5668\u7684 IP \u5730\u5740\u3002",
            "\u4f60\u7684\u624b\u673a\u5148\u95ee\u9012\u5f52\u89e3\u6790\u5668\uff0c\u901a\u5e38\u7531\u8fd0\u8425\u5546\u63d0\u4f9b\u3002",
            "\u5982\u679c\u7f13\u5b58\u91cc\u6ca1\u6709\u7b54\u6848\uff0c\u89e3\u6790\u5668\u4f1a\u4f9d\u6b21\u8be2\u95ee\u6839\u670d\u52a1\u5668\u3001.com \u670d\u52a1\u5668\u548c\u57df\u540d\u7684\u6743\u5a01\u670d\u52a1\u5668\u3002",
            "\u7b54\u6848\u4f1a\u6839\u636e TTL \u7f13\u5b58\u4e00\u6bb5\u65f6\u95f4\uff0c\u6240\u4ee5\u4fee\u6539 DNS \u540e\u53ef\u80fd\u8981\u51e0\u4e2a\u5c0f\u65f6\u624d\u80fd\u751f\u6548\u3002",
            "\u4f60\u53ef\u4ee5\u7528 `dig example.com` \u6216 `nslookup example.com` \u81ea\u5df1\u67e5\u8be2\u8bb0\u5f55\u3002",
            "\u5e38\u89c1\u7684\u8bb0\u5f55\u7c7b\u578b\u6709 A\u3001AAAA\u3001CNAME\u3001MX \u548c TXT\u3002",
            "\u603b\u4e4b\uff0cDNS \u5c31\u50cf\u4e92\u8054\u7f51\u7684\u7535\u8bdd\u7c3f\u3002",
        ],
    ),
    "ja": (
        "DNS\u306e\u4ed5\u7d44\u307f\u3092\u6559\u3048\u3066\u304f\u3060\u3055\u3044\u3002",
        [
            "DNS\u306f example.com \u306e\u3088\u3046\u306a\u540d\u524d\u3092\u30b5\u30fc\u30d0\u30fc\u306eIP\u30a2\u30c9\u30ec\u30b9\u306b\u5909\u63db\u3057\u307e\u3059\u3002",
            "\u307e\u305a\u7aef\u672b\u304c\u30ea\u30be\u30eb\u30d0\u30fc\u306b\u554f\u3044\u5408\u308f\u305b\u307e\u3059\u3002",
            "\u30ad\u30e3\u30c3\u30b7\u30e5\u306b\u306a\u3051\u308c\u3070\u3001\u30eb\u30fc\u30c8\u30b5\u30fc\u30d0\u30fc\u3001.com \u306e\u30b5\u30fc\u30d0\u30fc\u3001\u6a29\u5a01\u30b5\u30fc\u30d0\u30fc\u306e\u9806\u306b\u305f\u3069\u308a\u307e\u3059\u3002",
            "\u7d50\u679c\u306fTTL\u306e\u9593\u30ad\u30e3\u30c3\u30b7\u30e5\u3055\u308c\u308b\u305f\u3081\u3001\u5909\u66f4\u306e\u53cd\u6620\u306b\u6570\u6642\u9593\u304b\u304b\u308b\u3053\u3068\u304c\u3042\u308a\u307e\u3059\u3002",
            "\u300cdig\u300d\u30b3\u30de\u30f3\u30c9\u3067\u81ea\u5206\u3067\u78ba\u8a8d\u3067\u304d\u307e\u3059\u3002",
            "\u4e3b\u306a\u30ec\u30b3\u30fc\u30c9\u306fA\u3001AAAA\u3001CNAME\u3001MX\u3001TXT\u3067\u3059\u3002",
        ],
    ),
    "el": (
        "\u03a0\u03ce\u03c2 \u03bb\u03b5\u03b9\u03c4\u03bf\u03c5\u03c1\u03b3\u03b5\u03af \u03c4\u03bf DNS;",
        [
            "\u03a4\u03bf DNS \u03bc\u03b5\u03c4\u03b1\u03c4\u03c1\u03ad\u03c0\u03b5\u03b9 \u03ad\u03bd\u03b1 \u03cc\u03bd\u03bf\u03bc\u03b1 \u03cc\u03c0\u03c9\u03c2 example.com \u03c3\u03c4\u03b7 \u03b4\u03b9\u03b5\u03cd\u03b8\u03c5\u03bd\u03c3\u03b7 IP \u03b5\u03bd\u03cc\u03c2 \u03b4\u03b9\u03b1\u03ba\u03bf\u03bc\u03b9\u03c3\u03c4\u03ae.",
            "\u0397 \u03c3\u03c5\u03c3\u03ba\u03b5\u03c5\u03ae \u03c3\u03bf\u03c5 \u03c1\u03c9\u03c4\u03ac\u03b5\u03b9 \u03c0\u03c1\u03ce\u03c4\u03b1 \u03ad\u03bd\u03b1\u03bd \u03b5\u03c0\u03b9\u03bb\u03c5\u03c4\u03ae \u03bf\u03bd\u03bf\u03bc\u03ac\u03c4\u03c9\u03bd.",
            "\u0391\u03bd \u03b4\u03b5\u03bd \u03ad\u03c7\u03b5\u03b9 \u03c4\u03b7\u03bd \u03b1\u03c0\u03ac\u03bd\u03c4\u03b7\u03c3\u03b7, \u03c1\u03c9\u03c4\u03ac\u03b5\u03b9 \u03c4\u03bf\u03c5\u03c2 \u03c1\u03b9\u03b6\u03b9\u03ba\u03bf\u03cd\u03c2 \u03b4\u03b9\u03b1\u03ba\u03bf\u03bc\u03b9\u03c3\u03c4\u03ad\u03c2 \u03ba\u03b1\u03b9 \u03bc\u03b5\u03c4\u03ac \u03c4\u03bf\u03c5\u03c2 \u03b4\u03b9\u03b1\u03ba\u03bf\u03bc\u03b9\u03c3\u03c4\u03ad\u03c2 \u03c4\u03bf\u03c5 .com.",
            "\u0397 \u03b1\u03c0\u03ac\u03bd\u03c4\u03b7\u03c3\u03b7 \u03b1\u03c0\u03bf\u03b8\u03b7\u03ba\u03b5\u03cd\u03b5\u03c4\u03b1\u03b9 \u03b3\u03b9\u03b1 \u03cc\u03c3\u03bf \u03bf\u03c1\u03af\u03b6\u03b5\u03b9 \u03c4\u03bf TTL.",
            "\u0393\u03b9\u03b1 \u03b1\u03c5\u03c4\u03cc \u03bc\u03b9\u03b1 \u03b1\u03bb\u03bb\u03b1\u03b3\u03ae \u03bc\u03c0\u03bf\u03c1\u03b5\u03af \u03bd\u03b1 \u03c7\u03c1\u03b5\u03b9\u03b1\u03c3\u03c4\u03b5\u03af \u03ce\u03c1\u03b5\u03c2 \u03b3\u03b9\u03b1 \u03bd\u03b1 \u03c6\u03b1\u03bd\u03b5\u03af \u03c0\u03b1\u03bd\u03c4\u03bf\u03cd.",
            "\u039c\u03c0\u03bf\u03c1\u03b5\u03af\u03c2 \u03bd\u03b1 \u03b5\u03bb\u03ad\u03b3\u03be\u03b5\u03b9\u03c2 \u03bc\u03b9\u03b1 \u03b5\u03b3\u03b3\u03c1\u03b1\u03c6\u03ae \u03bc\u03b5 \u03c4\u03b7\u03bd \u03b5\u03bd\u03c4\u03bf\u03bb\u03ae dig.",
        ],
    ),
    "ru": (
        "\u041a\u0430\u043a \u0440\u0430\u0431\u043e\u0442\u0430\u0435\u0442 DNS?",
        [
            "DNS \u043f\u0440\u0435\u0432\u0440\u0430\u0449\u0430\u0435\u0442 \u0438\u043c\u044f \u0432\u0440\u043e\u0434\u0435 example.com \u0432 IP-\u0430\u0434\u0440\u0435\u0441 \u0441\u0435\u0440\u0432\u0435\u0440\u0430.",
            "\u0421\u043d\u0430\u0447\u0430\u043b\u0430 \u0443\u0441\u0442\u0440\u043e\u0439\u0441\u0442\u0432\u043e \u0441\u043f\u0440\u0430\u0448\u0438\u0432\u0430\u0435\u0442 \u0440\u0435\u0437\u043e\u043b\u0432\u0435\u0440 \u043f\u0440\u043e\u0432\u0430\u0439\u0434\u0435\u0440\u0430.",
            "\u0415\u0441\u043b\u0438 \u043e\u0442\u0432\u0435\u0442\u0430 \u043d\u0435\u0442 \u0432 \u043a\u044d\u0448\u0435, \u0440\u0435\u0437\u043e\u043b\u0432\u0435\u0440 \u0441\u043f\u0440\u0430\u0448\u0438\u0432\u0430\u0435\u0442 \u043a\u043e\u0440\u043d\u0435\u0432\u044b\u0435 \u0441\u0435\u0440\u0432\u0435\u0440\u044b, \u0437\u0430\u0442\u0435\u043c \u0441\u0435\u0440\u0432\u0435\u0440\u044b .com \u0438 \u043d\u0430\u043a\u043e\u043d\u0435\u0446 \u0430\u0432\u0442\u043e\u0440\u0438\u0442\u0435\u0442\u043d\u044b\u0435 \u0441\u0435\u0440\u0432\u0435\u0440\u044b \u0434\u043e\u043c\u0435\u043d\u0430.",
            "\u041e\u0442\u0432\u0435\u0442 \u0445\u0440\u0430\u043d\u0438\u0442\u0441\u044f \u0432 \u043a\u044d\u0448\u0435 \u0441\u0442\u043e\u043b\u044c\u043a\u043e, \u0441\u043a\u043e\u043b\u044c\u043a\u043e \u0443\u043a\u0430\u0437\u0430\u043d\u043e \u0432 TTL.",
            "\u041f\u043e\u044d\u0442\u043e\u043c\u0443 \u0438\u0437\u043c\u0435\u043d\u0435\u043d\u0438\u0435 \u0437\u0430\u043f\u0438\u0441\u0438 \u043c\u043e\u0436\u0435\u0442 \u0440\u0430\u0441\u043f\u0440\u043e\u0441\u0442\u0440\u0430\u043d\u044f\u0442\u044c\u0441\u044f \u043d\u0435\u0441\u043a\u043e\u043b\u044c\u043a\u043e \u0447\u0430\u0441\u043e\u0432.",
            "\u041f\u0440\u043e\u0432\u0435\u0440\u0438\u0442\u044c \u0437\u0430\u043f\u0438\u0441\u044c \u043c\u043e\u0436\u043d\u043e \u043a\u043e\u043c\u0430\u043d\u0434\u043e\u0439 `dig example.com`.",
        ],
    ),
    "ar": (
        "\u0643\u064a\u0641 \u064a\u0639\u0645\u0644 \u0646\u0638\u0627\u0645 DNS\u061f",
        [
            "\u064a\u062d\u0648\u0651\u0644 \u0646\u0638\u0627\u0645 DNS \u0627\u0633\u0645\u064b\u0627 \u0645\u062b\u0644 example.com \u0625\u0644\u0649 \u0639\u0646\u0648\u0627\u0646 IP \u0644\u062e\u0627\u062f\u0645.",
            "\u064a\u0633\u0623\u0644 \u062c\u0647\u0627\u0632\u0643 \u0623\u0648\u0644\u064b\u0627 \u062e\u0627\u062f\u0645 \u0627\u0644\u062a\u062d\u0644\u064a\u0644 \u0644\u062f\u0649 \u0645\u0632\u0648\u0651\u062f \u0627\u0644\u062e\u062f\u0645\u0629.",
            "\u0625\u0630\u0627 \u0644\u0645 \u064a\u062c\u062f \u0627\u0644\u062c\u0648\u0627\u0628 \u0641\u064a \u0627\u0644\u0630\u0627\u0643\u0631\u0629 \u0627\u0644\u0645\u0624\u0642\u062a\u0629\u060c \u064a\u0633\u0623\u0644 \u0627\u0644\u062e\u0648\u0627\u062f\u0645 \u0627\u0644\u062c\u0630\u0631\u064a\u0629 \u062b\u0645 \u062e\u0648\u0627\u062f\u0645 .com.",
            "\u064a\u064f\u062d\u0641\u0638 \u0627\u0644\u062c\u0648\u0627\u0628 \u0644\u0645\u062f\u0629 TTL\u060c \u0648\u0644\u0630\u0644\u0643 \u0642\u062f \u064a\u0633\u062a\u063a\u0631\u0642 \u0627\u0644\u062a\u063a\u064a\u064a\u0631 \u0633\u0627\u0639\u0627\u062a.",
            "\u064a\u0645\u0643\u0646\u0643 \u0627\u0644\u062a\u062d\u0642\u0642 \u0628\u0627\u0644\u0623\u0645\u0631 dig.",
        ],
    ),
    "hi": (
        "DNS \u0915\u0948\u0938\u0947 \u0915\u093e\u092e \u0915\u0930\u0924\u093e \u0939\u0948?",
        [
            "DNS example.com \u091c\u0948\u0938\u0947 \u0928\u093e\u092e \u0915\u094b \u0938\u0930\u094d\u0935\u0930 \u0915\u0947 IP \u092a\u0924\u0947 \u092e\u0947\u0902 \u092c\u0926\u0932\u0924\u093e \u0939\u0948\u0964",
            "\u0906\u092a\u0915\u093e \u092b\u093c\u094b\u0928 \u092a\u0939\u0932\u0947 \u090f\u0915 \u0930\u093f\u091c\u093c\u0949\u0932\u094d\u0935\u0930 \u0938\u0947 \u092a\u0942\u091b\u0924\u093e \u0939\u0948\u0964",
            "\u0905\u0917\u0930 \u091c\u0935\u093e\u092c \u0915\u0948\u0936 \u092e\u0947\u0902 \u0928\u0939\u0940\u0902 \u0939\u0948, \u0924\u094b \u0930\u093f\u091c\u093c\u0949\u0932\u094d\u0935\u0930 \u0930\u0942\u091f \u0938\u0930\u094d\u0935\u0930 \u0914\u0930 \u092b\u093f\u0930 .com \u0938\u0930\u094d\u0935\u0930 \u0938\u0947 \u092a\u0942\u091b\u0924\u093e \u0939\u0948\u0964",
            "\u091c\u0935\u093e\u092c TTL \u0924\u0915 \u0915\u0948\u0936 \u092e\u0947\u0902 \u0930\u0939\u0924\u093e \u0939\u0948, \u0907\u0938\u0932\u093f\u090f \u092c\u0926\u0932\u093e\u0935 \u092e\u0947\u0902 \u0915\u0941\u091b \u0918\u0902\u091f\u0947 \u0932\u0917 \u0938\u0915\u0924\u0947 \u0939\u0948\u0902\u0964",
            "\u0906\u092a dig \u0915\u092e\u093e\u0902\u0921 \u0938\u0947 \u0916\u0941\u0926 \u091c\u093e\u0902\u091a \u0938\u0915\u0924\u0947 \u0939\u0948\u0902\u0964",
        ],
    ),
}

EMOJI_OPENERS = [
    "Great question! \U0001f60a ",
    "Sure! \U0001f44d ",
    "\U0001f680 ",
    "Here you go \U0001f447\n\n",
    "",
]
EMOJI_BULLETS = [
    "\u2705",
    "\u274c",
    "\U0001f4a1",
    "\u26a0\ufe0f",
    "\U0001f449",
    "\U0001f539",
    "1\ufe0f\u20e3",
]
CLOSERS = [
    "",
    "",
    " Hope this helps! \U0001f60a",
    " Good luck! \U0001f340",
    " Let me know if you need more details.",
    " \U0001f389",
]


def english(rnd: random.Random, question: str, sentences: list[str], style: str) -> str:
    picked = sentences[: rnd.randint(2, len(sentences))]
    if style == "plain":
        return " ".join(picked)
    if style == "markdown":
        head = f"## {question.rstrip('?')}\n\n" if rnd.random() < 0.5 else ""
        body = "\n".join(f"- **{s.split()[0]}** {' '.join(s.split()[1:])}" for s in picked[1:])
        return f"{head}{picked[0]}\n\n{body}"
    if style == "numbered":
        return "Here's how:\n\n" + "\n".join(f"{n}. {s}" for n, s in enumerate(picked, 1))
    if style == "emoji":
        lines = [f"{rnd.choice(EMOJI_BULLETS)} {s}" for s in picked[1:]]
        return (
            rnd.choice(EMOJI_OPENERS) + picked[0] + "\n\n" + "\n".join(lines) + rnd.choice(CLOSERS)
        )
    if style == "curly":
        text = " ".join(picked).replace("'", "\u2019").replace(" - ", " \u2014 ")
        return "\u201c" + text + "\u201d \u2026 that\u2019s the gist."
    if style == "links":
        return (
            " ".join(picked)
            + "\n\nMore: [MDN docs](https://developer.mozilla.org/) and <https://example.com/guide>."
        )
    # "long": everything, twice over with a summary, as an over-eager model writes
    summary = "\n\n**In short:** " + picked[0]
    return (
        "### Overview\n\n"
        + " ".join(sentences)
        + "\n\n### Details\n\n"
        + "\n".join(f"* {s}" for s in sentences)
        + summary
        + rnd.choice(CLOSERS)
    )


def non_latin(rnd: random.Random, sentences: list[str]) -> str:
    picked = sentences[: rnd.randint(2, len(sentences))]
    style = rnd.choice(["plain", "plain", "list", "emoji", "long"])
    if style == "list":
        return picked[0] + "\n\n" + "\n".join(f"- {s}" for s in picked[1:])
    if style == "emoji":
        return "\U0001f44d " + " ".join(picked) + " \U0001f60a"
    if style == "long":
        return "\n\n".join([" ".join(sentences)] * 2)
    return "".join(picked) if picked[0][-1] in "\u3002" else " ".join(picked)


def build() -> list[dict]:
    rnd = random.Random(13)
    styles = ["plain", "markdown", "numbered", "emoji", "curly", "links", "long"]
    rows = []
    for question, sentences in TOPICS.items():
        for style in styles:
            for _ in range(2):
                rows.append(
                    {
                        "lang": "en",
                        "style": style,
                        "question": question,
                        "answer": english(rnd, question, sentences, style),
                    }
                )
    for question, (intro, code, outro) in CODE.items():
        rows.append(
            {
                "lang": "en",
                "style": "code",
                "question": question,
                "answer": f"{intro}\n\n{code}\n\n{outro}",
            }
        )
        rows.append(
            {
                "lang": "en",
                "style": "code",
                "question": question,
                "answer": f"{code}\n\n{outro} \U0001f40d",
            }
        )
    for question, answer in TABLES.items():
        rows.append({"lang": "en", "style": "table", "question": question, "answer": answer})
    for lang, question, answer in OTHER_LATIN:
        rows.append({"lang": lang, "style": "plain", "question": question, "answer": answer})
    for lang, (question, sentences) in NON_LATIN.items():
        for _ in range(5):
            rows.append(
                {
                    "lang": lang,
                    "style": "script",
                    "question": question,
                    "answer": non_latin(rnd, sentences),
                }
            )
    for lang, question, answer in FORMATS:  # last: no draw of `rnd`, the rows above stay
        rows.append({"lang": lang, "style": "formats", "question": question, "answer": answer})
    for number, row in enumerate(rows, 1):
        row["id"] = number
    return rows


if __name__ == "__main__":
    rows = build()
    OUT.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    print(f"{len(rows)} answers written to {OUT}")
