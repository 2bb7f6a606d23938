"""Queries on every backend: each filter op, AND/OR, orders, fetch/get/count, keys_only, iter, projection."""

from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa

from orm_ext import (
    AND,
    OR,
    BadFilterError,
    BadQueryError,
    BadValueError,
    BooleanProperty,
    BytesProperty,
    DateTimeProperty,
    FloatProperty,
    IntegerProperty,
    Key,
    KeyProperty,
    Model,
    ProjectedEntityWriteError,
    StringProperty,
    TextProperty,
    UnprojectedPropertyError,
)


class QueryThing(Model):
    name = StringProperty()
    n = IntegerProperty()
    f = FloatProperty()
    flag = BooleanProperty()
    when = DateTimeProperty()
    ref = KeyProperty()
    raw = BytesProperty(indexed=True)
    tags = StringProperty(repeated=True)
    body = TextProperty()


class QueryOther(Model):
    n = IntegerProperty()


ROWS = [
    # name,  n,    f,    flag,  tags
    ("a", 1, 1.5, True, ["x", "y"]),
    ("b", 2, -0.5, False, ["y"]),
    ("c", 3, 2.0, True, []),
    (None, None, None, None, ["z"]),
    ("B", 2, 9.0, False, ["x"]),
]


@pytest.fixture
def things(store):
    keys = []
    for i, (name, n, f, flag, tags) in enumerate(ROWS):
        when = None if n is None else datetime.datetime(2020, 1, 1, 0, 0, 0, n)
        thing = QueryThing(name=name, n=n, f=f, flag=flag, tags=tags, when=when, body=f"b{i}")
        keys.append(thing.put())
    return keys


def names(query, **kw):
    return [e.name for e in query.fetch(**kw)]


def by_key(query):
    return sorted(e.name or "" for e in query.fetch())


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: QueryThing.n == 2, ["B", "b"]),
        (lambda: QueryThing.n != 2, ["", "a", "c"]),
        (lambda: QueryThing.n < 2, ["a"]),
        (lambda: QueryThing.n <= 2, ["B", "a", "b"]),
        (lambda: QueryThing.n > 2, ["c"]),
        (lambda: QueryThing.n >= 2, ["B", "b", "c"]),
        (lambda: QueryThing.n.IN([1, 3, 99]), ["a", "c"]),
        (lambda: QueryThing.n.IN([]), []),
        (lambda: QueryThing.name == "B", ["B"]),
        (lambda: QueryThing.f > 1.5, ["B", "c"]),
        (lambda: QueryThing.flag == False, ["B", "b"]),  # noqa: E712
        (lambda: QueryThing.when >= datetime.datetime(2020, 1, 1, 0, 0, 0, 2), ["B", "b", "c"]),
        (lambda: QueryThing.tags == "x", ["B", "a"]),
        (lambda: QueryThing.tags == "nope", []),
        (lambda: QueryThing.tags.IN(["y", "z"]), ["", "a", "b"]),
        (lambda: QueryThing.n == None, [""]),  # noqa: E711
        (lambda: QueryThing.n != None, ["B", "a", "b", "c"]),  # noqa: E711
        (lambda: QueryThing.name.IN(["a", None]), ["", "a"]),
        (lambda: AND(QueryThing.n >= 2, QueryThing.flag == True), ["c"]),  # noqa: E712
        (lambda: OR(QueryThing.n == 1, QueryThing.tags == "z"), ["", "a"]),
        (lambda: OR(AND(QueryThing.n == 2, QueryThing.f < 0), QueryThing.name == "c"), ["b", "c"]),
    ],
    ids=lambda x: "" if callable(x) else repr(x),
)
def test_filter_selects_exactly_matching_entities(things, make, expected):
    assert by_key(QueryThing.query(make())) == expected


def test_several_filters_are_anded(things):
    assert by_key(QueryThing.query(QueryThing.n == 2, QueryThing.flag == False)) == ["B", "b"]  # noqa: E712
    assert by_key(QueryThing.query(QueryThing.n == 2).filter(QueryThing.name == "b")) == ["b"]


def test_repeated_entity_matching_twice_is_returned_once(things):
    assert len(QueryThing.query(QueryThing.tags.IN(["x", "y"])).fetch()) == 3


def test_key_filters(things):
    assert QueryThing.query(QueryThing.key == things[1]).fetch(keys_only=True) == [things[1]]
    assert QueryThing.query(QueryThing.key.IN([things[0], things[2]])).count() == 2
    assert QueryThing.query(QueryThing.key != things[0]).count() == 4
    assert QueryThing.query(QueryThing.key > things[2]).fetch(keys_only=True) == things[3:]


def test_key_filter_on_string_ids(store):
    QueryThing(id="k1", n=1).put()
    QueryThing(id="k2", n=2).put()
    QueryThing(n=3).put()
    assert [e.n for e in QueryThing.query(QueryThing.key == Key("QueryThing", "k2")).fetch()] == [2]
    assert QueryThing.query(QueryThing.key != Key("QueryThing", "k2")).count() == 2


def test_key_filter_of_other_kind_is_refused(store):
    with pytest.raises(BadFilterError, match="QueryOther"):
        QueryThing.query(QueryThing.key == Key("QueryOther", 1)).fetch()


def test_key_property_filter(store):
    target = Key("QueryOther", 5)
    QueryThing(name="yes", ref=target).put()
    QueryThing(name="no", ref=Key("QueryOther", "5")).put()
    assert names(QueryThing.query(QueryThing.ref == target)) == ["yes"]


def test_bytes_filter_and_order(store):
    for value in [b"\x02", b"\x00\xff", b"\x01"]:
        QueryThing(raw=value).put()
    assert [e.raw for e in QueryThing.query().order(QueryThing.raw).fetch()] == [
        b"\x00\xff",
        b"\x01",
        b"\x02",
    ]
    assert QueryThing.query(QueryThing.raw == b"\x01").count() == 1


def test_order_ascending_with_nulls_first(things):
    assert names(QueryThing.query().order(QueryThing.n)) == [None, "a", "b", "B", "c"]


def test_order_descending_with_nulls_last(things):
    assert names(QueryThing.query().order(-QueryThing.n)) == ["c", "b", "B", "a", None]


def test_order_by_several_keys(things):
    assert names(QueryThing.query().order(-QueryThing.n, QueryThing.name)) == [
        "c",
        "B",
        "b",
        "a",
        None,
    ]


def test_order_by_string_is_code_point_order(things):
    not_none = QueryThing.name != None  # noqa: E711
    assert names(QueryThing.query(not_none).order(QueryThing.name)) == [
        "B",
        "a",
        "b",
        "c",
    ]


def test_order_by_key_descending(things):
    assert QueryThing.query().order(-QueryThing.key).fetch(keys_only=True) == things[::-1]


def test_equal_sort_values_tie_break_by_key(things):
    got = QueryThing.query(QueryThing.n == 2).order(QueryThing.n).fetch(keys_only=True)
    assert got == [things[1], things[4]]


def test_fetch_limit_and_offset(things):
    q = QueryThing.query().order(QueryThing.key)
    assert q.fetch(2, keys_only=True) == things[:2]
    assert q.fetch(2, offset=2, keys_only=True) == things[2:4]
    assert q.fetch(offset=4, keys_only=True) == things[4:]
    assert q.fetch(0) == []


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), ("2", 0), (True, 0), (1, -1)])
def test_fetch_refuses_bad_limit_or_offset(sqlite_store, limit, offset):
    with pytest.raises(BadQueryError, match=repr(limit if limit != 1 else offset)):
        QueryThing.query().fetch(limit, offset=offset)


def test_get_returns_first_or_none(things):
    assert QueryThing.query().order(-QueryThing.n).get().name == "c"
    assert QueryThing.query(QueryThing.n > 100).get() is None


def test_count_with_filter_and_limit(things):
    assert QueryThing.query().count() == 5
    assert QueryThing.query(QueryThing.tags == "x").count() == 2
    assert QueryThing.query().count(limit=3) == 3


def test_keys_only_returns_keys(things):
    assert QueryThing.query().order(QueryThing.key).fetch(keys_only=True) == things


def test_query_is_immutable(things):
    base = QueryThing.query()
    base.filter(QueryThing.n == 1)
    base.order(-QueryThing.n)
    assert base.count() == 5 and base.orders == ()


def test_iter_reads_lazily_batch_by_batch(store):
    keys = [QueryOther(n=i).put() for i in range(7)]
    selects = []

    def count_selects(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "QueryOther" in statement:
            selects.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count_selects)
    try:
        it = QueryOther.query().order(QueryOther.n).iter(batch_size=3)
        assert selects == []
        got = [next(it).key for _ in range(3)]
        assert len(selects) == 1
        got.append(next(it).key)
        assert len(selects) == 2
        got += [e.key for e in it]
        assert len(selects) == 3  # batches 3 + 3 + 1: the short one ends it
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count_selects)
    assert got == keys


def test_iter_refuses_bad_batch_size(sqlite_store):
    with pytest.raises(BadQueryError, match="batch_size=0"):
        QueryOther.query().iter(batch_size=0)


def test_projection_reads_columns_and_is_read_only(things):
    got = QueryThing.query(projection=[QueryThing.n, "name"]).order(QueryThing.key).fetch()
    assert [(e.name, e.n) for e in got] == [(r[0], r[1]) for r in ROWS]
    assert got[0]._projection == ("n", "name")
    with pytest.raises(UnprojectedPropertyError, match="body"):
        got[0].body  # noqa: B018
    with pytest.raises(ProjectedEntityWriteError):
        got[0].put()
    assert things[0].get().body == "b0"


def test_projection_converts_column_types_back(things):
    got = QueryThing.query(projection=["when", "flag", "f"]).order(QueryThing.key).get()
    assert (got.when, got.flag, got.f) == (datetime.datetime(2020, 1, 1, 0, 0, 0, 1), True, 1.5)


@pytest.mark.parametrize("name", ["body", "tags"])
def test_projection_refuses_unindexed_or_repeated_property(sqlite_store, name):
    with pytest.raises(BadQueryError, match=f"orm_ext.projection\\(QueryThing, '{name}'\\)"):
        QueryThing.query(projection=[name])


def test_projection_refuses_unknown_name_with_suggestion(sqlite_store):
    with pytest.raises(BadValueError, match="did you mean 'name'"):
        QueryThing.query(projection=["nmae"])


def test_filter_on_property_of_other_model_is_refused(store):
    with pytest.raises(BadFilterError, match="another model"):
        QueryThing.query(QueryOther.n == 1).fetch()


def test_order_on_unindexed_property_is_refused(sqlite_store):
    with pytest.raises(BadQueryError, match="indexed"):
        QueryThing.query().order(QueryThing.tags)


def test_none_only_compares_with_equality(sqlite_store):
    with pytest.raises(BadFilterError, match=r"QueryThing\.n < None"):
        QueryThing.query(QueryThing.n < None).fetch()


def test_and_refuses_non_filter(sqlite_store):
    with pytest.raises(BadFilterError, match="not a filter"):
        AND(QueryThing.n == 1, True)


def test_fetch_refuses_unknown_option(sqlite_store):
    with pytest.raises(BadQueryError, match="keys_only"):
        QueryThing.query().fetch(keysonly=True)


def test_fetch_page_of_zero_is_refused(sqlite_store):
    with pytest.raises(BadQueryError, match=r"fetch_page\(0\).*>= 1"):
        QueryThing.query().fetch_page(0)


def test_count_with_a_negative_limit_is_refused(sqlite_store):
    with pytest.raises(BadQueryError, match="limit"):
        QueryThing.query().count(limit=-1)
