"""A texter's conversation in the admin: the page staff reply from (pages.py), its composer
and its poll, and the Try-it page's thread as the texter's phone shows it."""

from .pages import ConversationPages

__all__ = ["ConversationPages"]
