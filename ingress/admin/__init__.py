"""The admin API: tenants, keys, sources, destinations, routes and event types over HTTP, each
route checked against the caller's scopes (``docs/admin-api.md``)."""
