"""Transactions on every backend: commit, rollback writes nothing, nesting joins the outer one."""

from __future__ import annotations

import pytest

import orm_ext
from orm_ext import IntegerProperty, Model, StringProperty


class TxThing(Model):
    name = StringProperty()
    tags = StringProperty(repeated=True)


class TxOther(Model):
    n = IntegerProperty()


class TxFresh(Model):
    n = IntegerProperty()


class Boom(Exception):
    pass


def test_transaction_commits_every_write(store):
    with orm_ext.transaction():
        a = TxThing(name="a").put()
        b = TxOther(n=1).put()
    assert a.get().name == "a" and b.get().n == 1


def test_exception_rolls_back_everything(store):
    kept = TxThing(name="kept", tags=["t"]).put()
    with pytest.raises(Boom), orm_ext.transaction():
        TxThing(name="new", tags=["t"]).put()
        TxOther(n=1).put()
        kept.delete()
        raise Boom
    assert [e.name for e in TxThing.query().fetch()] == ["kept"]
    assert TxThing.query(TxThing.tags == "t").fetch(keys_only=True) == [kept]
    assert TxOther.query().count() == 0


def test_reads_inside_transaction_see_its_writes(store):
    with orm_ext.transaction():
        key = TxThing(name="inside").put()
        assert key.get().name == "inside"
        assert TxThing.query(TxThing.name == "inside").count() == 1


def test_nested_transaction_joins_the_outer_one(store):
    with orm_ext.transaction() as outer:
        with orm_ext.transaction() as inner:
            assert inner is outer
            TxThing(name="inner").put()
        assert store.in_transaction()
    assert not store.in_transaction()
    assert TxThing.query().count() == 1


def test_failure_in_nested_block_rolls_back_the_outer_writes_too(store):
    with pytest.raises(Boom), orm_ext.transaction():
        TxThing(name="outer").put()
        with orm_ext.transaction():
            TxThing(name="inner").put()
            raise Boom
    assert TxThing.query().count() == 0


def test_bad_entity_in_transaction_writes_nothing(store):
    with pytest.raises(orm_ext.BadValueError), orm_ext.transaction():
        TxThing(name="first").put()
        orm_ext.put_multi([TxThing(name="second"), TxOther(n=1), "not an entity"])
    assert TxThing.query().count() == 0 and TxOther.query().count() == 0


def test_kind_used_first_inside_a_transaction_after_another_write(store):
    with orm_ext.transaction():
        TxThing(name="a").put()
        key = TxFresh(n=1).put()  # its table is created now, mid-transaction
    assert key.get().n == 1


def test_kind_created_in_rolled_back_transaction_is_usable_after(store):
    with pytest.raises(Boom), orm_ext.transaction():
        TxThing(name="a").put()
        TxFresh(n=1).put()
        raise Boom
    assert TxFresh.query().count() == 0
    assert TxFresh(n=2).put().get().n == 2
