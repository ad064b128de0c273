# The crmbus image: the `crmbus` command, run by docker-compose.kafka.yml as the set-up job, the
# ingress (`crmbus ingress`), the workers (`crmbus worker`) and the console (`crmbus dashboard`).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CRMBUS_STATE_DIR=/var/lib/crmbus
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams streams
COPY schemas schemas
COPY connectors connectors
COPY agents agents
COPY ingress ingress
# All of infra, infra/local and infra/devtools included: these services never run them, but the
# CLI imports them when it starts.
COPY infra infra
# The state directory (the workers' Faust data, the ingress's shared metrics) is the only place
# the unprivileged user writes; /app stays read-only to it.
RUN pip install --no-cache-dir . \
    && useradd --system --home-dir /var/lib/crmbus --create-home crmbus
USER crmbus
ENTRYPOINT ["crmbus"]
