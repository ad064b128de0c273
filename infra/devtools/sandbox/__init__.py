"""Sandbox destinations: loopback HTTP stand-ins for the systems crmbus delivers to.

They speak the systems' public contracts (``contracts``), record what they receive, honour
``Idempotency-Key`` and fail on demand, so delivery code can be tested — and demonstrated —
against every way a real system misbehaves, without one. ``Sandbox`` runs them in a test's
event loop; ``crmbus sandbox`` runs them as a process that ``SandboxClient`` drives.
"""

from infra.devtools.sandbox.client import SandboxClient
from infra.devtools.sandbox.contracts import CONTRACTS, SYSTEMS, Contract, System
from infra.devtools.sandbox.faults import Failure
from infra.devtools.sandbox.journal import Received
from infra.devtools.sandbox.server import Sandbox, serve

__all__ = ["CONTRACTS", "SYSTEMS", "Contract", "Failure", "Received", "Sandbox", "SandboxClient", "System", "serve"]
