"""``ProfilerMiddleware`` for Django (sync and async), configured by ``PROTOLENS_PROFILER``.

Example (settings.py):
    >>> MIDDLEWARE = [
    ...     ...,
    ...     "django.contrib.auth.middleware.AuthenticationMiddleware",
    ...     "middleware.django.ProfilerMiddleware",   # after authentication
    ... ]
    >>> PROTOLENS_PROFILER = {"SAMPLE_RATE": 0.01}

and in urls.py ``path("_protolens/", include("middleware.django.urls"))``.

Django itself is imported when the middleware is built, not when this module
is imported, so ``middleware`` stays usable in WSGI apps without Django.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError
from ..profiler import PROFILE_HEADER
from ..recorder import Recording
from ..render import badge_html, inject_badge, server_timing
from ..sql import django_execute_wrapper

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from ._settings import Config

__all__ = ["ProfilerMiddleware", "is_staff"]


def is_staff(request: HttpRequest) -> bool:
    """The default for ``AUTHORIZE`` and ``ALWAYS_FOR``: an active staff user.

    Example:
        >>> PROTOLENS_PROFILER = {"AUTHORIZE": "middleware.django.is_staff"}
    """
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


class ProfilerMiddleware:
    """Profile Django requests: SQL, orm_ext decode time, and the projection to add.

    Sync and async capable the way Django's ``MiddlewareMixin`` is: it runs in
    the mode of the handler it wraps, so an async stack never blocks a thread
    for it. Put it after ``AuthenticationMiddleware`` so ``request.user`` is
    known. See :mod:`middleware.django._settings` for ``PROTOLENS_PROFILER``.

    Raises:
        MiddlewareNotUsed: ``PROTOLENS_PROFILER["ENABLED"]`` is False.
        ConfigurationError: a setting is wrong, or ``middleware.django.urls``
            is not included at ``PREFIX``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction
        from django.core.exceptions import MiddlewareNotUsed

        from ._settings import get_config

        config = get_config()
        if not config.enabled:
            raise MiddlewareNotUsed("protolens profiler: PROTOLENS_PROFILER['ENABLED'] is False")
        _check_urls(config.profiler.prefix)
        self.get_response = get_response
        self.config: Config = config
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # As MiddlewareMixin does: marked here, switched inside __call__.
            markcoroutinefunction(self)

    def __repr__(self) -> str:
        return f"<ProfilerMiddleware get_response={self.get_response!r}>"

    # -- sync ---------------------------------------------------------------------------

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        config = self.config
        profiler = config.profiler
        if request.path_info.startswith(profiler.prefix) or not (
            profiler.sampled() or self._chosen(request)
        ):
            return self.get_response(request)
        rec = profiler.start(request.method or "", request.path)
        try:
            with rec.active(), _execute_wrappers():
                response = self.get_response(request)
        except BaseException:
            profiler.finish(rec, status=500, url=self._url(request, rec))
            raise
        authorized = bool(config.authorize and config.authorize(request))
        return self._complete(request, response, rec, authorized)

    def _chosen(self, request: HttpRequest) -> bool:
        config = self.config
        if config.always_for is not None and config.always_for(request):
            return True
        return bool(
            config.header_key
            and request.META.get(config.header_key)
            and config.authorize
            and config.authorize(request)
        )

    # -- async --------------------------------------------------------------------------

    async def __acall__(self, request: HttpRequest) -> Any:
        from asgiref.sync import sync_to_async

        config = self.config
        profiler = config.profiler
        if request.path_info.startswith(profiler.prefix) or not (
            profiler.sampled() or await self._achosen(request)
        ):
            return await self.get_response(request)
        rec = profiler.start(request.method or "", request.path)
        # Django connections belong to threads: install the wrapper in the thread where
        # this request's ORM calls run (sync_to_async's thread-sensitive one), not here.
        wrappers = await sync_to_async(_execute_wrappers, thread_sensitive=True)()
        try:
            with rec.active():
                response = await self.get_response(request)
        except BaseException:
            profiler.finish(rec, status=500, url=self._url(request, rec))
            raise
        finally:
            await sync_to_async(wrappers.close, thread_sensitive=True)()
        authorized = await _acheck(config.authorize, request)
        return self._complete(request, response, rec, authorized)

    async def _achosen(self, request: HttpRequest) -> bool:
        config = self.config
        if await _acheck(config.always_for, request):
            return True
        return bool(
            config.header_key
            and request.META.get(config.header_key)
            and await _acheck(config.authorize, request)
        )

    # -- response -----------------------------------------------------------------------

    def _url(self, request: HttpRequest, rec: Recording) -> str:
        return self.config.profiler.url(rec, request.META.get("SCRIPT_NAME", ""))

    def _complete(
        self, request: HttpRequest, response: HttpResponseBase, rec: Recording, authorized: bool
    ) -> HttpResponseBase:
        profiler = self.config.profiler
        url = self._url(request, rec)
        response[PROFILE_HEADER] = url
        if response.streaming:
            # Headers go out now, so they time the view; the profile completes on close.
            response["Server-Timing"] = server_timing(rec.to_profile())
            content = response.streaming_content  # type: ignore[attr-defined]
            if response.is_async:  # type: ignore[attr-defined]
                response.streaming_content = _achunks(rec, content)  # type: ignore[attr-defined]
            else:
                response.streaming_content = _chunks(rec, content)  # type: ignore[attr-defined]
            status = response.status_code
            _finish_on_close(response, lambda: profiler.finish(rec, status=status, url=url))
            return response
        profile = profiler.finish(rec, status=response.status_code, url=url)
        response["Server-Timing"] = server_timing(profile)
        if self.config.badge and authorized and _is_html(response):
            response.content = inject_badge(  # type: ignore[attr-defined]
                response.content,  # type: ignore[attr-defined]
                badge_html(url, profile),
                response.charset or "utf-8",
            )
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
        return response


async def _acheck(check: Callable[[HttpRequest], bool] | None, request: HttpRequest) -> bool:
    from asgiref.sync import sync_to_async

    if check is None:
        return False
    if check is is_staff and hasattr(request, "auser"):
        # The default needs the user; load it the async way, no thread hop.
        user = await request.auser()
        return bool(user.is_active and user.is_staff)
    return bool(await sync_to_async(check, thread_sensitive=True)(request))


def _execute_wrappers() -> contextlib.ExitStack:
    """Django's execute_wrapper on every connection of this thread (exit to remove)."""
    from django.db import connections

    stack = contextlib.ExitStack()
    for connection in connections.all():
        stack.enter_context(connection.execute_wrapper(django_execute_wrapper))
    return stack


def _chunks(rec: Recording, content: Iterator[bytes]) -> Iterator[bytes]:
    # Each chunk is produced inside the recording, in whatever thread iterates.
    end = object()
    chunks = iter(content)
    while True:
        with rec.active(), _execute_wrappers():
            chunk = next(chunks, end)
        if chunk is end:
            return
        yield chunk  # type: ignore[misc]


async def _achunks(rec: Recording, content: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    chunks = aiter(content)
    while True:
        with rec.active():
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
        yield chunk


def _finish_on_close(response: HttpResponseBase, finish: Callable[[], Any]) -> None:
    original = response.close
    done = []

    def close() -> None:
        try:
            original()
        finally:
            if not done:
                done.append(True)
                finish()

    response.close = close  # type: ignore[method-assign]


def _is_html(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").startswith("text/html") and not response.has_header(
        "Content-Encoding"
    )


def _check_urls(prefix: str) -> None:
    from django.urls import NoReverseMatch, get_script_prefix, reverse

    probe = "A" * 22
    expected = f"{get_script_prefix().rstrip('/')}{prefix}{probe}/"
    try:
        found = reverse("protolens:profile", kwargs={"profile_id": probe})
    except NoReverseMatch:
        raise ConfigurationError(
            "The protolens profiler's pages are not in your URLconf; add "
            f"path({prefix.lstrip('/')!r}, include('middleware.django.urls')) to urlpatterns "
            "in your ROOT_URLCONF."
        ) from None
    if found != expected:
        raise ConfigurationError(
            f"middleware.django.urls is included at {found[: -len(probe) - 1]!r} but "
            f"PROTOLENS_PROFILER['PREFIX'] is {prefix!r}; set PREFIX to the path where the "
            "urls are included, or include them at PREFIX."
        )
