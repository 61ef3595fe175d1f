"""Local stand-ins for OpenAI and Twilio: real HTTP servers on 127.0.0.1 that the real SDKs
talk to, answering from a script and recording every request they get."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import secrets
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av


@dataclass(frozen=True)
class Raw:
    """A reply body sent as these bytes, not as JSON: a proxy's HTML error page, a JSON
    document cut short."""

    data: bytes
    content_type: str = "application/json"


class _ClosingServer(ThreadingHTTPServer):
    """Counts the connections it has closed (StandIn.hung_up waits for one)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.closed = threading.Semaphore(0)

    def shutdown_request(self, request) -> None:
        super().shutdown_request(request)
        self.closed.release()


class StandIn:
    """Answers each request with the next scripted (status, body, headers); when the script
    is used up it repeats `default`. Requests are recorded as (method, path, body), and the
    client's port of each in `client_ports` (one port for requests over one connection)."""

    def __init__(self, default):
        self.default = default
        self.script: list[tuple[int, dict, dict]] = []
        self.requests: list[tuple[str, str, object]] = []
        self.headers: list[dict[str, str]] = []
        self.client_ports: list[int] = []
        #: Close each connection after answering, without saying so, as a vendor's load
        #: balancer does with a connection left idle too long.
        self.hang_up_after_reply = False
        #: Seconds to wait before each answer, as a slow vendor does.
        self.delay = 0.0
        #: Files served to GET at their path: path -> (status, content type, bytes, headers).
        self.files: dict[str, tuple[int, str, bytes, dict]] = {}
        self.server = _ClosingServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def hung_up(self, timeout: float = 10.0) -> None:
        """Until the stand-in has closed a connection (its FIN sent): the reply reaches the
        client before the server's thread closes, which on a busy machine took longer than
        a test's fixed wait, so the next request went out on the connection being closed."""
        assert self.server.closed.acquire(timeout=timeout), "no connection was closed"

    def then(self, status: int, body: dict | Raw | None, headers: dict | None = None) -> StandIn:
        self.script.append((status, body, headers or {}))
        return self

    def serve(
        self, path: str, content_type: str, data: bytes, status: int = 200, **headers: str
    ) -> str:
        """Serve `data` to GET `path`; its URL."""
        self.files[path] = (status, content_type, data, headers)
        return self.url + path

    def _next(self, method: str, path: str, body: object):
        self.requests.append((method, path, body))
        time.sleep(self.delay)
        reply = self.script.pop(0) if self.script else self.default(method, path, body)
        return reply

    def _handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open, as the vendors do
            disable_nagle_algorithm = True  # headers and body are two writes

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                kind = self.headers.get("Content-Type", "")
                if "multipart" in kind:
                    body = raw  # an audio upload: kept as the bytes that came
                elif "json" in kind:
                    body = json.loads(raw.decode())
                else:
                    body = dict(urllib.parse.parse_qsl(raw.decode()))
                self._answer_json("POST", body)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                """A media file served with serve(), else the scripted or default answer."""
                path = self.path.split("?")[0]
                if path in stand_in.files or "/Media/" in path:
                    self._send_file()  # a media file, or Twilio's 404 for one never served
                    return
                self._answer_json("GET", None)

            def _answer_json(self, method: str, body) -> None:
                self._note_client()
                status, payload, headers = stand_in._next(method, self.path, body)
                if isinstance(payload, Raw):
                    self._reply(status, payload.content_type, payload.data, headers)
                else:
                    self._reply(status, "application/json", json.dumps(payload).encode(), headers)

            def _send_file(self):
                self._note_client()
                stand_in.requests.append(("GET", self.path, None))
                status, kind, data, headers = stand_in.files.get(
                    self.path.split("?")[0], (404, "application/json", b'{"status": 404}', {})
                )
                self._reply(status, kind, data, headers)

            def _note_client(self) -> None:
                stand_in.headers.append(dict(self.headers))
                stand_in.client_ports.append(self.client_address[1])

            def _reply(self, status: int, kind: str, data: bytes, headers: dict) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = stand_in.hang_up_after_reply

            def log_message(self, *_args):
                pass

        return Handler

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def chat_completion(
    content: str,
    finish_reason: str = "stop",
    tokens: int = 42,
    completion_tokens: int = 10,
    model: str = "standin-model",
    cached_tokens: int = 0,
) -> dict:
    """An answer with the usage a real model reports: `tokens` in all, of which
    `completion_tokens` were generated and the rest were the prompt, `cached_tokens` of it
    read from the server's prompt cache (reported, as OpenAI does, even when 0)."""
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": tokens - completion_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
        },
    }


def tool_call_completion(name: str, arguments: str = "{}", content: str | None = None) -> dict:
    """The model calling one tool instead of answering (OpenAI's function-calling shape),
    with `content` beside the call when the model says something as it calls."""
    body = chat_completion("")
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": content,
        "refusal": None,
        "tool_calls": [
            {
                "id": f"call_{name}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        ],
    }
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def refusal_completion(refusal: str = "I'm sorry, but I can't help with that.") -> dict:
    """The model refusing, as OpenAI reports it: no content, the words in `refusal`."""
    body = chat_completion("")
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": refusal}
    return body


def failed_midway_completion(partial: str, message: str = "Provider returned error") -> dict:
    """The provider failing after the answer began, as OpenRouter reports it: a 200 whose
    choice stops with finish_reason "error", holds the words written so far and says why."""
    body = chat_completion(partial, finish_reason="error")
    body["choices"][0]["native_finish_reason"] = "error"
    body["choices"][0]["error"] = {"code": 502, "message": message}
    return body


#: 200s that are not a chat completion, as proxies, gateways and broken compatible servers
#: send them: (name, body).
NOT_COMPLETIONS = [
    ("an HTML gateway page", Raw(b"<html><h1>502 Bad Gateway</h1></html>", "text/html")),
    ("JSON cut short", Raw(b'{"id": "chatcmpl-1", "choices": [{"index": 0, "mess')),
    ("an empty JSON body", Raw(b"")),
    ("null", None),
    ("an empty array", []),
    ("no message", {**chat_completion(""), "choices": [{"index": 0, "message": None}]}),
    ("no choices", {**chat_completion(""), "choices": []}),
]


def streamed_completion(
    content: str, deltas: list[dict] | None = None, ending: list[dict] | None = None
) -> Raw:
    """`content` as a server streams it (text/event-stream): a chunk a word (or `deltas`),
    then [DONE]. With `ending`, the stream breaks off instead: the last chunk says no
    finish_reason, and those events (a server's error event) close it, without [DONE]."""
    words = content.split(" ")
    deltas = deltas or [{"role": "assistant", "content": ""}] + [
        {"content": word if not n else " " + word} for n, word in enumerate(words)
    ]
    chunks = [
        {
            "id": "chatcmpl-standin",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "standin-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        for delta in deltas
    ]
    if ending is None:
        chunks[-1]["choices"][0]["finish_reason"] = "stop"
    events = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks + (ending or []))
    events += "data: [DONE]\n\n" if ending is None else ""
    return Raw(events.encode(), "text/event-stream")


def openai_error(message: str, code: str | None, type_: str = "server_error") -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


#: The files OpenAI's transcription takes, by their name's extension; others get its 400.
TRANSCRIBED_FORMATS = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"]


def _transcription(body: bytes, transcript: str):
    named = re.search(rb'filename="[^"]*\.(\w+)"', body or b"")
    if named is None or named[1].decode().lower() not in TRANSCRIBED_FORMATS:
        message = f"Invalid file format. Supported formats: {TRANSCRIBED_FORMATS}"
        return 400, openai_error(message, "invalid_value", "invalid_request_error"), {}
    return 200, {"text": transcript}, {"x-request-id": "req_transcript"}


def extra_forbidden(field: str, value) -> dict:
    """Mistral's API refusing a field it does not know (its request schema forbids extras)."""
    detail = {
        "type": "extra_forbidden",
        "loc": ["body", field],
        "msg": "Extra inputs are not permitted",
        "input": value,
    }
    return {
        "object": "error",
        "message": {"detail": [detail]},
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def openai_standin(
    answer: str = "Paris is the capital of France.",
    transcript: str = "What time is it in Tokyo?",
    *,
    refuse_tools: int | None = None,
    human_when: str | None = None,
    parses_tool_history: bool = False,
    knows_max_completion_tokens: bool = True,
    refuse_system: str | None = None,
    streams_unless_told: bool = False,
) -> StandIn:
    """A model server: chat completions (text or image parts alike) and audio
    transcriptions. `refuse_tools=400` (or 422) refuses every request that offers tools, as
    servers without function calling do (500: as llama.cpp's does without --jinja);
    `human_when` makes the model call request_human when the texter's last message
    contains that text (if tools were offered);
    `parses_tool_history` refuses (400) a request replaying a tool call whose arguments are
    not a JSON object, as vLLM and SGLang do when they render it for the model;
    `knows_max_completion_tokens=False` refuses (422) a request that caps the answer with
    max_completion_tokens rather than max_tokens, as Mistral's API does;
    `refuse_system` is what vLLM answers (400) to a request with a system message when the
    model's chat template raises that error (Gemma's "System role not supported");
    `streams_unless_told` answers a request that does not say "stream": false with server-sent
    events, as servers whose stream defaults to true do (Unsloth's, OmniRoute, mini-sglang)."""

    def default(_method, path, body):
        if path.endswith("/audio/transcriptions"):
            return _transcription(body, transcript)
        tools = isinstance(body, dict) and body.get("tools")
        if tools and refuse_tools == 500:  # llama.cpp's server started without --jinja
            error = {"code": 500, "message": "tools param requires --jinja flag"}
            return 500, {"error": {**error, "type": "server_error"}}, {}
        if tools and refuse_tools:
            error = openai_error("tools are not supported by this server", None, "invalid_request")
            return refuse_tools, error, {}
        if not knows_max_completion_tokens and "max_completion_tokens" in (body or {}):
            return 422, extra_forbidden("max_completion_tokens", body["max_completion_tokens"]), {}
        roles = [turn.get("role") for turn in (body or {}).get("messages", [])]
        if refuse_system and "system" in roles:
            error = {"object": "error", "message": refuse_system, "type": "BadRequestError"}
            return 400, {**error, "param": None, "code": 400}, {}
        if streams_unless_told and (body or {}).get("stream") is not False:
            return 200, streamed_completion(answer), {}
        if parses_tool_history and not all(map(_object_json, _replayed_arguments(body))):
            return 400, openai_error("Expecting value: line 1 column 1", None, "BadRequest"), {}
        last = (body.get("messages") or [{}])[-1].get("content") or "" if body else ""
        if isinstance(last, list):  # image parts: the words are in the text parts
            last = " ".join(part.get("text", "") for part in last if isinstance(part, dict))
        if tools and human_when and human_when.lower() in last.lower():
            return 200, tool_call_completion("request_human"), {"x-request-id": "req_standin"}
        return 200, chat_completion(answer), {"x-request-id": "req_standin"}

    return StandIn(default)


def _replayed_arguments(body: dict) -> list:
    turns = [turn for turn in body.get("messages", []) if turn.get("role") == "assistant"]
    return [call["function"]["arguments"] for turn in turns for call in turn.get("tool_calls", [])]


def _object_json(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def twilio_message(body: dict) -> dict:
    return {
        "sid": "SM" + secrets.token_hex(16),
        "status": "queued",
        "to": body.get("To"),
        "from": body.get("From"),
        "body": body.get("Body"),
        "num_segments": "1",
    }


def twilio_error(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message, "more_info": "", "status": status}


#: What the Twilio stand-in charges for any message it is asked about (a debit, as Twilio
#: reports it).
STANDIN_PRICE = "-0.00790"


def twilio_priced_message(path: str, price: str | None = STANDIN_PRICE, unit="USD") -> dict:
    """GET .../Messages/{Sid}.json: the message, final and priced."""
    sid = path.rsplit("/", 1)[-1].removesuffix(".json")
    return {"sid": sid, "status": "delivered", "price": price, "price_unit": unit}


#: Twilio's limit on an outgoing Body, on every channel (error 21617), in UTF-16 units.
TWILIO_MAX_BODY = 1600


def twilio_standin() -> StandIn:
    def default(method, path, body):
        if method == "GET":
            return 200, twilio_priced_message(path), {}
        text = body.get("Body") or ""
        if len(text.encode("utf-16-le")) // 2 > TWILIO_MAX_BODY:
            message = "The concatenated message body exceeds the 1600 character limit"
            return 400, twilio_error(400, 21617, message), {}
        return 201, twilio_message(body), {}

    return StandIn(default)


TEST_ACCOUNT_SID = "AC" + "0" * 32


def media_path(media_sid: str = "ME" + "1" * 32, message_sid: str = "MM" + "2" * 32) -> str:
    """Where Twilio serves an inbound message's media: the URL in MediaUrl{N}."""
    return f"/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages/{message_sid}/Media/{media_sid}"


#: The smallest real files of each kind: enough for the type checks and the hash.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05"
    b"\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
OGG = b"OggS\x00\x02" + b"\x00" * 40


def recording(container: str, codec: str, rate: int = 8000) -> bytes:
    """A second of a 440 Hz tone as a handset records it: ("amr", "libopencore_amrnb") for
    MMS voice, ("3gp", "libopencore_amrnb") for the same in a 3GPP file, ("adts", "aac")."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as target:
        stream = target.add_stream(codec, rate=rate, layout="mono")
        tone = [round(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(rate)]
        frame = av.AudioFrame(format="s16", layout="mono", samples=rate)
        frame.planes[0].update(struct.pack(f"<{rate}h", *tone))
        frame.sample_rate = rate
        wanted = stream.codec_context.codec.audio_formats[0].name
        for resampled in av.AudioResampler(format=wanted, layout="mono", rate=rate).resample(frame):
            target.mux(stream.encode(resampled))
        target.mux(stream.encode(None))
    return out.getvalue()


class SilentServer:
    """Accepts connections and never answers: a model server that hangs."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)
            self._serve(connection)

    def _serve(self, connection: socket.socket) -> None:
        """Nothing: the connection stays open, unanswered."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def __enter__(self) -> SilentServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        self.socket.close()
        for connection in self.accepted:
            connection.close()


class TricklingServer(SilentServer):
    """Answers 200 at once, then sends its body a byte every `gap` seconds, each well within
    any read timeout, until `seconds` have passed: a media host too slow to wait for."""

    head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
    drip = b"\x89"

    def __init__(self, gap: float = 0.1, seconds: float = 4.0):
        super().__init__()
        self.gap, self.seconds = gap, seconds

    def _serve(self, connection: socket.socket) -> None:
        threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        try:
            connection.recv(65536)
            connection.sendall(self.head)
            ends = time.monotonic() + self.seconds
            while time.monotonic() < ends:
                connection.sendall(self.drip)
                time.sleep(self.gap)
            connection.sendall(self.tail())
            connection.close()
        except OSError:
            pass

    def tail(self) -> bytes:
        return b""


class KeepAliveServer(TricklingServer):
    """A model server that answers 200 at once and, while its model works, sends a space
    every `gap` seconds to keep the connection open (oMLX's non-streaming keep-alive; others
    send blank lines), then the completion after `seconds`."""

    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    drip = b"1\r\n \r\n"  # one chunk of one space

    def __init__(self, answer: str, gap: float = 0.1, seconds: float = 4.0):
        super().__init__(gap, seconds)
        self.body = json.dumps(chat_completion(answer)).encode()

    def tail(self) -> bytes:
        return b"%x\r\n%s\r\n0\r\n\r\n" % (len(self.body), self.body)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def silent_redis(db: int = 13):
    """The URL of a Redis that takes connections and never answers: a hung one, or one gone
    without closing its connections (a failover, a NAT's timeout). The kernel completes
    each connection; nothing ever reads it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield f"redis://127.0.0.1:{silent.getsockname()[1]}/{db}"


class SlowRedis(SilentServer):
    """A proxy to the Redis at `url` that holds each of its answers `delay` seconds: a Redis
    alive but slow (forking for a snapshot, its host swapping). `url` is its own."""

    def __init__(self, target: str, delay: float):
        super().__init__()
        parts = urllib.parse.urlsplit(target)
        self.target, self.delay = (parts.hostname, parts.port or 6379), delay
        self.db = parts.path.lstrip("/") or "0"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.socket.getsockname()[1]}/{self.db}"

    def _serve(self, connection: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        self.accepted.append(upstream)
        for source, sink, delay in ((connection, upstream, 0), (upstream, connection, self.delay)):
            threading.Thread(target=self._pump, args=(source, sink, delay), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
        try:
            while chunk := source.recv(65536):
                time.sleep(delay)
                sink.sendall(chunk)
        except OSError:
            pass


def signed_post(client, path: str, form: dict, *, token: str = "test-auth-token", url=None):
    """POST a form to our webhook signed as Twilio signs it, for the URL the test client
    reports (http://localhost/...)."""
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(token).compute_signature(url or "http://localhost" + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def inbound_form(body: str = "What is the capital of France?", **fields) -> dict:
    form = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": "AC" + "0" * 32,
        "From": "+15551230000",
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
    }
    form.update(fields)
    return form
