"""``crmbus demo``: a realistic mix posted to the running bus, and each delivery shown as it lands."""
