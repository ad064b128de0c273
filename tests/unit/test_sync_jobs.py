from datetime import UTC, datetime

import pytest

from agents.sync import metric_job
from streams.errors import ConfigurationError
from streams.sync_jobs import Schedule, claim_name, record_event_id, record_identity, sync_route_id, synced_endpoint

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 5, 14, 17, 30, tzinfo=UTC)


def test_a_daily_cron_ticks_at_its_latest_firing_not_after_now():
    daily = Schedule.from_config({"cron": "0 6 * * *"})
    assert daily.tick(AT) == datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
    assert daily.tick(datetime(2026, 12, 5, 5, 59, tzinfo=UTC)) == datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    assert daily.next_run(AT) == datetime(2026, 12, 6, 6, 0, tzinfo=UTC)


def test_a_cron_firing_now_is_its_own_tick():
    hourly = Schedule.from_config({"cron": "0 * * * *"})
    assert hourly.tick(datetime(2026, 12, 5, 14, 0, 0, tzinfo=UTC)) == datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    assert hourly.tick(datetime(2026, 12, 5, 14, 0, 59, tzinfo=UTC)) == datetime(2026, 12, 5, 14, 0, tzinfo=UTC)


def test_an_interval_ticks_from_the_epoch_so_every_worker_agrees():
    every_4h = Schedule.from_config({"every_s": 4 * 3600})
    assert every_4h.tick(AT) == datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert every_4h.next_run(AT) == datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
    assert every_4h.to_config() == {"every_s": 14400}


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"cron": "61 * * * *"}, "schedule.cron"),
        ({"cron": "0 6 * * * *"}, "schedule.cron"),
        ({"every_s": 9}, "schedule.every_s"),
        ({"every_s": True}, "schedule.every_s"),
        ({"cron": "0 6 * * *", "every_s": 60}, "schedule"),
        ("hourly", "schedule"),
    ],
)
def test_a_bad_schedule_is_refused_naming_what_is_wrong(given, named):
    with pytest.raises(ConfigurationError) as refused:
        Schedule.from_config(given)
    assert refused.value.field == named
    assert str(refused.value).startswith(named)


def test_a_record_version_keeps_its_event_id_across_runs_and_a_new_version_gets_another():
    first = record_event_id("acme", "job-1", "42", "2026-12-05T10:00:00Z")
    assert record_event_id("acme", "job-1", "42", "2026-12-05T10:00:00Z") == first
    assert record_event_id("acme", "job-1", "42", "2026-12-05T11:00:00Z") != first
    assert record_event_id("acme", "job-2", "42", "2026-12-05T10:00:00Z") != first
    assert record_event_id("beta", "job-1", "42", "2026-12-05T10:00:00Z") != first


def test_a_sync_delivery_names_its_endpoint_in_its_route_id_and_no_other_route_id_does():
    assert synced_endpoint(sync_route_id("0b6e", "9f2a")) == "9f2a"
    assert synced_endpoint("7c1d2e3f-0000-4000-8000-000000000000") is None
    assert synced_endpoint("sync:0b6e") is None


def test_a_record_is_identified_by_its_id_and_updated_at_or_version():
    assert record_identity({"id": 42, "updated_at": "2026-12-05T10:00:00Z"}, "id") == ("42", "2026-12-05T10:00:00Z")
    assert record_identity({"code": "a", "version": 3}, "code") == ("a", "3")
    with pytest.raises(ConfigurationError, match="'id'"):
        record_identity({"name": "x"}, "id")


def test_runs_are_claimed_and_labelled_without_tenant_chosen_words():
    assert claim_name("0b6e") == "sync:0b6e"
    assert sync_route_id("0b6e", "9f2a") == "sync:0b6e@9f2a"
    assert metric_job("cuidadores-crm") == "sync:cuidadores-crm"
    assert metric_job("my-private-export") == "sync:other"


def test_the_default_jobs_are_valid_definitions_on_their_shared_schedules():
    from infra.db.sync_jobs import checked_definition
    from streams.sync_jobs import DEFAULT_SYNC_JOBS

    schedules = {
        name: checked_definition(job["source"], job["destination"], job["schedule"])
        for name, job in DEFAULT_SYNC_JOBS.items()
    }
    assert {name: schedule.next_run(AT) for name, schedule in schedules.items()} == {
        "servico-faturamento": datetime(2026, 12, 6, 6, 0, tzinfo=UTC),  # daily
        "agenda-operacao": datetime(2026, 12, 5, 15, 0, tzinfo=UTC),  # hourly
        "cuidadores-crm": datetime(2026, 12, 5, 16, 0, tzinfo=UTC),  # every 4 h
    }
