"""What the connection state says while the cluster does not answer (edamon.collector.outage):
the reason and a duration counted from the first unanswered request, through failed attempts
and retries, until an answer ends it."""

from __future__ import annotations

from edamon.broker.base import ServerProbe
from edamon.collector.outage import Outage, whole_duration

SILENT = ServerProbe("h:9092", False, True, "connection open, nothing received")
REFUSED = ServerProbe("h:9092", False, False, "connection refused")
ANSWERS = ServerProbe("h:9092", True, False, "answers a new connection")


def test_durations_are_whole_and_live() -> None:
    assert [whole_duration(s) for s in (0.4, 7.9, 65, 3725)] == ["0s", "7s", "1m05s", "1h02m"]


def test_a_silent_server_is_said_from_the_first_request_through_retries() -> None:
    outage = Outage("h:9092", no_answer_s=3)
    outage.asking(100.0)
    assert outage.text(101.0) == "connecting for 1s…"
    assert not outage.silent(102.0) and outage.wants_probe(101.5)
    outage.probed([SILENT], 102.0)
    assert outage.unanswered(103.0)
    assert outage.text(103.0) == "no answer from h:9092 for 3s (connection open, nothing received)"
    outage.failed("cannot reach kafka at h:9092: no answer within 10s", 110.0, 1.0)
    outage.asking(111.0)  # the next attempt: the duration goes on, the reason stays
    assert outage.text(112.0) == "no answer from h:9092 for 12s (connection open, nothing received)"
    outage.answered()
    assert outage.quiet_from is None and not outage.probes


def test_a_refused_connection_says_the_error_how_long_and_the_next_try() -> None:
    outage = Outage("h:9092", no_answer_s=3)
    outage.asking(0.0)
    outage.failed("cannot reach kafka at h:9092: connection refused", 0.2, 1.5)
    outage.probed([REFUSED], 0.5)
    assert outage.text(1.2) == (
        "cannot reach kafka at h:9092: connection refused (for 1s, retrying in 0.5s)"
    )
    outage.asking(1.7)
    assert outage.text(2.5) == "cannot reach kafka at h:9092: connection refused (for 2s, retrying)"


def test_a_slow_request_on_a_server_that_answers_is_no_outage_and_is_probed_again_soon() -> None:
    outage = Outage("h:9092", no_answer_s=3)
    outage.asking(0.0)
    outage.probed([ANSWERS], 1.0)
    assert outage.silent(4.0) and not outage.unanswered(4.0)
    assert outage.text(4.0) == "no answer for 4s (h:9092 answers a new connection)"
    assert not outage.wants_probe(3.5) and outage.wants_probe(4.0)  # it may have stopped since
