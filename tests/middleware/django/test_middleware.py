"""middleware.django.ProfilerMiddleware: what a Django user sees and relies on."""

from __future__ import annotations

import asyncio
import logging

import pytest
from django.core.exceptions import MiddlewareNotUsed
from django.test import AsyncClient, override_settings

from middleware import ConfigurationError
from middleware.django import ProfilerMiddleware
from tests.middleware import app
from tests.middleware.conftest import (
    client_for,
    parse_server_timing,
    profile_json,
    profiler_settings,
)

pytestmark = pytest.mark.usefixtures("django_db", "wide_store")

HEADER = "X-Protolens-Profile"


def test_profiled_response_carries_server_timing_with_descriptions_and_profile_url():
    with profiler_settings():
        response = client_for("staff").get("/wide/")
    timing = parse_server_timing(response["Server-Timing"])
    assert set(timing) == {"db", "decode", "app", "total"}
    assert all(desc for _, desc in timing.values())
    assert response[HEADER].startswith("/_protolens/")


def test_db_decode_and_app_add_up_to_total_in_header_and_json():
    with profiler_settings():
        client = client_for("staff")
        response = client.get("/wide/")
        profile = profile_json(client, response[HEADER])
    timing = {k: ms for k, (ms, _) in parse_server_timing(response["Server-Timing"]).items()}
    assert timing["db"] + timing["decode"] + timing["app"] == pytest.approx(
        timing["total"], abs=0.01
    )
    assert timing["decode"] > 0 and timing["db"] > 0
    assert profile["total_ms"] == timing["total"]
    assert (profile["db_ms"], profile["decode_ms"]) == (timing["db"], timing["decode"])


def test_unprojected_wide_query_suggests_a_projection_of_exactly_the_properties_read():
    with profiler_settings():
        client = client_for("staff")
        profile = profile_json(client, client.get("/wide/")[HEADER])
    [suggestion] = profile["suggestions"]
    assert suggestion["model"] == "MwWide"
    assert suggestion["properties"] == app.READ
    assert suggestion["code"] == 'with projection(MwWide, "title", "views", "score"):'
    assert 0 < suggestion["saved_ms"] < profile["decode_ms"]
    assert "app.py" in suggestion["site"] and "in wide" in suggestion["site"]


def test_projected_query_yields_no_suggestion():
    with profiler_settings():
        client = client_for("staff")
        profile = profile_json(client, client.get("/wide-projected/")[HEADER])
    assert profile["decodes"][0]["projected"] == sorted(app.READ)
    assert profile["suggestions"] == []


def test_django_orm_queries_are_timed_in_sync_views():
    with profiler_settings():
        client = client_for("staff")
        profile = profile_json(client, client.get("/django-orm/")[HEADER])
    assert [q["source"] for q in profile["queries"]].count("django") >= 1


def test_async_view_under_async_stack_records_decode_and_django_queries_where_they_run():
    async def fetch() -> object:
        return await AsyncClient().get("/async-wide/")

    with profiler_settings(SAMPLE_RATE=1.0):
        response = asyncio.run(fetch())
        profile = profile_json(client_for("staff"), response[HEADER])
    sources = [q["source"] for q in profile["queries"]]
    assert "django" in sources  # acount() ran in sync_to_async's thread
    assert "sqlalchemy" in sources
    assert profile["suggestions"][0]["properties"] == app.READ


def test_streaming_response_is_not_buffered_and_its_profile_completes_on_close():
    with profiler_settings():
        client = client_for("staff")
        response = client.get("/stream/")
        assert response.streaming
        assert app.stream_progress == []  # the middleware did not pull the body
        url = response[HEADER]
        assert "Server-Timing" in response
        assert client.get(url, {"format": "json"}).status_code == 404  # not finished yet
        body = b"".join(response.streaming_content)
        profile = profile_json(client, url)
    assert body.startswith(b"first\n")
    assert app.stream_progress == ["started", "queried"]
    assert profile["suggestions"][0]["properties"] == app.READ
    assert "django" in [q["source"] for q in profile["queries"]]


@pytest.mark.parametrize("user", [None, "plain"])
def test_unauthorised_user_gets_404_for_a_profile_url(user):
    with profiler_settings():
        url = client_for("staff").get("/wide/")[HEADER]
        assert client_for("staff").get(url).status_code == 200
        assert client_for(user).get(url).status_code == 404
        assert client_for(user).get(url, {"format": "json"}).status_code == 404


def test_unknown_profile_id_is_404_even_for_staff():
    with profiler_settings():
        client = client_for("staff")
        assert client.get("/_protolens/" + "A" * 22 + "/").status_code == 404


def test_profile_page_shows_suggestion_sql_and_decode_table():
    with profiler_settings():
        client = client_for("staff")
        page = client.get(client.get("/wide/")[HEADER]).content.decode()
    assert (
        "with projection(MwWide, &quot;title&quot;, &quot;views&quot;, &quot;score&quot;):" in page
    )
    assert 'id="timeline"' in page and 'id="queries"' in page and "SELECT" in page
    assert "MwWide" in page


def test_sql_parameters_are_hidden_by_default():
    with profiler_settings():
        client = client_for("staff")
        profile = profile_json(client, client.get("/django-orm/")[HEADER])
    assert all(q["params"] is None for q in profile["queries"])
    assert "nobody-x" not in str(profile)


def test_sql_parameters_are_shown_when_enabled():
    with profiler_settings(SHOW_SQL_PARAMS=True):
        client = client_for("staff")
        profile = profile_json(client, client.get("/django-orm/")[HEADER])
    assert "nobody-x" in str([q["params"] for q in profile["queries"]])


def test_profiling_off_activates_no_observer_and_tracks_no_reads():
    with profiler_settings(ALWAYS_FOR=None):
        response = client_for("staff").get("/probe/")
    assert response.json() == {"observer": False, "recording": False, "tracked": False}
    assert HEADER not in response and "Server-Timing" not in response


def test_profiled_request_activates_observer_and_tracks_reads():
    with profiler_settings():
        response = client_for("staff").get("/probe/")
    assert response.json() == {"observer": True, "recording": True, "tracked": True}


def test_staff_are_profiled_always_by_default_and_others_are_not():
    with profiler_settings():
        assert HEADER in client_for("staff").get("/wide/")
        assert HEADER not in client_for("plain").get("/wide/")
        assert HEADER not in client_for(None).get("/wide/")


def test_header_opt_in_works_for_authorised_users_only():
    with profiler_settings(ALWAYS_FOR=None):
        assert HEADER in client_for("staff").get("/wide/", headers={HEADER: "1"})
        assert HEADER not in client_for("staff").get("/wide/")
        assert HEADER not in client_for("plain").get("/wide/", headers={HEADER: "1"})


def test_sampled_anonymous_request_gets_headers_but_no_badge():
    with profiler_settings(SAMPLE_RATE=1.0):
        response = client_for(None).get("/wide/")
    assert HEADER in response
    assert b"protolens-badge" not in response.content


def test_badge_linking_to_the_profile_is_injected_for_authorised_users():
    with profiler_settings():
        response = client_for("staff").get("/wide/")
    content = response.content.decode()
    assert f'id="protolens-badge" href="{response[HEADER]}"' in content
    assert content.index("protolens-badge") < content.index("</body>")


def test_callable_authorize_setting_decides_who_sees_profiles():
    with profiler_settings(SAMPLE_RATE=1.0, AUTHORIZE=lambda request: "let-me" in request.GET):
        client = client_for(None)
        url = client.get("/wide/")[HEADER]
        assert client.get(url).status_code == 404
        assert client.get(url, {"let-me": "1"}).status_code == 200


def test_one_structured_log_line_per_profiled_request(caplog):
    with profiler_settings(), caplog.at_level(logging.INFO, logger="protolens.profiler"):
        response = client_for("staff").get("/wide/")
    [record] = [r for r in caplog.records if r.name == "protolens.profiler"]
    assert record.protolens["url"] == response[HEADER]
    assert record.protolens["suggestions"] == 1
    assert "decode_ms=" in record.getMessage()


def test_disabled_profiler_raises_middleware_not_used():
    with profiler_settings(ENABLED=False):
        with pytest.raises(MiddlewareNotUsed):
            ProfilerMiddleware(lambda request: None)
        assert HEADER not in client_for("staff").get("/wide/")


def test_missing_urls_include_is_a_configuration_error_saying_the_fix():
    with (
        profiler_settings(),
        override_settings(ROOT_URLCONF="tests.middleware.urls_without_profiler"),
        pytest.raises(ConfigurationError, match=r"include\('middleware.django.urls'\)"),
    ):
        ProfilerMiddleware(lambda request: None)


def test_prefix_that_differs_from_the_include_is_a_configuration_error():
    with (
        profiler_settings(PREFIX="/profiles/"),
        pytest.raises(ConfigurationError, match="set PREFIX to the path"),
    ):
        ProfilerMiddleware(lambda request: None)


def test_profile_pages_themselves_are_not_profiled():
    with profiler_settings():
        client = client_for("staff")
        page = client.get(client.get("/wide/")[HEADER])
    assert HEADER not in page


def test_sql_store_setting_keeps_profiles_in_a_table(tmp_path):
    with profiler_settings(STORE=f"sqlite:///{tmp_path}/profiles.db"):
        client = client_for("staff")
        profile = profile_json(client, client.get("/wide/")[HEADER])
        from middleware.django._settings import get_config

        get_config().profiler.store.engine.dispose()
    assert profile["suggestions"][0]["properties"] == app.READ
    assert (tmp_path / "profiles.db").stat().st_size > 0
