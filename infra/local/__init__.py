"""Bringing up Kafka, PostgreSQL and the bus on one machine (``crmbus up``). Not part of a
production deployment: the container image does not carry it."""
