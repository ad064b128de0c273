"""What operators do to the bus, one function or class per act: replay dead letters, retry a
delivery, pause a destination. Each spans the store (``infra.db``) and Kafka (``connectors``),
so it sits above both; the admin API, the console and the CLI call the same code."""
