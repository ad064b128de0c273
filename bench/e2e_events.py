"""The lead.created events the e2e bench posts, and how a delivery says which event it carries.

Every system maps the lead differently, but each of the three deliveries (crm, zapi, marketing)
carries the lead's phone: the bench writes the phase's tag and the event's sequence number into
the phone's eight free digits (``+55 11 9 TT SSSSSS``, a valid São Paulo mobile), so the receiver
can tell event and phase from any delivery's body without knowing the system's ids.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from bench.events import SINGLE_PATH, example_lead

MAX_TAG = 99
MAX_SEQ = 999_999
_PHONE_HEAD = "+55119"
_PHONE_DIGITS = re.compile(rb'"phone":\s*"\+?55119(\d{2})(\d{6})"')
# The catalogue's example lead, consenting: the seed flows fan it out to crm, zapi and marketing.
_PAYLOAD = {**example_lead(), "marketing_consent": True}


def phone(tag: int, seq: int) -> str:
    """The E.164 phone that carries phase ``tag`` and event ``seq``."""
    if not (0 <= tag <= MAX_TAG and 0 <= seq <= MAX_SEQ):
        raise ValueError(f"tag must be 0..{MAX_TAG} and seq 0..{MAX_SEQ}, not {tag} and {seq}")
    return f"{_PHONE_HEAD}{tag:02d}{seq:06d}"


def tag_and_seq(body: bytes) -> tuple[int, int] | None:
    """(tag, seq) of the first phone in a delivery's JSON body, E.164 or digits only; None without one."""
    found = _PHONE_DIGITS.search(body)
    return (int(found[1]), int(found[2])) if found else None


def event_body(tag: int, seq: int, key_prefix: str) -> bytes:
    payload = {**_PAYLOAD, "phone": phone(tag, seq)}
    document = {"type": "lead.created", "payload": payload, "idempotency_key": f"{key_prefix}{tag}-{seq}"}
    return json.dumps(document, ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class LeadEvents:
    """One lead per ``POST /v1/events``; 202 with an ``event_id`` is success.

    The open loop does not tell its workload when its schedule started, so request 0 writes the
    monotonic instant it is sent to ``start_file``: the schedule's start plus the generator's
    lateness on that one send (under a millisecond on an idle generator), which therefore is
    left out of every latency.
    """

    host: str
    port: int
    secret: str
    key_prefix: str
    tag: int
    start_file: Path
    events_per_request: int = 1

    def request(self, seq: int) -> bytes:
        if seq == 0:
            self.start_file.write_text(repr(time.monotonic()))
        body = event_body(self.tag, seq, self.key_prefix)
        head = (
            f"POST {SINGLE_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.secret}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def judge(self, status: int, body: bytes) -> tuple[int, str | None]:
        if status != 202:
            return 0, f"http {status}"
        if b'"event_id"' not in body:
            return 0, "202 without event_id"
        return 1, None
