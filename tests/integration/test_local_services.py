"""The local broker and PostgreSQL crmbus runs: up, reuse, down, and the clear errors.

Each test runs its own instance on free ports and a private state directory, beside the
session's shared broker and database, so stopping it disturbs no other test.
"""

import socket
from pathlib import Path

import pytest

from infra.core.processes import port_accepts
from infra.core.settings import Settings
from infra.local.kafka_node import LocalKafka
from infra.local.postgres_node import LocalPostgres
from streams.errors import PortInUseError, ServiceUnreachableError, StartTimeoutError
from tests.conftest import free_port


def processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_a_broker_comes_up_is_reused_and_leaves_no_process_after_down(own_kafka):
    assert own_kafka.up() is True
    assert own_kafka.status().answering
    assert own_kafka.status().pid is not None
    assert own_kafka.up() is False, "a second up reuses the running broker"

    assert own_kafka.down() is True
    assert processes_mentioning(str(own_kafka.properties)) == []
    assert not port_accepts(own_kafka.host, own_kafka.port)
    assert own_kafka.down() is False


def test_a_taken_port_is_a_clear_error_and_starts_nothing(own_kafka):
    with socket.socket() as squatter:
        squatter.bind((own_kafka.host, own_kafka.port))
        squatter.listen()
        with pytest.raises(PortInUseError, match=str(own_kafka.port)):
            own_kafka.up()
    assert own_kafka.our_pid() is None
    assert processes_mentioning(str(own_kafka.properties)) == []


def test_a_broker_that_is_not_ready_in_time_names_its_log_and_is_stopped(tmp_path):
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        kafka_start_timeout_s=0.2,
        state_dir=tmp_path,
    )
    node = LocalKafka(settings)
    with pytest.raises(StartTimeoutError, match=str(node.log_file)):
        node.up()
    assert processes_mentioning(str(node.properties)) == []


def test_an_own_postgres_cluster_initialises_starts_answers_and_stops(own_postgres_dir):
    port = free_port()
    settings = Settings(
        database_url=f"postgresql+psycopg://crmbus:pw@127.0.0.1:{port}/crmbus",
        postgres_data_dir=own_postgres_dir,
    )
    node = LocalPostgres(settings)
    try:
        assert node.our_pid() is None, "no cluster runs yet"
        assert node.up() is True
        assert node.answers()
        assert node.status().running_here
        postmaster = node.our_pid()
        assert postmaster is not None and postmaster in processes_mentioning(str(own_postgres_dir))
        assert node.up() is False, "a second up reuses the running cluster"
    finally:
        assert node.down() is True
    assert not port_accepts("127.0.0.1", port)
    assert node.our_pid() is None
    assert processes_mentioning(str(node.data)) == []


def test_an_unreachable_configured_database_is_reported_not_replaced():
    settings = Settings(database_url=f"postgresql+psycopg://crmbus:pw@127.0.0.1:{free_port()}/crmbus")
    with pytest.raises(ServiceUnreachableError, match="does not answer"):
        LocalPostgres(settings).up()
