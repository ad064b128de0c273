"""Settings, persistence, logging, local services and the ``crmbus`` command line."""
