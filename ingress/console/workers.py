"""Scrape each worker's ``/health`` and ``/metrics``: a worker that does not answer is unreachable,
never an error of the dashboard."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from infra.core.settings import Settings
from streams.bus_health import Sample, WorkerMetrics, WorkerReading, worker_metrics


def worker_addresses(settings: Settings) -> list[str]:
    """The workers ``crmbus worker`` runs here (port ``CRMBUS_WORKER_WEB_PORT`` + i for each of
    ``CRMBUS_WORKER_PROCESSES``, on loopback) unless ``CRMBUS_DASHBOARD_LOCAL_WORKERS`` is off, then
    ``CRMBUS_DASHBOARD_WORKER_URLS``."""
    processes = settings.worker_processes if settings.dashboard_local_workers else 0
    local = [f"http://127.0.0.1:{settings.worker_web_port + i}" for i in range(processes)]
    extra = [url.rstrip("/") for url in settings.dashboard_worker_urls]
    return list(dict.fromkeys([*local, *extra]))


async def scrape(session: aiohttp.ClientSession, address: str) -> WorkerReading:
    """``up`` when /health says 200, ``starting`` on 503 (restoring tables, not yet assigned)."""
    try:
        health, metrics = await asyncio.gather(_get(session, f"{address}/health"), _get(session, f"{address}/metrics"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        return WorkerReading(address, "unreachable", error=type(exc).__name__)
    status, _ = health
    if status not in (200, 503):
        return WorkerReading(address, "unreachable", error=f"HTTP {status}")
    metrics_status, text = metrics
    figures = _figures(text) if metrics_status == 200 else None
    return WorkerReading(address, "up" if status == 200 else "starting", figures)


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url, allow_redirects=False) as response:
        return response.status, await response.text()


def _figures(text: str) -> WorkerMetrics | None:
    try:
        samples: list[Sample] = [
            (s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples
        ]
    except ValueError:  # not a Prometheus page: show the worker without figures
        return None
    return worker_metrics(samples)
