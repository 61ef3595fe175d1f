"""Reading a task's pictures and voice notes in the worker: fetch each from Twilio, check it,
record its type, size and sha256 (TaskMedia), and turn it into what the model gets: a
picture as an image part (a data URL, so the model server needs no access to Twilio), a
voice note as its transcript. A redelivered job reuses what was read before, and a second
run of a task whose first is still reading (the sweeper handed it on, STALE_TASK_SECONDS
having passed during a slow transcription) leaves the reading to the first: each
attachment is fetched and transcribed, and paid for, once."""

from __future__ import annotations

import base64
import codecs
import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..clean_text import is_blank, readable
from ..costs import record_model_call
from ..extensions import db
from ..models import ErrorType, Task, TaskMedia, utcnow
from ..vendors.openai import LLMError, get_llm_backend
from ..vendors.twilio_media import Fetched, MediaFetchError, get_media_source
from .audio import for_transcription
from .kinds import AUDIO, IMAGE, OTHER, TEXT, base_type, charset_of

#: Why a file sent while staff held the conversation was not read.
HELD_UNREAD = "sent while staff held the conversation"

#: The status of an attachment's row while a run fetches and transcribes it: committed
#: before the download, so another run of the task finds it (TaskMedia's unique position).
READING = "reading"

#: Asked about a picture sent without words.
DEFAULT_IMAGE_QUESTION = "What is in this picture?"

#: The first bytes of each image type we read: a picture is sent as what they show, and a
#: file that shows none of them never reaches the model.
_SIGNATURES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


#: The most of a text part's words the model is asked: a phone sends a text as MMS past a
#: few SMS, and carriers take MMS text up to about 5,000 characters. A larger file is no
#: text a texter typed, and would be paid for as prompt tokens. A voice note's transcript
#: is asked no longer (ten minutes of speech are some 9,000 characters): staff keep it whole.
_TEXT_PART_CHARS = 5_000
#: How a transcript cut to _TEXT_PART_CHARS ends, so the model knows there was more.
_CUT = " ..."
_BOM = "\ufeff"

#: What Whisper servers write for a recording with no words in it (whisper.cpp's and
#: LocalAI's "[BLANK_AUDIO]", "[ Silence ]", "(music)"): a transcript of nothing but such
#: marks heard no question.
_NO_WORDS = re.compile(r"(?:\s*(?:\[[^\[\]]*\]|\([^()]*\)))*\s*")


#: What a transcription server answers about the recording it was sent (OpenAI's 400
#: "Invalid file format", 413 for a file too large), not about itself or our account.
_ABOUT_THE_RECORDING = frozenset({400, 413, 415, 422})
_TOO_LARGE = 413


class MediaProblem(Exception):
    """A picture or voice note could not be used: the texter gets the notice `notice`, staff
    an ErrorLog of `error_type`, and the task fails (its request is given back)."""

    notice = "media_failed"
    error_type = ErrorType.TWILIO_ERROR


class MediaUnreadable(MediaProblem):
    def __init__(
        self, message: str, *, error_type: str = ErrorType.TWILIO_ERROR, notice: str | None = None
    ):
        super().__init__(message)
        self.error_type = error_type
        self.notice = notice or self.notice


class VoiceUnheard(MediaUnreadable):
    """A voice note fetched but not understood: no words in it, or a recording the
    transcription server cannot read. Sending it again would fail again, so the texter is
    told to write instead of being told it was lost on the way."""

    def __init__(self, message: str):
        super().__init__(message, error_type=ErrorType.OPENAI_ERROR, notice="voice_unheard")


class VoiceTooLong(MediaUnreadable):
    """A voice note longer than we transcribe (VOICE_NOTE_MAX_BYTES) or than the server takes
    (its 413): the texter is told it was too long, not that its words were not heard."""

    def __init__(self, message: str, *, error_type: str):
        super().__init__(message, error_type=error_type, notice="voice_too_long")


class TooMuchMedia(MediaUnreadable):
    """The text's attachments together are larger than MEDIA_TOTAL_MAX_BYTES: the text is
    not answered (the one past the limit is not read, a voice note never transcribed), and
    the texter is asked to send fewer at a time."""

    def __init__(self, message: str):
        super().__init__(message, error_type=ErrorType.VALIDATION_ERROR, notice="media_too_large")


class ImagesRefused(MediaProblem):
    """The model server answered 400 to a request with an image: it cannot read pictures.
    Asking again would only fail again, so the texter is told instead."""

    notice = "no_vision"
    error_type = ErrorType.OPENAI_ERROR


class ImageUnopened(ImagesRefused):
    """The model server reads pictures but refused this one (broken, an animated GIF, a
    format it does not take): the texter is told the file will not do, not that the model
    reads no pictures, which would keep them from sending any."""

    notice = "media_unreadable"


class BeingRead(Exception):
    """Another run of this task is fetching or transcribing an attachment now: this run
    stops (the task stays with the other), rather than pay for the same transcription."""


@dataclass
class MediaInput:
    images: list[str] = field(default_factory=list)  # data URLs
    transcripts: list[str] = field(default_factory=list)
    #: Why the attachments left out of an answered text were (a picture or voice note not
    #: fetched, a voice note not heard), read this run: staff get an ErrorLog for each.
    unread: list[MediaUnreadable] = field(default_factory=list)

    def question(self, body: str) -> str:
        """The texter's words, with their text parts' and what their voice notes said (a
        text part saying what the body says once); a picture alone gets a default question."""
        parts = [] if is_blank(body) else [body.strip()]
        parts += [said for said in self.transcripts if said not in parts]
        if not parts and self.images:
            parts = [DEFAULT_IMAGE_QUESTION]
        return "\n".join(parts)

    def without_images(self) -> MediaInput:
        """What the voice notes gave, the pictures left out."""
        return MediaInput(transcripts=self.transcripts, unread=self.unread)

    def content(self, question: str) -> str | list[dict]:
        """The user message's content: plain text, or text and image parts."""
        if not self.images:
            return question
        images = [{"type": "image_url", "image_url": {"url": url}} for url in self.images]
        return [{"type": "text", "text": question}, *images]


def attachments_of(task: Task) -> list[dict]:
    return list((task.metadata_ or {}).get("media") or [])


def words_of(task: Task) -> str:
    """What the texter said in the task's text: its words, and what its voice notes said
    (as far as they were transcribed), whose language its notices are written in. A text
    with no voice note is its words alone, and its media rows are not loaded for it."""
    if not any(item.get("kind") in (AUDIO, TEXT) for item in attachments_of(task)):
        return task.sms_content
    heard = [row.transcript for row in task.media if row.kind != IMAGE and row.transcript]
    return "\n".join(part for part in [task.sms_content, *heard] if not is_blank(part))


def has_unread_files(task: Task) -> bool:
    """A video or another file we do not read came with the text: its answer is preceded by
    a note saying so (`media_note`)."""
    return any((item.get("kind") or OTHER) == OTHER for item in attachments_of(task))


def read_media(task: Task, last_try: bool = False) -> MediaInput:
    """What the task's attachments say; raises MediaUnreadable when one cannot be read (the
    row records why). The caller commits the rows. A transcription that fails in a way that
    passes (a timeout, a busy server) goes up for the job to retry, unless this is the
    job's `last_try`: then that voice note is given up on alone, as one not fetched is.

    Fetching and transcribing take seconds, so the read transaction ends before them and
    they hold no pooled connection (a worker runs hundreds of jobs on DB_POOL_SIZE
    connections). Called, like the model call, with nothing written since the last commit
    and with loaded rows kept across commits (pipeline.kept_across_commits)."""
    done = _loaded_before_fetching(task)
    found = MediaInput()
    unread = found.unread
    room = _room(done.values())
    for item in attachments_of(task):
        position = _position(item)
        row = done.get(position)
        try:
            if row is None or _abandoned(row):
                row = _record(task, item, position, row, last_try, room)
                room -= _read_size(row)
            elif row.status == READING:
                raise BeingRead(f"task {task.id}: media {position} is being read by another run")
        except TooMuchMedia:
            raise  # no answer to part of what was sent: the texter is told to send less
        except MediaUnreadable as exc:
            # A picture or voice note not fetched, opened or heard: its row says why, and
            # the rest of the text may still be answered.
            unread.append(exc)
            continue
        if row.status == "read":
            _use(row, found)
    if unread and not found.question(task.sms_content):
        raise unread[0]  # nothing else to answer: the texter is told why
    return found


def unopened_pictures(task: Task) -> list[int]:
    """Where (1 to the number of attachments) the text's unread attachments were, when a
    picture or a text part (the texter's words a phone sent as MMS) among them could not be
    fetched or opened and the rest is answered: a note names them before the answer
    (`picture_note`); [] for none. Its rows are loaded only for a text with a picture or a
    text part."""
    items = attachments_of(task)
    if not any(item.get("kind") in _NAMED_UNREAD for item in items):
        return []
    failed = {row.position: row.kind for row in task.media if _unopened(row)}
    if not _NAMED_UNREAD & set(failed.values()):
        return []
    return [n for n, item in enumerate(items, start=1) if _position(item) in failed]


#: The attachments whose loss the note before an answer names: a text part's words are as
#: much the texter's question as a picture.
_NAMED_UNREAD = frozenset({IMAGE, TEXT})


def _unopened(row: TaskMedia) -> bool:
    """Not read, but for a text part fetched with no words in it: it said nothing to miss."""
    fetched_empty = row.kind == TEXT and row.size is not None
    return row.status in ("failed", "refused") and not fetched_empty


def leave_out_pictures(task: Task, why: str) -> None:
    """The model server refused the text's pictures though it reads pictures: each one read
    is recorded unopened, with `why`, as one that could not be fetched is (unopened_pictures
    names them in the note before the answer to the rest)."""
    for row in task.media:
        if row.kind == IMAGE and row.status == "read":
            _failed(row, why)


def read_for_staff_before(task: Task) -> MediaInput:
    """What a held text's attachments said, as read_for_staff recorded them."""
    found = MediaInput()
    for row in task.media:
        if row.status == "read":
            _use(row, found)
    return found


def has_unheard_voice_notes(task: Task) -> bool:
    """A voice note with no words heard, or not fetched, came beside words, a picture or
    another voice note, and the rest is answered: a note says so before the answer
    (`voice_note`). Its rows are loaded only for a text with a voice note."""
    if not any(item.get("kind") == AUDIO for item in attachments_of(task)):
        return False
    return any(row.kind == AUDIO and row.status == "failed" for row in task.media)


def _abandoned(row: TaskMedia) -> bool:
    """A read begun longer ago than the configured timeouts let one take (fetch, then
    transcription with its retries) and the sweep's wait: its run died, so it starts again."""
    config = current_app.config
    longest = config["MEDIA_TIMEOUT"] + config["OPENAI_TIMEOUT"] * (
        1 + config["OPENAI_MAX_RETRIES"]
    )
    limit = timedelta(seconds=config["STALE_TASK_SECONDS"] + longest)
    return row.status == READING and row.created_at < utcnow() - limit


def _start_reading(task: Task, item: dict, position: int, row: TaskMedia | None) -> TaskMedia:
    """The attachment's row in status reading, committed before the download: a second run
    of the task (the unique position) cannot start the same read meanwhile."""
    if row is None:
        row = _new_row(task, item, position, status=READING)
    row.created_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError as exc:  # another run committed its row first
        db.session.rollback()
        raise BeingRead(f"task {task.id}: media {position} is being read by another run") from exc
    return row


def _position(item: dict) -> int:
    return int(item.get("position") or 0)


def _loaded_before_fetching(task: Task) -> dict[int, TaskMedia]:
    """The task's media rows read before, by position; when some attachment is still to be
    fetched, the read transaction then ends (a bare COMMIT: nothing is written yet), so the
    downloads and transcriptions hold no pooled connection."""
    done = {item.position: item for item in task.media}
    if any(_position(item) not in done for item in attachments_of(task)):
        db.session.commit()
    return done


def read_for_staff(task: Task) -> None:
    """A text held for staff is never sent to the model, but staff see what it carried: each
    picture is fetched and kept for its thumbnail, each voice note transcribed (staff could
    not otherwise know what it said: the recording is never kept), or recorded as failed,
    with why; another file is recorded unread. The caller commits the rows (and keeps loaded
    rows across commits, as read_media's does)."""
    done = _loaded_before_fetching(task)
    room = _room(done.values())
    for item in attachments_of(task):
        position = _position(item)
        if position in done:
            continue
        if item.get("kind") in (IMAGE, AUDIO, TEXT):
            with contextlib.suppress(MediaUnreadable):  # the row says why
                room -= _read_size(_record(task, item, position, last_try=True, room=room))
            continue
        _new_row(task, item, position, status="refused", error_message=HELD_UNREAD)


def _room(rows) -> int:
    """How many bytes the text's attachments still to be read may take together: what
    MEDIA_TOTAL_MAX_BYTES leaves past those read (by an earlier run too)."""
    return current_app.config["MEDIA_TOTAL_MAX_BYTES"] - sum(map(_read_size, rows))


def _read_size(row: TaskMedia) -> int:
    return (row.size or 0) if row.status == "read" else 0


def _new_row(task: Task, item: dict, position: int, **outcome) -> TaskMedia:
    """The task's row for one attachment, with the type and kind the webhook stored."""
    row = TaskMedia(
        position=position,
        content_type=base_type(item.get("content_type"))[:100] or "unknown",
        kind=item.get("kind") or OTHER,
        **outcome,
    )
    task.media.append(row)
    return row


def _failed(row: TaskMedia, why: str) -> None:
    """`row` recorded as not read, and why (as much as its column holds)."""
    row.status, row.error_message = "failed", why[:500]


def _record(
    task: Task,
    item: dict,
    position: int,
    row: TaskMedia | None = None,
    last_try: bool = False,
    room: int | None = None,
) -> TaskMedia:
    """Fetch and read one attachment, into `row` when an abandoned read left one; on the
    `last_try` (or for staff, whom no retry serves) a transcription that fails is final.
    `room`: the bytes the text's attachments may still take together (_room)."""
    kind = item.get("kind") or OTHER
    if kind == OTHER:
        return _new_row(task, item, position, status="refused")
    row = _start_reading(task, item, position, row)
    try:
        return _read_into(task, item, position, row, last_try, room)
    except (MediaUnreadable, LLMError):
        raise
    except Exception:
        _give_up_reading(row)
        raise


def _give_up_reading(row: TaskMedia) -> None:
    """A read that ended in anything but a media or model error (a database outage, a bug)
    leaves no row `reading`: the next run of the task would take it for another run's and
    stop, and a failed task would keep it for ever. Best effort: with the database still
    down, the row is taken back once the read counts as abandoned (`_abandoned`)."""
    [row_id] = sa.inspect(row).identity  # committed by _start_reading; read without SQL
    db.session.rollback()
    with contextlib.suppress(SQLAlchemyError):
        db.session.execute(
            sa.delete(TaskMedia).where(TaskMedia.id == row_id, TaskMedia.status == READING)
        )
        db.session.commit()
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()


def _read_into(
    task: Task,
    item: dict,
    position: int,
    row: TaskMedia,
    last_try: bool = False,
    room: int | None = None,
) -> TaskMedia:
    kind = item.get("kind") or OTHER
    row.status = "read"
    try:
        fetched = get_media_source(current_app.config).fetch(item.get("url") or "")
        _check(row, fetched.data)
    except VoiceTooLong as exc:
        _failed(row, str(exc))
        raise VoiceTooLong(f"media {position}: {exc}", error_type=exc.error_type) from exc
    except MediaFetchError as exc:
        _failed(row, str(exc))
        error_type = ErrorType.VALIDATION_ERROR if exc.refused else ErrorType.TWILIO_ERROR
        notice = _notice_for(exc)
        raise MediaUnreadable(
            f"media {position}: {exc}", error_type=error_type, notice=notice
        ) from exc
    row.size, row.sha256 = len(fetched.data), hashlib.sha256(fetched.data).hexdigest()
    if room is not None and row.size > room:
        total = current_app.config["MEDIA_TOTAL_MAX_BYTES"]
        why = (
            f"the text's attachments together are larger than MEDIA_TOTAL_MAX_BYTES ({total} bytes)"
        )
        _failed(row, why)
        raise TooMuchMedia(f"media {position}: {why}")
    if kind == IMAGE:
        row.data = fetched.data
    elif kind == TEXT:
        row.transcript = _words(row, fetched, item.get("charset") or "")
    else:
        try:
            row.transcript = _transcribe(task, row, fetched.data)
        except LLMError as exc:
            # On the last try, when the server said to wait longer than any retry waits
            # (LLMError.waits_too_long, on which the job gives up), or when no retry would
            # help (our key refused, no transcription on the server): staff are shown why,
            # and the rest of the text is answered.
            if last_try or exc.waits_too_long or not exc.retryable:
                _failed(row, f"not transcribed: {exc}")
                # Alone, it fails the text as any failure of the model on its last try.
                raise MediaUnreadable(
                    f"voice note {position}: {exc}", error_type=exc.error_type, notice="apology"
                ) from exc
            task.media.remove(row)  # worth another try: the retried job reads it again
            raise
    return row


def _notice_for(exc: MediaFetchError) -> str | None:
    """What the texter is told: media_failed (send it again) for a fetch that may work next
    time; where the same file would fail again, why: the file itself (too large, not the
    picture named), or our setup (a URL or redirect we do not fetch from, our credentials
    refused)."""
    if exc.unusable:
        return "media_unreadable"
    return "media_unavailable" if exc.refused or exc.lasting else None


def _check(row: TaskMedia, data: bytes) -> None:
    """A picture is read as the type its first bytes show, when it is one we read: phones
    and carriers name a PNG screenshot "image/jpeg". Anything else never reaches the model."""
    if not data and row.kind != TEXT:  # sent again, it would be just as empty
        raise MediaFetchError("the media was empty", unusable=True)
    longest = current_app.config["VOICE_NOTE_MAX_BYTES"]
    if row.kind == AUDIO and len(data) > longest:
        # Transcription is billed by the minute, and a 5 MB recording is most of an hour.
        raise VoiceTooLong(
            f"a voice note larger than VOICE_NOTE_MAX_BYTES ({longest} bytes)",
            error_type=ErrorType.TWILIO_ERROR,
        )
    if row.content_type not in _SIGNATURES:
        return
    shown = _picture_type(data)
    if shown is None:
        raise MediaFetchError(
            f"the file is not the {row.content_type} Twilio said it was", unusable=True
        )
    row.content_type = shown


def _picture_type(data: bytes) -> str | None:
    """The type of picture we read that `data` is, by its first bytes; None for no such."""
    for content_type, signatures in _SIGNATURES.items():
        if data.startswith(signatures) and (content_type != "image/webp" or data[8:12] == b"WEBP"):
            return content_type
    return None


def _transcribe(task: Task, row: TaskMedia, data: bytes) -> str:
    """A refusal of the recording itself (a format the server cannot read) means it cannot
    be transcribed, which the texter is told; any other failure (a timeout, a 5xx, our key
    refused, a server with no transcription) is the server's, and goes up. A transcription
    made is paid for, so it is recorded as a model call with its price."""
    sent = for_transcription(data, row.content_type)
    try:
        transcript = get_llm_backend().transcribe(*sent)
    except LLMError as exc:
        if exc.retryable or exc.status not in _ABOUT_THE_RECORDING:
            raise
        _failed(row, str(exc))
        why = f"voice note {row.position}: {exc}"
        if exc.status == _TOO_LARGE:
            raise VoiceTooLong(why, error_type=ErrorType.OPENAI_ERROR) from exc
        raise VoiceUnheard(why) from exc
    record_model_call(task, transcript)
    text = transcript.text
    if _NO_WORDS.fullmatch(text):
        _failed(row, "the transcript was empty")
        raise VoiceUnheard(f"voice note {row.position}: no words heard")
    return text


def _words(row: TaskMedia, fetched: Fetched, named: str = "") -> str:
    """A text part's words: read in the charset the file is served with, else the one its
    MediaContentType named (`named`), else guessed (_decoded); less what no reader sees,
    and no longer than a text a phone sends as MMS. One with nothing visible is as a Body
    with nothing visible: the texter gets `empty`."""
    text = _decoded(fetched.data, charset_of(fetched.content_type) or named or None)
    # A byte order mark (UTF-8's, which some phones and tools write) is no word of theirs.
    words = readable(text.removeprefix(_BOM)).strip()[:_TEXT_PART_CHARS]
    if is_blank(words):
        _failed(row, "the text part had no words")
        why = f"text part {row.position}: no words"
        raise MediaUnreadable(why, error_type=ErrorType.VALIDATION_ERROR, notice="empty")
    return words


def _decoded(data: bytes, charset: str | None) -> str:
    """`data` in `charset` when Python knows it; with none named, UTF-16 when its byte order
    mark says so, else UTF-8 (what phones send), else Windows' Latin (what a file that is
    no UTF-8 most often is): read as UTF-8, its accents were each a U+FFFD."""
    if charset:
        with contextlib.suppress(LookupError):  # a charset Python does not know
            return data.decode(charset, errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _use(row: TaskMedia, found: MediaInput) -> None:
    if row.kind == IMAGE and row.data:
        encoded = base64.b64encode(row.data).decode("ascii")
        found.images.append(f"data:{row.content_type};base64,{encoded}")
    elif row.transcript and not is_blank(row.transcript):  # a voice note's, a text part's
        room = _TEXT_PART_CHARS - _length(found.transcripts)
        if room > len(_CUT):
            found.transcripts.append(_asked(row.transcript, room))


def _length(words: list[str]) -> int:
    """How long `words` are, one per line."""
    return sum(len(said) + 1 for said in words)


def _asked(transcript: str, most: int) -> str:
    """As much of a transcript as the model is asked: all of it, or its first `most`
    characters cut between words, marked as cut."""
    if len(transcript) <= most:
        return transcript
    kept = transcript[: most - len(_CUT) + 1]
    return kept.rsplit(None, 1)[0].rstrip() + _CUT


def has_cut_voice_notes(task: Task) -> bool:
    """The words of the text's voice notes (and text parts) were longer together than the
    model is asked (_TEXT_PART_CHARS): the texter is told before the answer (`voice_cut`).
    Its rows are loaded only for a text with a voice note."""
    if not any(item.get("kind") == AUDIO for item in attachments_of(task)):
        return False
    heard = [row.transcript for row in task.media if row.status == "read" and row.transcript]
    return _length(heard) > _TEXT_PART_CHARS + 1
