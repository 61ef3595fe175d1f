"""Date-time filters that take their value as the whole second typed, as their boxes take
it: a stored time keeps its microseconds, so Flask-Admin's "Created equals 10:21:05"
matched no task created at 10:21:05.83, "greater than" listed it, and "between 10:00:00 and
10:21:05" left it out."""

from __future__ import annotations

from datetime import timedelta

from flask_admin.contrib.sqla import filters as sqla_filters
from sqlalchemy import not_

SECOND = timedelta(seconds=1)


def _within(column, first, last):
    """From the start of second `first` to the end of second `last`."""
    return (column >= first) & (column < last + SECOND)


class SecondEqual(sqla_filters.DateTimeEqualFilter):
    def apply(self, query, value, alias=None):
        return query.filter(_within(self.get_column(alias), value, value))


class SecondNotEqual(sqla_filters.DateTimeNotEqualFilter):
    def apply(self, query, value, alias=None):
        return query.filter(not_(_within(self.get_column(alias), value, value)))


class SecondGreater(sqla_filters.DateTimeGreaterFilter):
    def apply(self, query, value, alias=None):
        return query.filter(self.get_column(alias) >= value + SECOND)


class SecondBetween(sqla_filters.DateTimeBetweenFilter):
    def apply(self, query, value, alias=None):
        return query.filter(_within(self.get_column(alias), *value))


class SecondNotBetween(sqla_filters.DateTimeNotBetweenFilter):
    def apply(self, query, value, alias=None):
        return query.filter(not_(_within(self.get_column(alias), *value)))


#: Flask-Admin's date-time filters, in its order, each by the second ("smaller than" a
#: second already left that second out).
BY_THE_SECOND = (
    SecondEqual,
    SecondNotEqual,
    SecondGreater,
    sqla_filters.DateTimeSmallerFilter,
    SecondBetween,
    SecondNotBetween,
    sqla_filters.FilterEmpty,
)
