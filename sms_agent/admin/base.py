"""What every model view shares: access rules, CSRF-protected forms, read-only values."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from math import ceil
from typing import Any

import sqlalchemy as sa
from flask import flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.filters import FilterConverter
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.form import DateTimeField, JSONField, rules
from flask_admin.helpers import get_render_ctx
from flask_admin.model import filters, typefmt
from flask_admin.model.form import converts
from markupsafe import Markup
from marshmallow import ValidationError as InvalidValue
from marshmallow import validate
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from wtforms.fields import FloatField, IntegerField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, ValidationError

from .. import json_text, numbers
from ..clean_text import name_problem, prose_problem, shown_as_escapes
from ..extensions import db
from ..models.types import check_timezone, json_object_problem, timezone_named
from ..security import refuses_nul_itself
from .access import ReadOnlyForStaff
from .forms import AdminForm, ShownStringField, ShownTextAreaField
from .search import ExactSearch
from .time_filters import BY_THE_SECOND

log = logging.getLogger("sms_agent.admin")


class ContainsAsWritten(sqla_filters.FilterLike):
    """ "contains" matches its value as written, as the search box does: Flask-Admin's took
    "%" and "_" for LIKE wildcards, so "contains %" listed every row."""

    def apply(self, query, value, alias=None):
        return query.filter(self.get_column(alias).icontains(value, autoescape=True))


class LacksAsWritten(sqla_filters.FilterNotLike):
    """ "not contains", the value as written (see ContainsAsWritten)."""

    def apply(self, query, value, alias=None):
        return query.filter(~self.get_column(alias).icontains(value, autoescape=True))


class TimestampFilters(FilterConverter):
    """Date filters for our UTCDateTime columns, which Flask-Admin knows only by name; text
    filters that match their value as written."""

    strings = (
        ContainsAsWritten,
        LacksAsWritten,
        sqla_filters.FilterEqual,
        sqla_filters.FilterNotEqual,
        sqla_filters.FilterEmpty,
        sqla_filters.FilterInList,
        sqla_filters.FilterNotInList,
    )

    datetime_filters = BY_THE_SECOND

    @filters.convert("utcdatetime")
    def conv_utc_datetime(self, column, name, **kwargs):
        return self.conv_datetime(column, name, **kwargs)


#: PostgreSQL's INTEGER; a larger number would fail in the database instead of the form.
MAX_INTEGER = 2**31 - 1


class JSONObjectField(JSONField):
    """A JSON object typed as text (preferences, metadata); a blank field is an empty one.

    Anything else is a field error on the form: the service reads these with `.get()`, so a
    list or a string saved here would break every later reader of the row.
    """

    def _value(self) -> str:
        """The object as JSON text with each control or direction character as JSON's own
        escape ("\\u202e"), as the lists show it: a texter's words quoted in it showed the
        rest of the box backwards. The escape reads back as the character."""
        return shown_as_escapes(super()._value())

    def process_formdata(self, valuelist) -> None:
        if not valuelist:
            return
        text = valuelist[0]
        if not text.strip():
            self.data = {}
            return
        try:
            value, unclear = json_text.loads(text)
        except ValueError as exc:
            raise ValueError(f"Enter valid JSON ({exc}).") from None
        except RecursionError:
            raise ValueError("Enter a JSON object that is not nested so deeply.") from None
        if unclear:  # the API's words: saved, it would not be what was typed (1E-400 as 0)
            raise ValueError(" ".join(json_text.said(path, why) for path, why in unclear))
        if problem := json_object_problem(value):
            raise ValueError(f'Enter a JSON object, such as {{"language": "fr"}}; this {problem}.')
        if json_text.too_deep(value):  # the API's limit: a client could not send it back
            raise ValueError(
                f"Enter a JSON object nested at most {json_text.MAX_DEPTH} deep, as the API "
                "takes it; this one is nested deeper."
            )
        self.data = value


class _ReadAsTheApiReads:
    """A number box read by the API's rule (`read`, one of numbers.py's readers); a blank
    one is left to the field's own reading and its Optional validator."""

    read: Callable[[str], Any]

    def process_formdata(self, valuelist) -> None:
        if not valuelist or not valuelist[0].strip():
            super().process_formdata(valuelist)
            return
        try:
            self.data = type(self).read(valuelist[0])
        except ValueError:
            self.data = None
            raise


class CountField(_ReadAsTheApiReads, IntegerField):
    """WTForms' int() called an integer of more than 4,300 digits "Not a valid integer
    value."."""

    read = staticmethod(numbers.read_integer)


class NumberField(_ReadAsTheApiReads, FloatField):
    """Flask-Admin's DecimalField saved 1e-400 as 0, "1_0" as 10 and a fullwidth "２" as 2."""

    read = staticmethod(numbers.read_number)


#: Beside every date-time box of the admin's forms.
DATE_TIME_HINT = "UTC, as YYYY-MM-DD HH:MM:SS"


class KeptDateTimeField(DateTimeField):
    """A date-time input in UTC that shows whole seconds and, when it comes back as the
    stored value, keeps that value, fraction of a second and all."""

    def process_formdata(self, valuelist) -> None:
        super().process_formdata(valuelist)
        if self.data is not None:
            self.data = self.data.replace(tzinfo=UTC)
        stored = self.object_data
        if (
            stored is not None
            and valuelist
            and valuelist[0].strip() == stored.strftime(self.format[0])
        ):
            self.data = stored


#: The dates staff may type (UTC). Anything further is a typo, and a year at either end of
#: Python's range no longer converts to every timezone: the texter's USAGE or quota notice,
#: which gives the reset day in their own time, would fail instead of being sent.
EARLIEST_DATE, LATEST_DATE = datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)


def plausible_date(_form, field) -> None:
    value = field.data
    if value is not None and not EARLIEST_DATE <= value < LATEST_DATE:
        raise ValidationError(
            f"Enter a date between {EARLIEST_DATE.year} and {LATEST_DATE.year - 1}."
        )


def email_address(_form, field) -> None:
    """The API's rule for an email address (marshmallow's), so both accept the same ones;
    a blank field is no address."""
    if not field.data:
        return
    try:
        validate.Email()(field.data)
    except InvalidValue:
        raise ValidationError("Not a valid email address.") from None


def no_blank(value: str | None) -> str | None:
    """A field of only spaces is an empty one: Flask-Admin's Optional() stops the checks at
    it, as blank, and the spaces were saved (an email "   "). Other text loses the spaces
    around it before any check, its length's included: a name that fits once they are
    dropped (as it is saved) was refused as too long."""
    return None if value is None or not value.strip() else value.strip()


def trimmed(*filters) -> dict:
    """The arguments of a text box whose value loses the spaces around it before any check
    (`filters`, no_blank unless named), its length's included: a fresh dict for each use,
    as Flask-Admin adds its own filter to the list it is given. The browser is given no
    maxlength, which would count those spaces: a name of the most characters allowed, typed
    or pasted with a space around it, was cut short there though the server takes it. The
    server alone checks the length, trimmed."""
    return {"filters": list(filters or (no_blank,)), "render_kw": {"maxlength": False}}


def readable_name(form, field) -> None:
    """A name staff can read as it is (a texter's, a token's label): no control or format
    character, as the API and the commands take one (clean_text.name_problem). One left as
    shown is the stored one, kept as it is (the API's "Ann\nSmith" of before this rule):
    staff changing the texter's timezone were told to fix a name they had not touched."""
    if field.name in form.untouched:
        return
    if field.data and (why := name_problem(field.data)):
        raise ValidationError(why)


def readable_prose(form, field) -> None:
    """Free text staff read (notes, an answer): no direction or other control character, as
    the API takes it (clean_text.prose_problem). Text left as shown is kept as stored, as a
    name is (readable_name)."""
    if field.name in form.untouched:
        return
    if field.data and (why := prose_problem(field.data)):
        raise ValidationError(why)


def email_field() -> dict:
    """The form arguments of an email box (a texter's, a staff member's)."""
    return {"validators": [email_address], **trimmed()}


def known_timezone(_form, field) -> None:
    """The model's rule (check_timezone), as a field error: raised by the model on save, it
    was a flash message and an ERROR traceback in the log for a typo, or a box cleared. A
    name typed in another letter case ("utc") is that zone, saved as its IANA name."""
    if not (field.data or "").strip():
        raise ValidationError("Enter a timezone, such as UTC or America/New_York.")
    field.data = timezone_named(field.data)
    try:
        check_timezone(field.data)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def one_char_line_breaks(text: str | None) -> str | None:
    """A text box's text with its line breaks as the browser counted them against the box's
    maxlength, one character each: it sends each as two (CR LF), so a full box was refused
    as longer than the same limit checked here."""
    return text.replace("\r\n", "\n") if text else text


class TimestampForms(AdminModelConverter):
    """Date-time inputs for our UTCDateTime columns, within plausible dates; range checks for
    our counters; JSON object inputs for our JSONObject columns."""

    @converts("UTCDateTime")
    def convert_utc_datetime(self, field_args, **extra):
        field_args["validators"].append(plausible_date)
        # The box shows and takes UTC: a texter's quota resetting at their midnight read
        # "08:00:00" with no zone, and staff typed their own local time.
        field_args["description"] = field_args.get("description") or DATE_TIME_HINT
        return KeptDateTimeField(**field_args)

    # Named to sort after Flask-Admin's conv_String and conv_Text, which they replace.
    @converts("String")
    def text_box(self, column, field_args, **extra):
        self._string_common(column=column, field_args=field_args, **extra)
        return ShownStringField(**field_args)

    @converts("Text")
    def text_area(self, column, field_args, **extra):
        self._string_common(column=column, field_args=field_args, **extra)
        return ShownTextAreaField(**field_args)

    @converts("JSONObject")
    def convert_json_object(self, field_args, **extra):
        return JSONObjectField(**field_args)

    @converts("Float")
    def handle_float_types(self, field_args, **extra):
        return NumberField(**field_args)

    @converts("Integer")
    def handle_integer_types(self, column, field_args, **extra):
        """Every integer column counts something (requests, tokens, segments, error codes)."""
        field_args["validators"].append(NumberRange(min=0, max=MAX_INTEGER))
        return CountField(**field_args)


def gone_already(done: str = "done") -> None:
    """What an action says when none of the rows it was given is there any more (deleted
    since the list was shown, by another admin or the API): a green "Revoked 0 tokens."
    read as done. Given no rows at all (a form resent, a page without its script), it says
    that none was selected."""
    if not request.form.getlist("rowid"):
        flash(f"Nothing was {done}: no records were selected.", "info")
        return
    flash(f"Nothing was {done}: the selected records were gone already.", "info")


def select_choices(choice) -> list[SelectChoice]:
    """Form choices for a str-enum, in the shape WTForms 3.3 asks for."""
    return [SelectChoice(value, label) for value, label in choice.choices()]


def format_datetime(value: datetime | None, seconds: bool = False) -> str:
    shape = "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
    return value.strftime(shape) if value else "—"


class ReadOnlyValue(rules.BaseRule):
    """A labelled value of the model being edited, shown but never submitted or saved."""

    def __init__(self, attribute: str, label: str, empty: str = "—") -> None:
        super().__init__()
        self.attribute, self.label, self.empty = attribute, label, empty

    def __call__(self, form, form_opts=None, field_args=None) -> Markup:
        model = (get_render_ctx() or {}).get("model")
        value = getattr(model, self.attribute, None) if model is not None else None
        shown = format_datetime(value) if isinstance(value, datetime) else value
        return Markup(
            '<div class="form-group"><label class="col-form-label">{}</label>'
            '<p class="form-control-plaintext" data-readonly="{}">{}</p></div>'
        ).format(self.label, self.attribute, self.empty if shown in (None, "") else shown)


class CsrfTokenPlaced(rules.BaseRule):
    """Marks the CSRF field as placed: the form's hidden_tag() renders it. Without this,
    Flask-Admin would drop the token from any form laid out with form_rules."""

    @property
    def visible_fields(self) -> list[str]:
        return ["csrf_token"]

    def __call__(self, form, form_opts=None, field_args=None) -> str:
        return ""


def sections(*fieldsets: rules.BaseRule) -> list[rules.BaseRule]:
    """form_rules made of titled sections (the Django admin's fieldsets)."""
    return [CsrfTokenPlaced(), *fieldsets]


def shown(value: str) -> str:
    """A stored text as a page shows it: an invisible character written as its escape
    (clean_text.shown_as_escapes), so a direction override stored before the name and prose
    rules is seen ("\\u202e"), not obeyed (the rest of the cell backwards); the row keeps
    it as stored. Markup a column's formatter built is shown as built."""
    return value if isinstance(value, Markup) else shown_as_escapes(value)


def shown_object(view, value: dict, name: str) -> str:
    """A JSON object (metadata, preferences) as a page shows it: as Flask-Admin writes it,
    each invisible character in its texts as its escape, as `shown` writes a text."""
    return shown(typefmt.dict_formatter(view, value, name))


def usd(amount) -> str:
    """US dollars as every admin page writes them: to the millionth, as Money keeps them and
    the API writes them ("0.000400"); to the cent, a texter who cost $0.0004 read $0.00."""
    return f"{amount:,.6f}"


def user_link(phone: str | None) -> Markup | str:
    """A phone number linking to that texter's page in the admin."""
    if not phone:
        return "—"
    href = url_for("user.details_view", id=phone)
    return Markup('<a href="{}">{}</a>').format(href, phone)


def task_link(task_id) -> Markup | str:
    """A task id, shortened, linking to that task's page."""
    if not task_id:
        return "—"
    href = url_for("task.details_view", id=str(task_id))
    return Markup('<a href="{}">{}</a>').format(href, str(task_id)[:8])


class KeptCount:
    """A list whose whole count the database keeps (rollups, kept row counts), so a page
    reads a few rows for it instead of counting the table: at 1,000,000 rows that COUNT was
    the slowest part of every visit. A search or a filter is still counted over the rows.
    `kept_count` is the query of the kept count."""

    def kept_count(self):
        raise NotImplementedError

    def get_list(self, page, sort_column, sort_desc, search, filters, *args, **kwargs):
        g.listing_everything = not search and not filters
        return super().get_list(page, sort_column, sort_desc, search, filters, *args, **kwargs)

    def get_count_query(self):
        if g.get("listing_everything"):
            return self.kept_count()
        return super().get_count_query()


def plain_integer(text: str | None) -> int | None:
    """A page number or an id in an address, written in the digits 0-9 alone (a "-" before
    them), as the API reads one; None for anything else. Python's int() reads "1_0" as 10,
    " 2" as 2 and a fullwidth "２" as 2: a mistyped address named another page or record."""
    if text is None or numbers.integer_problem(text) is not None:
        return None
    return int(text)


class PastTheEnd(Exception):
    """A list page asked for lies past the last one."""

    def __init__(self, last_page: int) -> None:
        super().__init__(last_page)
        self.last_page = last_page


class AdminModelView(ReadOnlyForStaff, ExactSearch, ModelView):
    """Everyone logged in can list and read; admins can also change and run actions."""

    form_base_class = AdminForm
    filter_converter = TimestampFilters()
    model_form_converter = TimestampForms
    can_view_details = True
    can_set_page_size = True
    named_filter_urls = True
    page_size = 50

    def render(self, template, **kwargs):
        """The list's tab reads "List (100,001)", not "List (100001)"."""
        if isinstance(kwargs.get("count"), int):
            kwargs["count"] = f"{kwargs['count']:,}"
        return super().render(template, **kwargs)

    def _get_list_extra_args(self):
        """The list's page number within what the database takes: PostgreSQL refuses a
        negative OFFSET and one past a bigint, so ?page=-1 or ?page=99999999999999999999
        shows the first page or an empty one instead of an error. Numbers are read as
        written (plain_integer): Flask's int() took ?page=1_0 for page 10."""
        args = super()._get_list_extra_args()
        read = request.args.get
        args.sort, args.sort_desc = plain_integer(read("sort")), plain_integer(read("desc"))
        args.page = min(max(plain_integer(read("page")) or 0, 0), MAX_INTEGER)
        args.page_size = plain_integer(read("page_size")) or 0
        return args

    @expose("/")
    def index_view(self):
        """A page past the list's end (its last rows deleted, by the action run on it or by
        someone else) goes to the last page: it said "There are no items in the table." of
        a list that had rows, and staff took them all for gone."""
        try:
            return super().index_view()
        except PastTheEnd as past:
            args = self._get_list_extra_args().clone(page=past.last_page)
            return redirect(self._get_list_url(args))

    def get_list(self, page, *args, **kwargs):
        count, rows = super().get_list(page, *args, **kwargs)
        page_size = kwargs.get("page_size")
        if page and count and page_size and page * page_size >= count:
            raise PastTheEnd(ceil(count / page_size) - 1)
        return count, rows

    def _apply_sorting(self, query, joins, sort_column, sort_desc):
        """Rows that sort equal (texters on one tier, tasks of one category) in the order of
        their key: PostgreSQL ordered equals afresh for each page, so paging through a list
        sorted by Tier showed some texters twice and others never."""
        query, joins = super()._apply_sorting(query, joins, sort_column, sort_desc)
        return query.order_by(*self.model.__mapper__.primary_key), joins

    def pks(self, ids) -> list:
        """Primary keys from request strings; one that does not parse matches nothing.

        SQLAlchemy's Uuid columns want UUID objects, not the strings a form sends. A number
        no INTEGER key holds (an id edited by hand) matches nothing too: the database
        refused it with a server error ("integer out of range").
        """
        python_type = self.model.__mapper__.primary_key[0].type.python_type
        parsed = []
        for value in ids:
            try:
                key = plain_integer(value) if python_type is int else python_type(value)
            except (TypeError, ValueError):
                continue
            if key is None:
                continue
            if python_type is not int or 0 < key <= MAX_INTEGER:
                parsed.append(key)
        return parsed

    def selected(self, ids) -> list:
        """The rows an action was asked to change."""
        pk = self.model.__mapper__.primary_key[0]
        return list(db.session.scalars(sa.select(self.model).where(pk.in_(self.pks(ids)))))

    def get_one(self, id):
        pks = self.pks([id])
        return db.session.get(self.model, pks[0]) if pks else None

    def handle_view_exception(self, exc: Exception) -> bool:
        """A save the database refused is told in words: Flask-Admin's own message quotes the
        exception, which for a database error is the SQL with every value of the row."""
        if not isinstance(exc, SQLAlchemyError):
            return super().handle_view_exception(exc)
        # The exception's text holds the row's values (numbers, emails): its kind is enough.
        cause = getattr(exc, "orig", None) or exc
        log.warning("admin %s not saved: %s", self.name, type(cause).__name__)
        if isinstance(exc, IntegrityError):
            message = "it would repeat a value that must be unique, or refer to a missing record"
        elif isinstance(exc, StatementError) and isinstance(exc.orig, ValueError | TypeError):
            message = str(exc.orig)  # our column types' own checks
        else:
            message = "the database refused the change"
        flash(f"Not saved: {message}.", "error")
        return True

    @expose("/new/", methods=("GET", "POST"))
    @refuses_nul_itself
    def create_view(self):
        return super().create_view()

    @expose("/edit/", methods=("GET", "POST"))
    @refuses_nul_itself
    def edit_view(self):
        return super().edit_view()

    @action("delete", "Delete", "Are you sure you want to delete the selected records?")
    def action_delete(self, ids) -> None:
        """Each selected row deleted as its Delete button deletes it (delete_model: its
        checks, one commit each), and a success told only of rows deleted: Flask-Admin's
        said "0 records were successfully deleted." in green beside a refusal in red."""
        rows = self.selected(ids)
        deleted = sum(self.delete_model(row) for row in rows)
        if deleted:
            noun = "Record was" if deleted == 1 else f"{deleted} records were"
            flash(f"{noun} successfully deleted.", "success")
        elif not rows:
            gone_already("deleted")

    def init_actions(self) -> None:
        """Delete last in the "With selected" menu: Flask-Admin lists the actions by their
        method's name, which put Delete first, a slip of the mouse above the action meant."""
        super().init_actions()
        self._actions.sort(key=lambda named: named[0] == "delete")

    column_type_formatters = {
        **ModelView.column_type_formatters,
        datetime: lambda _view, value, *_: format_datetime(value),
        str: lambda _view, value, *_: shown(value),
        dict: shown_object,
    }
    # A Details page wrote times as Python prints them ("...01:08:00.181709+00:00"); it
    # shows the seconds the lists leave out (a task's answer took 4 s). Metadata is shown
    # as its texts are: a texter's words quoted in it held U+202E as stored.
    column_type_formatters_detail = {
        **typefmt.DETAIL_FORMATTERS,
        datetime: lambda _view, value, *_: format_datetime(value, seconds=True),
        str: lambda _view, value, *_: shown(value),
        dict: shown_object,
    }
