"""The platform below the apps: settings, logging, metric names, the secret box, the collector
settings and the process supervisor the ingress and the workers run under."""
