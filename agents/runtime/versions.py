"""The versions of the Faust runtime the workers are tested with, and the start-up check that holds
an installation to them.

The workers override and read private members of faust-streaming, aiokafka and mode-streaming
(``agents.runtime.relied_on``). Another version may have moved one without any error, until
offsets are committed wrongly; ``check_runtime`` is the start-up check that refuses a version the
workers were not tested with. pyproject.toml pins the same versions and requirements.lock holds
them; a spec keeps the three in step. To move to a new version, change all three, then run
tests/unit/test_runtime_relied_on.py and the worker integration tests against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import metadata
from types import MappingProxyType

from streams.errors import UnsupportedRuntimeError

TESTED: Mapping[str, str] = MappingProxyType(
    {
        "faust-streaming": "0.15.3",
        "aiokafka": "0.14.0",
        "mode-streaming": "0.7.1",
    }
)


def installed_version(package: str) -> str | None:
    """The version of the distribution ``package`` installed here, or None."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def check_runtime(installed: Callable[[str], str | None] = installed_version) -> None:
    """Raise ``UnsupportedRuntimeError`` for the first runtime package (in ``TESTED``'s order)
    whose installed version is not the tested one."""
    for package, tested in TESTED.items():
        found = installed(package)
        if found != tested:
            raise UnsupportedRuntimeError(package, installed=found, tested=tested)
