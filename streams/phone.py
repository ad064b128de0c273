"""Phone numbers to E.164, with Brazil's numbering plan checked and foreign numbers allowed when explicit.

Accepted for Brazil (country code 55), in any punctuation (spaces, ``-``, ``.``, parentheses):

- national: ``11 99999-0000``, ``(11) 3333-4444``, with a trunk ``0``: ``011 99999-0000``;
- international: ``+55 11 99999-0000`` or ``5511999990000`` (12 or 13 digits starting with 55).

Area codes (DDD) are checked against the 67 that Anatel assigns. Mobiles have nine digits starting
with 9; landlines eight starting with 2-5. Eight-digit numbers starting with 6-9 are mobiles written
before the ninth digit (2012-2016) and still how WhatsApp identifies many Brazilian accounts: we add
the 9, so one person has one canonical number whichever way they reached us.

A number with an explicit ``+`` and another country code is accepted as generic E.164 (7-15 digits):
relatives abroad often hire care for a parent in Brazil. Without ``+`` we only accept Brazilian numbers,
because an unprefixed number is ambiguous.

Errors are ``ValueError`` whose message states the rule broken and never echoes the number.
"""

from __future__ import annotations

import re

BRAZIL = "55"

# Anatel's area codes (DDD); any other two-digit prefix is a typo or not Brazilian.
AREA_CODES = frozenset(
    {
        *range(11, 20),
        21, 22, 24, 27, 28,
        *range(31, 36), 37, 38,
        *range(41, 50),
        51, 53, 54, 55,
        *range(61, 70),
        71, 73, 74, 75, 77, 79,
        *range(81, 90),
        *range(91, 100),
    }
)  # fmt: skip

_ALLOWED = re.compile(r"\+?[\d\s().\-]+")


def normalise_phone(raw: str) -> str:
    """``raw`` as E.164 (``+5511999990000``), or ``ValueError`` naming the rule it breaks."""
    text = raw.strip()
    if not text or _ALLOWED.fullmatch(text) is None:
        raise ValueError("a phone number may hold only digits, spaces, '+', '-', '.', '(' and ')'")
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        if digits.startswith(BRAZIL):
            return _brazilian(digits[len(BRAZIL) :])
        return _foreign(digits)
    if len(digits) in (12, 13) and digits.startswith(BRAZIL):
        return _brazilian(digits[len(BRAZIL) :])
    if len(digits) in (11, 12) and digits.startswith("0"):
        digits = digits[1:]
    return _brazilian(digits)


def _brazilian(national: str) -> str:
    if len(national) not in (10, 11):
        raise ValueError("a Brazilian phone number has a two-digit area code (DDD) and 8 or 9 digits")
    if int(national[:2]) not in AREA_CODES:
        raise ValueError("the area code (DDD) of this Brazilian phone number does not exist")
    subscriber = national[2:]
    if len(subscriber) == 9:
        if subscriber[0] != "9":
            raise ValueError("a nine-digit Brazilian phone number is a mobile and must start with 9")
    elif subscriber[0] in "6789":
        subscriber = "9" + subscriber
    elif subscriber[0] not in "2345":
        raise ValueError("an eight-digit Brazilian landline must start with 2, 3, 4 or 5")
    return f"+{BRAZIL}{national[:2]}{subscriber}"


def _foreign(digits: str) -> str:
    if not 7 <= len(digits) <= 15 or digits[0] == "0":
        raise ValueError("an international phone number has a country code and 7 to 15 digits in all")
    return "+" + digits
