"""``python -m bench run <scenario>``: load a crmbus component on loopback and report.

Each scenario is a module with ``add_arguments(parser)`` and ``run(args) -> exit code`` (and
optionally ``DEFAULT_RATE``); add one by adding its module to ``SCENARIOS``. The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from bench.stack import BenchError

SCENARIOS = {
    "ingress": "bench.ingress",
    "router": "bench.router",
    "deliver": "bench.deliver",
    "e2e": "bench.e2e",
    "clients": "bench.clients",
    "drain": "bench.drain",
    "consumer": "bench.consumer",
    "lookups": "bench.lookups",
    "signatures": "bench.signatures",
    "soak": "bench.soak",
    "chaos": "bench.chaos",
    "replay": "bench.replay",
    "outbox": "bench.outbox",
    "state": "bench.state",
    "log_redaction": "bench.log_redaction",
    "idle": "bench.idle",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one scenario")
    scenarios = run.add_subparsers(dest="scenario", required=True, metavar="{" + ",".join(SCENARIOS) + "}")
    for name, module_name in SCENARIOS.items():
        module = importlib.import_module(module_name)
        doc = module.__doc__ or name
        scenario = scenarios.add_parser(name, help=doc.split("\n", 1)[0], description=doc)
        rate = float(getattr(module, "DEFAULT_RATE", 5000.0))
        scenario.add_argument(
            "--rate", type=float, default=rate, help=f"events/s of the fixed-rate run (default {rate:g})"
        )
        scenario.add_argument("--duration", type=float, default=10.0, help="seconds of the fixed-rate run (default 10)")
        scenario.add_argument("--runs", type=int, default=1, help="repeat and report medians (default 1)")
        module.add_arguments(scenario)
        scenario.set_defaults(entry=module.run)
    return parser


def _interrupt(signum: int, _: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.runs < 1:
        sys.exit("--rate and --duration must be positive, --runs at least 1")
    # A SIGTERM (timeout, a CI's cancel, kill) unwinds like Ctrl-C: every scenario stops the
    # processes it started and only those, on the way out of its context managers.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.entry(args))
    except BenchError as error:
        print(f"bench {args.scenario}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
