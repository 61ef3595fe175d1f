"""Local stand-ins for OpenAI and Twilio, real HTTP servers the real SDKs talk to.

The fault tests script their answers (a timeout, a 429, a 500, then success); the end-to-end
benchmark runs the OpenAI one with a fixed delay:
`python -m bench.standins --port 8089 --delay 0.5`.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: A scripted step: an HTTP status to answer with, or "hang" to never answer in time.
Step = int | str

#: GET .../Messages/{sid}.json: the price job's fetch of a message it sent.
_MESSAGE_FETCH = re.compile(r"/Messages/(?P<sid>\w+)\.json$")
#: What Twilio reports a delivered one-segment SMS cost (a US long code's price).
PRICE = "-0.00790"


class _Server(ThreadingHTTPServer):
    # Hundreds of worker threads connect at once when a big worker starts; the default
    # backlog of 5 would drop their SYNs, and each dropped one costs its client a second.
    request_queue_size = 1024


class StandIn:
    """Both vendors on one port: POST .../chat/completions, POST .../Messages.json, and
    GET .../Messages/{sid}.json of a message it sent (delivered, with Twilio's price)."""

    def __init__(self, delay: float = 0.0, hang_seconds: float = 30.0, port: int = 0) -> None:
        self.delay = delay
        self.hang_seconds = hang_seconds
        self.scripts: dict[str, deque[Step]] = {"openai": deque(), "twilio": deque()}
        self.calls: dict[str, list[dict]] = {"openai": [], "twilio": []}
        #: The messages Twilio accepted, by sid, as a fetch of each answers.
        self.messages: dict[str, dict] = {}
        self.lock = threading.Lock()
        #: Model calls being answered now, and the most there ever were at once.
        self.in_flight = self.peak_in_flight = 0
        self.server = _Server(("127.0.0.1", port), _handler_for(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, vendor: str, *steps: Step) -> None:
        """The next answers of `vendor`, in order; after them every call succeeds."""
        with self.lock:
            self.scripts[vendor].extend(steps)

    def next_step(self, vendor: str, record: dict, status_of=None) -> Step:
        """The answer to give this call; the call is recorded, with `status_of(step)` as its
        "status" when given, in one step: two calls at once each get their own."""
        record["at"] = time.monotonic()
        with self.lock:
            step = self.scripts[vendor].popleft() if self.scripts[vendor] else 200
            if status_of is not None:
                record["status"] = status_of(step)
            self.calls[vendor].append(record)
            return step

    def sent_to(self, number: str) -> list[dict]:
        """The Twilio sends that succeeded for one recipient."""
        with self.lock:
            return [c for c in self.calls["twilio"] if c["to"] == number and c["status"] == 201]


def _handler_for(stand_in: StandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; with Nagle on, a kept-alive client would
        # wait for its own delayed ACK (40 ms) before the body arrives.
        disable_nagle_algorithm = True

        def log_message(self, *_args) -> None:  # quiet: the tests print what matters
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/chat/completions"):
                self._openai(json.loads(raw or b"{}"))
            elif self.path.endswith("/Messages.json"):
                self._twilio(urllib.parse.parse_qs(raw.decode()))
            else:
                self._send(404, {"message": f"no stand-in for {self.path}"})

        def do_GET(self) -> None:  # noqa: N802
            """GET /calls: how many calls each vendor got, for a stand-in in another process;
            GET .../Messages/{sid}.json: a message sent, as Twilio serves it once priced."""
            if fetch := _MESSAGE_FETCH.search(self.path):
                return self._fetch_message(fetch["sid"])
            with stand_in.lock:
                sent = sum(c.get("status") == 201 for c in stand_in.calls["twilio"])
                counts = {
                    "openai": len(stand_in.calls["openai"]),
                    "openai_peak_in_flight": stand_in.peak_in_flight,
                    "twilio_sent": sent,
                }
            self._send(200 if self.path == "/calls" else 404, counts)

        def _openai(self, payload: dict) -> None:
            with stand_in.lock:
                stand_in.in_flight += 1
                stand_in.peak_in_flight = max(stand_in.peak_in_flight, stand_in.in_flight)
            try:
                self._answer_openai(payload)
            finally:
                with stand_in.lock:
                    stand_in.in_flight -= 1

        def _answer_openai(self, payload: dict) -> None:
            step = stand_in.next_step("openai", {"messages": payload.get("messages", [])})
            if step == "hang":
                time.sleep(stand_in.hang_seconds)
                return self._send(504, {"error": {"message": "too late"}})
            time.sleep(stand_in.delay)
            if step != 200:
                error = {"message": f"stand-in {step}", "type": "server_error", "code": None}
                return self._send(int(step), {"error": error})
            self._send(200, _completion(payload))

        def _twilio(self, form: dict) -> None:
            to = form.get("To", [""])[0]
            record = {"to": to, "body": form.get("Body", [""])[0]}
            # The status goes on this call's own record: the last one recorded may be another
            # send's that came in meanwhile, which left this one without a status.
            step = stand_in.next_step("twilio", record, lambda step: 201 if step == 200 else step)
            if step != 200:
                body = {"code": 20500, "message": "stand-in error", "status": step}
                return self._send(int(step), body)
            message = _message(to, form)
            with stand_in.lock:
                stand_in.messages[message["sid"]] = message
            self._send(201, message)

        def _fetch_message(self, sid: str) -> None:
            with stand_in.lock:
                message = stand_in.messages.get(sid)
            if message is None:
                return self._send(404, _not_found(self.path))
            self._send(200, {**message, "status": "delivered", "price": PRICE, "price_unit": "USD"})

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _completion(payload: dict) -> dict:
    users = [m for m in payload.get("messages", []) if m.get("role") == "user"]
    question = str(users[-1].get("content", "")) if users else ""
    return {
        "id": "chatcmpl-" + secrets.token_hex(8),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": payload.get("model", "stand-in"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"Stand-in answer to: {question[:60]}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
    }


def _message(to: str, form: dict) -> dict:
    return {
        "sid": "SM" + secrets.token_hex(16),
        "account_sid": "AC" + "0" * 32,
        "to": to,
        "from": form.get("From", [""])[0],
        "body": form.get("Body", [""])[0],
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
    }


def _not_found(path: str) -> dict:
    return {
        "code": 20404,
        "message": f"The requested resource {path} was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds before each AI answer")
    args = parser.parse_args()
    stand_in = StandIn(delay=args.delay, port=args.port)
    print(f"stand-in listening on {stand_in.url}", flush=True)
    stand_in.server.serve_forever()


if __name__ == "__main__":
    main()
