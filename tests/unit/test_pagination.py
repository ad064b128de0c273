"""How a pull walks a system's list: the request for each page, when a run has read everything,
and the change cursor the next run starts from, for every pagination and change style."""

import pytest

from streams.errors import ConfigurationError, PermanentDeliveryError
from streams.pagination import PullSpec, ask, turn


def spec(**config):
    return PullSpec.from_config({"path": "/v1/things", **config})


def record(number, updated_at="2026-12-01T10:00:00Z"):
    return {"id": f"r-{number}", "updated_at": updated_at}


UPDATED_SINCE = {"style": "updated_since"}


def test_the_first_page_asks_for_a_page_of_the_configured_size_with_the_static_query():
    pull = spec(page_size=50, pagination={"style": "offset"}, query={"status": "completed"})
    assert ask(pull, None, None).params == {"status": "completed", "limit": "50", "offset": "0"}


def test_a_run_asks_for_changes_since_its_watermark_on_every_page():
    pull = spec(pagination={"style": "page"}, changes=UPDATED_SINCE)
    mark = {"updated_since": "2026-12-01T00:00:00Z"}
    assert ask(pull, mark, None).params["updated_since"] == "2026-12-01T00:00:00Z"
    assert ask(pull, mark, {"page": 3}).params == {
        "per_page": "100",
        "updated_since": mark["updated_since"],
        "page": "3",
    }


def test_the_first_run_asks_for_everything():
    assert "updated_since" not in ask(spec(changes=UPDATED_SINCE), None, None).params


def test_cursor_pages_follow_the_next_cursor_until_there_is_none():
    pull = spec(records_at="items", pagination={"style": "cursor"})
    first = turn(pull, watermark=None, position=None, body={"items": [record(1)], "next_cursor": "c2"})
    assert first.position == {"cursor": "c2"}
    assert ask(pull, None, first.position).params["cursor"] == "c2"
    last = turn(pull, watermark=None, position=first.position, body={"items": [record(2)], "next_cursor": None})
    assert last.position is None


def test_a_cursor_page_with_a_more_flag_ends_when_the_flag_is_false():
    pull = spec(records_at="items", pagination={"style": "cursor", "more": "has_more"})
    body = {"items": [record(1)], "next_cursor": "c2", "has_more": False}
    assert turn(pull, watermark=None, position=None, body=body).position is None


def test_link_pages_follow_rel_next_among_other_links():
    pull = spec(pagination={"style": "link"})
    header = '<https://x.test/v1/things?page=1>; rel="first", <https://x.test/v1/things?page=2>; rel="next"'
    page = turn(pull, watermark=None, position=None, body=[record(1)], link_header=header)
    assert page.position == {"url": "https://x.test/v1/things?page=2"}
    assert ask(pull, None, page.position).url == "https://x.test/v1/things?page=2"
    assert turn(pull, watermark=None, position=page.position, body=[record(2)], link_header=None).position is None


def test_offset_pages_end_at_the_total_or_at_a_short_page():
    with_total = spec(records_at="items", page_size=2, pagination={"style": "offset", "total": "total"})
    body = {"items": [record(1), record(2)], "total": 4}
    assert turn(with_total, watermark=None, position=None, body=body).position == {"offset": 2}
    assert turn(with_total, watermark=None, position={"offset": 2}, body=body).position is None
    without_total = spec(records_at="items", page_size=2, pagination={"style": "offset"})
    assert turn(without_total, watermark=None, position=None, body={"items": [record(1)]}).position is None


def test_page_numbers_end_at_the_page_count():
    pull = spec(records_at="items", pagination={"style": "page", "pages": "pages"})
    assert turn(pull, watermark=None, position=None, body={"items": [record(1)], "pages": 2}).position == {"page": 2}
    assert turn(pull, watermark=None, position={"page": 2}, body={"items": [record(2)], "pages": 2}).position is None


def test_an_empty_page_ends_the_run_whatever_the_system_says_next():
    pull = spec(records_at="items", pagination={"style": "cursor"})
    assert turn(pull, watermark=None, position=None, body={"items": [], "next_cursor": "again"}).position is None


def test_the_watermark_becomes_the_latest_updated_at_the_whole_run_saw():
    pull = spec(records_at="items", page_size=2, pagination={"style": "offset"}, changes=UPDATED_SINCE)
    start = {"updated_since": "2026-12-01T00:00:00Z"}
    first = turn(
        pull,
        watermark=start,
        position=None,
        body={"items": [record(1, "2026-12-01T09:00:00Z"), record(2, "2026-12-01T08:00:00+00:00")]},
    )
    assert first.position == {"offset": 2, "high": "2026-12-01T09:00:00Z"}
    last = turn(pull, watermark=start, position=first.position, body={"items": [record(3, "2026-12-01T05:00:00Z")]})
    assert last.position is None
    assert last.watermark == {"updated_since": "2026-12-01T09:00:00Z"}


def test_instants_are_compared_as_instants_not_as_text():
    pull = spec(changes=UPDATED_SINCE)
    body = [record(1, "2026-12-01T12:00:00+03:00"), record(2, "2026-12-01T10:00:00Z")]
    assert turn(pull, watermark=None, position=None, body=body).watermark == {"updated_since": "2026-12-01T10:00:00Z"}


def test_a_run_with_no_changes_keeps_its_watermark():
    pull = spec(changes=UPDATED_SINCE)
    mark = {"updated_since": "2026-12-01T00:00:00Z"}
    assert turn(pull, watermark=mark, position=None, body=[]).watermark == mark


def test_a_change_token_run_starts_from_the_token_and_keeps_the_last_one():
    pull = spec(records_at="items", pagination={"style": "cursor", "more": "has_more"}, changes={"style": "token"})
    assert ask(pull, {"cursor": "t1"}, None).params["cursor"] == "t1"
    first = turn(
        pull,
        watermark={"cursor": "t1"},
        position=None,
        body={"items": [record(1)], "next_cursor": "t2", "has_more": True},
    )
    assert first.position == {"cursor": "t2"}
    last = turn(
        pull,
        watermark={"cursor": "t1"},
        position=first.position,
        body={"items": [], "next_cursor": "t3", "has_more": False},
    )
    assert (last.position, last.watermark) == (None, {"cursor": "t3"})


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"items": "x"}, "is not a list of objects"),
        ({"items": [1]}, "is not a list of objects"),
        ({"items": [{"name": "no id"}]}, "has no 'id'"),
    ],
)
def test_a_page_that_is_not_a_list_of_records_is_refused(body, problem):
    with pytest.raises(PermanentDeliveryError, match=problem):
        turn(spec(records_at="items"), watermark=None, position=None, body=body)


def test_a_record_without_a_readable_instant_is_refused_under_updated_since():
    with pytest.raises(PermanentDeliveryError, match="'updated_at' is not an RFC 3339 instant"):
        turn(spec(changes=UPDATED_SINCE), watermark=None, position=None, body=[{"id": "1", "updated_at": "yesterday"}])


@pytest.mark.parametrize(
    ("config", "problem", "field"),
    [
        ({"path": "v1/things"}, "must start with /", "path"),
        ({"path": "/v1/things?x=1"}, "carry no query", "path"),
        ({"path": "/x", "page_size": 0}, "page_size", "page_size"),
        ({"path": "/x", "pagination": {"style": "scroll"}}, "pagination.style must be one of", "pagination.style"),
        ({"path": "/x", "pagination": {"style": "link", "param": "p"}}, "has no option 'param'", "pagination"),
        ({"path": "/x", "changes": {"style": "token"}}, "need pagination of style cursor", "changes"),
        ({"path": "/x", "query": {"n": 1}}, "query must be an object of text values", "query"),
        ({"path": "/x", "sort": "asc"}, "no option 'sort'", None),
    ],
)
def test_an_invalid_pull_is_refused_naming_the_problem_and_its_field(config, problem, field):
    with pytest.raises(ConfigurationError, match=problem) as refused:
        PullSpec.from_config(config)
    assert refused.value.field == field
    assert "scroll" not in str(refused.value)  # names the field, never quotes the value
