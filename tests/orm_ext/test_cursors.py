"""fetch_page cursors: keyset pages cover a kind exactly once even while rows are inserted."""

from __future__ import annotations

import base64
import json

import pytest

from orm_ext import BadCursorError, BytesProperty, Cursor, IntegerProperty, Model, StringProperty


class CursorThing(Model):
    n = IntegerProperty()
    label = StringProperty()
    raw = BytesProperty(indexed=True)


def _walk(query, page_size, between=None):
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor, more = query.fetch_page(page_size, start_cursor=cursor)
        seen += page
        pages += 1
        if not more:
            return seen, pages
        if between:
            between(pages)
        cursor = cursor.urlsafe()  # through a URL and back


def test_pages_cover_kind_exactly_once_while_rows_are_inserted(store):
    original = [CursorThing(n=n * 10, label=f"o{n}").put() for n in range(10)]
    inserted = []

    def insert(page):
        # before the current position, inside the remaining range, and after the end
        for n in (-5 + page, 45 + page, 1000 + page):
            inserted.append(CursorThing(n=n, label=f"i{page}").put())

    seen, _ = _walk(CursorThing.query().order(CursorThing.n), 3, insert)
    keys = [e.key for e in seen]
    assert len(keys) == len(set(keys))  # nothing repeated
    assert set(original) <= set(keys)  # nothing original skipped
    values = [e.n for e in seen]
    assert values == sorted(values)
    # rows inserted behind the cursor are not returned; those ahead are
    assert not any(e.n < 0 for e in seen)
    assert {1001, 1002, 1003} <= set(values)


def test_descending_pages_with_nulls_and_ties_cover_exactly_once(store):
    for n in [3, None, 1, 3, None, 2, 3, 1]:
        CursorThing(n=n).put()
    query = CursorThing.query().order(-CursorThing.n)
    seen, pages = _walk(query, 2)
    assert [e.n for e in seen] == [3, 3, 3, 2, 1, 1, None, None]
    assert len({e.key for e in seen}) == 8 and pages == 4


def test_pages_on_two_sort_keys(store):
    for n, label in [(1, "b"), (1, "a"), (2, "a"), (1, None), (2, "c")]:
        CursorThing(n=n, label=label).put()
    seen, _ = _walk(CursorThing.query().order(CursorThing.n, -CursorThing.label), 2)
    assert [(e.n, e.label) for e in seen] == [(1, "b"), (1, "a"), (1, None), (2, "c"), (2, "a")]


def test_page_more_flag_and_last_page(store):
    for n in range(4):
        CursorThing(n=n).put()
    page, cursor, more = CursorThing.query().order(CursorThing.n).fetch_page(4)
    assert [e.n for e in page] == [0, 1, 2, 3] and more is False and cursor is not None
    page, cursor, more = CursorThing.query().order(CursorThing.n).fetch_page(4, start_cursor=cursor)
    assert (page, cursor, more) == ([], None, False)


def test_cursor_on_bytes_order_round_trips_through_urlsafe(store):
    for value in [b"\x00", b"\xff\x00", b"a"]:
        CursorThing(raw=value).put()
    query = CursorThing.query().order(CursorThing.raw)
    page, cursor, _ = query.fetch_page(1)
    rest, _, _ = query.fetch_page(5, start_cursor=Cursor(urlsafe=cursor.urlsafe()))
    assert [e.raw for e in page + rest] == [b"\x00", b"a", b"\xff\x00"]


def test_keys_only_pages(store):
    keys = [CursorThing(n=n).put() for n in range(5)]
    seen, cursor = [], None
    for _ in range(3):
        page, cursor, _ = CursorThing.query().fetch_page(2, start_cursor=cursor, keys_only=True)
        seen += page
    assert seen == keys


def test_cursor_resumes_iteration(store):
    keys = [CursorThing(n=n).put() for n in range(6)]
    _, cursor, _ = CursorThing.query().order(CursorThing.n).fetch_page(2)
    it = CursorThing.query().order(CursorThing.n).iter(batch_size=2, start_cursor=cursor)
    assert [e.key for e in it] == keys[2:]


@pytest.mark.parametrize(
    "text",
    [
        "garbage!",
        "",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"v": 1, "f": "x"}).encode()).decode(),
        b"\xff",
    ],
)
def test_malformed_cursor_raises_bad_cursor_error(sqlite_store, text):
    with pytest.raises(BadCursorError):
        CursorThing.query().fetch_page(2, start_cursor=text)


def test_cursor_from_another_order_is_refused(store):
    for n in range(3):
        CursorThing(n=n).put()
    _, cursor, _ = CursorThing.query().order(CursorThing.n).fetch_page(1)
    with pytest.raises(BadCursorError, match="another kind or order"):
        CursorThing.query().order(-CursorThing.n).fetch_page(1, start_cursor=cursor)
    with pytest.raises(BadCursorError, match="another kind or order"):
        CursorThing.query().fetch_page(1, start_cursor=cursor.urlsafe())


def test_cursor_is_url_safe_and_round_trips():
    cursor = Cursor([1, "𝄞", None, 2.5], _fingerprint="abc")
    text = cursor.urlsafe()
    assert text.isascii() and not set(text) & set("+/=")
    assert Cursor(urlsafe=text) == cursor
    assert str(cursor) == text
