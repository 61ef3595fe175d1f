"""Staff accounts and API tokens: admin staff only; secrets are never shown back."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, make_response, session
from flask_admin import expose
from flask_admin.actions import action
from flask_login import current_user, login_user
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)

from ..extensions import db
from ..inbound.media import UnservedChannel, texter_phone
from ..models import ApiToken, StaffUser, User, utcnow
from ..models.staff import (
    InactiveOwner,
    clean_username,
    password_problem,
    username_key,
    username_problem,
)
from ..models.users import take_sqlite_write_lock
from ..phones import InvalidPhoneNumber
from ..plural import counted
from ..security import refuses_nul_itself
from .base import (
    AdminModelView,
    email_field,
    format_datetime,
    gone_already,
    readable_name,
    trimmed,
)
from .forms import AdminForm, new_submission_key


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


class TokenForm(AdminForm):
    """A staff token only for the staff member filling the form in: one that authenticated
    as someone else would let its maker act, and be recorded as author, in their name. The
    operator on the server may still name anyone (`flask token create USERNAME`)."""

    name = StringField(
        "Label", validators=[Optional(), Length(max=100), readable_name], **trimmed()
    )
    staff_user = SelectField("Staff user", validators=[Optional()])
    user_phone = StringField("or texter's phone", validators=[Optional(), Length(max=32)])
    #: One token per rendering of the form, however often it is posted (ApiToken.made_by);
    #: a post without one (a script's) makes a token each time.
    submission = HiddenField(default=new_submission_key, validators=[Optional(), Length(max=64)])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.staff_user.choices = [
            SelectChoice("", "(none)"),
            SelectChoice(str(current_user.id), f"{current_user.username} (you)"),
        ]

    def validate(self, extra_validators=None) -> bool:
        """Exactly one owner, and it must exist; checked here because the fields are each
        optional on their own."""
        if not super().validate(extra_validators):
            return False
        phone = (self.user_phone.data or "").strip()
        if bool(self.staff_user.data) == bool(phone):
            self.user_phone.errors.append("Choose a staff user or give a texter's phone, not both.")
        elif phone:
            self._texter(phone)
        return not self.user_phone.errors

    def _texter(self, phone: str) -> None:
        """The texter's number in E.164, in whatever notation it was typed, a WhatsApp
        sender included (as everywhere else in the admin and the API)."""
        try:
            self.user_phone.data = texter_phone(phone)
        except (InvalidPhoneNumber, UnservedChannel) as exc:
            self.user_phone.errors.append(str(exc))
            return
        if db.session.get(User, self.user_phone.data) is None:
            self.user_phone.errors.append("No texter with that phone number.")

    def owner(self) -> dict:
        """ApiToken.issue's owner argument for the validated form."""
        if self.staff_user.data:
            return {"staff_user": current_user._get_current_object()}
        return {"user": db.session.get(User, self.user_phone.data)}


def _expiry(token: ApiToken, seconds: bool = False) -> str:
    """When the token stops working (API_TOKEN_DAYS after it was made), or "never"."""
    expires = token.expires_at(current_app.config["API_TOKEN_DAYS"])
    if expires is None:
        return "never"
    return format_datetime(expires, seconds) + (" (expired)" if expires <= utcnow() else "")


class ApiTokenView(AdminModelView):
    """Keys are shown once, on the page that answers the creation; afterwards only the
    prefix is known (the database keeps a SHA-256)."""

    admin_only = True
    allow_edit = allow_delete = False
    column_list = [
        "prefix",
        "name",
        "staff_user",
        "user_phone",
        "created_at",
        "expires",
        "last_used_at",
        "revoked_at",
    ]
    column_details_list = column_list
    column_labels = {
        "user_phone": "Texter",
        "expires": "Expires",
        "last_used_at": "Last used",
        "revoked_at": "Revoked",
    }
    column_formatters = {"expires": lambda _v, _c, token, _n: _expiry(token)}
    column_formatters_detail = {"expires": lambda _v, _c, token, _n: _expiry(token, True)}
    column_searchable_list = ["prefix", "name", "user_phone"]
    column_filters = ["created_at", "revoked_at"]
    column_default_sort = ("created_at", True)

    @expose("/new/", methods=("GET", "POST"))
    @refuses_nul_itself
    def create_view(self):
        form = TokenForm()
        if not form.validate_on_submit():
            return self._form_page(form)
        submission = form.submission.data or None
        if submission and (made := ApiToken.made_by(submission)):
            return self._made_already(made)
        try:
            token, key = ApiToken.issue(
                **form.owner(), name=form.name.data or "", submission=submission
            )
        except InactiveOwner as exc:
            field = form.user_phone if form.user_phone.data else form.staff_user
            field.errors = [*field.errors, str(exc)]
            return self._form_page(form)
        db.session.add(token)
        try:
            db.session.commit()
        except IntegrityError:
            # The same submission, posted twice at once, made its token in the other request.
            db.session.rollback()
            if not submission or (made := ApiToken.made_by(submission)) is None:
                raise
            return self._made_already(made)
        response = make_response(self.render("admin/token_created.html", token=token, key=key))
        response.headers["Cache-Control"] = "no-store"
        return response

    def _form_page(self, form: TokenForm, status: int = 200):
        # The form shown is a new submission, even when it shows one that was just posted.
        form.submission.data = new_submission_key()
        return self.render("admin/token_new.html", form=form), status

    def _made_already(self, token: ApiToken):
        flash(
            f"Not made again: this form already made token {token.prefix} (a double click or a "
            "resend). Its key was shown on the page that answered the first submission; if "
            f"nobody copied it, revoke {token.prefix} and create another.",
            "warning",
        )
        return self._form_page(TokenForm(formdata=None), 409)

    @action("revoke", "Revoke", "Revoke the selected tokens? Clients using them stop working.")
    def action_revoke(self, ids) -> None:
        tokens = self.selected(ids)
        if not tokens:
            return gone_already()
        for token in tokens:
            token.revoke()
        db.session.commit()
        flash(f"Revoked {counted(len(tokens), 'token')}.", "success")
