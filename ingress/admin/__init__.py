"""The admin API: tenants, keys, sources, destinations, routes, types, deliveries and dead letters over HTTP."""
