"""The operator dashboard (``crmbus dashboard``): whether the bus is healthy, on one page and as JSON.

``gather`` reads every source (the delivery history and DLQ archive in PostgreSQL, the workers'
metrics, consumer lag from Kafka), ``document`` turns the readings into the overview, ``page``
renders it as HTML, ``app`` serves both behind ``access``.
"""
