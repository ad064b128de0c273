"""The producers' HTTP surface: ``/v1/events``, the source webhooks and the operations pages
(health, status, metrics, OpenAPI), one aiohttp app sharing one producer per process."""
