"""The small Django app the tests profile: wide entities read three properties at a time."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import include, path

import orm_ext
from middleware import current_recording
from orm_ext import FloatProperty, IntegerProperty, Model, StringProperty, projection
from orm_ext.instrument import current_observer

# A model with 30 properties, of which the views read three.
_FIELDS = {"title": StringProperty(), "views": IntegerProperty(), "score": FloatProperty()}
_FIELDS.update({f"s{i:02d}": StringProperty() for i in range(14)})
_FIELDS.update({f"n{i:02d}": IntegerProperty() for i in range(13)})
MwWide = type("MwWide", (Model,), _FIELDS)
READ = ["title", "views", "score"]
ENTITIES = 50
assert len(MwWide._properties) == 30

# Where the streaming view's generator got to (the test checks nothing was buffered).
stream_progress: list[str] = []


def fill(store: orm_ext.Store, count: int = ENTITIES) -> None:
    """Put *count* wide entities into *store*."""
    values = {name: (f"v{name}" if name.startswith("s") else 7) for name in _FIELDS}
    values.update(title="intro", views=3, score=1.5)
    store.put_multi([MwWide(**values) for _ in range(count)])


def _read(entities: list[MwWide]) -> float:
    return sum(len(e.title) + e.views + e.score for e in entities)


def _page(text: str) -> HttpResponse:
    return HttpResponse(f"<!doctype html><html><body><h1>Videos</h1><p>{text}</p></body></html>")


def wide(request: HttpRequest) -> HttpResponse:
    entities = MwWide.query().fetch(ENTITIES)
    return _page(f"total {_read(entities)}")


def wide_projected(request: HttpRequest) -> HttpResponse:
    with projection(MwWide, *READ):
        entities = MwWide.query().fetch(ENTITIES)
    return _page(f"total {_read(entities)}")


def django_orm(request: HttpRequest) -> HttpResponse:
    return _page(f"users {User.objects.filter(username='nobody-' + 'x').count()}")


async def async_wide(request: HttpRequest) -> HttpResponse:
    entities = MwWide.query().fetch(ENTITIES)
    users = await User.objects.filter(username="nobody").acount()
    return _page(f"total {_read(entities)} users {users}")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def lines() -> Iterator[bytes]:
        stream_progress.append("started")
        yield b"first\n"
        entities = MwWide.query().fetch(ENTITIES)
        stream_progress.append("queried")
        yield f"total {_read(entities)} users {User.objects.count()}\n".encode()

    stream_progress.clear()
    return StreamingHttpResponse(lines(), content_type="text/plain")


def probe(request: HttpRequest) -> JsonResponse:
    entities = MwWide.query().fetch(2)
    return JsonResponse(
        {
            "observer": current_observer() is not None,
            "recording": current_recording() is not None,
            "tracked": any(e._source is not None for e in entities),
        }
    )


urlpatterns = [
    path("wide/", wide),
    path("wide-projected/", wide_projected),
    path("django-orm/", django_orm),
    path("async-wide/", async_wide),
    path("stream/", stream),
    path("probe/", probe),
    path("_protolens/", include("middleware.django.urls")),
]
