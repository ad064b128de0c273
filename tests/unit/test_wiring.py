"""The composition root builds each app on what it opened, and loads Faust only for the workers."""

import subprocess
import sys

from aiohttp import web

from infra.cli.wiring import Repositories, console_app, ingress_app
from infra.core.settings import Settings


def test_the_cli_ingress_and_console_never_load_faust():
    probe = "import sys, infra.cli, infra.cli.runners; print('faust' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"


def test_the_ingress_and_the_console_are_built_without_opening_anything(tmp_path):
    settings = Settings(state_dir=tmp_path)
    assert isinstance(ingress_app(settings), web.Application)
    assert isinstance(console_app(settings), web.Application)
    assert not (tmp_path / "secret.key").exists()


def test_a_command_that_seals_no_secret_makes_no_secret_key(tmp_path):
    store = Repositories(engine=None, settings=Settings(state_dir=tmp_path, secret_key=None))
    assert store.tenants is store.tenants
    store.api_keys, store.routes, store.delivery_log  # noqa: B018 - built on first use
    assert not (tmp_path / "secret.key").exists()
    store.endpoints  # noqa: B018
    assert (tmp_path / "secret.key").exists()
