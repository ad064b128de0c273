"""Reading an end offset waits out a leader election, within its deadline, and nothing else."""

import pytest
from confluent_kafka import KafkaError, KafkaException

from connectors.kafka.watermarks import high_watermark


class ElectingConsumer:
    """Answers with ``errors`` first, then with the end offset 42."""

    def __init__(self, *errors: int) -> None:
        self.errors = list(errors)
        self.asked = 0

    def get_watermark_offsets(self, partition, timeout):
        self.asked += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))
        return 0, 42


def test_a_partition_between_leaders_is_asked_again_until_it_answers():
    consumer = ElectingConsumer(KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
    assert high_watermark(consumer, "crmbus.events", 0, timeout_s=5) == 42
    assert consumer.asked == 3


def test_any_other_error_is_raised_at_once():
    consumer = ElectingConsumer(KafkaError.UNKNOWN_TOPIC_OR_PART)
    with pytest.raises(KafkaException) as raised:
        high_watermark(consumer, "crmbus.events", 0, timeout_s=5)
    assert raised.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert consumer.asked == 1


def test_a_partition_that_stays_without_a_leader_fails_once_the_deadline_passes():
    consumer = ElectingConsumer(*[KafkaError.NOT_LEADER_FOR_PARTITION] * 1_000)
    with pytest.raises(KafkaException) as raised:
        high_watermark(consumer, "crmbus.events", 0, timeout_s=0.3)
    assert raised.value.args[0].code() == KafkaError.NOT_LEADER_FOR_PARTITION
    assert 1 < consumer.asked < 10
