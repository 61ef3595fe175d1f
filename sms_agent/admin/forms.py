"""The admin's forms: Flask-WTF's CSRF token, a save that changes only what staff changed
(and tells them what someone else changed meanwhile), a NUL refused beside its field."""

from __future__ import annotations

import secrets

from flask_admin.form import BaseForm
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms.fields import BooleanField, StringField, TextAreaField
from wtforms.widgets import HiddenInput, PasswordInput, TextArea

from ..clean_text import from_escapes, shown_as_escapes


class NulRefused:
    """A form that refuses a NUL character (PostgreSQL can hold none) as an error on its
    field, before any validator takes the value to the database, and shows the field again
    without it; the view says so with `security.refuses_nul_itself`."""

    def validate(self, extra_validators=None) -> bool:
        holding = [field for field in self if NUL in "".join(map(str, field.raw_data or ()))]
        for field in holding:
            field.raw_data = [str(value).replace(NUL, "") for value in field.raw_data]
            if isinstance(field.data, str):
                field.data = field.data.replace(NUL, "")
        if not holding:
            return super().validate(extra_validators)
        for field in holding:
            field.errors = [NUL_REMOVED]
        return False


NUL = "\x00"
NUL_REMOVED = (
    "This held a NUL character (invisible, often pasted with text), which cannot be saved "
    "or sent: it is removed here, check the text and submit again."
)


class AdminForm(NulRefused, FlaskForm, BaseForm):
    """Flask-Admin's forms with Flask-WTF's CSRF token, saving only what staff changed.

    CSRFProtect checks the `csrf_token` field of every POST before any view runs.
    Flask-Admin's own SecureForm puts a differently signed token (wtforms SessionCSRF)
    under that same name, which CSRFProtect rejects, so the forms carry Flask-WTF's token
    and validate it a second time themselves.

    An Edit page left open while the service wrote the row (a task answered, a texter's
    requests counted) wrote back everything it showed: the answered task read as queued
    again, the texter got free requests. So the page carries what it showed of each field
    in a hidden input, and a field that comes back as shown keeps the value stored now.
    """

    def process(self, formdata=None, obj=None, data=None, extra_filters=None, **kwargs):
        formdata = self.meta.wrap_formdata(self, formdata)
        super().process(formdata, obj, data=data, extra_filters=extra_filters, **kwargs)
        self.shown, self.overtaken, self.untouched = {}, {}, []
        if formdata is None or obj is None:
            return
        for field in self:
            if kept_field(field, obj) and (shown := formdata.get(field.name + SHOWN)) is not None:
                self.shown[field.name] = shown
                if not field.process_errors and same_text(submitted(field), as_sent(field, shown)):
                    field.data = field.object_data
                    self.untouched.append(field.name)
                elif not same_text(now := stored_shown(field), shown) and not same_text(
                    as_sent(field, now), submitted(field)
                ):
                    # Changed here and, since the page was opened, by someone else too (to
                    # something else): the page shows theirs, and a second save replaces it.
                    self.shown[field.name] = self.overtaken[field.name] = now

    def keep_stored(self, obj) -> None:
        """The fields staff left as shown take the row's values as they are now: after a
        lock that read the row again, the values read before it would be written back over
        whatever was committed meanwhile (a texter's request counted as staff saved)."""
        for name in self.untouched:
            self[name].data = getattr(obj, name)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for name, now in self.overtaken.items():
            self[name].errors = [*self[name].errors, OVERTAKEN.format(short(now) or "empty")]
        return valid and not self.overtaken

    def hidden_tag(self, *fields) -> Markup:
        obj = getattr(self, "_obj", None)
        hidden = Markup('<input type="hidden" name="{}" value="{}">')
        shown = [
            hidden.format(field.name + SHOWN, self.shown.get(field.name, shown_value(field)))
            for field in self
            if obj is not None and kept_field(field, obj)
        ]
        return Markup("\n").join([super().hidden_tag(*fields), *shown])


#: The name of the hidden input carrying what the page showed of a field, "<field>-shown".
SHOWN = "-shown"


def kept_field(field, obj) -> bool:
    """A field showing a stored value of the row being edited (not a password, a token)."""
    return (
        hasattr(obj, field.name)
        and not isinstance(field.widget, HiddenInput | PasswordInput)
        and not hasattr(field, "entries")  # inline lists of other rows
    )


def shown_value(field) -> str:
    """What the page shows of a field, as the browser will send it back untouched."""
    if isinstance(field, BooleanField):
        return "y" if field.data else ""
    if hasattr(field, "_value"):
        return field._value()
    return "" if field.data is None else str(field.data)


def stored_shown(field) -> str:
    """What the page would show of the field's stored value (shown_value of object_data)."""
    data, raw_data = field.data, field.raw_data
    field.data, field.raw_data = field.object_data, None
    try:
        return shown_value(field)
    finally:
        field.data, field.raw_data = data, raw_data


OVERTAKEN = (
    "Changed by someone else since you opened this page; it is now: {}. Save again to "
    "replace that with what you entered."
)


def submitted(field) -> str:
    """What the browser sent for a field (an unticked box sends nothing)."""
    return field.raw_data[0] if field.raw_data else ""


def as_sent(field, text: str) -> str:
    """What a browser sends back of `text` shown in the field, untouched: a one-line input
    drops its line breaks (HTML's value sanitization), so a name the API stored as
    "Ann\\nSmith" came back as "AnnSmith", taken for staff's change and saved."""
    if isinstance(field.widget, TextArea):
        return text
    return str(text).replace("\r", "").replace("\n", "")


def same_text(a: str, b: str) -> bool:
    """Equal but for line breaks, which a browser sends as CR LF whatever the page had."""
    return _one_kind_of_line_break(a) == _one_kind_of_line_break(b)


def _one_kind_of_line_break(text) -> str:
    return str(text).replace("\r\n", "\n").replace("\r", "\n")


def short(text: str | None, length: int = 80) -> str:
    text = text or ""
    return text if len(text) <= length else text[: length - 1] + "…"


def new_submission_key() -> str:
    """A key for one rendering of a form that must act once however often it is posted."""
    return secrets.token_urlsafe(16)


class ShownAsEscapes:
    """A text box that shows a control or direction character as its escape ("\\u202e"), as
    the lists and Details pages do: a name or note stored before the name and prose rules
    showed in its edit box obeyed (U+202E wrote the words after it backwards). The escape
    typed back is read as the character, so a field left as shown keeps the stored text,
    one edited around the escape is held to the field's rules with the character in it (a
    name is refused, naming it), and nothing is saved as a literal "\\u202e" behind staff's
    back. An escape the stored text writes out (a model's answer about "\\u200b") is its
    own words: saving the row leaves it as written."""

    def _value(self) -> str:
        return shown_as_escapes(super()._value())

    def process_formdata(self, valuelist) -> None:
        super().process_formdata(valuelist)
        stored = self.object_data if isinstance(self.object_data, str) else None
        if not isinstance(self.data, str):
            return
        if stored is not None and self.data == shown_as_escapes(stored):
            self.data = stored  # left as shown: the stored text, whatever it writes out
        else:
            self.data = from_escapes(self.data, written_in=stored)


class ShownStringField(ShownAsEscapes, StringField):
    """A one-line text box (a name, an email) showing invisible characters as escapes."""


class ShownTextAreaField(ShownAsEscapes, TextAreaField):
    """A text area (an answer, notes, a stack trace) showing invisible characters as escapes."""
