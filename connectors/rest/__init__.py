"""REST connectors for any system: authentication (``auth``) and paginated pulls of changes (``pull``)."""
