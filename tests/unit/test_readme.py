from pathlib import Path

from infra.core.settings import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_the_readme_documents_every_setting():
    for name in Settings.model_fields:
        assert f"`CRMBUS_{name.upper()}`" in README


def test_the_readme_names_the_test_command_ci_runs():
    ci = (Path(__file__).parents[2] / ".ci" / "run").read_text()
    assert ".venv/bin/pytest" in README
    assert "\n.venv/bin/pytest\n" in ci
