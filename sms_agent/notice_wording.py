"""The wording of the service's notices (notices.py picks and fills them), by the texter's
language: English under None, French under "fr", Spanish under "es". Each fits one GSM-7
segment with the longest figures it can hold (tests/test_notices.py)."""

from config import HANDOFF_ACK_DEFAULT

RATES = "Msg&data rates may apply."


def in_language(wordings: dict, language: str | None):
    """A notice's wording in the texter's language (User.help_language, or the text it
    answers): English, under None, for any other."""
    return wordings.get(language, wordings[None])


#: Months as French and Spanish write them short (the French "aout" as the 1990 spelling
#: has it: û is not GSM-7), and how each writes a day: "Mar 1", "1 mars", "1 mar". Short,
#: so the HELP that says until when answers are paused stays one segment.
MONTHS = {
    "fr": "janv. févr. mars avr. mai juin juil. aout sept. oct. nov. déc.",
    "es": "ene feb mar abr may jun jul ago sep oct nov dic",
}


#: HELP by the language it was asked in (AIDE, AYUDA: keywords.language): the whole, what
#: it says of answers when they come, when a spend cap holds them, and when the texter's
#: plan has none; each one GSM-7 segment at enterprise figures with the default names.
HELP = {
    None: (
        "{service}: {answers} Text MORE, AGENT, RESET, USAGE or STOP. Support: {support}. " + RATES,
        "AI answers by text. {left} of {limit} left.",
        ("AI answers paused until {until}.", "AI answers paused for now."),
        "Your {tier} plan has no AI answers.",
    ),
    "fr": (
        "{service}: {answers} Envoyez MORE, AGENT, RESET, USAGE ou STOP. Aide: {support}. "
        "Frais de msg possibles.",
        "réponses IA par texto. Reste {left} sur {limit}.",
        ("réponses IA en pause jusqu'au {until}.", "réponses IA en pause pour le moment."),
        "forfait {tier} sans réponses IA.",
    ),
    "es": (
        "{service}: {answers} Envia MORE, AGENT, RESET, USAGE o STOP. Ayuda: {support}. "
        "Pueden aplicar tarifas.",
        "respuestas IA por texto. Quedan {left} de {limit}.",
        ("respuestas IA en pausa hasta el {until}.", "respuestas IA en pausa por ahora."),
        "plan {tier} sin respuestas IA.",
    ),
}


#: USAGE by the texter's language (User.help_language): what they used, then what holds
#: their answers ("spend_cap", "paused", "paused_for_now": a daily cap of 0, which names no
#: day) or, when nothing does, when the quota resets.
USAGE = {
    None: (
        "You have used {used} of {limit_requests} this month ({tier} plan)",
        {
            "spend_cap": "{said} and are at its usage limit: texts are not answered until {until}.",
            "paused": "{said}. {service} has paused answers until {until}.",
            "paused_for_now": "{said}. {service} has paused answers for now.",
            None: "{said}. Your quota resets on {until}.",
        },
    ),
    "fr": (
        "Vous avez utilisé {used_requests} sur {limit} ce mois-ci (forfait {tier})",
        {
            "spend_cap": "{said}: limite atteinte, pas de réponse avant le {until}.",
            "paused": "{said}. {service}: réponses en pause jusqu'au {until}.",
            "paused_for_now": "{said}. {service}: réponses en pause pour le moment.",
            None: "{said}. Votre quota repart le {until}.",
        },
    ),
    "es": (
        "Has usado {used} de {limit_requests} este mes (plan {tier})",
        {
            "spend_cap": "{said}: limite alcanzado, sin respuestas hasta el {until}.",
            "paused": "{said}. {service}: respuestas en pausa hasta el {until}.",
            "paused_for_now": "{said}. {service}: respuestas en pausa por ahora.",
            None: "{said}. Tu cuota se renueva el {until}.",
        },
    ),
}


#: A request, and requests, by language: counted (plural.py) as each notice says how many.
REQUESTS = {
    None: ("request", "requests"),
    "fr": ("demande", "demandes"),
    "es": ("solicitud", "solicitudes"),
}


QUOTA = {
    None: "You've used your {limit_requests} for this month. Your quota resets on {until}. "
    "Reply USAGE to check it any time.",
    "fr": "Vous avez utilisé votre quota de {limit_requests} de ce mois. Il repart le {until}. "
    "Répondez USAGE pour le vérifier.",
    "es": "Has usado tu cuota de {limit_requests} de este mes. Se renueva el {until}. "
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


#: The daily cap's notice: until when, and with no day to name (DAILY_SPEND_CAP=0: answers
#: come back only when staff raise today's cap).
PAUSED = {
    None: (
        "{service} has paused answers until {until}. Please text again then. Reply HELP for help.",
        "{service} has paused answers for now. Reply HELP for help.",
    ),
    "fr": (
        "{service} a mis ses réponses en pause jusqu'au {until}. Réécrivez ensuite. "
        "Répondez AIDE pour de l'aide.",
        "{service} a mis ses réponses en pause pour le moment. Répondez AIDE pour de l'aide.",
    ),
    "es": (
        "{service} tiene las respuestas en pausa hasta el {until}. Escribe de nuevo "
        "entonces. Responde AYUDA para ayuda.",
        "{service} tiene las respuestas en pausa por ahora. Responde AYUDA para ayuda.",
    ),
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


#: The model could not answer this one (its provider's filter stopped it, or it needed a
#: tool it does not have): said plainly, so the texter asks something else rather than
#: sending the same again.
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


#: The one-time program notice when PROGRAM_NOTICE is not set, in the language of what it
#: comes before (a configured one is sent as written): HELP's French and Spanish keywords in
#: theirs, as carriers ask.
PROGRAM = {
    None: "{service}: AI answers to your texts. " + RATES + " Msg frequency varies. "
    "Reply HELP for help, STOP to opt out.",
    "fr": "{service}: réponses IA à vos textos. Frais de msg possibles. Fréquence variable. "
    "Répondez AIDE pour de l'aide, STOP pour vous désabonner.",
    "es": "{service}: respuestas IA a tus mensajes. Pueden aplicar tarifas. Frecuencia "
    "variable. Responde AYUDA para ayuda, STOP para darte de baja.",
}


#: What a tier change says, how it counts an answer's length (in SMS, or on WhatsApp in
#: characters), and what it says of a tier with no AI answers (limits.no_answers).
TIER_CHANGE = {
    None: (
        "Your {service} plan is now {tier}: {limit_requests} a month, answers of up to "
        "{length}. Reply USAGE to check it.",
        "{count} characters",
        "Your {service} plan is now {tier}, which includes no AI answers. Reply HELP for help.",
    ),
    "fr": (
        "Votre forfait {service} est maintenant {tier}: {limit_requests} par mois, réponses "
        "de {length} au plus. Répondez USAGE pour le vérifier.",
        "{count} caractères",
        "Votre forfait {service} est maintenant {tier}, sans réponses IA. Répondez AIDE pour "
        "de l'aide.",
    ),
    "es": (
        "Tu plan de {service} ahora es {tier}: {limit_requests} al mes, respuestas de "
        "hasta {length}. Responde USAGE para consultarlo.",
        "{count} caracteres",
        "Tu plan de {service} ahora es {tier}, sin respuestas IA. Responde AYUDA para ayuda.",
    ),
}


NO_REQUESTS = {
    None: "Your {tier} plan includes no AI answers, so texts are not answered. "
    "Reply HELP for help.",
    "fr": "Votre forfait {tier} ne comprend pas de réponses IA: vos textos restent sans "
    "réponse. Répondez AIDE pour de l'aide.",
    "es": "Tu plan {tier} no incluye respuestas IA, por eso tus mensajes no se responden. "
    "Responde AYUDA para ayuda.",
}


#: The handoff's acknowledgement when HANDOFF_ACK_TEXT is left as it is (one set otherwise is
#: sent as written, with STAFF_HOURS named in English beside it).
HANDOFF_ACK = {
    None: (HANDOFF_ACK_DEFAULT, "Staff hours: {hours}"),
    "fr": (
        "Merci. Une personne de notre équipe vous répondra ici.",
        "Horaires de l'équipe: {hours}",
    ),
    "es": (
        "Gracias. Una persona de nuestro equipo te va a responder por este medio.",
        "Horario del equipo: {hours}",
    ),
}


#: The texts sent while waiting were kept for staff and are not answered now: told only that
#: the AI answers again, a texter waited for those answers.
HANDOFF_ENDED = {
    None: "Nobody from our team could reply in time, so the AI answers again. "
    "Please resend anything still unanswered. Reply AGENT to ask for a person.",
    "fr": "Personne de notre équipe n'a pu répondre à temps: l'IA vous répond de nouveau. "
    "Renvoyez ce qui est resté sans réponse. Répondez AGENT pour une personne.",
    "es": "Nadie de nuestro equipo pudo responder a tiempo: la IA responde otra vez. Vuelve "
    "a enviar lo que siga sin respuesta. Responde AGENT para hablar con una persona.",
}


#: The notices of pictures, voice notes and other files. Spanish without á, í, ó, ú, which
#: GSM-7 does not have (é and ñ it does).
MEDIA = {
    None: "Sorry, I can read pictures (JPEG, PNG, GIF, WebP) and voice notes, but not this "
    "kind of file. Please text your question in words.",
    "fr": "Désolé, je lis les photos (JPEG, PNG, GIF, WebP) et les messages vocaux, mais pas "
    "ce type de fichier. Envoyez votre question par écrit.",
    "es": "Lo siento, leo fotos (JPEG, PNG, GIF, WebP) y notas de voz, pero no este tipo de "
    "archivo. Escribe tu pregunta con palabras.",
}

#: A WhatsApp message with nothing we read: a poll, an edit, a kind Twilio passes on as
#: "unsupported", or one whose attachment did not come.
UNSUPPORTED = {
    None: "Sorry, I can't read that kind of WhatsApp message. Please text your question in words.",
    "fr": "Désolé, je ne peux pas lire ce type de message WhatsApp. Envoyez votre question "
    "par écrit.",
    "es": "Lo siento, no puedo leer ese tipo de mensaje de WhatsApp. Escribe tu pregunta con "
    "palabras.",
}

MEDIA_NOTE = {
    None: "Note: I can't open that kind of file, so I'm answering the rest of your message.",
    "fr": "Note: je ne peux pas ouvrir ce type de fichier, je réponds donc au reste de votre "
    "message.",
    "es": "Nota: no puedo abrir ese tipo de archivo, asi que respondo al resto de tu mensaje.",
}

MEDIA_FAILED = {
    None: "Sorry, I couldn't get your picture or voice note from the network. Please send it "
    "again, or text your question in words.",
    "fr": "Désolé, je n'ai pas pu recevoir votre photo ou message vocal. Renvoyez-le, ou "
    "envoyez votre question par écrit.",
    "es": "Lo siento, no pude recibir tu foto o nota de voz. Vuelve a enviarla, o escribe tu "
    "pregunta con palabras.",
}

#: A media URL or redirect we do not fetch from: the service's setup, which sending the file
#: again would meet again.
MEDIA_UNAVAILABLE = {
    None: "Sorry, I can't read pictures or voice notes right now. Please text your question "
    "in words.",
    "fr": "Désolé, je ne peux pas lire les photos ni les messages vocaux pour le moment. "
    "Envoyez votre question par écrit.",
    "es": "Lo siento, ahora no puedo leer fotos ni notas de voz. Escribe tu pregunta con palabras.",
}

MEDIA_UNREADABLE = {
    None: "Sorry, I can't read that picture or voice note: it's too large or not a file I can "
    "open. Please text your question in words.",
    "fr": "Désolé, je ne peux pas lire cette photo ou ce message vocal: trop gros, ou un "
    "fichier que je ne sais pas ouvrir. Envoyez votre question par écrit.",
    "es": "Lo siento, no puedo leer esa foto o nota de voz: es muy grande o no es un archivo "
    "que pueda abrir. Escribe tu pregunta con palabras.",
}

#: A text's attachments larger together than MEDIA_TOTAL_MAX_BYTES.
MEDIA_TOO_LARGE = {
    None: "Sorry, your pictures and voice notes are too large together for me to read. Please "
    "send fewer at a time, or text your question in words.",
    "fr": "Désolé, vos photos et messages vocaux sont trop gros ensemble pour que je les lise. "
    "Envoyez-en moins à la fois, ou votre question par écrit.",
    "es": "Lo siento, tus fotos y notas de voz juntas son demasiado grandes para leerlas. Manda "
    "menos a la vez, o escribe tu pregunta con palabras.",
}

#: The same three, when what could not be read was a text part: the words of a long text (or
#: one to a group) that a phone sent as MMS. The texter sent no picture or voice note.
TEXT_PART_FAILED = {
    None: "Sorry, I couldn't get the words of your message from the network. Please send it again.",
    "fr": "Désolé, je n'ai pas pu recevoir le texte de votre message. Renvoyez-le.",
    "es": "Lo siento, no pude recibir el texto de tu mensaje. Vuelve a enviarlo.",
}

TEXT_PART_UNAVAILABLE = {
    None: "Sorry, I can't read long messages sent as MMS right now. Please send your question "
    "in a shorter text.",
    "fr": "Désolé, je ne peux pas lire les longs messages envoyés en MMS pour le moment. "
    "Envoyez une question plus courte.",
    "es": "Lo siento, ahora no puedo leer mensajes largos enviados como MMS. Manda una "
    "pregunta mas corta.",
}

TEXT_PART_UNREADABLE = {
    None: "Sorry, your message is too long for me to read. Please send your question in a "
    "shorter text.",
    "fr": "Désolé, votre message est trop long pour que je le lise. Envoyez une question plus "
    "courte.",
    "es": "Lo siento, tu mensaje es demasiado largo para leerlo. Manda una pregunta mas corta.",
}

#: Before the answer to the rest of a text, when a picture in it could not be fetched or
#: opened: the note, then how it names the unread attachments (the one picture sent; one,
#: or several, by their place among the text's attachments; the one text part sent, the
#: words of a long text a phone sent as MMS), and the "and" of a list.
PICTURE_NOTE = {
    None: (
        "Note: I couldn't open {which}, so I'm answering the rest of your message.",
        (
            "your picture",
            "attachment {places} of {count}",
            "attachments {places} of {count}",
            "part of your message",
        ),
        " and ",
    ),
    "fr": (
        "Note: je n'ai pas pu ouvrir {which}, je réponds donc au reste de votre message.",
        (
            "votre photo",
            "la pièce jointe {places} sur {count}",
            "les pièces jointes {places} sur {count}",
            "une partie de votre message",
        ),
        " et ",
    ),
    "es": (
        "Nota: no pude abrir {which}, asi que respondo al resto de tu mensaje.",
        (
            "tu foto",
            "el adjunto {places} de {count}",
            "los adjuntos {places} de {count}",
            "parte de tu mensaje",
        ),
        " y ",
    ),
}

#: Before the answer to the rest: the voice note may have had no words in it, or not reached
#: us, or the transcription server failed, so the note blames neither the texter nor a cause.
VOICE_NOTE = {
    None: "Note: I couldn't transcribe your voice note, so I'm answering the rest of your message.",
    "fr": "Note: je n'ai pas pu transcrire votre message vocal, je réponds donc au reste de "
    "votre message.",
    "es": "Nota: no pude transcribir tu nota de voz, asi que respondo al resto de tu mensaje.",
}

VOICE_CUT = {
    None: "Note: your voice note was long, so I only read its first part.",
    "fr": "Note: votre message vocal était long, je n'en ai lu que le début.",
    "es": "Nota: tu nota de voz era larga, asi que solo lei su primera parte.",
}

VOICE_UNHEARD = {
    None: "Sorry, I couldn't make out the words in your voice note. Please text your question "
    "in words.",
    "fr": "Désolé, je n'ai pas compris les mots de votre message vocal. Envoyez votre "
    "question par écrit.",
    "es": "Lo siento, no pude entender las palabras de tu nota de voz. Escribe tu pregunta "
    "con palabras.",
}

#: A voice note longer than we transcribe (VOICE_NOTE_MAX_BYTES), or than the transcription
#: server takes (its 413): spoken again as long, it would be refused again.
VOICE_TOO_LONG = {
    None: "Sorry, your voice note is too long for me to transcribe. Please send a shorter one, "
    "or text your question in words.",
    "fr": "Désolé, votre message vocal est trop long pour que je le transcrive. Envoyez-en un "
    "plus court, ou votre question par écrit.",
    "es": "Lo siento, tu nota de voz es demasiado larga para transcribirla. Manda una mas "
    "corta, o escribe tu pregunta con palabras.",
}

NO_VISION = {
    None: "I can't read pictures with the current model. Please describe the picture or text "
    "your question in words.",
    "fr": "Je ne peux pas lire les photos avec le modèle actuel. Décrivez la photo ou "
    "envoyez votre question par écrit.",
    "es": "No puedo leer fotos con el modelo actual. Describe la foto o escribe tu pregunta "
    "con palabras.",
}
