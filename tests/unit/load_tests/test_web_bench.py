"""The web benchmark reads the server's own time from the Server-Timing header."""

import pytest
from multidict import CIMultiDict

from load_tests.benchmarks.web_queue import server_ms


def test_the_app_duration_is_read_among_other_metrics_and_headers():
    headers = CIMultiDict(
        [("Server-Timing", "db;dur=4.5"), ("server-timing", "cache, app;dur=12.3")]
    )
    assert server_ms(headers) == 12.3


def test_a_response_without_the_app_duration_is_refused_not_counted_as_zero():
    with pytest.raises(ValueError, match="Server-Timing"):
        server_ms(CIMultiDict([("Server-Timing", "app;desc=rendered")]))
    with pytest.raises(ValueError):
        server_ms(CIMultiDict())
