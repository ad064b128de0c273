"""Make a destination's answer safe to keep: what it says minus what may be personal data.

A CRM's error body often echoes the request (a name, a phone, an e-mail). Before an excerpt is
stored in the delivery log, e-mail addresses and runs of digits long enough to be a phone, a CPF
or a card become placeholders, and the text is cut to a short excerpt.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"\+?\d[\d .()/-]{6,}\d")
EXCERPT_CHARS = 300


def safe_excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` without e-mails and long numbers, at most ``limit`` characters."""
    masked = _LONG_NUMBER.sub("[number]", _EMAIL.sub("[email]", text[: limit * 2]))
    return masked[:limit]
