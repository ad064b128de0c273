"""The systems the e2e bench compares crmbus with, doing the same job with no crmbus code.

Each accepts ``POST /v1/events`` over HTTP (``front``), queues the event and fans it out to the
crm, zapi and marketing destinations with retries: Celery + Redis (``celery_app``), Dramatiq +
Redis (``dramatiq_app``), and the ceiling, a bare chain through Kafka (``kafka_front`` →
``kafka_consumer``). ``deliveries`` is the job they share.
"""
