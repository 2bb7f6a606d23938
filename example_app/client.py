"""A small client for the local video analytics API (urllib only; what the workers call).

Errors carry the HTTP status so a ``SoftRetryPipeline`` retries them and the
log says which request failed and why.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["ApiError", "AnalyticsClient", "RateLimitedError"]


class ApiError(Exception):
    """The analytics API answered with an error status (or not at all).

    Attributes:
        status: The HTTP status, or None when the API could not be reached.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(ApiError):
    """The API answered 429: this key made too many requests this second."""


class AnalyticsClient:
    """Calls ``/api/v1/...`` of the analytics API at *base_url* with API key *key*.

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8001/api/``.
        key: The API key the rate limit is counted against.
        timeout: Seconds before a request gives up.
        limit: Called for a context manager entered around each request, e.g.
            ``lambda: pipelines_lib.rate_limit("api", per_second=40)``.

    Example:
        >>> api = AnalyticsClient("http://127.0.0.1:8001/api/", "demo")
        >>> api.video_stats(["dQw4w9WgXcQ"])["dQw4w9WgXcQ"]["views"]  # doctest: +SKIP
        1234
    """

    def __init__(
        self,
        base_url: str,
        key: str,
        timeout: float = 30.0,
        limit: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.key = key
        self.timeout = timeout
        self.limit = limit or contextlib.nullcontext

    def list_video_ids(self, channel_id: str) -> list[str]:
        """Every video id the channel uploaded, page by page."""
        ids: list[str] = []
        token = ""
        while True:
            page = self._get(
                f"v1/channels/{urllib.parse.quote(channel_id)}/videos", page_token=token
            )
            ids.extend(page["items"])
            token = page.get("next_page_token") or ""
            if not token:
                return ids

    def video_stats(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Today's statistics of each video in *ids* (at most 50), by id."""
        page = self._get("v1/videos/stats", ids=",".join(ids))
        return {item["id"]: item["stats"] for item in page["items"]}

    def usage(self) -> dict[str, int]:
        """How many requests this key made, and how many answered 429 and 500."""
        return self._get("v1/usage")

    def _get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode({"key": self.key, **params})
        url = f"{self.base_url}{path}?{query}"
        try:
            with self.limit(), urllib.request.urlopen(url, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read()[:300].decode("utf-8", "replace")
            cls = RateLimitedError if exc.code == 429 else ApiError
            raise cls(f"GET {url} answered {exc.code}: {body}", exc.code) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ApiError(
                f"GET {url} failed: {exc}; is the analytics API running (python -m example_app demo "
                "serves it)?"
            ) from None
