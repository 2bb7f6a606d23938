"""``ProfilerMiddleware`` for any WSGI application (no Django needed).

Example:
    >>> from middleware.wsgi import ProfilerMiddleware
    >>> app = ProfilerMiddleware(
    ...     app,
    ...     sample_rate=0.01,
    ...     authorize=lambda environ: environ.get("REMOTE_USER") == "admin",
    ... )

Profiled responses carry ``Server-Timing`` and ``X-Protolens-Profile: <url>``;
the profile is served under ``prefix`` to requests ``authorize`` accepts (404
for everyone else). A body given as a list is complete when the app returns:
its timing headers are final and an HTML page gets the corner badge. Any other
body is streamed as it comes: its headers time the app up to the first chunk,
and the stored profile completes when the server closes the response.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from ._errors import ConfigurationError
from .profiler import DEFAULT_PREFIX, PROFILE_HEADER, Profiler
from .recorder import Recording
from .render import badge_html, inject_badge, render_html, server_timing
from .stores import valid_id

__all__ = ["ProfilerMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Check = Callable[[Environ], bool]

_NOT_FOUND = b"Not Found"


class ProfilerMiddleware:
    """Profile requests of a WSGI app: database vs. decode time, and projections to add.

    Args:
        app: the WSGI application.
        sample_rate: share of all requests profiled at random (0.0 to 1.0).
        authorize: ``callable(environ) -> bool``: who may see profiles and the
            badge, and opt in with the request header. None (default): nobody.
        prefix: URL path under which profiles are served.
        always_for: ``callable(environ) -> bool``: requests always profiled.
        header: request header by which an authorised client opts in
            (``X-Protolens-Profile: 1``); None turns opt-in off.
        show_sql_params: keep SQL parameters in profiles (they hold user data).
        store: None / "memory" (bounded, default), a SQLAlchemy URL, or a store.
        max_profiles: bound of the store.
        badge: inject the corner badge into HTML pages shown to authorised users.
        enabled: False passes every request straight to *app*.
        engines: SQLAlchemy engines to time besides the default orm_ext store's.

    Raises:
        ConfigurationError: an argument is of the wrong kind or out of range.

    Example:
        >>> app = ProfilerMiddleware(app, sample_rate=0.05, authorize=is_admin)
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        sample_rate: float = 0.0,
        authorize: Check | None = None,
        prefix: str = DEFAULT_PREFIX,
        always_for: Check | None = None,
        header: str | None = PROFILE_HEADER,
        show_sql_params: bool = False,
        store: Any = None,
        max_profiles: int | None = None,
        badge: bool = True,
        enabled: bool = True,
        engines: Iterable[sa.Engine] = (),
    ) -> None:
        for name, check in (("authorize", authorize), ("always_for", always_for)):
            if check is not None and not callable(check):
                raise ConfigurationError(
                    f"ProfilerMiddleware({name}={check!r}): pass a function taking the WSGI "
                    "environ and returning True or False, or None."
                )
        self.app = app
        self.enabled = enabled
        self.profiler = Profiler(
            sample_rate=sample_rate,
            prefix=prefix,
            store=store,
            max_profiles=max_profiles,
            show_sql_params=show_sql_params,
            engines=engines,
        )
        self.authorize = authorize
        self.always_for = always_for
        self.header_key = None if not header else "HTTP_" + header.upper().replace("-", "_")
        self.badge = badge

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not self.enabled:
            return self.app(environ, start_response)
        if environ.get("PATH_INFO", "").startswith(self.profiler.prefix):
            return self._serve(environ, start_response)
        if not (self.profiler.sampled() or self._chosen(environ)):
            return self.app(environ, start_response)
        return self._profile(environ, start_response)

    # -- deciding -----------------------------------------------------------------------

    def _authorized(self, environ: Environ) -> bool:
        return self.authorize is not None and bool(self.authorize(environ))

    def _chosen(self, environ: Environ) -> bool:
        if self.always_for is not None and self.always_for(environ):
            return True
        key = self.header_key
        return key is not None and bool(environ.get(key)) and self._authorized(environ)

    # -- profiling ----------------------------------------------------------------------

    def _profile(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        profiler = self.profiler
        rec = profiler.start(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""))
        url = profiler.url(rec, environ.get("SCRIPT_NAME", ""))
        reply = _Reply(start_response, rec, url)
        try:
            with rec.active():
                result = self.app(environ, reply.start_response)
        except BaseException:
            profiler.finish(rec, status=500, url=url)
            raise
        if reply.sent or not isinstance(result, list | tuple):
            return _Streamed(self, rec, result, reply)
        profile = profiler.finish(rec, status=reply.code, url=url)
        body = list(result)
        if self.badge and reply.is_html() and self._authorized(environ):
            page = inject_badge(b"".join(body), badge_html(url, profile))
            body = [page]
            reply.set_header("Content-Length", str(len(page)), only_if_present=True)
        reply.send(server_timing(profile))
        return body

    # -- serving profiles ---------------------------------------------------------------

    def _serve(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        rest = environ.get("PATH_INFO", "")[len(self.profiler.prefix) :]
        profile_id = rest[:-1] if rest.endswith("/") else rest
        profile = None
        # Unauthorised clients get the same 404 as a missing profile: nothing to probe.
        if valid_id(profile_id) and self._authorized(environ):
            profile = self.profiler.store.load(profile_id)
        if profile is None:
            start_response("404 Not Found", _headers("text/plain", _NOT_FOUND))
            return [_NOT_FOUND]
        if "format=json" in environ.get("QUERY_STRING", "").split("&"):
            body = json.dumps(profile).encode()
            start_response("200 OK", _headers("application/json", body))
        else:
            body = render_html(profile).encode()
            start_response("200 OK", _headers("text/html; charset=utf-8", body))
        return [body]


def _headers(content_type: str, body: bytes) -> list[tuple[str, str]]:
    return [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("X-Robots-Tag", "noindex"),
        ("Referrer-Policy", "no-referrer"),
    ]


class _Reply:
    """The app's status and headers, held back until the timing headers can go in."""

    def __init__(self, start_response: StartResponse, rec: Recording, url: str) -> None:
        self._start_response = start_response
        self._rec = rec
        self._url = url
        self.status = "500 Internal Server Error"
        self.headers: list[tuple[str, str]] = []
        self.exc_info: Any = None
        self.sent = False

    @property
    def code(self) -> int | None:
        try:
            return int(self.status.split(" ", 1)[0])
        except ValueError:
            return None

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], Any]:
        self.status, self.headers, self.exc_info = status, list(headers), exc_info
        return self._write

    def _write(self, data: bytes) -> Any:
        # An app using the legacy write() callable sends its body now: headers first.
        if not self.sent:
            self.send(server_timing(self._rec.to_profile()))
        return self._write_callable(data)

    def is_html(self) -> bool:
        headers = {k.lower(): v for k, v in self.headers}
        return headers.get("content-type", "").startswith("text/html") and (
            "content-encoding" not in headers
        )

    def set_header(self, name: str, value: str, *, only_if_present: bool = False) -> None:
        found = [i for i, (k, _) in enumerate(self.headers) if k.lower() == name.lower()]
        for i in found:
            self.headers[i] = (name, value)
        if not found and not only_if_present:
            self.headers.append((name, value))

    def send(self, timing: str) -> None:
        self.set_header("Server-Timing", timing)
        self.set_header(PROFILE_HEADER, self._url)
        self.sent = True
        self._write_callable = self._start_response(self.status, self.headers, self.exc_info)


class _Streamed:
    """A streamed body: each chunk is produced inside the recording; close() finishes it."""

    def __init__(
        self, owner: ProfilerMiddleware, rec: Recording, result: Iterable[bytes], reply: _Reply
    ) -> None:
        self._owner = owner
        self._rec = rec
        self._result = result
        self._reply = reply
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        rec, reply = self._rec, self._reply
        with rec.active():
            chunks = iter(self._result)
        end = object()
        while True:
            with rec.active():
                chunk = next(chunks, end)
            if not reply.sent:
                reply.send(server_timing(rec.to_profile()))
            if chunk is end:
                return
            yield chunk  # type: ignore[misc]

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                with self._rec.active():
                    close()
        finally:
            if not self._finished:
                self._finished = True
                self._owner.profiler.finish(
                    self._rec, status=self._reply.code, url=self._reply._url
                )
