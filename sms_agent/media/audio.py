"""Voice notes in a format the transcription API takes: MMS recordings come as AMR, in 3GPP
files or as bare AAC, which OpenAI's transcription refuses ("Invalid file format"; it takes
flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav and webm). Those are decoded here (PyAV bundles
ffmpeg's decoders) and sent as Ogg Opus."""

from __future__ import annotations

import io
import itertools
import logging

from .kinds import AUDIO_EXTENSIONS

log = logging.getLogger("sms_agent.media")

#: What handsets send (and Twilio takes for MMS) that OpenAI's transcription refuses.
TRANSCODED = frozenset(
    {
        "audio/amr",
        "audio/amr-wb",
        "audio/3gpp",
        "audio/3gpp2",
        "audio/aac",
        "audio/basic",
        "audio/ac3",
    }
)

#: Speech as Whisper hears it (16 kHz mono), at AMR's own 12 kbit/s: a transcription whose
#: server reports no length is priced by the bytes as MMS voice (vendors/usage.py), which
#: a larger file would make dearer than it was.
_RATE, _BITRATE = 16_000, 12_000


def for_transcription(data: bytes, content_type: str) -> tuple[bytes, str, str]:
    """(data, file name, type) to send for a voice note of `content_type`: as it came when
    the API takes it, else as Ogg Opus. A file that does not decode is sent as it came, for
    the server to say whether it reads it (a self-hosted one may)."""
    opus = _as_ogg_opus(data, content_type) if content_type in TRANSCODED else None
    if opus:
        return opus, "voice-note.ogg", "audio/ogg"
    return data, f"voice-note.{AUDIO_EXTENSIONS.get(content_type, 'ogg')}", content_type


def _as_ogg_opus(data: bytes, content_type: str) -> bytes | None:
    # Imported here: only a worker reading such a voice note loads ffmpeg's libraries
    # (some 30 MB a process), never the web processes.
    import av

    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(data)) as source, av.open(out, "w", format="ogg") as target:
            stream = target.add_stream("libopus", rate=_RATE, layout="mono")
            stream.bit_rate = _BITRATE
            resampler = av.AudioResampler(format="s16", layout="mono", rate=_RATE)
            for frame in itertools.chain(source.decode(audio=0), [None]):  # None: the rest
                for resampled in resampler.resample(frame):
                    target.mux(stream.encode(resampled))
            target.mux(stream.encode(None))
    except (av.FFmpegError, ValueError, IndexError) as exc:
        log.warning("a %s voice note did not decode (%s); sent as it came", content_type, exc)
        return None
    return out.getvalue()
