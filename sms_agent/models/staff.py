"""Who may use the admin and the API: staff accounts and API tokens."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import unicodedata
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from ..clean_text import first_unseen, unseen_refused
from ..extensions import db
from .cache_keys import hashed_once
from .types import UTCDateTime, utcnow
from .users import User

#: The lengths of password staff may set: at most what the login form takes (a longer one
#: could never be typed in there; the cap keeps a login from hashing megabytes).
MIN_PASSWORD, MAX_PASSWORD = 8, 200


def password_problem(password: str) -> str | None:
    """Why `password` may not be set, or None: the one rule of the CLI and the admin."""
    if not password.strip():
        # Eight spaces are as easy to guess as none.
        return "must not be only spaces"
    if len(password) < MIN_PASSWORD:
        return f"must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"must be at most {MAX_PASSWORD} characters (the most the login form takes)"
    return None


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class StaffUser(UserMixin, db.Model):
    """A staff account. Its sessions are bound to `session_token`: Flask-Login keeps
    "<id>:<token>" in the signed session cookie, so a new token ends every session at once,
    including copies of the cookie that logging out cannot delete."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    #: The username case-folded (username_key): unique, so no two accounts differ only in
    #: case, and what a login is looked up by. NULL only for an account that clashed with an
    #: older one when this column came (migration 0019): it logs in by its exact name.
    username_key: Mapped[str | None] = mapped_column(sa.String(240), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    # Flask-Login reads is_active; an inactive account cannot log in or use its tokens.
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_token: Mapped[str] = mapped_column(sa.String(64), default=new_session_token)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="staff_user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<StaffUser {self.username}{' (admin)' if self.is_admin else ''}>"

    def __str__(self) -> str:
        return self.username

    def get_id(self) -> str:
        """Flask-Login's alternative id: what the session (and a remember cookie) holds."""
        return f"{self.id}:{self.session_token}"

    def holds_session(self, token: str) -> bool:
        return bool(token) and hmac.compare_digest(self.session_token or "", token)

    def end_sessions(self) -> None:
        """Log this account out everywhere: every session made before now stops working."""
        self.session_token = new_session_token()

    def set_password(self, password: str) -> None:
        """A new password also ends every session, so whoever had the old one is out."""
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @validates("username")
    def _keyed_username(self, _key: str, username: str) -> str:
        self.username_key = username_key(username)
        return username

    @validates("is_active")
    def _deactivation_ends_sessions(self, _key: str, active: bool) -> bool:
        """Deactivating logs the account out everywhere, so reactivating it later does not
        bring old sessions back."""
        if self.is_active and not active:
            self.end_sessions()
        return active


@functools.cache
def _stand_in_hash() -> str:
    """A hash of a password nobody knows, made like every real one (same algorithm and cost)."""
    return generate_password_hash(secrets.token_urlsafe(16))


def clean_username(username: str | None) -> str:
    """A username as it is stored and looked up at login: without surrounding spaces (an
    account saved as " ann " could never log in)."""
    return (username or "").strip()


def username_key(username: str | None) -> str:
    """What tells usernames apart: "Ann", "ann" and " ANN " are one (casefold, not lower:
    "Straße" and "STRASSE" are one too), and so are the forms a reader cannot tell apart
    (NFKC: fullwidth "ｂｏｓｓ" is "boss"). Up to three times the username's length."""
    folded = unicodedata.normalize("NFKC", clean_username(username)).casefold()
    return unicodedata.normalize("NFKC", folded)


def username_problem(username: str) -> str | None:
    """Why no account may be called `username` (cleaned), or None. A username is what staff
    read as the author of a reply and the holder of a conversation: one with a character
    nobody sees ("boss" and a zero-width space, an escape sequence) would read as another's."""
    hidden = first_unseen(username)
    return None if hidden is None else unseen_refused(hidden)


def find_staff(username: str | None) -> StaffUser | None:
    """The staff account a typed username names, however its letters are cased: the one of
    that exact name first (an account that clashed in case before usernames were unique
    without it, see StaffUser.username_key), else the one it is in other case."""
    name = clean_username(username)
    exact = db.session.scalar(sa.select(StaffUser).where(StaffUser.username == name))
    if exact is not None:
        return exact
    return db.session.scalar(
        sa.select(StaffUser).where(StaffUser.username_key == username_key(name))
    )


def password_matches(staff: StaffUser | None, password: str) -> bool:
    """Whether `password` is this staff member's.

    With no such account a stand-in hash is checked all the same, so an unknown username
    takes as long to refuse as a wrong password and the login page does not reveal which
    usernames exist.
    """
    if staff is None:
        check_password_hash(_stand_in_hash(), password)
        return False
    return staff.check_password(password)


def token_expiry(created_at: datetime, days: int) -> datetime | None:
    """When a token made at `created_at` stops working, tokens lasting `days`
    (API_TOKEN_DAYS; 0: never)."""
    return created_at + timedelta(days=days) if days else None


def hash_key(key: str) -> str:
    """Keys are stored only as SHA-256: they are random, so a slow hash adds nothing."""
    return hashlib.sha256(key.encode()).hexdigest()


class InactiveOwner(ValueError):
    """A token was asked for an inactive staff user or texter; it would never work."""


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.CheckConstraint(
            "(staff_user_id IS NULL) <> (user_phone IS NULL)", name="ck_api_tokens_one_owner"
        ),
    )

    KEY_PREFIX = "sat_"
    #: How much of a key is kept in clear (`prefix`), to be shown and to revoke it by.
    SHOWN_CHARACTERS = 12

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    user_phone: Mapped[str | None] = mapped_column(
        sa.ForeignKey("users.phone_number", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The key of the admin form submission that made it: one submission makes one token,
    #: however often the form is posted (a double click, a resend).
    submission: Mapped[str | None] = mapped_column(sa.String(64), unique=True)

    staff_user: Mapped[StaffUser | None] = relationship(back_populates="tokens")
    user: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<ApiToken {self.prefix}…>"

    @classmethod
    def issue(
        cls,
        *,
        staff_user: StaffUser | None = None,
        user: User | None = None,
        name: str = "",
        submission: str | None = None,
    ) -> tuple[ApiToken, str]:
        """A new token and its key; the key is returned once and never stored. Raises
        InactiveOwner for an owner whose tokens find_active would refuse: a key that can
        never work must not be handed out."""
        if (staff_user is None) == (user is None):
            raise ValueError("a token belongs to exactly one staff user or one texter")
        owner = staff_user or user
        if not owner.is_active:
            who = staff_user.username if staff_user else user.phone_number
            raise InactiveOwner(f"{who} is inactive: activate them first")
        key = cls.KEY_PREFIX + secrets.token_urlsafe(32)
        token = cls(
            staff_user=staff_user,
            user=user,
            name=name,
            prefix=key[: cls.SHOWN_CHARACTERS],
            key_hash=hash_key(key),
            submission=submission,
        )
        return token, key

    @classmethod
    def made_by(cls, submission: str) -> ApiToken | None:
        """The token an admin form submission made already, if any."""
        return db.session.scalar(sa.select(cls).where(cls.submission == submission))

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self) -> None:
        self.revoked_at = self.revoked_at or utcnow()

    def expires_at(self, days: int) -> datetime | None:
        return token_expiry(self.created_at, days)

    @classmethod
    def find_active(cls, key: str) -> ApiToken | None:
        """The live token for a presented key, or None (unknown, revoked or owner inactive)."""
        found = presented(key)
        return db.session.get(cls, found.id) if found and found.owner_is_active else None

    @classmethod
    def find(cls, key: str) -> ApiToken | None:
        """The token for a presented key unless it is unknown or revoked, whoever owns it."""
        found = presented(key)
        return db.session.get(cls, found.id) if found else None


def presented(key: str) -> sa.Row | None:
    """What a request needs of the token whose key it presents, unless the key is unknown
    or revoked: the token's id, prefix, created_at and last_used_at, its owner
    (staff_user_id or user_phone, staff_is_admin) and whether that owner is active
    (owner_is_active). One statement of plain columns, read on the session's connection
    without the ORM's execution (nothing in it is an object): every API request asks, and
    reading the token, its staff member and its texter as objects was a tenth of a users
    page."""
    if not key or not key.startswith(ApiToken.KEY_PREFIX):
        return None
    found = db.session.connection().execute(_presented(), {"key_hash": hash_key(key)}).first()
    return None if found is None or found.revoked_at is not None else found


@functools.cache
def _presented() -> sa.Select:
    """Built once, so SQLAlchemy reuses its compiled form, its cache key hashed once."""
    tokens, staff, users = ApiToken.__table__, StaffUser.__table__, User.__table__
    return hashed_once(
        sa.select(
            *(tokens.c[name] for name in ("id", "prefix", "created_at", "last_used_at")),
            *(tokens.c[name] for name in ("revoked_at", "staff_user_id", "user_phone")),
            staff.c.is_admin.label("staff_is_admin"),
            # A token has exactly one owner (ck_api_tokens_one_owner); a missing one is inactive.
            sa.func.coalesce(staff.c.is_active, users.c.is_active, sa.false()).label(
                "owner_is_active"
            ),
        )
        .select_from(
            tokens.outerjoin(staff, staff.c.id == tokens.c.staff_user_id).outerjoin(
                users, users.c.phone_number == tokens.c.user_phone
            )
        )
        .where(tokens.c.key_hash == sa.bindparam("key_hash"))
    )
