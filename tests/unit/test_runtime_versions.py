"""Workers start only on the faust-streaming, aiokafka and mode-streaming versions they were tested
with, the ones pyproject.toml pins and requirements.lock holds."""

import re
import tomllib
from pathlib import Path

import pytest

from agents.runtime.versions import TESTED, check_runtime, installed_version
from streams.errors import ConfigurationError, UnsupportedRuntimeError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]


def installed(**versions):
    """What a machine with ``versions`` installed (underscores for dashes) reports, the tested
    version for every other package."""
    found = {name.replace("_", "-"): version for name, version in versions.items()}
    return lambda package: found.get(package, TESTED[package])


def test_the_installed_runtime_is_the_tested_one():
    check_runtime()

    assert {package: installed_version(package) for package in TESTED} == dict(TESTED)


@pytest.mark.parametrize("package", list(TESTED))
def test_an_untested_version_of_any_runtime_package_is_refused_naming_both_versions(package):
    with pytest.raises(UnsupportedRuntimeError) as refused:
        check_runtime(lambda name: "99.0.0" if name == package else TESTED[name])

    error = refused.value
    assert (error.package, error.installed, error.tested) == (package, "99.0.0", TESTED[package])
    assert f"{package} 99.0.0 is installed" in str(error)
    assert f"{package}=={TESTED[package]}" in str(error)


def test_a_newer_patch_release_is_refused_too():
    with pytest.raises(UnsupportedRuntimeError, match=r"faust-streaming 0\.15\.4 is installed"):
        check_runtime(installed(faust_streaming="0.15.4"))


def test_a_runtime_package_that_is_not_installed_is_refused():
    with pytest.raises(UnsupportedRuntimeError, match="aiokafka is not installed") as refused:
        check_runtime(installed(aiokafka=None))

    assert refused.value.installed is None


def test_the_first_untested_package_is_named_when_several_are():
    with pytest.raises(UnsupportedRuntimeError) as refused:
        check_runtime(installed(aiokafka="0.13.0", mode_streaming="0.8.0"))

    assert refused.value.package == "aiokafka"


def test_an_untested_runtime_is_a_configuration_error_to_fix_by_installing_the_lock():
    error = UnsupportedRuntimeError("aiokafka", installed="0.13.0", tested="0.14.0")

    assert isinstance(error, ConfigurationError)
    assert "requirements.lock" in str(error)


def test_the_tested_versions_are_the_exact_pins_of_pyproject_and_the_lock_file():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = dict(re.fullmatch(r"([\w.-]+)==([\w.]+)", d).groups() for d in dependencies if "==" in d)
    locked = dict(re.findall(r"^([\w.-]+)==([\w.]+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE))

    assert {package: pinned.get(package) for package in TESTED} == dict(TESTED)
    assert {package: locked.get(package) for package in TESTED} == dict(TESTED)
