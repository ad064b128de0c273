# The crmbus image used by docker-compose.kafka.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams streams
COPY schemas schemas
COPY connectors connectors
COPY agents agents
COPY ingress ingress
COPY infra infra
RUN pip install --no-cache-dir . && useradd --system crmbus
USER crmbus
ENTRYPOINT ["crmbus"]
