"""Profiler overhead: requests/second of a Django view doing one wide query.

The view fetches 50 entities x 40 properties through orm_ext and reads 5 of
them, served in-process by Django's WSGIHandler called directly, three ways:
middleware off, on but not sampled (SAMPLE_RATE 0), and sampled (every
request recorded, stored in memory, suggestions computed). Rounds are
interleaved (the order rotates) so machine noise hits all three alike; the
figures are medians. Goals: not sampled <= 3% slower than off, sampled <= 25%.

Run: .venv/bin/python bench/middleware.py [--rounds N] [--requests N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This script's own name would shadow the middleware package: drop bench/ from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    DATABASES={},
    MIDDLEWARE=[],
    USE_TZ=True,
)
django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402

import orm_ext  # noqa: E402
from orm_ext import BooleanProperty, FloatProperty, IntegerProperty, Model, StringProperty  # noqa: E402

_KINDS = (
    [StringProperty] * 16 + [IntegerProperty] * 12 + [FloatProperty] * 8 + [BooleanProperty] * 4
)
BenchPage = type("BenchPage", (Model,), {f"p{i:02d}": k() for i, k in enumerate(_KINDS)})
READ = ["p00", "p01", "p16", "p17", "p28"]
VARIANTS = {
    "off": None,
    "on, not sampled": {"SAMPLE_RATE": 0.0},
    "sampled": {"SAMPLE_RATE": 1.0},
}


def value(i: int, kind: type) -> Any:
    if kind is StringProperty:
        return f"value {i} of a string property"
    if kind is IntegerProperty:
        return i * 7919
    if kind is FloatProperty:
        return i / 7
    return i % 2 == 0


def view(request: HttpRequest) -> HttpResponse:
    pages = BenchPage.query().fetch(50)
    total = sum(len(p.p00) + len(p.p01) + p.p16 + p.p17 + p.p28 for p in pages)
    return HttpResponse(f"<html><body>{total}</body></html>")


urlpatterns = [path("page/", view), path("_protolens/", include("middleware.django.urls"))]


def handler(options: dict[str, Any] | None) -> WSGIHandler:
    stack = [] if options is None else ["middleware.django.ProfilerMiddleware"]
    # The middleware reads its settings when the handler builds it.
    with override_settings(MIDDLEWARE=stack, PROTOLENS_PROFILER=options or {}):
        return WSGIHandler()


def run(app: WSGIHandler, requests: int) -> float:
    """Requests per second of *requests* GET /page/ through *app*."""
    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/page/",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
    }

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        assert status == "200 OK", status

    start = time.perf_counter()
    for _ in range(requests):
        response = app(dict(base), start_response)
        b"".join(response)
        response.close()
    return requests / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = orm_ext.connect(f"sqlite:///{tmp}/bench.db")
        store.put_multi(
            [
                BenchPage(**{f"p{i:02d}": value(n, k) for i, k in enumerate(_KINDS)})
                for n in range(50)
            ]
        )
        apps = {name: handler(options) for name, options in VARIANTS.items()}
        for app in apps.values():
            run(app, 30)  # warm-up: schema, caches, first profile
        rps: dict[str, list[float]] = {name: [] for name in apps}
        names = list(apps)
        for r in range(args.rounds):
            for name in names[r % 3 :] + names[: r % 3]:
                rps[name].append(run(apps[name], args.requests))
        store.close()
    medians = {name: statistics.median(v) for name, v in rps.items()}
    off = medians["off"]
    print(
        f"Django view, 50 entities x 40 properties, 5 read; {args.rounds} interleaved rounds "
        f"of {args.requests} requests; medians (Python {sys.version.split()[0]}, "
        f"Django {django.get_version()})"
    )
    print(f"{'variant':<18}{'req/s':>10}{'vs off':>10}{'overhead':>10}{'goal':>8}")
    goals = {"off": None, "on, not sampled": 3.0, "sampled": 25.0}
    for name, value_ in medians.items():
        overhead = (off / value_ - 1) * 100
        goal = goals[name]
        mark = "" if goal is None else ("ok" if overhead <= goal else "MISSED")
        print(
            f"{name:<18}{value_:>10.0f}{value_ / off:>10.3f}"
            f"{('' if goal is None else f'{overhead:+.1f}%'):>10}{mark:>8}"
        )


if __name__ == "__main__":
    main()
