"""Staff accounts: admin staff only; passwords are never shown back."""

from __future__ import annotations

import sqlalchemy as sa
from flask import session
from flask_login import current_user, login_user
from wtforms import PasswordField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Optional,
    StopValidation,
    ValidationError,
)

from ..extensions import db
from ..models import StaffUser
from ..models.staff import (
    clean_username,
    password_problem,
    username_key,
    username_problem,
)
from ..models.users import take_sqlite_write_lock
from .base import (
    AdminModelView,
    email_field,
    trimmed,
)


class NewPasswordField(PasswordField):
    """Saves a hash of what was typed, and leaves the password alone when empty."""

    def populate_obj(self, obj: StaffUser, name: str) -> None:
        if self.data:
            obj.set_password(self.data)


def settable_password(_form, field) -> None:
    """A password the CLI would set too (models/staff.password_problem)."""
    if problem := password_problem(field.data or ""):
        raise StopValidation(problem[:1].upper() + problem[1:] + ".")


def visible_username(_form, field) -> None:
    """A username staff can read as what it is (models/staff.username_problem)."""
    problem = username_problem(field.data or "")
    if problem:
        raise StopValidation(problem)


def username_free_in_any_case(form, field) -> None:
    """No second account whose username differs from one only in letter case (a username
    taken exactly is Flask-Admin's own "Already exists."); renaming an account into another
    case of its own name is fine."""
    taken = db.session.scalar(
        sa.select(StaffUser).where(StaffUser.username_key == username_key(field.data))
    )
    if taken is None or taken is getattr(form, "_obj", None) or taken.username == field.data:
        return
    raise ValidationError(
        f"Already taken as {taken.username}: usernames must differ in more than letter case."
    )


class StaffUserView(AdminModelView):
    admin_only = True
    column_list = ["username", "email", "is_admin", "is_active", "created_at", "last_login_at"]
    column_labels = {"is_admin": "Admin", "is_active": "Active", "last_login_at": "Last login"}
    column_details_list = column_list
    column_searchable_list = ["username", "email"]
    column_filters = ["is_admin", "is_active"]
    form_columns = ["username", "email", "is_admin", "is_active", "password"]
    form_args = {
        "username": {
            **trimmed(clean_username),
            "validators": [
                DataRequired("Enter a username."),
                visible_username,
                username_free_in_any_case,
            ],
        },
        "email": email_field(),
    }
    form_extra_fields = {
        "password": NewPasswordField(
            "Password",
            description="Leave empty to keep the current password.",
            # Not stripped: twelve spaces typed are no password left empty.
            validators=[Optional(strip_whitespace=False), settable_password],
        )
    }

    def get_create_form(self):
        form = super().get_create_form()
        form.password = NewPasswordField(
            "Password", validators=[InputRequired(), settable_password]
        )
        return form

    def on_model_change(self, form, model: StaffUser, is_created: bool) -> None:
        super().on_model_change(form, model, is_created)
        if not (model.is_admin and model.is_active):
            _keep_an_admin(model)

    def on_model_delete(self, model: StaffUser) -> None:
        super().on_model_delete(model)
        _keep_an_admin(model)

    def after_model_change(self, form, model: StaffUser, is_created: bool) -> None:
        """A new password or a deactivation ends the account's sessions (StaffUser); an
        admin who changed their own password stays logged in here, and only here."""
        if model.id == current_user.id and model.is_active:
            if session.get("_user_id") != model.get_id():
                login_user(model)


def _keep_an_admin(leaving: StaffUser) -> None:
    """Refuse to leave the service without an active admin (`leaving` steps down, is made
    inactive or deleted): nobody could change anything in the admin any more, nor make a
    new admin there.

    The active admins are locked first, before this change is written: two admins taking
    each other's rights at once each counted the other as the one who remains, and both
    were saved. Now the second waits, then finds the first gone."""
    if leaving.id is None:
        return
    take_sqlite_write_lock()
    admins = (
        sa.select(StaffUser.id)
        .where(StaffUser.is_admin, StaffUser.is_active)
        .order_by(StaffUser.id)
        .with_for_update()
    )
    with db.session.no_autoflush:
        others = [staff_id for staff_id in db.session.scalars(admins) if staff_id != leaving.id]
    if not others:
        raise ValidationError(
            f"{leaving.username} is the only active admin: make another staff member an "
            "admin first."
        )
