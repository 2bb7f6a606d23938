"""orm_ext: an ndb-style entity ORM on SQLAlchemy whose entities are stored as protobuf.

Example:
    >>> import orm_ext
    >>> from orm_ext import Model, StringProperty, IntegerProperty, projection
    >>> store = orm_ext.connect("sqlite:///app.db")
    >>> class Video(Model):
    ...     title = StringProperty(required=True)
    ...     views = IntegerProperty(default=0)
    >>> key = Video(title="intro", views=3).put()
    >>> with projection(Video, "title"):
    ...     video = key.get()        # only title decoded
"""

from __future__ import annotations

from ._errors import (
    BadCursorError,
    BadFilterError,
    BadProjectionError,
    BadQueryError,
    BadValueError,
    CorruptEntityError,
    Error,
    KindError,
    ProjectedEntityWriteError,
    ResilientQueryError,
    UnknownPropertyError,
    UnprojectedPropertyError,
)
from ._lazy import lazy
from .key import Key
from .model import Model
from .projection import projection
from .properties import (
    BooleanProperty,
    BytesProperty,
    DateProperty,
    DateTimeProperty,
    FloatProperty,
    IntegerProperty,
    JsonProperty,
    KeyProperty,
    Property,
    StringProperty,
    TextProperty,
)
from .query import AND, OR, Cursor, Query, QueryIterator
from .resilient import SkippedItem, resilient_query
from .store import (
    Store,
    connect,
    delete_multi,
    get_multi,
    get_store,
    put_multi,
    set_store,
    transaction,
)

__all__ = [
    "AND",
    "OR",
    "BadCursorError",
    "BadFilterError",
    "BadProjectionError",
    "BadQueryError",
    "BadValueError",
    "BooleanProperty",
    "BytesProperty",
    "CorruptEntityError",
    "Cursor",
    "DateProperty",
    "DateTimeProperty",
    "Error",
    "FloatProperty",
    "IntegerProperty",
    "JsonProperty",
    "Key",
    "KeyProperty",
    "KindError",
    "Model",
    "ProjectedEntityWriteError",
    "Property",
    "Query",
    "QueryIterator",
    "ResilientQueryError",
    "SkippedItem",
    "Store",
    "StringProperty",
    "TextProperty",
    "UnknownPropertyError",
    "UnprojectedPropertyError",
    "connect",
    "delete_multi",
    "get_multi",
    "get_store",
    "lazy",
    "projection",
    "put_multi",
    "resilient_query",
    "set_store",
    "transaction",
]
