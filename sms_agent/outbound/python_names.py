"""Python's special names, which Markdown would read as bold: "__init__" is "init" to it."""

from __future__ import annotations

import contextlib
import types
from collections.abc import AsyncIterator, Iterator


def _python_names() -> frozenset[str]:
    """Python's special names without their underscores ("init", "name"): those its own
    types, functions and modules have, and those of a package and a program."""
    kinds = (object, type, int, float, list, dict, str, bytes, BaseException, property)
    kinds += (types.FunctionType, types.ModuleType("m"), Iterator, AsyncIterator)
    kinds += (contextlib.AbstractContextManager, contextlib.AbstractAsyncContextManager)
    names = {name for kind in kinds for name in dir(kind) if name.startswith("__")}
    names |= {f"__{name}__" for name in ("main", "file", "all", "path", "version", "future")}
    names |= {f"__{name}__" for name in ("pycache", "post_init", "missing", "getattr", "del")}
    names |= {f"__{name}__" for name in ("await", "matmul", "debug", "import", "builtins")}
    return frozenset(name[2:-2] for name in names)


#: Python's special names without their underscores: "__init__" is a name to a programmer,
#: and bold "init" to Markdown.
PYTHON_NAMES = _python_names()
