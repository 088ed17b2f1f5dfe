"""What the dashboard's search screen makes of what was typed (edamon.ui.screens.search): the
query sent to the service, and the errors only the dashboard can tell."""

from __future__ import annotations

import pytest

from edamon.model.search import SearchDoc, SearchField, SearchQuery
from edamon.ui.screens.search import (
    FormError,
    SearchForm,
    offers_full_scan,
    outcome,
    progress_bar,
    query_from_form,
    range_text,
)

NOW = 1_796_644_800.0  # 2026-12-07T12:00:00Z
HOUR_MS = 3_600_000


def test_since_is_a_duration_ago_up_to_now() -> None:
    query = query_from_form(SearchForm("correlation_id", " cid-1 ", since="8h"), NOW)
    assert (query.by, query.value) == ("correlation_id", "cid-1")
    assert query.from_ms == round(NOW * 1000) - 8 * HOUR_MS
    assert query.until_ms is None and query.topics == () and not query.full_scan


def test_from_and_until_take_times_and_durations_and_win_over_since() -> None:
    form = SearchForm(
        "key",
        "order-8812",
        since="8h",
        start="2026-12-07T03:00:00Z",
        until="1h",
        topics="orders.OrderPlaced, orders.DLT  payments",
        full_scan=True,
        budget_records="1,000",
        budget_seconds="30",
        rate="500",
    )
    query = query_from_form(form, NOW)
    assert query.from_ms == round(NOW * 1000) - 9 * HOUR_MS
    assert query.until_ms == round(NOW * 1000) - HOUR_MS
    assert query.topics == ("orders.OrderPlaced", "orders.DLT", "payments")
    assert query.full_scan and query.budget_records == 1000
    assert query.budget_seconds == 30.0 and query.rate == 500.0


@pytest.mark.parametrize(
    ("form", "said"),
    [
        (SearchForm("event_id", "  "), "type the event id to find"),
        (SearchForm("correlation_id", "x", since=""), "a time range is needed"),
        (SearchForm("correlation_id", "x", since="eight hours"), "since: "),
        (SearchForm("correlation_id", "x", until="latest"), "until: 'latest' is not a duration"),
        (SearchForm("correlation_id", "x", budget_records="lots"), "'lots' is not a whole"),
        (SearchForm("correlation_id", "x", budget_seconds="0"), "must be more than 0"),
        (SearchForm("correlation_id", "x", rate="-5"), "rate must be more than 0"),
    ],
)
def test_what_cannot_make_a_query_says_what_to_type(form: SearchForm, said: str) -> None:
    with pytest.raises(FormError) as raised:
        query_from_form(form, NOW)
    assert said in str(raised.value)


@pytest.mark.parametrize("field", ["since", "start", "until"])
def test_a_time_that_cannot_be_read_gets_what_the_field_takes(field: str) -> None:
    """Only what a range's ends take: no Kafka start positions (latest, earliest)."""
    with pytest.raises(FormError) as raised:
        query_from_form(SearchForm("correlation_id", "x", **{field: "abc"}), NOW)
    name = "from" if field == "start" else field
    assert str(raised.value) == (
        f"{name}: 'abc' is not a duration ago (30m, 8h, 1d) or a time (2026-12-07T03:00Z)"
    )


def test_a_json_path_and_a_future_range_are_left_to_the_service() -> None:
    """The service judges them, and its message is what the screen shows."""
    future = SearchForm("json_path", "$.a b=1", start="2099-01-01T00:00:00Z")
    query = query_from_form(future, NOW)
    assert query.value == "$.a b=1" and query.from_ms > NOW * 1000


def test_range_text_names_the_date_once_when_it_is_the_same() -> None:
    end = round(NOW * 1000)
    assert range_text(end - 8 * HOUR_MS, end) == "2026-12-07 04:00:00–12:00:00 UTC"
    assert range_text(end - 24 * HOUR_MS, end) == ("2026-12-06 12:00:00 – 2026-12-07 12:00:00 UTC")


def test_progress_bar_fills_in_eighths() -> None:
    assert progress_bar(0, 100, 4) == "    "
    assert progress_bar(50, 100, 4) == "██  "
    assert progress_bar(1, 32, 4) == "▏   "
    assert progress_bar(5, 0, 4) == "████"  # nothing to read: done
    assert progress_bar(200, 100, 4) == "████"


def test_only_a_finished_key_search_without_full_scan_offers_a_full_scan() -> None:
    from dataclasses import replace

    query = SearchQuery("key", "order-1", 0)
    doc = SearchDoc("s1", "done", query, 0, 1, 0.0, 1.0, (), 0, 0, 0, 0, 0, (), (), (), (), None)
    assert offers_full_scan(doc)
    assert not offers_full_scan(replace(doc, state="running"))
    assert not offers_full_scan(replace(doc, query=replace(query, full_scan=True)))
    assert not offers_full_scan(replace(doc, query=replace(query, by="correlation_id")))


@pytest.mark.parametrize(
    ("by", "value", "hint"),
    [
        ("correlation_id", "order-42-x", True),
        ("event_id", "3bbbe9", False),  # a short id: its prefix was searched
        ("correlation_id", "3bbbe9ea-0000-4000-8000-000000000000", True),
        ("key", "order-42", False),
    ],
)
def test_an_id_search_that_found_nothing_says_how_ids_are_matched(
    by: SearchField, value: str, hint: bool
) -> None:
    query = SearchQuery(by, value, 0)
    doc = SearchDoc("s1", "done", query, 0, 1, 0.0, 1.0, (), 6769, 6769, 0, 0, 0, (), (), (), ())
    said = outcome(doc, 1.0).plain
    assert said.startswith("No flow found (6,769 of ~6,769 records read")
    assert ("first 6 or more hex characters" in said and "`:`" in said) is hint
