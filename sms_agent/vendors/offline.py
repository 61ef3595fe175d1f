"""The embedded default when no model is configured: honest notices, never an AI answer."""

from __future__ import annotations

from .completion import Completion

OFFLINE_NOTICE = (
    "[Offline mode] No AI model is configured on this server, so I can't answer yet. "
    "Your message was received: "
)


class OfflineBackend:
    """The embedded default when no model is configured: an honest notice, never dressed up
    as an AI answer (metadata marks it offline and it costs no tokens)."""

    name = "offline"

    def complete(
        self, messages: list[dict], max_tokens: int, tools: list[dict] | None = None
    ) -> Completion:
        question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if isinstance(question, list):  # text and image parts: quote the text
            texts = [part.get("text", "") for part in question if part.get("type") == "text"]
            question = " ".join(texts)
        excerpt = question if len(question) <= 80 else question[:77].rstrip() + "..."
        return Completion(
            text=f'{OFFLINE_NOTICE}"{excerpt}"',
            model="offline",
            finish_reason="stop",
            offline=True,
        )

    def transcribe(self, data: bytes, filename: str, content_type: str) -> Completion:
        text = f"{OFFLINE_TRANSCRIPT} ({content_type}, {len(data)} bytes)"
        return Completion(text=text, model="offline", offline=True)


OFFLINE_TRANSCRIPT = "[Offline transcript] No speech-to-text model is configured: a voice note"
