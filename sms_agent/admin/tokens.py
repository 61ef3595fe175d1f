"""API tokens in the admin: a staff member makes one for themselves or for a texter; its
key is shown once, afterwards only its prefix (the database keeps a SHA-256)."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, session
from flask_admin import expose
from flask_admin.actions import action
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from ..extensions import db
from ..inbound.media import UnservedChannel, texter_phone
from ..models import ApiToken, User, utcnow
from ..models.staff import InactiveOwner
from ..phones import InvalidPhoneNumber
from ..plural import counted
from ..security import refuses_nul_itself
from .base import AdminModelView, format_datetime, gone_already, readable_name, trimmed
from .forms import AdminForm, new_submission_key


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


#: The session's keys of tokens just made, by token id, until their page shows them.
_NEW_KEYS = "new_token_keys"


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
        # Shown by a page of its own, which Back and Reload fetch again (the answer to the
        # POST was one no cache keeps, so Back to it was "Confirm Form Resubmission"): the
        # key rides in the session, already this browser's credential, for one request.
        session[_NEW_KEYS] = {**session.get(_NEW_KEYS, {}), str(token.id): key}
        return redirect(self.get_url(".created_view", id=token.id), 303)

    @expose("/created/")
    def created_view(self):
        """The new token's key, once: the page fetched again shows only its prefix."""
        token = self.get_one(request.args.get("id", ""))
        if token is None:
            return redirect(self.get_url(".index_view"))
        keys = dict(session.get(_NEW_KEYS, {}))
        if (key := keys.pop(str(token.id), None)) is not None:
            session[_NEW_KEYS] = keys
        return self.render("admin/token_created.html", token=token, key=key)

    def _form_page(self, form: TokenForm):
        # The form shown is a new submission, even when it shows one that was just posted.
        form.submission.data = new_submission_key()
        return self.render("admin/token_new.html", form=form)

    def _made_already(self, token: ApiToken):
        """The form posted again (a double click, a resend) goes to its token's page, a GET
        (the 409 page that answered the POST was "ERR_CACHE_MISS" on Back). A double click's
        browser follows only the second answer: the key no page showed yet is shown there."""
        if str(token.id) not in session.get(_NEW_KEYS, {}):
            flash(
                f"Not made again: this form already made token {token.prefix} (a double click"
                " or a resend). Its key was shown on the page that answered the first"
                f" submission; if nobody copied it, revoke {token.prefix} and create another.",
                "warning",
            )
        return redirect(self.get_url(".created_view", id=token.id), 303)

    @action("revoke", "Revoke", "Revoke the selected tokens? Clients using them stop working.")
    def action_revoke(self, ids) -> None:
        tokens = self.selected(ids)
        if not tokens:
            return gone_already()
        for token in tokens:
            token.revoke()
        db.session.commit()
        flash(f"Revoked {counted(len(tokens), 'token')}.", "success")
