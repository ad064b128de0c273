import json

import pytest
import structlog

from infra.core.logging import REDACTED, configure_logging


@pytest.fixture(autouse=True)
def default_logging_afterwards():
    yield
    structlog.reset_defaults()  # the configured logger writes to pytest's captured (then closed) stderr


def test_log_lines_are_json_with_context_and_never_carry_personal_data(capsys):
    configure_logging("info")
    structlog.contextvars.bind_contextvars(request_id="r-1", tenant_id="acme")
    structlog.get_logger("test").info(
        "lead_received", phone="+5511999990000", email="ana@example.com", payload={"name": "Ana"}, count=3
    )
    structlog.contextvars.clear_contextvars()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (line["event"], line["request_id"], line["tenant_id"], line["count"]) == ("lead_received", "r-1", "acme", 3)
    assert line["phone"] == line["email"] == line["payload"] == REDACTED
    assert "99999" not in json.dumps(line)


def test_debug_lines_are_dropped_at_info_level(capsys):
    configure_logging("info")
    structlog.get_logger("test").debug("noise")
    assert capsys.readouterr().err == ""
