"""core/view/routes.py: the monitoring paths beside the broker's, read and checked."""

from __future__ import annotations

import pytest

from ltsp_mesh.core.broker.request import BadRequest
from ltsp_mesh.core.view import routes
from ltsp_mesh.core.view.routes import Page


@pytest.mark.parametrize(
    ("target", "page"),
    [
        (b"/", Page.STATUS),
        (b"/metrics", Page.METRICS),
        (b"/status.json", Page.STATUS_JSON),
        (b"/decisions.json", Page.DECISIONS_JSON),
        (b"/?", Page.STATUS),
    ],
)
def test_each_page_has_its_path(target: bytes, page: Page) -> None:
    assert routes.decode(b"GET", target) == routes.PageRequest(page)


def test_head_is_answered_like_get() -> None:
    assert routes.decode(b"HEAD", b"/metrics").head


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"])
def test_a_method_that_could_change_something_is_a_405(method: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        routes.decode(method, b"/")
    assert caught.value.status == 405 and "read-only" in caught.value.reason


@pytest.mark.parametrize(
    ("target", "status"),
    [
        (b"/index.html", 404),
        (b"/drain", 404),
        (b"/metrics/", 404),
        (b"/?client=10.0.0.1&client=10.0.0.2", 400),
        (b"/?drain=on", 400),
        (b"/?client=not-an-address", 400),
        (b"/?client=10.0.0.256", 400),
        (b"/metrics?client=10.0.0.1", 400),
        (b"/?%zz", 400),
        (b"/\xff", 400),
        (b"/?client=" + b"1" * 3000, 414),
    ],
)
def test_a_bad_request_gets_its_4xx(target: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as caught:
        routes.decode(b"GET", target)
    assert caught.value.status == status and "\n" not in caught.value.reason


@pytest.mark.parametrize(
    ("query", "client"),
    [
        (b"client=10.77.0.5", "10.77.0.5"),
        (b"client=02:AA:bb:00:00:0B", "02:aa:bb:00:00:0b"),
        (b"client=02%3Aaa%3Abb%3A00%3A00%3A0b", "02:aa:bb:00:00:0b"),
        (b"client=", None),
    ],
)
def test_the_client_filter_takes_an_address_or_a_mac(query: bytes, client: str | None) -> None:
    assert routes.decode(b"GET", b"/?" + query).client == client
    assert routes.decode(b"GET", b"/decisions.json?" + query).client == client
