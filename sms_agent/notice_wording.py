"""The wording of the service's notices (notices.py picks and fills them), by the texter's
language: English under None, French under "fr", Spanish under "es". Each fits one GSM-7
segment with the longest figures it can hold (tests/test_notices.py)."""

RATES = "Msg&data rates may apply."


#: Months as French and Spanish write them short (the French "aout" as the 1990 spelling
#: has it: û is not GSM-7), and how each writes a day: "Mar 1", "1 mars", "1 mar". Short,
#: so the HELP that says until when answers are paused stays one segment.
MONTHS = {
    "fr": "janv. févr. mars avr. mai juin juil. aout sept. oct. nov. déc.",
    "es": "ene feb mar abr may jun jul ago sep oct nov dic",
}


#: HELP by the language it was asked in (AIDE, AYUDA: keywords.language): the whole, what
#: it says of answers when they come, and when a spend cap holds them; each one GSM-7
#: segment at enterprise figures with the default names.
HELP = {
    None: (
        "{service}: {answers} Text MORE, AGENT, RESET, USAGE or STOP. Support: {support}. " + RATES,
        "AI answers by text. {left} of {limit} left.",
        "AI answers paused until {until}.",
    ),
    "fr": (
        "{service}: {answers} Envoyez MORE, AGENT, RESET, USAGE ou STOP. Aide: {support}. "
        "Frais de msg possibles.",
        "réponses IA par texto. Reste {left} sur {limit}.",
        "réponses IA en pause jusqu'au {until}.",
    ),
    "es": (
        "{service}: {answers} Envia MORE, AGENT, RESET, USAGE o STOP. Ayuda: {support}. "
        "Pueden aplicar tarifas.",
        "respuestas IA por texto. Quedan {left} de {limit}.",
        "respuestas IA en pausa hasta el {until}.",
    ),
}


#: USAGE by the texter's language (User.help_language): what they used, then what holds
#: their answers ("spend_cap", "paused") or, when nothing does, when the quota resets.
USAGE = {
    None: (
        "You have used {used} of {limit} requests this month ({tier} plan)",
        {
            "spend_cap": "{said} and are at its usage limit: texts are not answered until {until}.",
            "paused": "{said}. {service} has paused answers until {until}.",
            None: "{said}. Your quota resets on {until}.",
        },
    ),
    "fr": (
        "Vous avez utilisé {used} demandes sur {limit} ce mois-ci (forfait {tier})",
        {
            "spend_cap": "{said}: limite atteinte, pas de réponse avant le {until}.",
            "paused": "{said}. {service}: réponses en pause jusqu'au {until}.",
            None: "{said}. Votre quota repart le {until}.",
        },
    ),
    "es": (
        "Has usado {used} de {limit} solicitudes este mes (plan {tier})",
        {
            "spend_cap": "{said}: limite alcanzado, sin respuestas hasta el {until}.",
            "paused": "{said}. {service}: respuestas en pausa hasta el {until}.",
            None: "{said}. Tu cuota se renueva el {until}.",
        },
    ),
}


QUOTA = {
    None: "You've used all {limit} requests for this month. Your quota resets on {day}. "
    "Reply USAGE to check it any time.",
    "fr": "Vous avez utilisé vos {limit} demandes de ce mois. Votre quota repart le {day}. "
    "Répondez USAGE pour le vérifier.",
    "es": "Has usado tus {limit} solicitudes de este mes. Tu cuota se renueva el {day}. "
    "Responde USAGE para consultarla.",
}


SPEND_CAP = {
    None: "You're at this month's usage limit of your {tier} plan. Texts are not "
    "answered until {until}. Reply USAGE or HELP any time.",
    "fr": "Vous avez atteint la limite d'usage de ce mois de votre forfait {tier}. Pas de "
    "réponse avant le {until}. Répondez USAGE ou AIDE.",
    "es": "Llegaste al limite de uso de este mes de tu plan {tier}. Sin respuestas hasta el "
    "{until}. Responde USAGE o AYUDA.",
}


RATE_LIMITED = {
    None: "You're texting faster than I can answer. Texts sent in the next while won't be "
    "answered; please wait a little and try again.",
    "fr": "Vous écrivez plus vite que je ne peux répondre. Les textos envoyés d'ici peu "
    "resteront sans réponse; patientez un peu puis réessayez.",
    "es": "Me escribes demasiado seguido. Los mensajes que lleguen en este rato quedan sin "
    "respuesta; espera un poco y vuelve a intentarlo.",
}


PAUSED = {
    None: "{service} has paused answers until {until}. Please text again then. "
    "Reply HELP for help.",
    "fr": "{service} a mis ses réponses en pause jusqu'au {until}. Réécrivez ensuite. "
    "Répondez AIDE pour de l'aide.",
    "es": "{service} tiene las respuestas en pausa hasta el {until}. Escribe de nuevo "
    "entonces. Responde AYUDA para ayuda.",
}


EMPTY = {
    None: "Your text was empty. Text me a question in words, e.g. What is DNS? Reply HELP for "
    "help.",
    "fr": "Votre texto était vide. Envoyez-moi une question, p. ex. Qu'est-ce que le DNS ? "
    "Répondez AIDE pour de l'aide.",
    "es": "Tu mensaje estaba en blanco. Manda una pregunta, p. ej. ¿Qué es DNS? Responde "
    "AYUDA para ayuda.",
}


#: The START confirmation by the language of the words that opted in (keywords.language):
#: a texter who wrote ALTA is answered in Spanish, RÉABONNER or "START SVP" in French.
#: English for any other; GSM-7 in each.
OPT_IN = {
    None: "You're subscribed to {service}. Text any question. Reply STOP to opt out.",
    "es": "Alta en {service} confirmada: escribe cualquier pregunta. "
    "Responde STOP para darte de baja.",
    "fr": "Réabonnement à {service} confirmé: envoyez une question. "
    "Répondez STOP pour vous désabonner.",
}


#: The STOP confirmation when SERVICE_NAME would not leave it one SMS segment.
OPT_OUT_UNNAMED = "You're unsubscribed and will get no more messages. Reply START to resubscribe."


#: The STOP confirmation, named and unnamed, by the language of the words that opted out
#: (keywords.language): ARRÊT is answered in French, BAJA in Spanish.
OPT_OUT = {
    None: (
        "You're unsubscribed from {service} and will get no more messages. "
        "Reply START to resubscribe.",
        OPT_OUT_UNNAMED,
    ),
    "fr": (
        "Désabonnement de {service} confirmé: vous ne recevrez plus de messages. "
        "Répondez START pour vous réabonner.",
        "Désabonnement confirmé: vous ne recevrez plus de messages. "
        "Répondez START pour vous réabonner.",
    ),
    "es": (
        "Baja de {service} confirmada: no te enviaremos otro mensaje. "
        "Responde START para darte de alta de nuevo.",
        "Baja confirmada: no te enviaremos otro mensaje. "
        "Responde START para darte de alta de nuevo.",
    ),
}


RESET = {
    None: "OK, I've forgotten our conversation. Your next message starts fresh.",
    "fr": "OK, j'ai oublié notre conversation. Votre prochain message repart de zéro.",
    "es": "OK, he olvidado nuestra charla. Tu siguiente mensaje empieza de cero.",
}


DECLINED = {
    None: "Sorry, I can't answer that one. Please ask me something else.",
    "fr": "Désolé, je ne peux pas répondre à cette question. Posez-m'en une autre.",
    "es": "Lo siento, no puedo responder a eso. Hazme otra pregunta.",
}


APOLOGY = {
    None: "Sorry, something went wrong and I couldn't answer your message. Please try again later.",
    "fr": "Désolé, une erreur s'est produite et je n'ai pas pu répondre à votre message. "
    "Réessayez plus tard.",
    "es": "Lo siento, hubo un error y no pude responder a tu mensaje. Inténtalo de nuevo luego.",
}
