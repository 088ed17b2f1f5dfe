"""What `edamon find` and POST /v1/searches accept: JSON paths, time ranges, checked queries."""

from __future__ import annotations

import pytest

from edamon.search.query import SearchError, build_query, parse_json_path, resolve_range

NOW = 1_796_000_000.0  # epoch seconds


def test_json_path_segments_and_value() -> None:
    assert parse_json_path("$.payload.orderId=8812") == (("payload", "orderId"), 8812, "8812")
    assert parse_json_path("payload.lines[1].sku=sku-7") == (
        ("payload", "lines", 1, "sku"),
        "sku-7",
        "sku-7",
    )
    assert parse_json_path('$["odd key"]="a"') == (("odd key",), "a", '"a"')


@pytest.mark.parametrize("bad", ["$.a..b=1", "$.pay load=1", "$.a", "$=1", "$.a[x]=1"])
def test_malformed_json_paths_are_refused(bad: str) -> None:
    with pytest.raises(SearchError, match=r"JSON path|\$\.payload\.orderId=8812"):
        parse_json_path(bad)


def test_ranges() -> None:
    assert resolve_range("8h", None, None, NOW) == (round((NOW - 8 * 3600) * 1000), None)
    start, until = resolve_range(None, "2026-11-29T00:00:00Z", "2026-11-29T01:00:00Z", NOW)
    assert (until or 0) - start == 3_600_000
    with pytest.raises(SearchError, match="future"):
        resolve_range(None, "2099-01-01", None, NOW)
    with pytest.raises(SearchError, match="after the start"):
        resolve_range(None, "1h", "2h", NOW)
    with pytest.raises(SearchError, match="not both"):
        resolve_range("1h", "2h", None, NOW)
    with pytest.raises(SearchError, match="time range is needed"):
        resolve_range(None, None, None, NOW)
    with pytest.raises(SearchError) as raised:
        resolve_range("yesterday-ish", None, None, NOW)
    assert str(raised.value) == (
        "--since: 'yesterday-ish' is not a duration ago (30m, 8h, 1d) or a time (2026-12-07T03:00Z)"
    )


def test_an_until_in_the_future_means_now() -> None:
    assert resolve_range("1h", None, None, NOW)[1] is None
    assert resolve_range(None, "1h", "2099-01-01", NOW)[1] is None


def test_queries_are_checked() -> None:
    query = build_query("header", "x-ticket=T-1", 0, topics=["a", "b"])
    assert query.topics == ("a", "b") and query.until_ms is None
    with pytest.raises(SearchError, match="name=value"):
        build_query("header", "x-ticket", 0)
    with pytest.raises(SearchError, match="1 to 1000"):
        build_query("key", "", 0)
    with pytest.raises(SearchError, match="positive"):
        build_query("key", "k", 0, budget_records=0)
    with pytest.raises(SearchError, match="rate"):
        build_query("key", "k", 0, rate=0)
