"""Kafka at the edge: the acks=all producer, topic administration, end offsets, consumer lag and
the schema registry. Kafka's exceptions are turned into ``streams.errors`` here."""
