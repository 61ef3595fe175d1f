"""The model server's answer read into the SDK's ChatCompletion, by pydantic's own
validation when every value in it already has its declared type.

The SDK builds a response without validating it (`construct_type`: lenient, so an
OpenAI-compatible server's odd field does not fail the call), walking the model's type hints
in Python field by field: about 0.6 M instructions an answer, 4% of a job's. Validation in
strict mode accepts only values already of their field's type (no string read as a number,
no number as a string), and builds the same objects in pydantic's compiled core, some thirty
times faster. Anything else is built by the SDK's construction, as before.
"""

from __future__ import annotations

import functools
import typing

import pydantic
from openai import BaseModel
from openai._models import construct_type
from openai.types.chat import ChatCompletion

#: Keys that the SDK's `BaseModel.construct` takes as its own arguments, not as fields.
_CONSTRUCT_ARGUMENTS = frozenset({"_fields_set", "_BaseModel__cls"})


class ChatAnswer(ChatCompletion):
    """What `client.post` is asked to return: the SDK hands an answer's parsed JSON to
    `build` (its ModelBuilderProtocol) instead of constructing the type itself. `build`
    returns a plain ChatCompletion, as the SDK would have built it."""

    @classmethod
    def build(cls, *, response, data: object) -> ChatCompletion:  # noqa: ARG003
        try:
            answer = ChatCompletion.model_validate(data, strict=True)
        except pydantic.ValidationError:
            answer = None
        if answer is None or not _as_constructed(answer):
            return construct_type(type_=ChatCompletion, value=data)
        return answer


def _as_constructed(model: BaseModel) -> bool:
    """Make a validated `model` what the SDK's construction makes of the same values, or
    return False when it would make something else. Construction, unlike validation, does
    not count a model's extra keys among the fields set, and takes two keys as its own
    arguments. It constructs a field whose type is a model, or a list or dict of one; a
    field of any other type (Optional[...] and other unions included) it validates, as
    here."""
    extra = model.__pydantic_extra__
    if extra:
        if not _CONSTRUCT_ARGUMENTS.isdisjoint(extra):
            return False
        model.__pydantic_fields_set__ = model.__pydantic_fields_set__ - extra.keys()
    values = model.__dict__
    for name in _constructed_fields(type(model)):
        value = values[name]
        inner = value.values() if isinstance(value, dict) else value
        for item in inner if isinstance(value, (list, dict)) else (value,):
            if isinstance(item, BaseModel) and not _as_constructed(item):
                return False
    return True


@functools.cache
def _constructed_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `cls` the SDK's construct_type builds by construction: a model, a
    list of models, a dict of them."""
    return tuple(
        name for name, field in cls.model_fields.items() if _constructed_type(field.annotation)
    )


def _constructed_type(annotation) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _constructed_type(args[0])
    if origin is list and args:
        return _constructed_type(args[0])
    if origin is dict and len(args) == 2:
        return _constructed_type(args[1])
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
