"""middleware.suggest: a suggestion only where most decoded properties went unread."""

from __future__ import annotations

from middleware import projection_line, suggestions
from orm_ext.instrument import DecodeBatch
from tests.middleware.app import MwWide

ALL = tuple(MwWide._properties)


def batch(read: set[str], projected: frozenset[str] | None = None, site: str = "v.py:1 in f"):
    decoded = ALL if projected is None else tuple(n for n in ALL if n in projected)
    return DecodeBatch(MwWide, 50, 0.01, projected, decoded, site, "query", set(read))


def test_projection_line_is_the_exact_with_statement():
    assert (
        projection_line("Video", ["title", "views"]) == 'with projection(Video, "title", "views"):'
    )


def test_properties_come_in_model_order_whatever_the_read_order():
    [s] = suggestions([batch({"score", "title"})])
    assert s["properties"] == ["title", "score"]


def test_saved_time_is_the_unread_share_of_decode_time():
    [s] = suggestions([batch({"title", "views", "score"})])
    assert s["saved_ms"] == round(10 * (1 - 3 / 30), 3)


def test_reading_half_or_more_gives_no_suggestion():
    assert suggestions([batch(set(ALL[:15]))]) == []


def test_nothing_read_gives_no_suggestion():
    assert suggestions([batch(set())]) == []


def test_projected_call_site_gives_no_suggestion():
    assert suggestions([batch({"title"}, projected=frozenset({"title", "views"}))]) == []


def test_batches_of_one_call_site_are_merged_and_sites_kept_apart():
    out = suggestions([batch({"title"}), batch({"views"}), batch({"score"}, site="w.py:2 in g")])
    assert {s["site"]: s["properties"] for s in out} == {
        "v.py:1 in f": ["title", "views"],
        "w.py:2 in g": ["score"],
    }
