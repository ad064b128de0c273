"""The aiohttp front door: authenticates, verifies and validates, then lands events in Kafka."""
