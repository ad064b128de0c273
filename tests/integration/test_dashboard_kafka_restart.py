"""The dashboard's Kafka readings survive the broker: after a graceful restart, and after a SIGKILL
while it keeps asking, the dashboard process is still running and shows the consumer lag again
within seconds of the broker answering (it used to say "unreachable" for minutes, or abort inside
librdkafka's admin client)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import make_url

from tests.integration.console_harness import base_env, dashboard, key_with
from tests.integration.test_dashboard import bearer, get

# The broker's own restart takes a few seconds; the lag must be back soon after it answers.
BACK_WITHIN_S = 20


def lagging_group(bootstrap: str, prefix: str) -> str:
    """A workers' group on the broker that committed 2 of 5 records; 3 are waiting."""
    topic, group = f"{prefix}crmbus.deliver.crm", f"{prefix}crmbus-worker"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(5):
        producer.produce(topic, b"x", str(i).encode())
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    consumer.close()
    return group


def lag_reading(base: str, key: str) -> dict:
    status, body = get(f"{base}/dashboard/api/overview", bearer(key))
    assert status == 200, body
    return json.loads(body)["consumer_lag"]


def shows_lag(base: str, key: str, group: str) -> bool:
    reading = lag_reading(base, key)
    return reading["status"] == "ok" and any(g["group"] == group and g["lag"] == 3 for g in reading["groups"])


def wait_for(condition, timeout_s: float, what: str) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout_s, f"not within {timeout_s} s: {what}"
        time.sleep(0.5)
    return time.monotonic() - began


@pytest.mark.timeout(300)
def test_the_dashboard_shows_consumer_lag_again_after_a_broker_restart_and_a_sigkill(
    own_kafka, migrated, database_url, unique, tmp_path
):
    own_kafka.up()
    bootstrap, prefix = own_kafka.settings.kafka_bootstrap, f"{unique}."
    group = lagging_group(bootstrap, prefix)
    key = key_with(migrated, None, "admin", name="platform").secret
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    env = base_env(
        tmp_path,
        CRMBUS_DATABASE_URL=url.render_as_string(hide_password=False),
        CRMBUS_KAFKA_BOOTSTRAP=bootstrap,
        CRMBUS_TOPIC_PREFIX=prefix,
    )
    with dashboard(env, tmp_path) as base:
        wait_for(lambda: shows_lag(base, key, group), BACK_WITHIN_S, "the lag before any restart")

        own_kafka.down()  # graceful
        assert lag_reading(base, key)["status"] == "unreachable"
        own_kafka.up()
        wait_for(lambda: shows_lag(base, key, group), BACK_WITHIN_S, "the lag after a graceful restart")

        pid = own_kafka.our_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for _ in range(5):  # ask while it is gone: the admin client's error paths run
            assert lag_reading(base, key)["status"] == "unreachable"
        own_kafka.up()
        wait_for(lambda: shows_lag(base, key, group), BACK_WITHIN_S, "the lag after a SIGKILL and a start")
        assert get(f"{base}/health")[0] == 200  # the same process answered throughout
