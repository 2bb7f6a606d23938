"""middleware.wsgi.ProfilerMiddleware around a plain WSGI app (no Django involved)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from middleware import ConfigurationError
from middleware.wsgi import ProfilerMiddleware
from orm_ext import projection
from orm_ext.instrument import current_observer
from tests.middleware.app import ENTITIES, READ, MwWide
from tests.middleware.conftest import parse_server_timing

pytestmark = pytest.mark.usefixtures("wide_store")

HEADER = "X-Protolens-Profile"
seen: dict[str, Any] = {}


def wide_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    seen["observer"] = current_observer()
    if environ["PATH_INFO"] == "/projected":
        with projection(MwWide, *READ):
            entities = MwWide.query().fetch(ENTITIES)
    else:
        entities = MwWide.query().fetch(ENTITIES)
    total = sum(len(e.title) + e.views + e.score for e in entities)
    body = f"<html><body>{total}</body></html>".encode()
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
    return [body]


def streaming_app(environ: dict, start_response: Callable) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first\n"
    entities = MwWide.query().fetch(ENTITIES)
    yield str(sum(e.views for e in entities)).encode()


def call(app: Callable, path: str = "/", query: str = "", **environ: Any):
    """(status, headers, body) of one request, closing the body as a server does."""
    env: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query, **environ}
    setup_testing_defaults(env)
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        got["status"], got["headers"] = status, dict(headers)
        return lambda data: None

    result = app(env, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return got["status"], got["headers"], body


def admin(environ: dict) -> bool:
    return environ.get("REMOTE_USER") == "admin"


def profiled(app: Callable = wide_app, **options: Any) -> ProfilerMiddleware:
    return ProfilerMiddleware(app, **{"sample_rate": 1.0, "authorize": admin, **options})


def profile_of(mw: ProfilerMiddleware, headers: dict) -> dict:
    status, _, body = call(mw, headers[HEADER], "format=json", REMOTE_USER="admin")
    assert status == "200 OK"
    return json.loads(body)


def test_headers_present_and_timings_add_up():
    mw = profiled()
    _, headers, _ = call(mw)
    timing = {k: ms for k, (ms, _) in parse_server_timing(headers["Server-Timing"]).items()}
    assert timing["db"] + timing["decode"] + timing["app"] == pytest.approx(
        timing["total"], abs=0.01
    )
    assert headers[HEADER].startswith("/_protolens/")
    assert profile_of(mw, headers)["total_ms"] == timing["total"]


def test_unprojected_wide_query_yields_a_suggestion_of_exactly_the_properties_read():
    mw = profiled()
    [suggestion] = profile_of(mw, call(mw)[1])["suggestions"]
    assert suggestion["properties"] == READ
    assert suggestion["code"] == 'with projection(MwWide, "title", "views", "score"):'
    assert "in wide_app" in suggestion["site"]


def test_projected_query_yields_no_suggestion():
    mw = profiled()
    assert profile_of(mw, call(mw, "/projected")[1])["suggestions"] == []


def test_badge_goes_into_html_for_authorised_users_and_content_length_follows():
    mw = profiled()
    _, headers, body = call(mw, REMOTE_USER="admin")
    assert b'id="protolens-badge"' in body
    assert int(headers["Content-Length"]) == len(body)
    _, _, plain = call(mw)
    assert b"protolens-badge" not in plain


@pytest.mark.parametrize("authorize", [None, lambda environ: False])
def test_unauthorised_client_gets_404_for_a_profile_url(authorize):
    mw = profiled(authorize=authorize)
    url = call(mw)[1][HEADER]
    assert call(mw, url)[0].startswith("404")
    assert call(mw, url, "format=json", REMOTE_USER="admin")[0].startswith("404")


def test_authorised_client_gets_the_html_page_with_the_suggestion():
    mw = profiled()
    status, headers, page = call(mw, call(mw)[1][HEADER], REMOTE_USER="admin")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/html")
    assert b"with projection(MwWide" in page
    assert headers["Cache-Control"] == "no-store"


def test_streamed_body_is_not_buffered_and_profile_completes_on_close():
    mw = profiled(streaming_app)
    env: dict[str, Any] = {"PATH_INFO": "/"}
    setup_testing_defaults(env)
    got: dict[str, Any] = {}
    result = mw(env, lambda status, headers, exc_info=None: got.update(headers=dict(headers)))
    assert got == {}  # nothing ran yet: the body is pulled by the server
    chunks = iter(result)
    assert next(chunks) == b"first\n"
    url = got["headers"][HEADER]
    assert "Server-Timing" in got["headers"]
    assert call(mw, url, "format=json", REMOTE_USER="admin")[0].startswith("404")
    list(chunks)
    result.close()
    assert profile_of(mw, got["headers"])["decodes"][0]["entities"] == ENTITIES


def test_not_sampled_request_runs_the_app_with_no_observer():
    mw = ProfilerMiddleware(wide_app, sample_rate=0.0, authorize=admin)
    _, headers, _ = call(mw)
    assert seen["observer"] is None
    assert HEADER not in headers and "Server-Timing" not in headers


def test_header_opt_in_needs_authorisation():
    mw = ProfilerMiddleware(wide_app, authorize=admin)
    assert HEADER in call(mw, HTTP_X_PROTOLENS_PROFILE="1", REMOTE_USER="admin")[1]
    assert HEADER not in call(mw, HTTP_X_PROTOLENS_PROFILE="1")[1]


def test_disabled_middleware_passes_everything_through():
    mw = profiled(enabled=False)
    assert HEADER not in call(mw)[1]
    assert call(mw, "/_protolens/x/")[1].get("Content-Type") == "text/html"


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"sample_rate": 1.5}, "from 0.0"),
        ({"prefix": "_protolens"}, "starts and ends with '/'"),
        ({"authorize": "admin"}, "pass a function taking the WSGI environ"),
        ({"store": 42}, "SQLAlchemy URL"),
        ({"max_profiles": 0}, "1 or more"),
        ({"max_profiles": -1}, "1 or more"),
    ],
)
def test_bad_arguments_are_configuration_errors_saying_the_fix(options, fix):
    with pytest.raises(ConfigurationError, match=fix):
        ProfilerMiddleware(wide_app, **options)
