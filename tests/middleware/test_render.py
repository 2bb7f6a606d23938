"""middleware.render: header, badge and page text."""

from __future__ import annotations

from middleware import Recording, render_html, server_timing
from middleware.render import inject_badge


def sample() -> dict:
    rec = Recording(method="GET", path="/<script>")
    rec.add_query("SELECT '<b>'", None, 0.0, 0.002, source="django")
    rec.stop()
    return rec.to_profile(status=200)


def test_server_timing_names_db_decode_app_and_total_with_descriptions():
    value = server_timing(sample())
    assert [m.split(";")[0] for m in value.split(", ")] == ["db", "decode", "app", "total"]
    assert value.count('desc="') == 4


def test_badge_goes_before_the_last_closing_body_tag():
    assert inject_badge(b"<html><BODY>x</BODY></html>", "<a>") == b"<html><BODY>x<a></BODY></html>"


def test_page_without_body_tag_is_left_alone():
    assert inject_badge(b'{"json": true}', "<a>") == b'{"json": true}'


def test_page_escapes_paths_and_sql():
    page = render_html(sample())
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&#x27;&lt;b&gt;&#x27;" in page
