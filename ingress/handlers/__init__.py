"""HTTP handlers: the generic event API, one module per source webhook, operations endpoints."""
