import re
from pathlib import Path

from infra.core.settings import Settings

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text()


def test_docs_settings_documents_every_setting():
    for name in Settings.model_fields:
        assert f"| `CRMBUS_{name.upper()}` |" in SETTINGS_DOC, name


def test_docs_settings_documents_no_setting_that_does_not_exist():
    documented = set(re.findall(r"^\| `CRMBUS_(\w+)` \|", SETTINGS_DOC, flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_the_readme_links_the_settings_doc():
    assert "(docs/settings.md)" in README


def test_every_file_the_readme_links_exists():
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_the_readme_names_the_test_command_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/pytest" in README
    assert "\n.venv/bin/pytest\n" in ci
