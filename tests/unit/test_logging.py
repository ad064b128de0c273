import json
import logging

import pytest
import structlog

from infra.core.log_redaction import REDACTED
from infra.core.logging import RepeatLimiter, configure_logging


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


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_library_line_repeated_during_an_outage_is_let_through_once_a_window():
    clock = Clock()
    limiter = RepeatLimiter(window_s=60, clock=clock)
    template = "Unable connect to node with id %s: %s"
    passed = []
    for i in range(2000):  # 100 a second for 20 s, the rate measured with a broker away
        clock.now = i * 0.01
        passed.append(limiter.filter(record("aiokafka", template, 1, "Connection refused")))
    assert passed.count(True) == 1


def test_the_line_after_the_window_says_how_many_were_held_back():
    clock = Clock()
    limiter = RepeatLimiter(window_s=60, clock=clock)
    for _ in range(5):
        limiter.filter(record("aiokafka.consumer.fetcher", "Failed fetch messages from %s: %s", 1, "x"))
    clock.now = 61
    later = record("aiokafka.consumer.fetcher", "Failed fetch messages from %s: %s", 1, "x")
    assert limiter.filter(later)
    assert later.repeated == 4


def test_different_kinds_and_our_own_loggers_are_never_held_back():
    limiter = RepeatLimiter(window_s=60, clock=Clock())
    assert limiter.filter(record("aiokafka", "Unable connect to node with id %s: %s", 1, "x"))
    assert limiter.filter(record("aiokafka", "Unable to update metadata from %r", [1]))
    assert limiter.filter(record("aiokafka", "Unable connect to node with id %s: %s", 1, "x", level=logging.WARNING))
    for _ in range(3):
        assert limiter.filter(record("agents.sink", "delivery failed %s", "x"))
        assert limiter.filter(record("aiokafkaish", "not a library we limit"))


def test_the_configured_handler_limits_library_lines_and_prints_the_count(capsys):
    configure_logging("info")
    for _ in range(50):
        logging.getLogger("aiokafka").error("Unable connect to node with id %s: %s", 1, "Connection refused")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [line["event"] for line in lines] == ["Unable connect to node with id 1: Connection refused"]
