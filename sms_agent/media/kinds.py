"""Which media types we read: pictures go to the model as images, voice notes and other audio
are transcribed, a text part's words are read as the texter's; anything else (video, vCards,
PDFs) is refused politely."""

from __future__ import annotations

import mimetypes
import os
import re

IMAGE = "image"
AUDIO = "audio"
TEXT = "text"
OTHER = "other"

#: What chat models accept as image input.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
#: What WhatsApp voice notes and MMS audio arrive as, and what the transcription API takes.
AUDIO_TYPES = frozenset(
    {
        "audio/ogg",
        "audio/amr",
        # wideband AMR (16 kHz), which many handsets record voice notes in
        "audio/amr-wb",
        "audio/mpeg",
        "audio/mp3",
        "audio/mp4",
        "audio/m4a",
        "audio/x-m4a",
        "audio/aac",
        "audio/wav",
        "audio/x-wav",
        "audio/webm",
        "audio/flac",
        # MMS voice recordings from many handsets: 3GPP files, AMR inside (like audio/amr,
        # read or not as the transcription server can)
        "audio/3gpp",
        "audio/3gpp2",
        # also among the audio types Twilio lists for MMS: mu-law (.au) and AC-3
        "audio/basic",
        "audio/ac3",
    }
)

#: The words of a text some phones send as MMS (a long one, or one sent to a group): a
#: text/plain part, with no Body.
TEXT_TYPES = frozenset({"text/plain"})

#: The file name extension the transcription API needs to recognise the format.
AUDIO_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/amr": "amr",
    "audio/amr-wb": "awb",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/webm": "webm",
    "audio/flac": "flac",
    "audio/3gpp": "3gp",
    "audio/3gpp2": "3g2",
    "audio/basic": "au",
    "audio/ac3": "ac3",
}


#: The type of a file staff attach by its name's extension (Try it, `flask sms simulate
#: --media`): the types we read, whatever the system's mime.types says. Python took ".webm",
#: the file a browser records a voice note in (WebM/Opus), for video/webm, and refused it.
FILE_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "webm": "audio/webm",
    "weba": "audio/webm",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "amr": "audio/amr",
    "awb": "audio/amr-wb",
    "3gp": "audio/3gpp",
    "3g2": "audio/3gpp2",
}


def file_type(filename: str | None) -> str:
    """The media type of a file by its name: ours for the types we read, else the system's
    guess, else application/octet-stream (a file we do not read)."""
    name = filename or ""
    ours = FILE_TYPES.get(os.path.splitext(name)[1].lstrip(".").lower())
    return ours or mimetypes.guess_type(name)[0] or "application/octet-stream"


#: Other names phones and carriers give a type: JPEG is often "image/jpg" (a name Twilio
#: lists among the types it takes), from older software "image/pjpeg"; voice recordings
#: come as "audio/amr-nb" and "audio/vnd.wave" (names Twilio lists too), Ogg ones as
#: "audio/vorbis" or "audio/opus". Read under another name, they were refused as files.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/amr-nb": "audio/amr",
    "audio/vnd.wave": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vorbis": "audio/ogg",
    "audio/opus": "audio/ogg",
    "audio/x-flac": "audio/flac",
}


def base_type(content_type: str | None) -> str:
    """ "image/JPEG; charset=x" -> "image/jpeg", and "image/jpg" too."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(value, value)


_CHARSET = re.compile(r";\s*charset=\"?([\w.:-]{1,40})", re.IGNORECASE)


def charset_of(content_type: str | None) -> str:
    """ "text/plain; charset=Shift_JIS" -> "shift_jis"; "" when it names none."""
    found = _CHARSET.search(content_type or "")
    return found[1].lower() if found else ""


#: The layout part (SMIL) that phones add to an MMS to place its pictures and text: not
#: something the texter chose to send, so neither read nor a file we cannot read.
LAYOUT_TYPES = frozenset({"application/smil", "application/smil+xml"})


def is_layout(content_type: str | None) -> bool:
    return base_type(content_type) in LAYOUT_TYPES


def kind_of(content_type: str | None) -> str:
    """image, audio, text or other, by Twilio's MediaContentType{N}."""
    value = base_type(content_type)
    if value in IMAGE_TYPES:
        return IMAGE
    if value in AUDIO_TYPES:
        return AUDIO
    return TEXT if value in TEXT_TYPES else OTHER
