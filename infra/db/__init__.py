"""PostgreSQL: the control plane (tenants, keys, destinations, routes, jobs) and the history."""
