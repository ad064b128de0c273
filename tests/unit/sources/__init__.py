"""Tests of the source mappers, on the example bodies in schemas/examples/<source>/."""

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[3] / "schemas" / "examples"


def example(source: str, name: str) -> dict[str, Any]:
    """A fresh copy of schemas/examples/<source>/<name>.json, free to modify in a test."""
    return json.loads((EXAMPLES / source / f"{name}.json").read_text())
