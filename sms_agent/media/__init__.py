"""Pictures and voice notes texters send: which kinds we read (kinds.py), and reading them in
the worker (read.py): fetched from Twilio, checked, recorded, and turned into what the model
gets (an image part, or a transcript)."""

from .kinds import AUDIO, IMAGE, OTHER, kind_of

__all__ = ["AUDIO", "IMAGE", "OTHER", "kind_of"]
