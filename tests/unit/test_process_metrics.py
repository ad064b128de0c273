"""Each process's /metrics carries only the metrics that process sets."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

_PROGRAM = """
import infra.cli.runners  # every role's code, as `crmbus` imports it
from infra.core.metrics import exposition, reject
before = exposition()[0].decode()
reject("forbidden")
after = exposition()[0].decode()
print([line for line in before.splitlines() if line.startswith("crmbus_")])
print(sorted({line.split("{")[0] for line in after.splitlines() if line.startswith("crmbus_")}))
"""


def test_a_process_exposes_only_the_metrics_it_set() -> None:
    answer = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True, check=True, timeout=60)
    before, after = answer.stdout.splitlines()
    assert before == "[]"  # no worker gauge stuck at 0 in a process that never set it
    assert after == "['crmbus_ingress_rejections_created', 'crmbus_ingress_rejections_total']"
