"""What a WhatsApp provider's health answer says, and the per-kind verdict the gauges show."""

from __future__ import annotations

import pytest

from streams.probes import CheckRow, summary, up_per_kind, waha_session, zapi_session

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"connected": True, "error": "", "smartphoneConnected": True}, "connected"),
        ({"connected": False, "error": "You are not connected.", "smartphoneConnected": False}, "disconnected"),
        ({"connected": "true"}, "disconnected"),
        ([], "disconnected"),
    ],
)
def test_a_zapi_instance_is_connected_only_when_its_status_says_true(body, expected):
    assert zapi_session(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "default", "status": "WORKING"}, ("connected", None)),
        ({"name": "default", "status": "FAILED"}, ("disconnected", "session_failed")),
        ({"name": "default", "status": "SCAN_QR_CODE"}, ("disconnected", "session_scan_qr_code")),
        ({"name": "default", "status": "<script>"}, ("disconnected", "session_unknown")),
        ({"name": "default"}, ("disconnected", "session_unknown")),
    ],
)
def test_a_waha_session_is_connected_only_while_working_and_says_its_state_otherwise(body, expected):
    assert waha_session(body) == expected


def test_one_tenants_lost_session_turns_its_providers_gauge_to_zero():
    rows = [
        CheckRow("waha", "up", "connected"),
        CheckRow("waha", "up", "disconnected"),
        CheckRow("zapi", "up", "connected"),
        CheckRow("zapi", "down", None),
    ]
    assert up_per_kind(rows) == ({"waha": 1, "zapi": 0}, {"waha": 0, "zapi": 1})


def test_a_kind_nothing_checked_has_no_verdict_rather_than_a_healthy_one():
    assert up_per_kind([]) == ({}, {})


def test_the_summary_counts_per_kind_and_names_no_tenant():
    rows = [CheckRow("zapi", "down", None), CheckRow("waha", "up", "disconnected"), CheckRow("waha", "up", "connected")]
    assert summary(rows) == {
        "destinations": {"zapi": {"up": 0, "down": 1}, "waha": {"up": 2, "down": 0}},
        "whatsapp_sessions": {"waha": {"connected": 1, "disconnected": 1}},
    }
