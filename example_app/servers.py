"""Serve the Django app on loopback from a thread (the demo's API server and app server)."""

from __future__ import annotations

import errno
import threading
from typing import Any

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application

__all__ = ["LoopbackServer"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the API server answers hundreds of worker requests; the demo prints totals


class LoopbackServer:
    """The Django app (static files included) on ``127.0.0.1:port``, served by a thread.

    Args:
        port: The port; 0 picks a free one.
        quiet: Log no request lines.

    Raises:
        OSError: The port is taken (the message says which and how to pick another).

    Example:
        >>> server = LoopbackServer(0).start()
        >>> server.url  # doctest: +SKIP
        'http://127.0.0.1:41234/'
        >>> server.stop()
    """

    def __init__(self, port: int, quiet: bool = False) -> None:
        handler = _QuietHandler if quiet else WSGIRequestHandler
        try:
            self.httpd = ThreadedWSGIServer(("127.0.0.1", port), handler, allow_reuse_address=True)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(
                    exc.errno,
                    f"serving on 127.0.0.1:{port}: the port is in use; stop what uses it or "
                    "pass another one (--port 8080, --api-port 0 picks a free one)",
                ) from None
            raise
        self.httpd.set_app(StaticFilesHandler(get_wsgi_application()))
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread: threading.Thread | None = None

    def start(self) -> LoopbackServer:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name=f"serve-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from this thread until :meth:`stop` (or Ctrl-C)."""
        self.httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()
