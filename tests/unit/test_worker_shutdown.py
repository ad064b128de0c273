"""A stopping worker ends its destinations' connections cleanly (HTTP sessions closed, SMTP QUIT)."""

import asyncio

import agents.app
from infra.cli.wiring import worker_app
from infra.core.settings import Settings


class RecordingClients:
    def __init__(self, policy: object) -> None:
        self.policy = policy
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


def test_the_shutdown_signal_closes_the_destinations_clients(tmp_path, monkeypatch):
    made: list[RecordingClients] = []
    monkeypatch.setattr(agents.app, "HttpClients", lambda policy: made.append(RecordingClients(policy)) or made[-1])
    app = worker_app(Settings(state_dir=tmp_path))
    try:
        assert [clients.closed for clients in made] == [0]
        asyncio.run(app.on_before_shutdown.send())  # what Faust sends once its agents have stopped
        assert [clients.closed for clients in made] == [1]
    finally:
        app.consumer._thread.thread_loop.close()
