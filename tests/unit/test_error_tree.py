"""The tree drawn in streams/errors.py's docstring is the tree the module defines."""

import inspect
import re

import pytest

from streams import errors

pytestmark = pytest.mark.unit

# A drawn line: the tree's prefix ("│   ", "    ", "├── ", "└── "), then a class name.
_DRAWN = re.compile(r"^    (?P<prefix>(?:[│ ]   )*(?:[├└]── )?)(?P<name>[A-Z]\w*)\b")


def _drawn_parents() -> dict[str, str | None]:
    """Each class drawn in the docstring, with the class drawn as its parent (None for the root)."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        drawn = _DRAWN.match(line)
        if drawn is None:
            continue
        depth = len(drawn["prefix"]) // 4
        del path[depth:]
        name = drawn["name"]
        parents[name] = path[-1] if path else None
        path.append(name)
    return parents


def _defined_parents() -> dict[str, str]:
    """Each exception class the module defines, with its base's name."""
    return {
        name: cls.__bases__[0].__name__
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if cls.__module__ == errors.__name__ and issubclass(cls, Exception)
    }


def test_the_docstring_draws_every_error_class_and_no_other():
    assert set(_drawn_parents()) == set(_defined_parents())


def test_each_drawn_class_hangs_under_its_real_base():
    defined = _defined_parents()
    for name, drawn_parent in _drawn_parents().items():
        assert (drawn_parent or "Exception") == defined[name], name


def test_every_error_has_one_base():
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if cls.__module__ == errors.__name__:
            assert len(cls.__bases__) == 1, name
